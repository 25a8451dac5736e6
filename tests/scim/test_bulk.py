"""POST /scim/v2/Bulk (RFC 7644 §3.7): bulkId references, forward references, cycles,
failOnErrors, tenancy, the request log and bad bodies (limits: test_bulk_limits.py)."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from scimgate.provisioning.bulk import BulkLimits, run_bulk
from scimgate.scim.bulk import read_bulk_request
from scimgate.store.tables.operations import request_log
from tests.helpers.bulk import BULK, ERROR, assert_scim_error, bulk, post, run
from tests.helpers.scim import ScimClient, user_body

PATCH = "urn:ietf:params:scim:api:messages:2.0:PatchOp"


def group(name: str, *members: str) -> dict[str, Any]:
    return {"displayName": name, "members": [{"value": m} for m in members]}


def member_ids(scim: ScimClient, location: str) -> set[str]:
    gid = location.rsplit("/", 1)[1]
    return {m["value"] for m in scim.get(f"/Groups/{gid}").json().get("members", [])}


def last_id(result: dict[str, Any]) -> str:
    return result["location"].rsplit("/", 1)[1]


# -- references --------------------------------------------------------------------------------


def test_users_and_a_group_with_bulk_id_members(scim):
    results = run(
        scim,
        bulk(
            post("Users", "u1", user_body("a@x.com")),
            post("Users", "u2", user_body("b@x.com")),
            post("Groups", "g1", group("Team", "bulkId:u1", "bulkId:u2")),
        ),
    )
    assert [(r["method"], r["bulkId"], r["status"]) for r in results] == [
        ("POST", "u1", "201"),
        ("POST", "u2", "201"),
        ("POST", "g1", "201"),
    ]
    assert results[0]["location"].startswith("https://scim.example.test/scim/v2/Users/")
    assert results[2]["version"] == 'W/"1"'
    assert member_ids(scim, results[2]["location"]) == {last_id(results[0]), last_id(results[1])}


def test_forward_references_run_the_referenced_post_first(scim):
    results = run(
        scim,
        bulk(
            post("Groups", "g", group("Team", "bulkId:u", "bulkId:inner")),
            post("Groups", "inner", group("Inner", "bulkId:u")),
            post("Users", "u", user_body("a@x.com", manager=None)),
            {
                "method": "PATCH",
                "path": "/Users/bulkId:u",
                "data": {
                    "schemas": [PATCH],
                    "Operations": [{"op": "Replace", "path": "active", "value": "False"}],
                },
            },
        ),
    )
    # Answered in request order, all done.
    assert [r["status"] for r in results] == ["201", "201", "201", "200"]
    assert [r.get("bulkId") for r in results] == ["g", "inner", "u", None]
    uid = last_id(results[2])
    assert results[3]["location"].endswith(f"/Users/{uid}")
    assert member_ids(scim, results[0]["location"]) == {uid, last_id(results[1])}
    assert scim.get(f"/Users/{uid}").json()["active"] is False  # Entra's "False" string


def test_bulk_id_in_a_patch_path_filter_and_in_the_operation_path(scim):
    results = run(
        scim,
        bulk(
            post("Users", "u1", user_body("a@x.com")),
            post("Users", "u2", user_body("b@x.com")),
            post("Groups", "g", group("Team", "bulkId:u1", "bulkId:u2")),
            {
                "method": "PATCH",
                "path": "/Groups/bulkId:g",
                "data": {
                    "schemas": [PATCH],
                    "Operations": [{"op": "remove", "path": 'members[value eq "bulkId:u1"]'}],
                },
            },
        ),
    )
    assert [r["status"] for r in results] == ["201", "201", "201", "200"]
    assert member_ids(scim, results[2]["location"]) == {last_id(results[1])}


@pytest.mark.parametrize(
    "operations",
    [
        [post("Groups", "a", group("A", "bulkId:b")), post("Groups", "b", group("B", "bulkId:a"))],
        [post("Groups", "self", group("Self", "bulkId:self"))],
        [
            post("Groups", "a", group("A", "bulkId:c")),
            post("Groups", "b", group("B", "bulkId:a")),
            post("Groups", "c", group("C", "bulkId:b")),
        ],
    ],
    ids=["two", "self", "three"],
)
def test_circular_references_are_409_and_create_nothing(scim, operations):
    results = run(
        scim,
        bulk(*operations, post("Users", "fine", user_body("fine@x.com"))),
    )
    *cyclic, fine = results
    for result in cyclic:
        assert result["status"] == "409"
        assert result["response"]["schemas"] == [ERROR]
        assert result["response"]["status"] == "409"
        assert "circular bulkId reference" in result["response"]["detail"]
        assert "location" not in result
    assert fine["status"] == "201"
    assert scim.get("/Groups").json()["totalResults"] == 0


def test_a_reference_to_a_failed_or_undeclared_post_is_invalid_value(scim):
    results = run(
        scim,
        bulk(
            post("Users", "bad", {"schemas": [], "displayName": "no userName"}),
            post("Groups", "g", group("G", "bulkId:bad")),
            post("Groups", "h", group("H", "bulkId:nobody")),
        ),
    )
    assert [r["status"] for r in results] == ["400", "400", "400"]
    assert results[1]["response"]["scimType"] == "invalidValue"
    assert "Operations[0]" in results[1]["response"]["detail"]
    assert "no POST operation" in results[2]["response"]["detail"]
    assert scim.get("/Groups").json()["totalResults"] == 0


# -- errors and failOnErrors ---------------------------------------------------------------------


def duplicate_then_new(n: int) -> list[dict[str, Any]]:
    return [post("Users", f"dup{i}", user_body("same@x.com")) for i in range(n)] + [
        post("Users", "new", user_body("new@x.com"))
    ]


def test_errors_do_not_stop_a_bulk_without_fail_on_errors(scim):
    results = run(scim, bulk(*duplicate_then_new(3)))
    assert [r["status"] for r in results] == ["201", "409", "409", "201"]
    assert results[1]["response"]["scimType"] == "uniqueness"


def test_fail_on_errors_one_stops_at_the_first_error(scim):
    results = run(scim, bulk(*duplicate_then_new(3), failOnErrors=1))
    assert [r["status"] for r in results] == ["201", "409"]
    assert scim.get("/Users").json()["totalResults"] == 1  # nothing after the stop ran


def test_fail_on_errors_two_accepts_one_error(scim):
    results = run(scim, bulk(*duplicate_then_new(3), failOnErrors=2))
    assert [r["status"] for r in results] == ["201", "409", "409"]
    assert scim.get("/Users").json()["totalResults"] == 1


def test_each_operation_is_its_own_transaction(scim):
    """A failed operation does not undo the one before it (RFC 7644 §3.7)."""
    results = run(
        scim,
        bulk(
            post("Users", "u", user_body("a@x.com")),
            {"method": "DELETE", "path": "/Users/missing"},
        ),
    )
    assert [r["status"] for r in results] == ["201", "404"]
    assert scim.get("/Users").json()["totalResults"] == 1


def test_version_is_the_operation_if_match(scim):
    uid = scim.post("/Users", json=user_body("a@x.com")).json()["id"]
    patch = {"schemas": [PATCH], "Operations": [{"op": "replace", "path": "title", "value": "T"}]}
    results = run(
        scim,
        bulk(
            {"method": "PATCH", "path": f"/Users/{uid}", "version": 'W/"7"', "data": patch},
            {"method": "PATCH", "path": f"/Users/{uid}", "version": 'W/"1"', "data": patch},
            {"method": "PUT", "path": f"/Users/{uid}", "data": user_body("a@x.com", title="P")},
            {"method": "DELETE", "path": f"/Users/{uid}", "version": 'W/"3"'},
        ),
    )
    assert [r["status"] for r in results] == ["412", "200", "200", "204"]
    assert results[1]["version"] == 'W/"2"' and results[2]["version"] == 'W/"3"'
    assert scim.get(f"/Users/{uid}").status_code == 404


@pytest.mark.parametrize(
    ("operation", "status", "scim_type"),
    [
        ({"method": "GET", "path": "/Users"}, "400", "invalidValue"),
        ({"path": "/Users", "data": {}}, "400", "invalidValue"),
        ({"method": "POST", "data": {}}, "400", "invalidValue"),
        ({"method": "POST", "path": "/Nope", "data": {}}, "404", None),
        ({"method": "POST", "path": "/Users/x/y", "data": {}}, "404", None),
        ({"method": "POST", "path": "/Users/abc", "data": {}}, "405", None),
        ({"method": "PUT", "path": "/Users", "data": {}}, "405", None),
        ({"method": "POST", "path": "/Users"}, "400", "invalidSyntax"),
        ({"method": "POST", "path": "/Users", "data": "text"}, "400", None),
        ({"method": "POST", "path": "/Users", "data": [1]}, "400", None),
        ({"method": "POST", "path": "/Users", "bulkId": 7, "data": {}}, "400", "invalidValue"),
        ({"method": "POST", "path": "/Users", "bulkId": "", "data": {}}, "400", "invalidValue"),
        ({"method": "DELETE", "path": "/Users/x", "version": 3}, "400", "invalidValue"),
        ({"method": "PATCH", "path": "/Users/bulkId:ok", "data": {"Operations": []}}, "400", None),
        ("not an object", "400", "invalidSyntax"),
        (None, "400", "invalidSyntax"),
    ],
)
def test_a_bad_operation_is_answered_in_its_slot(scim, operation, status, scim_type):
    results = run(scim, bulk(operation, post("Users", "ok", user_body("ok@x.com"))))
    assert results[0]["status"] == status
    error = results[0]["response"]
    assert error["schemas"] == [ERROR] and error["status"] == status
    if scim_type is not None:
        assert error["scimType"] == scim_type
    assert results[1]["status"] == "201"


@pytest.mark.parametrize(
    ("body", "scim_type"),
    [
        ([], "invalidSyntax"),
        ("text", "invalidSyntax"),
        ({}, "invalidSyntax"),
        ({"schemas": [BULK]}, "invalidSyntax"),
        ({"schemas": [BULK], "Operations": []}, "invalidSyntax"),
        ({"schemas": [BULK], "Operations": {"method": "POST"}}, "invalidSyntax"),
        ({"schemas": ["urn:wrong"], "Operations": [{}]}, "invalidSyntax"),
        ({"schemas": BULK, "Operations": [{}]}, "invalidSyntax"),
        (bulk({}, failOnErrors=0), "invalidValue"),
        (bulk({}, failOnErrors=-1), "invalidValue"),
        (bulk({}, failOnErrors=True), "invalidValue"),
        (bulk({}, failOnErrors=1.5), "invalidValue"),
        (bulk({}, failOnErrors="x"), "invalidValue"),
        (bulk({}, failOnErrors="²"), "invalidValue"),  # "²".isdigit(), and int() raises
        (bulk({}, failOnErrors="1" * 5000), "invalidValue"),  # int() refuses 4300 digits
        ({"Operations": [{}], "operations": [{}]}, "invalidSyntax"),
        (
            bulk(post("Users", "same", user_body("a@x.com")), post("Users", "same", user_body())),
            "invalidValue",
        ),
    ],
)
def test_a_bad_envelope_is_a_400_and_runs_nothing(scim, body, scim_type):
    assert_scim_error(scim.post("/Bulk", json=body), 400, scim_type)
    assert scim.get("/Users").json()["totalResults"] == 0


def test_unparsable_body_is_invalid_syntax(scim):
    assert_scim_error(scim.post("/Bulk", content=b'{"Operations": ['), 400, "invalidSyntax")


def test_tolerant_envelope_keys_and_methods(scim):
    """Keys in any case, a lower-case method, schemas left out (as PATCH bodies allow)."""
    body = {
        "operations": [{"METHOD": "post", "PATH": "/users", "BULKID": "u", "DATA": user_body()}]
    }
    assert run(scim, body)[0]["status"] == "201"


BULK_SHAPES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=10),
    lambda children: (
        st.lists(children, max_size=3)
        | st.dictionaries(
            st.sampled_from(
                ["method", "path", "bulkId", "data", "version", "value", "members", "x"]
            ),
            children,
            max_size=4,
        )
    ),
    max_leaves=10,
)
OPERATION = st.fixed_dictionaries(
    {},
    optional={
        "method": st.sampled_from(["POST", "PUT", "PATCH", "DELETE", "GET", "post", ""])
        | BULK_SHAPES,
        "path": st.sampled_from(["/Users", "/Groups", "/Users/bulkId:a", "/Groups/x", "", "/"])
        | BULK_SHAPES,
        "bulkId": st.sampled_from(["a", "b", "c"]) | BULK_SHAPES,
        "data": BULK_SHAPES
        | st.builds(
            lambda m: {"displayName": "g", "members": [{"value": m}]},
            st.sampled_from(["bulkId:a", "bulkId:b", "bulkId:c", "bulkId:"]),
        ),
        "version": BULK_SHAPES,
    },
)


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(operations=st.lists(OPERATION | BULK_SHAPES, min_size=0, max_size=5), fail=BULK_SHAPES)
def test_random_bulk_bodies_are_never_a_5xx(scim, operations, fail):
    body: dict[str, Any] = {"schemas": [BULK], "Operations": operations}
    if fail is not None:
        body["failOnErrors"] = fail
    r = scim.post("/Bulk", json=body)
    assert r.status_code in (200, 400), r.text
    if r.status_code == 400:
        assert r.json()["schemas"] == [ERROR]
        return
    for result in r.json()["Operations"]:
        assert int(result["status"]) < 500, result
        assert isinstance(result["status"], str)


# -- tenancy ---------------------------------------------------------------------------------------


def test_a_bulk_never_touches_another_account(scim, other):
    their_user = other.post("/Users", json=user_body("secret@b.com")).json()["id"]
    their_group = other.post("/Groups", json=group("B team", their_user)).json()["id"]
    patch = {
        "schemas": [PATCH],
        "Operations": [{"op": "replace", "path": "displayName", "value": "x"}],
    }
    results = run(
        scim,
        bulk(
            {"method": "PUT", "path": f"/Users/{their_user}", "data": user_body("pwned@a.com")},
            {"method": "PATCH", "path": f"/Groups/{their_group}", "data": patch},
            {"method": "DELETE", "path": f"/Users/{their_user}"},
            {"method": "DELETE", "path": f"/Groups/{their_group}"},
            post("Groups", "mine", group("A team", their_user, "bulkId:u")),
            post("Users", "u", user_body("secret@b.com")),  # their userName: no conflict here
        ),
    )
    assert [r["status"] for r in results] == ["404", "404", "404", "404", "201", "201"]
    assert member_ids(scim, results[4]["location"]) == {last_id(results[5])}
    assert other.get(f"/Users/{their_user}").json()["userName"] == "secret@b.com"
    assert other.get(f"/Groups/{their_group}").json()["displayName"] == "B team"
    assert scim.get("/Users").json()["totalResults"] == 1


def test_bulk_needs_the_token(http):
    r = http.post("/scim/v2/Bulk", json=bulk(post("Users", "u", user_body())))
    assert_scim_error(r, 401)


# -- the request log -------------------------------------------------------------------------------


def test_each_operation_has_its_request_log_entry(scim, app, engine):
    body = user_body("a@x.com")
    body["password"] = "hunter2"
    run(
        scim,
        bulk(
            post("Users", "u", body),
            post("Groups", "g", group("G", "bulkId:u", "unknown-id")),
            {"method": "DELETE", "path": "/Users/missing"},
        ),
    )
    app.state.request_log.flush()
    with engine.begin() as conn:
        rows = conn.execute(select(request_log).order_by(request_log.c.id)).mappings().all()
    assert [(r["method"], r["path"].split("/")[3], r["status"]) for r in rows] == [
        ("POST", "Users", 201),
        ("POST", "Groups", 201),
        ("DELETE", "Users", 404),
        ("POST", "Bulk", 200),
    ]
    assert rows[0]["path"] == "/scim/v2/Users" and rows[0]["resource_id"]
    assert "password" in rows[0]["ignored"]
    assert "unknown-id" in rows[1]["ignored"]
    assert rows[2]["path"] == "/scim/v2/Users/missing" and rows[2]["detail"]
    dumped = " ".join(str(dict(r)) for r in rows)
    assert "hunter2" not in dumped and scim.token not in dumped


# -- the request deadline ----------------------------------------------------------------------------


def test_operations_past_the_deadline_are_503_and_not_run(engine, make_account):
    """The run stops starting operations at its deadline: the rest are answered 503."""
    _slug, _token, account_id = make_account()
    request = read_bulk_request(
        bulk(*[post("Users", f"u{i}", user_body(f"u{i}@x.com")) for i in range(5)]),
        max_operations=10,
    )
    ticks = iter(range(100))
    limits = BulkLimits(max_patch_operations=10, stop_at=4.5, clock=lambda: float(next(ticks)))
    outcomes = run_bulk(request, account_id=account_id, transaction=engine.begin, limits=limits)
    statuses = [o.status if o.error is None else o.error.status for o in outcomes]
    assert statuses == [201, 201, 503, 503, 503]  # two clock reads per operation run
    assert [o.skipped for o in outcomes] == [False, False, True, True, True]
    assert "send it again" in str(outcomes[2].error)
