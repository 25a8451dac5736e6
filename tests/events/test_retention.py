"""Events that last a window: the retention setting (API, CLI), the bounded hourly prune, its
effect on webhook deliveries and endpoints, and the feed's 410 for a cursor pruned away."""

from __future__ import annotations

import json

from sqlalchemy import select, update
from typer.testing import CliRunner

from scimgate.cli import app as cli_app
from scimgate.errors import CursorTooOldError
from scimgate.store import dead_letters as dead_store
from scimgate.store import webhooks as webhook_store
from scimgate.store.tables.operations import event, webhook_delivery
from scimgate.timestamps import utcnow
from scimgate.web.request_log import RequestLogBuffer
from scimgate.web.status_table import answer_for
from scimgate.webhooks import retention
from scimgate.webhooks.retention import RetentionSweep
from tests.helpers.api import assert_problem
from tests.helpers.webhooks import add_endpoint, add_members, all_events, backdate, last_seq


def seqs(engine, account_id):
    return [e["seq"] for e in all_events(engine, account_id)]


def test_prune_keeps_the_window_of_each_account_and_never_touches_another(engine, make_account):
    _, _, a = make_account("a")
    _, _, b = make_account("b")
    add_members(engine, a, "a", 4)
    add_members(engine, b, "b", 4)
    a_last, b_last = last_seq(engine, a), last_seq(engine, b)
    # Both accounts' oldest events are 40 days old; a keeps 30 days, b the default 90.
    backdate(engine, a, a_last - 2, 40)
    backdate(engine, b, b_last - 2, 40)
    with engine.begin() as conn:
        retention.set_retention(conn, a, 30)
    b_before = all_events(engine, b)
    a_kept = [s for s in seqs(engine, a) if s > a_last - 2]
    assert RetentionSweep(engine).run() == a_last - 2
    assert seqs(engine, a) == a_kept  # the retention change's own audit event is new
    assert all_events(engine, b) == b_before  # same seq numbers, another account: untouched
    with engine.connect() as conn:
        assert retention.settings_of(conn, a)["oldest_after"] == a_last - 2
        assert retention.settings_of(conn, b)["oldest_after"] == 0
    # A shorter window for b later prunes b alone.
    with engine.begin() as conn:
        retention.set_retention(conn, b, 30)
    a_before = all_events(engine, a)
    assert RetentionSweep(engine).run() == b_last - 2
    assert all_events(engine, a) == a_before


def test_a_sweep_is_done_in_bounded_steps_and_prunes_only_the_oldest_run(engine, make_account):
    _, _, a = make_account("a")
    _, _, b = make_account("b")
    add_members(engine, a, "a", 12)
    add_members(engine, b, "b", 3)
    a_last = last_seq(engine, a)
    backdate(engine, a, a_last, 100)
    backdate(engine, b, last_seq(engine, b), 100)
    # An event inside the window in the middle of a's old ones: the prune stops before it.
    with engine.begin() as conn:
        conn.execute(
            update(event)
            .where(event.c.account_id == a, event.c.seq == a_last - 3)
            .values(created_at=utcnow())
        )
    sweep = RetentionSweep(engine, budget=4)
    assert sweep.step() == 0 and not sweep.running  # no sweep started: nothing to do
    sweep.start()
    steps = []
    while sweep.running:
        steps.append(sweep.step())
        assert len(steps) < 20
    assert max(steps) <= 4 and sum(steps) == (a_last - 4) + last_seq(engine, b)
    assert seqs(engine, a) == list(range(a_last - 3, a_last + 1))
    assert seqs(engine, b) == []


def test_the_request_log_prune_runs_the_hourly_event_sweep(engine, make_account):
    _, _, a = make_account("a")
    add_members(engine, a, "a", 3)
    backdate(engine, a, last_seq(engine, a), 100)
    buffer = RequestLogBuffer(engine, max_rows=100, max_days=30, flush_seconds=3600)
    buffer.prune()  # the first prune of a process sweeps every account
    assert seqs(engine, a) == []
    add_members(engine, a, "b", 1)
    backdate(engine, a, last_seq(engine, a), 100)
    buffer.prune()  # not an hour later: no new sweep
    assert len(seqs(engine, a)) == 1


def test_deliveries_of_pruned_events_go_with_them(engine, make_account):
    slug, _, a = make_account("a")
    _, _, b = make_account("b")
    hook = add_endpoint(engine, slug, "http://127.0.0.1:9/hook")
    other = add_endpoint(engine, "b", "http://127.0.0.1:9/hook")
    start = last_seq(engine, a)
    add_members(engine, a, "a", 4)
    add_members(engine, b, "b", 4)
    with engine.begin() as conn:
        for account_id, endpoint_id in ((a, hook["id"]), (b, other["id"])):
            for seq in range(start + 1, start + 5):
                webhook_store.insert_delivery(
                    conn,
                    account_id,
                    endpoint_id,
                    event_seq=seq,
                    event_id="x",
                    event_type="member.created",
                    attempt=3,
                    status_code=500,
                    error="no",
                    duration_ms=1,
                    at=utcnow(),
                    dead=True,
                )
        # The endpoint failed on its first event and stayed behind.
        webhook_store.set_endpoint(conn, hook["id"], cursor=start, status="failing")
    backdate(engine, a, start + 2, 100)
    RetentionSweep(engine).run()
    with engine.connect() as conn:
        kept = conn.execute(
            select(webhook_delivery.c.account_id, webhook_delivery.c.event_seq).order_by(
                webhook_delivery.c.id
            )
        ).all()
        state = webhook_store.get_endpoint(conn, a, hook["id"])
        assert len(dead_store.list_open(conn, a, hook["id"], after_id=0, limit=10)) == 2
    assert [s for acct, s in kept if acct == a] == [start + 3, start + 4]
    assert [s for acct, s in kept if acct == b] == list(range(start + 1, start + 5))
    # Moved past the pruned events, still failing, and told why.
    assert state["cursor"] == start + 2 and state["status"] == "failing"
    assert "pruned" in state["last_error"]


def test_retention_through_the_api_and_the_cli(make_api, engine, database_url, tmp_path):
    api, other = make_api("a"), make_api("b")
    assert api.ok("GET", "/settings/events") == {
        "retention_days": 90,
        "oldest_after": 0,
        "last_seq": last_seq(engine, api.account_id),
    }
    got = api.ok("PATCH", "/settings/events", json={"retention_days": 30})
    assert got["retention_days"] == 30
    assert other.ok("GET", "/settings/events")["retention_days"] == 90
    entry = api.ok("GET", "/audit-log")["data"][0]
    assert entry["action"] == "event_retention.changed"
    assert entry["details"] == {"changes": {"retention_days": [90, 30]}}
    assert entry["actor"].startswith("apikey:")
    for bad in ({"retention_days": 0}, {"retention_days": 3651}, {"days": 3}, {}):
        assert_problem(api.patch("/settings/events", json=bad), 400)
    assert api.ok("GET", "/settings/events")["retention_days"] == 30

    runner = CliRunner()
    env = {"SCIMGATE_DATABASE_URL": database_url}
    r = runner.invoke(cli_app, ["event-settings", "a", "--json"], env=env)
    assert r.exit_code == 0, r.output
    assert json.loads(r.stdout)["retention_days"] == 30
    r = runner.invoke(cli_app, ["event-settings", "b", "--retention-days", "7"], env=env)
    assert r.exit_code == 0, r.output
    assert "events kept 7 days" in r.stdout
    assert api.ok("GET", "/settings/events")["retention_days"] == 30
    assert other.ok("GET", "/settings/events")["retention_days"] == 7
    r = runner.invoke(cli_app, ["event-settings", "b", "--retention-days", "0"], env=env)
    assert r.exit_code == 1 and "1-3650" in r.stderr


def test_a_cursor_older_than_the_window_is_410_not_a_silent_skip(make_api, engine):
    api, other = make_api("a"), make_api("b")
    add_members(engine, api.account_id, "a", 5)
    add_members(engine, other.account_id, "b", 5)
    last = last_seq(engine, api.account_id)
    backdate(engine, api.account_id, last - 2, 100)
    RetentionSweep(engine).run()
    pruned = last - 2
    for after in (0, 1, pruned - 1):
        doc = assert_problem(api.get(f"/events?after={after}"), 410)
        assert doc["type"] == "/docs/api#cursor-too-old"
        assert doc["title"] == "Cursor too old: events were pruned"
        assert doc["oldest_after"] == pruned
        assert doc["snapshot"] == "/api/v1/snapshot"
        assert "snapshot" in doc["detail"]
    page = api.ok("GET", f"/events?after={pruned}")
    assert [e["seq"] for e in page["data"]] == [pruned + 1, pruned + 2]
    assert api.ok("GET", f"/events?after={last + 5}")["data"] == []
    # Another account's feed does not care.
    assert len(other.ok("GET", "/events?after=0")["data"]) == last_seq(engine, other.account_id)


def test_the_error_table_answers_a_too_old_cursor_410_with_its_own_type():
    answer = answer_for(CursorTooOldError("gone", oldest_after=3))
    assert (answer.status, answer.problem_type) == (410, "/docs/api#cursor-too-old")
    assert answer.title == "Cursor too old: events were pruned"
