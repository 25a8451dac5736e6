"""A delivery in flight while the retention prune runs: the prune moves the endpoint's cursor
past the events it deletes, and the delivery, which read those events before, must not
move it back (nor log, nor schedule a retry for, an event that is gone).

The interleaving, made deterministic by running the prune inside the delivery's send:
the delivery reads a batch after cursor C -> the prune deletes events up to L > C, records
L as pruned and moves the cursor to L -> the delivery writes its outcome for an event <= L.
"""

from __future__ import annotations

import threading
import time

import pytest
from sqlalchemy import select, text

from scimgate.store import webhooks as webhook_store
from scimgate.store.tables.operations import webhook_delivery
from scimgate.timestamps import utcnow
from scimgate.webhooks import delivery
from scimgate.webhooks.retention import PRUNED_NOTE, RetentionSweep
from tests.helpers.databases import PG_URL
from tests.helpers.webhooks import add_endpoint, add_members, backdate, last_seq

URL = "http://127.0.0.1:9/hook"


def state(engine, account_id, endpoint_id):
    with engine.connect() as conn:
        found = webhook_store.get_endpoint(conn, account_id, endpoint_id)
        logged = conn.execute(
            select(webhook_delivery.c.event_seq).where(webhook_delivery.c.account_id == account_id)
        ).scalars()
        return found, sorted(logged)


def old_events(engine, make_account, n=3, events=()):
    """An account with an endpoint at cursor C and n events after it, all 100 days old."""
    slug, _, account_id = make_account("a")
    hook = add_endpoint(engine, slug, URL, events)
    start = last_seq(engine, account_id)
    add_members(engine, account_id, "a", n)
    last = last_seq(engine, account_id)
    backdate(engine, account_id, last, 100)
    return account_id, hook["id"], start, last


def prune_during_send(deliverer, engine, monkeypatch, outcome):
    """The first send runs a whole prune before it answers `outcome`; the pass then stops."""
    sent = []

    def send(url, secret, event, slug, *, allow_private):
        sent.append(event["seq"])
        RetentionSweep(engine).run()
        deliverer.stopping.set()  # e.g. serve stopping: the pass ends after this event
        return outcome

    monkeypatch.setattr(deliverer.sender, "send", send)
    return sent


def test_a_success_in_flight_does_not_move_the_cursor_back_behind_pruned_events(
    engine, make_account, make_deliverer, monkeypatch
):
    account_id, endpoint_id, start, last = old_events(engine, make_account)
    deliverer = make_deliverer()
    sent = prune_during_send(deliverer, engine, monkeypatch, delivery.Outcome(200, None, 1))
    deliverer.tick()
    assert sent == [start + 1]
    found, logged = state(engine, account_id, endpoint_id)
    assert found["cursor"] == last  # not start + 1: the feed starts after `last`
    assert found["last_error"] == PRUNED_NOTE.format(last=last)
    assert logged == []  # the log of a pruned event goes with it


def test_a_failure_in_flight_neither_logs_nor_retries_a_pruned_event(
    engine, make_account, make_deliverer, monkeypatch
):
    account_id, endpoint_id, _, last = old_events(engine, make_account)
    deliverer = make_deliverer()
    outcome = delivery.Outcome(500, "HTTP 500: no", 1)
    prune_during_send(deliverer, engine, monkeypatch, outcome)
    deliverer.tick()
    found, logged = state(engine, account_id, endpoint_id)
    assert found["cursor"] == last
    assert (found["attempts"], found["status"], found["first_failure_at"]) == (0, "active", None)
    assert found["last_error"] == PRUNED_NOTE.format(last=last)
    assert logged == []


class StopAfter:
    """A stopping flag that turns on after `n` checks (the pass ends mid-batch)."""

    def __init__(self, n: int) -> None:
        self.left = n

    def is_set(self) -> bool:
        self.left -= 1
        return self.left < 0

    def set(self) -> None:
        self.left = 0


def test_skipping_an_unwanted_event_in_flight_does_not_move_the_cursor_back(
    engine, make_account, make_deliverer, monkeypatch
):
    # The endpoint wants teams only: the member events are skipped, moving the cursor.
    account_id, endpoint_id, _, last = old_events(engine, make_account, events=["team.created"])
    deliverer = make_deliverer()
    read = delivery.event_store.read

    def read_then_prune(conn, account_id, *, after, limit):
        found = read(conn, account_id, after=after, limit=limit)
        RetentionSweep(engine).run()
        return found

    monkeypatch.setattr(delivery.event_store, "read", read_then_prune)
    deliverer.stopping = StopAfter(1)  # type: ignore[assignment]
    deliverer.tick()
    found, _ = state(engine, account_id, endpoint_id)
    assert found["cursor"] == last


def test_a_delivery_and_a_prune_in_other_connections_leave_no_log_of_a_pruned_event(
    engine, make_account
):
    """PostgreSQL: the delivery's write holds the endpoint row when the prune starts; the
    prune waits for it, then deletes its log row too (the prune takes the endpoint rows
    before it deletes deliveries). SQLite: the prune waits for the write lock."""
    account_id, endpoint_id, start, last = old_events(engine, make_account)
    with engine.connect() as conn:
        conn.execution_options(writes=True)
        with conn.begin():
            assert webhook_store.advance_endpoint(
                conn, endpoint_id, cursor_was=start, cursor=start + 1, attempts=0
            )
            webhook_store.insert_delivery(
                conn,
                account_id,
                endpoint_id,
                event_seq=start + 1,
                event_id="x",
                event_type="member.created",
                attempt=1,
                status_code=200,
                error=None,
                duration_ms=1,
                at=utcnow(),
            )
            pruning = threading.Thread(target=RetentionSweep(engine).run)
            pruning.start()
            wait_for_lock_wait(engine)
        pruning.join(30)
        assert not pruning.is_alive()
    found, logged = state(engine, account_id, endpoint_id)
    assert found["cursor"] == last
    assert logged == []


def wait_for_lock_wait(engine, seconds: float = 10) -> None:
    """Until another session waits for a row lock (PostgreSQL), or a moment (SQLite)."""
    if not PG_URL:
        time.sleep(0.3)
        return
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        with engine.connect() as conn:
            waiting = conn.execute(
                text(
                    "SELECT count(*) FROM pg_stat_activity "
                    "WHERE datname = current_database() AND wait_event_type = 'Lock'"
                )
            ).scalar_one()
        if waiting:
            return
        time.sleep(0.02)
    pytest.fail("the prune never waited for the delivery's row lock")
