"""scim/bulk.py alone: bulkId references found, resolved and ordered; cycles found exactly."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from scimgate.scim.bulk import (
    blocked,
    plan_bulk,
    read_bulk_request,
    references,
    resolve,
)
from scimgate.scim.errors import InvalidSyntaxError, InvalidValueError, PayloadTooLargeError
from scimgate.scim.text import whole_number

NAMES = st.sampled_from([f"b{i}" for i in range(8)])


@st.composite
def requests(draw: Any) -> dict[str, Any]:
    """Operations that declare some bulkIds and reference others (some never declared)."""
    count = draw(st.integers(1, 10))
    declared = draw(st.lists(NAMES, min_size=0, max_size=count, unique=True))
    operations = []
    for index in range(count):
        refs = draw(st.lists(NAMES, max_size=3))
        members = [{"value": f"bulkId:{r}"} for r in refs]
        if index < len(declared):
            data = {"displayName": f"g{index}", "members": members}
            operations.append(
                {"method": "POST", "path": "/Groups", "bulkId": declared[index], "data": data}
            )
        else:
            target = draw(NAMES)
            patch = {"Operations": [{"op": "add", "path": "members", "value": members}]}
            operations.append(
                {"method": "PATCH", "path": f"/Groups/bulkId:{target}", "data": patch}
            )
    order = draw(st.permutations(range(count)))
    return {"Operations": [operations[i] for i in order]}


def reaches_itself(edges: dict[int, set[int]], start: int) -> bool:
    """Brute force: a path of one edge or more from `start` back to it."""
    seen: set[int] = set()
    frontier = list(edges[start])
    while frontier:
        node = frontier.pop()
        if node == start:
            return True
        if node not in seen:
            seen.add(node)
            frontier.extend(edges[node])
    return False


@settings(max_examples=300, deadline=None)
@given(body=requests())
def test_the_plan_orders_dependencies_first_and_finds_exactly_the_cycles(body):
    request = read_bulk_request(body, max_operations=100)
    ops = request.operations
    plan = plan_bulk(ops)
    assert sorted(plan.order) == list(range(len(ops)))
    producer = {op.bulk_id: op.index for op in ops if op.method == "POST"}
    edges = {op.index: {producer[r] for r in op.refs if r in producer} for op in ops}
    cyclic = {i for i in edges if reaches_itself(edges, i)}
    assert set(plan.circular) == cyclic
    position = {index: n for n, index in enumerate(plan.order)}
    for op in ops:
        if op.index in cyclic:
            continue
        for dep in edges[op.index]:
            assert position[dep] < position[op.index], (op.index, dep)
    # Simulate a run where every runnable operation succeeds: nothing is left waiting.
    created: dict[str, str] = {}
    failed: set[int] = set()
    for index in plan.order:
        op = ops[index]
        reason = blocked(op, plan, created)
        if reason is None:
            assert all(r in created for r in op.refs)
            assert references(resolve(op.data, created)) == set()
            if op.declares is not None:
                created[op.declares] = f"id-{index}"
            continue
        if op.index in cyclic:
            assert reason.status == 409
        else:
            assert reason.status == 400
            assert any(r not in producer or producer[r] in failed for r in op.refs)
        failed.add(index)


@given(st.lists(st.sampled_from(["POST", "PUT"]), min_size=1, max_size=12))
def test_without_references_the_order_is_the_request_order(methods):
    ops = [
        {"method": m, "path": "/Users" if m == "POST" else "/Users/x", "data": {"userName": "u"}}
        for m in methods
    ]
    plan = plan_bulk(read_bulk_request({"Operations": ops}, max_operations=100).operations)
    assert plan.order == tuple(range(len(methods))) and not plan.circular


JSON = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.text(max_size=8)
    | NAMES.map(lambda n: f"bulkId:{n}")
    | NAMES.map(lambda n: f'members[value eq "bulkId:{n}"]'),
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=5), children, max_size=3)
    ),
    max_leaves=15,
)


@given(value=JSON, ids=st.dictionaries(NAMES, st.uuids().map(str)))
def test_resolve_replaces_exactly_the_created_references(value, ids):
    resolved = resolve(value, ids)
    assert references(resolved) == references(value) - set(ids)
    assert resolve(value, {}) == value


def test_references_in_values_and_filters():
    value = {
        "members": [{"value": "bulkId:a"}, {"value": "plain"}],
        "path": 'members[value eq "bulkId:b"]',
        "x": "bulkId:",
    }
    assert references(value) == {"a", "b"}
    assert resolve(value, {"a": "1", "b": "2"}) == {
        "members": [{"value": "1"}, {"value": "plain"}],
        "path": 'members[value eq "2"]',
        "x": "bulkId:",
    }


def ops(n: int) -> list[dict[str, Any]]:
    return [{"method": "DELETE", "path": f"/Users/u{i}"} for i in range(n)]


def test_the_rate_limit_cost_is_the_operations_read():
    assert read_bulk_request({"Operations": ops(3)}, max_operations=10).cost == 3
    assert read_bulk_request({"operations": ops(1)}, max_operations=10).cost == 1


@pytest.mark.parametrize(
    "body",
    [
        {"Operations": ops(1), "operations": ops(9)},  # charged one, ran nine
        {"operations": ops(9), "OPERATIONS": ops(1)},
        {"Operations": ops(1), "failOnErrors": 1, "FailOnErrors": 5},
        {"schemas": [], "Schemas": ["urn:ietf:params:scim:api:messages:2.0:BulkRequest"]},
    ],
)
def test_envelope_keys_differing_only_in_case_are_invalid_syntax(body):
    with pytest.raises(InvalidSyntaxError, match="case-insensitive"):
        read_bulk_request(body, max_operations=100)


def test_operation_keys_differing_only_in_case_fail_that_operation():
    twice = {"method": "DELETE", "Method": "POST", "path": "/Users", "data": {}}
    first, second = read_bulk_request(
        {"Operations": [twice, *ops(1)]}, max_operations=10
    ).operations
    assert (
        isinstance(first.error, InvalidSyntaxError)
        and "'method' and 'Method'" in first.error.detail
    )
    assert second.error is None


@pytest.mark.parametrize("value", ["²", "①", "١", "１", "1" * 5000, "1" * 19, "-1", "0", "1e3"])
def test_fail_on_errors_strings_that_are_no_whole_number_are_invalid_value(value):
    with pytest.raises(InvalidValueError, match="failOnErrors"):
        read_bulk_request({"Operations": ops(1), "failOnErrors": value}, max_operations=10)


def test_fail_on_errors_as_a_numeric_string():
    body = {"Operations": ops(1), "failOnErrors": " 3 "}
    assert read_bulk_request(body, max_operations=10).fail_on_errors == 3


def test_an_operation_over_the_single_request_limit_fails_alone():
    big = {"method": "POST", "path": "/Users", "data": {"userName": "u", "x": "y" * 2000}}
    small = {"method": "POST", "path": "/Users", "data": {"userName": "v"}}
    read = read_bulk_request({"Operations": [big, small]}, max_operations=10, max_data_bytes=1024)
    assert isinstance(read.operations[0].error, PayloadTooLargeError)
    assert (
        read.operations[0].error.status == 413 and "1024 bytes" in read.operations[0].error.detail
    )
    assert read.operations[1].error is None
    unbounded = read_bulk_request({"Operations": [big]}, max_operations=10)
    assert unbounded.operations[0].error is None


@pytest.mark.parametrize(
    ("text", "number"),
    [
        ("0", 0),
        (" 42 ", 42),
        ("9" * 18, 10**18 - 1),
        ("", None),
        (None, None),
        ("²", None),
        ("１", None),
        ("٣", None),
        ("1_000", None),
        ("+1", None),
        ("9" * 19, None),
        ("1" * 5000, None),
    ],
)
def test_whole_number_reads_only_ascii_decimal_text(text, number):
    assert whole_number(text) == number
