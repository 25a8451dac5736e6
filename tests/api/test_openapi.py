"""The OpenAPI document of /api/v1, and a schemathesis run against it: whatever a client
sends, with a valid key, the answer is never a 5xx."""

from __future__ import annotations

import time

import pytest
import schemathesis
from fastapi.routing import APIRoute
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis.checks import not_a_server_error
from starlette.routing import Mount

from scimgate.store import sync as sync_store
from tests.helpers.sync import add_property, create_group, create_users, sync

FUZZ_PROFILE = "scimgate-host-api-fuzz"
settings.register_profile(
    FUZZ_PROFILE,
    max_examples=25,
    derandomize=True,
    deadline=None,
    database=None,
    print_blob=False,
    suppress_health_check=list(HealthCheck),
    phases=(Phase.explicit, Phase.generate, Phase.shrink),
)


def api_routes(app):
    """(path, method) of every documented route of the mounted /api/v1 application."""
    (mount,) = [r for r in app.api.routes if isinstance(r, Mount) and r.path == "/api/v1"]
    return {
        (route.path, method.lower())
        for route in mount.app.routes
        if isinstance(route, APIRoute) and route.include_in_schema
        for method in route.methods
    }


def test_the_document_is_openapi_3_and_needs_no_key(http, app):
    r = http.get("/api/v1/openapi.json")
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("application/json")
    doc = r.json()
    assert doc["openapi"].startswith("3.")
    assert doc["info"]["title"] and doc["info"]["version"]
    assert {"url": "/api/v1"} in doc.get("servers", [])  # paths are relative to the mount
    documented = {(path, method) for path, ops in doc["paths"].items() for method in ops}
    routes = api_routes(app)
    assert documented == routes
    expected = {
        ("/members", "get"),
        ("/members", "post"),
        ("/members/{member_id}", "get"),
        ("/members/{member_id}", "patch"),
        ("/teams", "get"),
        ("/teams/{team_id}", "get"),
        ("/teams/{team_id}/members", "get"),
        ("/properties", "get"),
        ("/properties", "post"),
        ("/properties/{property_id}", "get"),
        ("/properties/{property_id}", "patch"),
        ("/properties/{property_id}", "delete"),
        ("/mappings", "get"),
        ("/mappings", "patch"),
        ("/group-rules", "get"),
        ("/group-rules", "post"),
        ("/group-rules/{rule_id}", "get"),
        ("/group-rules/{rule_id}", "patch"),
        ("/group-rules/{rule_id}", "delete"),
        ("/sync-runs", "get"),
        ("/sync-runs", "post"),
        ("/sync-runs/{run_id}", "get"),
        ("/sync-runs/{run_id}/confirm", "post"),
        ("/drift", "get"),
        ("/drift/unsynced", "get"),
        ("/drift/manual", "get"),
        ("/drift/edited", "get"),
        ("/drift/unfilled", "get"),
        ("/events", "get"),
        ("/snapshot", "get"),
        ("/settings/events", "get"),
        ("/settings/events", "patch"),
        ("/webhooks/{endpoint_id}/dead-letters", "get"),
        ("/webhooks/{endpoint_id}/dead-letters/redeliver", "post"),
    }
    assert expected <= documented
    for path, ops in doc["paths"].items():
        for method, op in ops.items():
            assert op.get("operationId"), (path, method)
            assert "401" in op["responses"], (path, method)
            assert any(s.startswith("2") for s in op["responses"]), (path, method)
    # every $ref resolves
    schemas = doc["components"]["schemas"]
    text = r.text
    for name in {part.split('"')[0] for part in text.split('"#/components/schemas/')[1:]}:
        assert name in schemas, name
    for name in (
        "Member",
        "MemberCreate",
        "MemberUpdate",
        "Problem",
        "SyncRun",
        "Team",
        "PropertyCreate",
        "PropertyUpdate",
        "PropertyDetail",
        "PropertyPage",
        "MappingList",
    ):
        assert name in schemas
    for name in ("MemberCreate", "MemberUpdate", "PropertyCreate", "PropertyUpdate"):
        assert schemas[name]["additionalProperties"] is False
    assert set(schemas["PropertyPage"]["properties"]) == {"data", "next_cursor"}
    sort = next(p for p in doc["paths"]["/members"]["get"]["parameters"] if p["name"] == "sort")
    assert "name" in sort["schema"]["anyOf"][0]["pattern"]


def test_no_interactive_docs_are_served(http):
    for path in ("/api/v1/docs", "/api/v1/redoc"):
        assert http.get(path).status_code == 404


def test_the_document_does_not_advertise_a_status_the_api_never_sends(http):
    doc = http.get("/api/v1/openapi.json").json()
    advertised = {
        (path, method)
        for path, ops in doc["paths"].items()
        for method, op in ops.items()
        if "422" in op["responses"]
    }
    assert advertised == set()


def test_problem_responses_are_documented_with_their_media_type(http):
    doc = http.get("/api/v1/openapi.json").json()
    for path, ops in doc["paths"].items():
        for method, op in ops.items():
            for status, response in op["responses"].items():
                content = response.get("content", {})
                refs = str(content)
                if "#/components/schemas/Problem" in refs:
                    assert "application/problem+json" in content, (path, method, status)


# ---- schemathesis ----


def _without_lifespan(app):
    """The app as schemathesis should see it: the `http` fixture owns its lifespan (schemathesis
    would otherwise start a second one and keep it until the interpreter exits)."""

    async def wrapper(scope, receive, send):
        if scope["type"] == "lifespan":
            while True:
                message = await receive()
                if message["type"] == "lifespan.startup":
                    await send({"type": "lifespan.startup.complete"})
                elif message["type"] == "lifespan.shutdown":
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        await app(scope, receive, send)

    return wrapper


@pytest.fixture
def seeded(api, engine):
    """An account with provisioned and manual members, a team, typed Properties and a run."""
    users = create_users(api.scim, 3)
    create_group(api.scim, "Engineering", users[:2])
    result = sync(engine, api.account_id)
    assert result.status == "succeeded"
    prop_ids = [
        add_property(engine, api.account_id, name, kind, options)
        for name, kind, options in (
            ("Level", "number", None),
            ("Start", "date", None),
            ("Remote", "boolean", None),
            ("Tier", "select", ["Gold", "Silver"]),
            ("Buddy", "member", None),
            ("Notes", "text", None),
        )
    ]
    manual = api.ok("POST", "/members", 201, json={"email": "manual@example.com"})
    scim_member = api.ok("GET", "/members?source=scim&limit=1")["data"][0]
    team = api.ok("GET", "/teams")["data"][0]
    return {
        "member_id": [manual["id"], scim_member["id"]],
        "team_id": [team["id"]],
        "run_id": [result.run_id],
        "property_id": [prop_ids[3]],
    }


def _wait_for_idle(engine, account_id, timeout=30.0):
    """Background runs the fuzzing started must end before the database goes away."""
    deadline = time.monotonic() + timeout
    while True:
        with engine.connect() as conn:
            if sync_store.running_run(conn, account_id) is None:
                return
        assert time.monotonic() < deadline, "a sync run the fuzzing started is still running"
        time.sleep(0.05)


@pytest.mark.slow
def test_schemathesis_finds_no_server_error(app, api, engine, seeded):
    schema = schemathesis.openapi.from_asgi("/api/v1/openapi.json", _without_lifespan(app))
    operations = [result.ok() for result in schema.get_all_operations()]
    assert {(op.path, op.method.lower()) for op in operations} == api_routes(app)
    auth = {"Authorization": f"Bearer {api.key}"}
    failures: list[str] = []
    calls = {"n": 0, "statuses": set()}
    for op in operations:
        names = [p.name for p in op.path_parameters]
        variants = [None] + [{n: value} for n in names for value in seeded.get(n, [])]
        for mode in (schemathesis.GenerationMode.POSITIVE, schemathesis.GenerationMode.NEGATIVE):
            for fixed in variants:
                strategy = op.as_strategy(generation_mode=mode, path_parameters=fixed)

                @settings(settings.get_profile(FUZZ_PROFILE))
                @given(case=strategy)
                def check(case):
                    response = case.call(headers=auth)
                    calls["n"] += 1
                    calls["statuses"].add(response.status_code)
                    case.validate_response(response, checks=[not_a_server_error], headers=auth)

                try:
                    check()
                except Unsatisfiable:
                    # Nothing to negate (a free-form string path parameter, no query or body).
                    assert mode == schemathesis.GenerationMode.NEGATIVE, op.label
                except Exception as exc:  # noqa: BLE001 - every operation's failure, then report
                    failures.append(f"{op.label} {mode.value} {fixed}: {exc}")
    _wait_for_idle(engine, api.account_id)
    assert not failures, "\n\n".join(failures)
    # the key was accepted: the runs reached the handlers, not just the 401
    assert calls["n"] > 200 and {200, 400, 404} <= calls["statuses"], calls


# ---- protocol details outside the document ----


def test_unknown_paths_are_404_problems(api):
    for path in ("/nope", "/", "/members/x/y"):
        r = api.get(path)
        assert r.status_code == 404
        assert r.headers["content-type"].startswith("application/problem+json")
        assert r.json()["status"] == 404


@pytest.mark.parametrize(
    "method, path, allowed",
    [
        ("DELETE", "/members/x", {"GET", "PATCH"}),
        ("PUT", "/members", {"GET", "POST"}),
        ("DELETE", "/sync-runs/1", {"GET"}),
    ],
)
def test_a_405_says_which_methods_are_allowed(api, method, path, allowed):
    r = api.request(method, path)
    assert r.status_code == 405
    assert r.headers["content-type"].startswith("application/problem+json")
    assert {m.strip() for m in r.headers.get("allow", "").split(",") if m.strip()} == allowed
