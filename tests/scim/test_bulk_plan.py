"""scim/bulk.py alone: bulkId references found, resolved and ordered; cycles found exactly."""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from scimgate.scim.bulk import (
    blocked,
    operation_count,
    plan_bulk,
    read_bulk_request,
    references,
    resolve,
)

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


def test_operation_count_is_the_rate_limit_cost():
    assert operation_count({"Operations": [{}, {}, {}]}) == 3
    assert operation_count({"operations": [{}]}) == 1
    assert operation_count({"Operations": []}) == 1
    assert operation_count("x") == 1
    assert operation_count({"Operations": "x"}) == 1
