"""Delivery by `Deliverer.tick()` to a real loopback receiver: Standard Webhooks signatures
and payloads, order and event filters, retries, failing endpoints, resume and redeliver."""

from __future__ import annotations

import json
import time
from collections import Counter
from datetime import datetime

import pytest

from scimgate.errors import InvalidValueError, NotFoundError
from scimgate.members import service as members
from scimgate.store.database import as_utc
from scimgate.webhooks import delivery
from tests.helpers.sync import create_group, create_users, patch_group, set_active, sync
from tests.helpers.webhooks import (
    RETRY,
    add_endpoint,
    add_members,
    all_events,
    api_key,
    delivery_log,
    drain,
    endpoint,
    last_seq,
    verify,
)


def changes_of(events):
    """Member and team events: what an endpoint without a list of types receives."""
    return [e for e in events if e["type"] != "audit.recorded"]


def test_signatures_and_payload(scim, engine, http, receiver, make_deliverer):
    hook = add_endpoint(engine, scim.slug, receiver.url("/hook"))
    assert hook["secret"].startswith("whsec_")
    assert len(__import__("base64").b64decode(hook["secret"][6:])) == 24
    users = create_users(scim, 3)
    create_group(scim, "Builders", users[:2])
    sync(engine, scim.account_id)
    with engine.begin() as conn:
        created = members.create_member(conn, scim.account_id, "manual@example.com", name="M")
        members.update_member(conn, scim.account_id, created["id"], name="Manual Person")
    drain(make_deliverer(), engine, scim.account_id)

    key = api_key(engine, scim.slug)
    feed = http.get("/api/v1/events?limit=1000", headers={"Authorization": f"Bearer {key}"})
    assert feed.status_code == 200, feed.text
    # audit.recorded events are in the feed, but only for endpoints that ask for them
    events = {e["seq"]: e for e in feed.json()["data"] if e["type"] != "audit.recorded"}
    assert len(events) == 3 + 1 + 2 + 1 + 1  # members, team, memberships, manual, update
    got = receiver.on("/hook")
    assert [r.seq for r in got] == sorted(events)
    for r in got:
        assert verify(hook["secret"], r.headers, r.body), r.headers
        tampered = r.body.replace(b'"seq"', b'"Seq"')
        assert not verify(hook["secret"], r.headers, tampered)
        assert r.headers["webhook-signature"].startswith("v1,")
        assert r.headers["content-type"] == "application/json"
        assert abs(int(r.headers["webhook-timestamp"]) - r.at) <= 5
        event = events[r.seq]
        assert r.headers["webhook-id"] == event["id"]
        doc = r.doc
        assert set(doc) == {"type", "timestamp", "data"}
        assert doc["type"] == event["type"]
        sent_at = datetime.fromisoformat(doc["timestamp"])
        assert sent_at == as_utc(datetime.fromisoformat(event["created_at"]))
        assert doc["data"]["seq"] == event["seq"]
        assert doc["data"]["account"] == scim.slug
        assert doc["data"]["subject_id"] == event["subject_id"]
        for name, value in event["data"].items():
            assert doc["data"][name] == value
    assert len({r.id for r in got}) == len(got)
    by_type = Counter(r.doc["type"] for r in got)
    assert by_type == {
        "member.created": 4,
        "team.created": 1,
        "team.member_added": 2,
        "member.updated": 1,
    }
    # A wrong secret does not verify.
    other = add_endpoint(engine, scim.slug, receiver.url("/other"))
    assert not verify(other["secret"], got[0].headers, got[0].body)


def test_order_and_filter(scim, engine, receiver, make_deliverer):
    everything = add_endpoint(engine, scim.slug, receiver.url("/all"))
    created_only = add_endpoint(engine, scim.slug, receiver.url("/created"), ["member.created"])
    users = create_users(scim, 12)
    groups = [create_group(scim, f"Team {g}", users[g * 4 : g * 4 + 4]) for g in range(3)]
    sync(engine, scim.account_id)
    first_wave = last_seq(engine, scim.account_id)
    assert len(changes_of(all_events(engine, scim.account_id))) == 12 + 3 + 12  # > a batch of 20
    deliverer = make_deliverer()
    drain(deliverer, engine, scim.account_id)
    late = add_endpoint(engine, scim.slug, receiver.url("/late"))

    # A second wave: new members, a deactivation, a rename, a membership removed.
    more = create_users(scim, 3, prefix="more")
    set_active(scim, users[0], "False")
    patch_group(scim, groups[1], {"op": "Replace", "path": "displayName", "value": "Renamed"})
    patch_group(scim, groups[2], {"op": "Remove", "path": f'members[value eq "{users[9]}"]'})
    patch_group(scim, groups[2], {"op": "Add", "path": "members", "value": [{"value": more[0]}]})
    sync(engine, scim.account_id)
    with engine.begin() as conn:
        members.create_member(conn, scim.account_id, "manual@example.com")
    drain(deliverer, engine, scim.account_id)
    drain(deliverer, engine, scim.account_id)  # nothing more goes out
    feed = all_events(engine, scim.account_id)
    assert [e["seq"] for e in feed] == list(range(1, len(feed) + 1))
    events = changes_of(feed)  # audit.recorded goes only to endpoints that name it
    assert {e["type"] for e in events} >= {
        "member.created",
        "member.deactivated",
        "team.created",
        "team.renamed",
        "team.member_added",
        "team.member_removed",
    }

    def seqs(path):
        return [r.seq for r in receiver.on(path)]

    # Everything, each exactly once, in strictly increasing order.
    assert seqs("/all") == [e["seq"] for e in events]
    assert [r.id for r in receiver.on("/all")] == [e["id"] for e in events]
    # Only member.created, all of them.
    assert seqs("/created") == [e["seq"] for e in events if e["type"] == "member.created"]
    assert {r.doc["type"] for r in receiver.on("/created")} == {"member.created"}
    # Added after the first wave: only what came later.
    assert seqs("/late") == [e["seq"] for e in events if e["seq"] > first_wave]
    assert all(r.outcome == "ok" for r in receiver.requests)
    # The cursors are at the end, the log has one successful attempt per delivery.
    for hook in (everything, created_only, late):
        state = endpoint(engine, scim.slug, hook["id"])
        assert state["status"] == "active" and state["cursor"] == feed[-1]["seq"]
        log = delivery_log(engine, scim.slug, hook["id"])
        assert all(d["attempt"] == 1 and d["status_code"] == 200 for d in log)
    assert [d["event_seq"] for d in delivery_log(engine, scim.slug, created_only["id"])] == seqs(
        "/created"
    )


def test_retry_then_failing_then_resume(scim, engine, receiver, make_deliverer, cli):
    hook = add_endpoint(engine, scim.slug, receiver.url("/r"))
    b = last_seq(engine, scim.account_id)  # the setup's audit events: not sent to this endpoint
    add_members(engine, scim.account_id, "a", 3)
    deliverer = make_deliverer()

    # The first two attempts fail (a 500, then a connection closed without an answer).
    receiver.fail("/r", 1, mode="500")
    assert deliverer.tick() == 1
    assert deliverer.tick() == 0  # not due yet: the retry waits RETRY[0]
    state = endpoint(engine, scim.slug, hook["id"])
    assert state["status"] == "active" and state["attempts"] == 1 and state["cursor"] == b
    assert "HTTP 500" in state["last_error"]
    time.sleep(RETRY[0] + 0.05)
    receiver.fail("/r", 1, mode="close")
    assert deliverer.tick() == 1
    assert endpoint(engine, scim.slug, hook["id"])["attempts"] == 2
    time.sleep(RETRY[1] + 0.05)
    assert deliverer.tick() == 3  # the held event, then the two that waited behind it
    got = receiver.on("/r")
    assert [(r.seq - b, r.outcome) for r in got] == [
        (1, "500"),
        (1, "close"),
        (1, "ok"),
        (2, "ok"),
        (3, "ok"),
    ]
    assert len({r.id for r in got[:3]}) == 1  # a retry keeps its webhook-id
    log = delivery_log(engine, scim.slug, hook["id"])
    assert [(d["event_seq"] - b, d["attempt"], d["status_code"]) for d in log] == [
        (1, 1, 500),
        (1, 2, None),
        (1, 3, 200),
        (2, 1, 200),
        (3, 1, 200),
    ]
    assert log[1]["error"] and log[2]["error"] is None
    state = endpoint(engine, scim.slug, hook["id"])
    assert (state["cursor"] - b, state["attempts"], state["last_error"]) == (3, 0, None)

    # Every attempt fails: after len(RETRY) retries the endpoint is failing and stays quiet.
    receiver.always_fail("/r", "500")
    add_members(engine, scim.account_id, "b", 2)  # events 4 and 5
    assert deliverer.tick() == 1
    for _ in RETRY:
        time.sleep(RETRY[0] + 0.05)
        assert deliverer.tick() == 1
    state = endpoint(engine, scim.slug, hook["id"])
    assert state["status"] == "failing" and state["cursor"] == b + 3
    assert state["attempts"] == len(RETRY) + 1 and state["first_failure_at"] is not None
    sent = len(receiver.on("/r"))
    time.sleep(RETRY[-1] + 0.1)
    assert deliverer.tick() == 0
    assert len(receiver.on("/r")) == sent
    assert [r.seq - b for r in receiver.on("/r")[-(len(RETRY) + 1) :]] == [4] * (len(RETRY) + 1)
    listed = json.loads(cli("webhook", "list", scim.slug, "--json").stdout)
    assert [(e["id"], e["status"]) for e in listed] == [(hook["id"], "failing")]
    assert "HTTP 500" in listed[0]["last_error"]

    # `resume` (the CLI): it delivers again, from the event it was stuck on.
    receiver.always_fail("/r", None)
    r = cli("webhook", "resume", scim.slug, str(hook["id"]))
    assert r.exit_code == 0, r.stderr
    assert deliverer.tick() == 2
    assert [r.seq - b for r in receiver.ok("/r")] == [1, 2, 3, 4, 5]
    state = endpoint(engine, scim.slug, hook["id"])
    # past the resume's own audit event too (audit.recorded is not sent to this endpoint)
    resumed_at = last_seq(engine, scim.account_id)
    assert (state["status"], state["cursor"], state["attempts"]) == ("active", resumed_at, 0)
    assert state["first_failure_at"] is None

    # `redeliver`: a past event again, same webhook-id, signed, logged as attempt 0.
    before = next(r for r in receiver.ok("/r") if r.seq == b + 2)
    env = {"SCIMGATE_WEBHOOKS_ALLOW_PRIVATE": "true"}
    r = cli("webhook", "redeliver", scim.slug, str(hook["id"]), str(b + 2), env=env)
    assert r.exit_code == 0, r.stderr
    assert "HTTP 200" in r.stdout
    again = receiver.on("/r")[-1]
    assert again.seq == b + 2 and again.id == before.id and again.body == before.body
    assert verify(hook["secret"], again.headers, again.body)
    assert delivery_log(engine, scim.slug, hook["id"])[-1]["attempt"] == 0
    assert endpoint(engine, scim.slug, hook["id"])["cursor"] == resumed_at  # the cursor stays
    # Redelivery of an unknown event, and without the private-address permission.
    r = cli("webhook", "redeliver", scim.slug, str(hook["id"]), "99", env=env)
    assert r.exit_code == 1 and "No event 99" in r.stderr
    r = cli("webhook", "redeliver", scim.slug, str(hook["id"]), str(b + 2))
    assert r.exit_code == 1 and "private" in r.stderr and len(r.stderr.splitlines()) == 1
    assert receiver.on("/r")[-1] is again
    assert deliverer.tick() == 0


@pytest.mark.slow
def test_a_hundred_idle_endpoints_do_not_starve_the_others(
    make_account, engine, receiver, make_deliverer
):
    """The due list holds at most 100 endpoints, oldest next attempt first: caught-up
    endpoints (with older times) must not fill it."""
    for _ in range(5):
        slug, _, _ = make_account()
        for i in range(20):  # MAX_ENDPOINTS per account
            add_endpoint(engine, slug, receiver.url(f"/idle-{slug}-{i}"))
    slug, _, account_id = make_account()
    add_endpoint(engine, slug, receiver.url("/busy"))
    with pytest.raises(InvalidValueError, match="at most 20"):
        add_endpoint(engine, "acct1", receiver.url("/one-too-many"))
    add_members(engine, account_id, "m", 1)
    deliverer = make_deliverer()
    assert deliverer.tick() == 1
    assert [r.doc["type"] for r in receiver.ok("/busy")] == ["member.created"]
    assert [r.path for r in receiver.requests] == ["/busy"]


def test_redirects_are_not_followed(scim, engine, receiver, make_deliverer):
    hook = add_endpoint(engine, scim.slug, receiver.url("/moved"))
    receiver.always_fail("/moved", "302")
    add_members(engine, scim.account_id, "m", 1)
    assert make_deliverer().tick() == 1
    assert [r.path for r in receiver.requests] == ["/moved"]
    (attempt,) = delivery_log(engine, scim.slug, hook["id"])
    assert attempt["status_code"] == 302 and "HTTP 302" in attempt["error"]
    assert endpoint(engine, scim.slug, hook["id"])["cursor"] == attempt["event_seq"] - 1


def test_endpoints_see_their_own_account_only(
    make_account, engine, receiver, make_deliverer, wh_settings, cli
):
    a_slug, _, a_id = make_account("alpha")
    b_slug, _, b_id = make_account("beta")
    a_hook = add_endpoint(engine, a_slug, receiver.url("/alpha"))
    b_hook = add_endpoint(engine, b_slug, receiver.url("/beta"))
    a0, b0 = last_seq(engine, a_id), last_seq(engine, b_id)  # their setup's audit events
    add_members(engine, a_id, "a", 3)
    add_members(engine, b_id, "b", 2)
    drain(make_deliverer(), engine, a_id)
    drain(make_deliverer(), engine, b_id)
    assert [(r.doc["data"]["account"], r.seq - a0) for r in receiver.on("/alpha")] == [
        ("alpha", 1),
        ("alpha", 2),
        ("alpha", 3),
    ]
    assert [(r.doc["data"]["account"], r.seq - b0) for r in receiver.on("/beta")] == [
        ("beta", 1),
        ("beta", 2),
    ]
    assert {r.doc["data"]["email"][0] for r in receiver.on("/beta")} == {"b"}
    # Another account's endpoint id is unknown everywhere.
    for args in (
        ("webhook", "deliveries", b_slug, str(a_hook["id"])),
        ("webhook", "resume", b_slug, str(a_hook["id"])),
        ("webhook", "remove", b_slug, str(a_hook["id"])),
        ("webhook", "redeliver", b_slug, str(a_hook["id"]), "1"),
    ):
        r = cli(*args, env={"SCIMGATE_WEBHOOKS_ALLOW_PRIVATE": "true"})
        assert r.exit_code == 1 and "No webhook endpoint" in r.stderr, (args, r.stderr)
    with pytest.raises(NotFoundError):
        delivery.redeliver(engine, wh_settings, b_id, a_hook["id"], 1)
    assert len(receiver.requests) == 5
    assert endpoint(engine, a_slug, a_hook["id"])["cursor"] == a0 + 3
    assert endpoint(engine, b_slug, b_hook["id"])["cursor"] == b0 + 2
