"""GET /api/v1/audit-log: the key's account only, newest first, cursor pages, a bogus
cursor is a 400 problem; changes made with a key name the key; entries are events."""

from __future__ import annotations

import pytest

from scimgate import audit
from tests.helpers.api import assert_problem
from tests.helpers.audit import entries, entries_since


def key_prefix(engine, api):
    from scimgate.accounts import api_keys

    with engine.connect() as conn:
        return next(
            k["prefix"] for k in api_keys.list_keys(conn, api.account_id) if k["id"] == api.key_id
        )


def test_a_sync_started_with_a_key_is_audited_as_that_key(make_api, engine):
    api = make_api()
    before = entries(engine, api.account_id)
    started = api.ok("POST", "/sync-runs", status=202)
    api.wait_run(started["id"])
    new = entries_since(engine, api.account_id, before)
    assert [(e["actor"], e["action"], e["target"]) for e in new] == [
        (f"apikey:{key_prefix(engine, api)}", "sync_run.started", f"sync run {started['id']}")
    ]
    assert new[0]["details"] == {"run_id": started["id"], "trigger": "api"}


def test_a_dry_run_is_not_audited(make_api, engine):
    api = make_api()
    before = entries(engine, api.account_id)
    api.ok("POST", "/sync-runs", json={"dry_run": True})
    assert entries(engine, api.account_id) == before


def test_the_audit_log_pages_newest_first_within_the_keys_account(make_api, engine):
    ours, theirs = make_api(), make_api()
    with engine.begin() as conn:
        for n in range(5):
            audit.record(
                conn, ours.account_id, actor="cli:opal", action="test.ours", target=f"o{n}"
            )
        audit.record(conn, theirs.account_id, actor="cli:opal", action="test.theirs", target="t")
    expected = [e["id"] for e in entries(engine, ours.account_id)]
    seen, cursor, pages = [], None, 0
    while True:
        page = ours.ok("GET", "/audit-log?limit=2" + (f"&cursor={cursor}" if cursor else ""))
        assert set(page) == {"data", "next_cursor"}
        seen.extend(e["id"] for e in page["data"])
        for e in page["data"]:
            assert set(e) == {"id", "at", "actor", "action", "target", "details"}
            assert e["at"].endswith(("Z", "+00:00"))
        cursor, pages = page["next_cursor"], pages + 1
        if cursor is None:
            break
    assert seen == expected and pages == (len(expected) + 1) // 2
    assert "test.theirs" not in {
        e["action"] for e in ours.ok("GET", "/audit-log?limit=200")["data"]
    }
    # their cursor is only a number: it pages over our entries, never theirs
    theirs_first = theirs.ok("GET", "/audit-log")["data"][0]["id"]
    mine = ours.ok("GET", f"/audit-log?cursor={theirs_first + 100}")["data"]
    assert {e["action"] for e in mine} <= {
        "test.ours",
        "provisioning.activated",
        "account.created",
        "api_key.created",
    }


@pytest.mark.parametrize(
    "query",
    [
        "cursor=abc",
        "cursor=-1",
        "cursor=0",
        "cursor=1.5",
        "cursor=" + "9" * 30,
        "cursor=%00",
        "limit=0",
        "limit=201",
    ],
)
def test_a_bad_cursor_or_limit_is_a_400_problem(make_api, query):
    api = make_api()
    assert_problem(api.get(f"/audit-log?{query}"), 400)


def test_the_audit_log_needs_a_key(http):
    r = http.get("/api/v1/audit-log")
    assert_problem(r, 401)


def test_entries_are_events_in_the_feed(make_api, engine):
    api = make_api()
    started = api.ok("POST", "/sync-runs", status=202)
    api.wait_run(started["id"])
    feed = api.ok("GET", "/events?after=0&limit=1000")["data"]
    audited = [e for e in feed if e["type"] == "audit.recorded"]
    newest = api.ok("GET", "/audit-log")["data"]
    assert [e["data"]["entry_id"] for e in reversed(audited)] == [e["id"] for e in newest]
    last = audited[-1]
    assert last["subject_id"] == str(newest[0]["id"])
    assert (
        last["data"]["action"] == "sync_run.started" and last["data"]["actor"] == newest[0]["actor"]
    )


def test_openapi_documents_the_audit_log(http):
    doc = http.get("/api/v1/openapi.json").json()
    op = doc["paths"]["/audit-log"]["get"]
    assert {p["name"] for p in op["parameters"]} == {"cursor", "limit"}
    assert "application/problem+json" in op["responses"]["400"]["content"]
    schema = doc["components"]["schemas"]["AuditPage"]
    assert set(schema["properties"]) == {"data", "next_cursor"}
    assert set(doc["components"]["schemas"]["AuditEntry"]["properties"]) == {
        "id",
        "at",
        "actor",
        "action",
        "target",
        "details",
    }
    run = doc["components"]["schemas"]["SyncRun"]["properties"]
    assert "confirmed_at" in run and "confirmed_by" in run
