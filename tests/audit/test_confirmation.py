"""A confirmed held run keeps the time it started and records when and by whom it was
confirmed, in the engine, the CLI and the API; the confirmation is audited once."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta

import pytest

from scimgate.accounts import api_keys
from scimgate.store import sync as sync_store
from scimgate.store.database import as_utc
from scimgate.sync import schedule
from scimgate.sync.engine import synchronize
from tests.helpers.audit import entries, entries_since
from tests.helpers.sync import create_users, set_active

HELD_AT = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
CONFIRMED_AT = HELD_AT + timedelta(hours=3)


def held_run(scim, engine, actor="cli:opal"):
    """Four members, two of them unassigned in the IdP: a run held at HELD_AT."""
    ids = create_users(scim, 4)
    with engine.begin() as conn:
        schedule.configure(conn, scim.account_id, hold_percent=10, hold_minimum=1)
    assert synchronize(engine, scim.account_id, actor=actor).status == "succeeded"
    for user_id in ids[:2]:
        set_active(scim, user_id, "False")
    held = synchronize(engine, scim.account_id, actor=actor, clock=lambda: HELD_AT)
    assert held.status == "held"
    return held.run_id


def run_row(engine, account_id, run_id):
    with engine.connect() as conn:
        return sync_store.get_run(conn, account_id, run_id)


def test_confirming_keeps_started_and_records_who_and_when(scim, engine):
    run_id = held_run(scim, engine)
    assert as_utc(run_row(engine, scim.account_id, run_id)["started_at"]) == HELD_AT
    before = entries(engine, scim.account_id)
    done = synchronize(
        engine, scim.account_id, confirm=run_id, actor="it@acme.example", clock=lambda: CONFIRMED_AT
    )
    assert done.status == "succeeded" and done.run_id == run_id
    assert (done.confirmed_by, done.confirmed_at) == ("it@acme.example", CONFIRMED_AT)
    assert done.as_json()["confirmed_by"] == "it@acme.example"
    assert done.as_json()["confirmed_at"] == CONFIRMED_AT.isoformat()
    row = run_row(engine, scim.account_id, run_id)
    assert as_utc(row["started_at"]) == HELD_AT
    assert as_utc(row["confirmed_at"]) == CONFIRMED_AT
    assert row["confirmed_by"] == "it@acme.example"
    assert as_utc(row["finished_at"]) == CONFIRMED_AT
    new = entries_since(engine, scim.account_id, before)
    assert [(e["actor"], e["action"], e["details"]) for e in new] == [
        ("it@acme.example", "sync_run.confirmed", {"run_id": run_id, "deactivations": 2})
    ]


def test_a_run_that_was_never_held_has_no_confirmation(scim, engine):
    create_users(scim, 2)
    done = synchronize(engine, scim.account_id, actor="cli:opal")
    assert done.confirmed_by is None and "confirmed_by" not in done.as_json()
    row = run_row(engine, scim.account_id, done.run_id)
    assert row["confirmed_at"] is None and row["confirmed_by"] is None


def test_a_refused_confirmation_is_not_audited(scim, engine):
    create_users(scim, 2)
    done = synchronize(engine, scim.account_id, actor="cli:opal")
    before = entries(engine, scim.account_id)
    with pytest.raises(Exception, match="not held"):
        synchronize(engine, scim.account_id, confirm=done.run_id, actor="it@acme.example")
    assert entries(engine, scim.account_id) == before
    assert run_row(engine, scim.account_id, done.run_id)["confirmed_by"] is None


def test_the_daily_sync_is_audited_as_the_scheduler(scim, engine):
    create_users(scim, 2)
    now = datetime(2026, 12, 2, 3, 0, 30, tzinfo=UTC)
    with engine.begin() as conn:  # due now
        schedule.configure(
            conn, scim.account_id, daily=True, at="03:00", now=now - timedelta(days=1)
        )
    before = entries(engine, scim.account_id)
    fired = schedule.tick(engine, now=now)
    assert [f.outcome for f in fired if f.account_id == scim.account_id] == ["succeeded"]
    new = entries_since(engine, scim.account_id, before)
    assert [(e["actor"], e["action"]) for e in new] == [("daily sync", "sync_run.started")]
    assert new[0]["details"]["trigger"] == "daily"


def test_cli_shows_the_confirmation(scim, engine, cli):
    run_id = held_run(scim, engine)
    r = cli("sync", scim.slug, "--confirm", str(run_id), "--json")
    assert r.exit_code == 0, r.stderr
    doc = json.loads(r.stdout)
    assert doc["status"] == "succeeded" and doc["confirmed_by"] == "cli:opal"
    assert doc["confirmed_at"]
    listed = json.loads(cli("sync-runs", scim.slug, "--json").stdout)
    confirmed = next(r for r in listed if r["id"] == run_id)
    assert confirmed["confirmed_by"] == "cli:opal"
    assert confirmed["started_at"].startswith("2026-12-01T09:00:00")
    text = cli("sync-runs", scim.slug).stdout
    line = next(ln for ln in text.splitlines() if ln.split()[0] == str(run_id))
    assert "confirmed" in line and "by cli:opal" in line
    # its time is the work after the confirmation, not the days since the hold
    assert float(re.search(r" in ([0-9.]+)s", line).group(1)) < 60


def test_api_shows_and_records_the_confirming_key(make_api, engine):
    api = make_api()
    run_id = held_run(api.scim, engine)
    r = api.post(f"/sync-runs/{run_id}/confirm")
    assert r.status_code == 202, r.text
    run = api.wait_run(run_id)
    assert run["status"] == "succeeded"
    with engine.connect() as conn:
        prefix = next(k["prefix"] for k in api_keys.list_keys(conn, api.account_id))
    assert run["confirmed_by"] == f"apikey:{prefix}"
    assert run["started_at"].startswith("2026-12-01T09:00:00")
    assert run["confirmed_at"] > run["started_at"]
    listed = api.ok("GET", "/sync-runs")
    listed = listed["data"] if isinstance(listed, dict) else listed  # a page, or a plain list
    assert next(r for r in listed if r["id"] == run_id)["confirmed_by"] == f"apikey:{prefix}"
    audit_page = api.ok("GET", "/audit-log?limit=1")
    assert [(e["actor"], e["action"]) for e in audit_page["data"]] == [
        (f"apikey:{prefix}", "sync_run.confirmed")
    ]
