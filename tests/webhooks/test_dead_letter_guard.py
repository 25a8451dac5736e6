"""A bulk redelivery runs once per endpoint at a time (409 to the others: API, CLI,
console), reports what is left by count, and an endpoint's dead letters are read through
their own index; a cursor past any id is a 400."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from sqlalchemy import text, update

from scimgate.store.database import utcnow
from scimgate.store.tables.operations import webhook_delivery, webhook_endpoint
from scimgate.webhooks import dead_letters
from tests.helpers.api import assert_problem
from tests.helpers.webhooks import add_endpoint, add_members, last_seq


@pytest.fixture
def settings(settings):
    """The redeliveries may reach the loopback receiver."""
    return settings.model_copy(update={"webhooks_allow_private": True})


def bury(engine, account_id, endpoint_id, seqs):
    """Dead letters for these event seqs, as the worker leaves them."""
    now = utcnow()
    rows = [
        {
            "account_id": account_id,
            "endpoint_id": endpoint_id,
            "event_seq": seq,
            "event_id": f"evt-{seq}",
            "event_type": "member.created",
            "attempt": 3,
            "status_code": 500,
            "error": None,
            "duration_ms": 1,
            "at": now,
            "dead": True,
        }
        for seq in seqs
    ]
    with engine.begin() as conn:
        conn.execute(webhook_delivery.insert(), rows)


def hold_lease(engine, endpoint_id, seconds):
    with engine.begin() as conn:
        conn.execute(
            update(webhook_endpoint)
            .where(webhook_endpoint.c.id == endpoint_id)
            .values(redelivering_until=utcnow() + timedelta(seconds=seconds))
        )


def lease_of(engine, endpoint_id):
    with engine.connect() as conn:
        return conn.execute(
            text("SELECT redelivering_until FROM webhook_endpoint WHERE id = :i"),
            {"i": endpoint_id},
        ).scalar_one()


def test_one_redelivery_per_endpoint_at_a_time(make_api, engine, receiver, settings):
    api = make_api("a")
    hook = add_endpoint(engine, api.slug, receiver.url("/r"))
    other = add_endpoint(engine, api.slug, receiver.url("/o"))
    b = last_seq(engine, api.account_id)
    add_members(engine, api.account_id, "a", 2)
    bury(engine, api.account_id, hook["id"], [b + 1, b + 2])
    bury(engine, api.account_id, other["id"], [b + 1])
    receiver.slow("/r", 1.0)
    path = f"/webhooks/{hook['id']}/dead-letters/redeliver"
    outcome = {}
    running = threading.Thread(
        target=lambda: outcome.update(
            report=dead_letters.redeliver(engine, settings, api.account_id, hook["id"])
        )
    )
    running.start()
    try:
        deadline = utcnow() + timedelta(seconds=5)
        while not receiver.on("/r") and utcnow() < deadline:
            threading.Event().wait(0.02)
        # While it sends: the same endpoint is refused, whether all or by id; nothing is sent.
        for body in ({"all": True}, {"ids": [1]}):
            assert_problem(api.post(path, json=body), 409, contains="is running")
        # Another endpoint of the account is not held up.
        report = api.ok(
            "POST", f"/webhooks/{other['id']}/dead-letters/redeliver", json={"all": True}
        )
        assert [r["ok"] for r in report["results"]] == [True]
    finally:
        running.join(10)
    assert [r["event_seq"] - b for r in outcome["report"]["results"]] == [1, 2]
    assert len(receiver.on("/r")) == 2  # each event once
    # Released at the end: the next call goes ahead (nothing left to send).
    assert lease_of(engine, hook["id"]) is None
    assert api.ok("POST", path, json={"all": True}) == {"results": [], "remaining": 0}


def test_a_held_lease_is_a_409_and_an_expired_one_is_taken(make_api, engine, receiver, cli):
    api = make_api("a")
    hook = add_endpoint(engine, api.slug, receiver.url("/r"))
    b = last_seq(engine, api.account_id)
    add_members(engine, api.account_id, "a", 1)
    bury(engine, api.account_id, hook["id"], [b + 1])
    hold_lease(engine, hook["id"], 60)
    path = f"/webhooks/{hook['id']}/dead-letters/redeliver"
    assert_problem(api.post(path, json={"all": True}), 409, contains="try again when it ends")
    # The CLI: one stderr line, exit 1.
    env = {"SCIMGATE_WEBHOOKS_ALLOW_PRIVATE": "true"}
    r = cli("webhook", "redeliver-dead", api.slug, str(hook["id"]), "--all", env=env)
    assert r.exit_code == 1 and r.stdout == ""
    assert "is running" in r.stderr and r.stderr.strip().count("\n") == 0
    assert receiver.on("/r") == []
    # An expired lease (a crashed caller's) is taken over.
    hold_lease(engine, hook["id"], -1)
    report = api.ok("POST", path, json={"all": True})
    assert [(x["event_seq"] - b, x["ok"]) for x in report["results"]] == [(1, True)]
    assert lease_of(engine, hook["id"]) is None


def test_the_console_says_a_redelivery_is_running(make_console, engine, receiver):
    console = make_console()
    hook = add_endpoint(engine, console.slug, receiver.url("/r"))
    b = last_seq(engine, console.account_id)
    add_members(engine, console.account_id, "a", 1)
    bury(engine, console.account_id, hook["id"], [b + 1])
    hold_lease(engine, hook["id"], 60)
    page = f"/integrations/webhooks/{hook['id']}"
    r = console.post(f"{page}/dead-letters/redeliver", {"all": "1"}, page=page)
    assert r.status_code == 303 and "error=" in r.headers["location"]
    shown = console.get(r.headers["location"].removeprefix("/console")).text
    assert "is running" in shown and "try again when it ends" in shown
    assert receiver.on("/r") == []


def test_remaining_counts_every_open_dead_letter(make_api, engine, receiver):
    """More than the 1,000 one call reads: `remaining` is the count, not a list's length."""
    api = make_api("a")
    hook = add_endpoint(engine, api.slug, receiver.url("/r"))
    b = last_seq(engine, api.account_id)
    # Events that do not exist (pruned): reported, not sent; nothing waits on HTTP.
    bury(engine, api.account_id, hook["id"], range(b + 1000, b + 2200))
    report = api.ok("POST", f"/webhooks/{hook['id']}/dead-letters/redeliver", json={"all": True})
    assert len(report["results"]) == dead_letters.MAX_PER_CALL
    assert {r["error"] for r in report["results"]} == {"the event was pruned"}
    assert report["remaining"] == 1200 - dead_letters.MAX_PER_CALL
    assert receiver.on("/r") == []


def test_a_cursor_past_any_id_is_a_400(make_api, engine, receiver):
    api = make_api("a")
    hook = add_endpoint(engine, api.slug, receiver.url("/r"))
    base = f"/webhooks/{hook['id']}/dead-letters"
    for cursor in ("99999999999999999999", str(2**62 + 1), "-1", "x", "1e3"):
        assert_problem(api.get(base, params={"cursor": cursor}), 400)
    assert api.ok("GET", base, params={"cursor": str(2**62)}) == {"data": [], "next_cursor": None}
