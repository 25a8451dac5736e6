"""POST /scim/v2/Bulk (RFC 7644 §3.7): bulkId references, forward references, cycles,
failOnErrors, limits, rate limits, tenancy, the request log and bad bodies."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from scim2_models import BulkResponse, Group, User
from sqlalchemy import Engine, select
from starlette.testclient import TestClient

from scimgate.provisioning.bulk import BulkLimits, run_bulk
from scimgate.scim.bulk import read_bulk_request
from scimgate.settings import Settings
from scimgate.store.tables.operations import request_log
from scimgate.web.app import create_app
from tests.helpers.scim import ScimClient, user_body

BULK = "urn:ietf:params:scim:api:messages:2.0:BulkRequest"
BULK_RESPONSE = "urn:ietf:params:scim:api:messages:2.0:BulkResponse"
ERROR = "urn:ietf:params:scim:api:messages:2.0:Error"
PATCH = "urn:ietf:params:scim:api:messages:2.0:PatchOp"


def bulk(*operations: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {"schemas": [BULK], "Operations": list(operations), **extra}


def post(kind: str, bulk_id: str, data: dict[str, Any]) -> dict[str, Any]:
    return {"method": "POST", "path": f"/{kind}", "bulkId": bulk_id, "data": data}


def group(name: str, *members: str) -> dict[str, Any]:
    return {"displayName": name, "members": [{"value": m} for m in members]}


def run(scim: ScimClient, body: dict[str, Any]) -> list[dict[str, Any]]:
    r = scim.post("/Bulk", json=body)
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("application/scim+json")
    assert r.json()["schemas"] == [BULK_RESPONSE]
    BulkResponse[User | Group].model_validate(r.json())  # scim2-models reads it as RFC 7644's
    return r.json()["Operations"]


def member_ids(scim: ScimClient, location: str) -> set[str]:
    gid = location.rsplit("/", 1)[1]
    return {m["value"] for m in scim.get(f"/Groups/{gid}").json().get("members", [])}


def last_id(result: dict[str, Any]) -> str:
    return result["location"].rsplit("/", 1)[1]


def assert_scim_error(r: Any, status: int, scim_type: str | None = None) -> dict[str, Any]:
    assert r.status_code == status, r.text
    body = r.json()
    assert body["schemas"] == [ERROR] and body["status"] == str(status)
    if scim_type is not None:
        assert body.get("scimType") == scim_type, body
    return body


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


# -- limits ----------------------------------------------------------------------------------------


def test_service_provider_config_advertises_bulk(scim):
    spc = scim.get("/ServiceProviderConfig").json()
    assert spc["bulk"] == {"supported": True, "maxOperations": 1000, "maxPayloadSize": 1048576}


@pytest.fixture
def small(settings: Settings, engine: Engine) -> Iterator[TestClient]:
    """An app with small Bulk limits: 3 operations, 4 KiB."""
    tight = settings.model_copy(update={"bulk_max_operations": 3, "bulk_max_payload_bytes": 4096})
    with TestClient(create_app(tight, engine=engine), raise_server_exceptions=False) as client:
        yield client


def test_over_max_operations_is_413(small, make_account):
    _slug, token, _ = make_account()
    scim = ScimClient(http=small, token=token, slug="s", account_id=0)
    assert scim.get("/ServiceProviderConfig").json()["bulk"]["maxOperations"] == 3
    body = bulk(*[post("Users", f"u{i}", user_body(f"u{i}@x.com")) for i in range(4)])
    error = assert_scim_error(scim.post("/Bulk", json=body), 413)
    assert "maxOperations is 3" in error["detail"]
    assert scim.get("/Users").json()["totalResults"] == 0
    body["Operations"].pop()
    assert [r["status"] for r in run(scim, body)] == ["201"] * 3


def test_over_max_payload_is_413_before_the_token_is_checked(small):
    r = small.post("/scim/v2/Bulk", content=b"{" + b" " * 5000 + b"}")
    assert_scim_error(r, 413)
    r = small.post("/scim/v2/bulk", content=b"{" + b" " * 5000 + b"}")  # the route's any case
    assert_scim_error(r, 413)
    # The Bulk limit is the Bulk's: other routes keep max_body_bytes (1 MiB).
    assert small.post("/scim/v2/Users", content=b"{" + b" " * 5000 + b"}").status_code == 401


def test_a_bulk_limit_above_the_body_limit_lets_bulks_through(settings, engine, make_account):
    wide = settings.model_copy(update={"max_body_bytes": 2048, "bulk_max_payload_bytes": 65536})
    with TestClient(create_app(wide, engine=engine), raise_server_exceptions=False) as client:
        _slug, token, _ = make_account()
        scim = ScimClient(http=client, token=token, slug="w", account_id=0)
        body = bulk(*[post("Users", f"u{i}", user_body(f"u{i}@x.com")) for i in range(8)])
        assert [r["status"] for r in run(scim, body)] == ["201"] * 8


@pytest.fixture
def limited(settings: Settings, engine: Engine) -> Iterator[TestClient]:
    """Rate limits on: a burst of 10, one every 10 seconds after that."""
    tight = settings.model_copy(
        update={"rate_limits": True, "scim_rate_per_second": 0.1, "scim_rate_burst": 10}
    )
    with TestClient(create_app(tight, engine=engine), raise_server_exceptions=False) as client:
        yield client


def test_a_bulk_costs_its_operations_and_is_refused_whole(limited, make_account):
    _slug, token, _ = make_account()
    scim = ScimClient(http=limited, token=token, slug="r", account_id=0)
    seven = bulk(*[post("Users", f"u{i}", user_body(f"u{i}@x.com")) for i in range(7)])
    assert [r["status"] for r in run(scim, seven)] == ["201"] * 7  # 3 of 10 left
    four = bulk(*[post("Users", f"v{i}", user_body(f"v{i}@x.com")) for i in range(4)])
    r = scim.post("/Bulk", json=four)
    error = assert_scim_error(r, 429)
    assert "counts as 4 requests" in error["detail"]
    assert int(r.headers["Retry-After"]) >= 5  # one token short, at one per 10 s
    assert scim.get("/Users").json()["totalResults"] == 7  # nothing of it ran
    # The three left pay for single requests (the first of them just above).
    assert [scim.get("/Users").status_code for _ in range(3)] == [200, 200, 429]


def test_a_bulk_above_the_burst_waits_for_a_full_bucket(limited, make_account):
    _slug, token, _ = make_account()
    scim = ScimClient(http=limited, token=token, slug="b", account_id=0)
    twelve = bulk(*[post("Users", f"u{i}", user_body(f"u{i}@x.com")) for i in range(12)])
    assert [r["status"] for r in run(scim, twelve)] == ["201"] * 12  # charged the burst, 10
    assert scim.get("/Users").status_code == 429


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
