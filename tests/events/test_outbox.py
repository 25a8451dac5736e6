"""The event outbox: every member, Property value, team and membership change writes an
Event in its own transaction, numbered per account, read in order by /api/v1/events."""

from __future__ import annotations

import threading
from collections import Counter

from scimgate.accounts import api_keys
from scimgate.members import service as members
from scimgate.store import events as event_store
from scimgate.sync import schedule
from tests.helpers.sync import (
    ENT,
    create_group,
    create_user,
    delete_user,
    ops,
    patch_group,
    set_active,
    sync,
)


def all_events(engine, account_id, *, audit=False):
    """The account's member and team events (and with `audit`, its audit.recorded ones)."""
    with engine.connect() as conn:
        rows = event_store.read(conn, account_id, after=0, limit=100_000)
    return [r for r in rows if audit or r["type"] != "audit.recorded"]


def test_a_sync_writes_one_event_per_change_in_a_sensible_order(scim, engine):
    ann = create_user(scim, "ann@example.com", title="Engineer", **{ENT: {"department": "R&D"}})
    bob = create_user(scim, "bob@example.com")
    group = create_group(scim, "Builders", [ann, bob])
    sync(engine, scim.account_id)
    everything = all_events(engine, scim.account_id, audit=True)
    assert [e["seq"] for e in everything] == list(range(1, len(everything) + 1))
    events = all_events(engine, scim.account_id)
    kinds = Counter(e["type"] for e in events)
    assert kinds == {"member.created": 2, "team.created": 1, "team.member_added": 2}
    created = {e["data"]["email"]: e for e in events if e["type"] == "member.created"}
    assert created["ann@example.com"]["data"]["changes"]["Department"] == [None, "R&D"]
    team_seq = next(e["seq"] for e in events if e["type"] == "team.created")
    assert all(e["seq"] > team_seq for e in events if e["type"] == "team.member_added")
    # Nothing changed: a second sync writes no member or team event (only its start's audit).
    sync(engine, scim.account_id)
    assert len(all_events(engine, scim.account_id)) == len(events)
    assert all_events(engine, scim.account_id, audit=True)[-1]["data"]["action"] == (
        "sync_run.started"
    )
    # Changes in the IdP: an update, a deactivation, a rename, a membership removed, a removal.
    scim.patch(f"/Users/{ann}", json=ops({"op": "Replace", "path": "title", "value": "Lead"}))
    set_active(scim, bob, "False")
    patch_group(scim, group, {"op": "Replace", "path": "displayName", "value": "Makers"})
    patch_group(scim, group, {"op": "Remove", "path": f'members[value eq "{ann}"]'})
    sync(engine, scim.account_id)
    later = all_events(engine, scim.account_id)[len(events) :]
    by_type = {e["type"]: e for e in later}
    assert set(by_type) == {
        "member.updated",
        "member.deactivated",
        "team.renamed",
        "team.member_removed",
    }
    assert by_type["member.updated"]["data"]["changes"] == {"Job title": ["Engineer", "Lead"]}
    assert by_type["team.renamed"]["data"]["name"] == ["Builders", "Makers"]
    scim.delete(f"/Groups/{group}")
    delete_user(scim, ann)
    sync(engine, scim.account_id)
    last = [e["type"] for e in all_events(engine, scim.account_id)[len(events) + len(later) :]]
    assert sorted(last) == ["member.deactivated", "team.removed"]


def test_plans_and_held_runs_write_no_event(scim, engine):
    ids = [create_user(scim, f"u{i}@example.com") for i in range(4)]
    sync(engine, scim.account_id)
    before = len(all_events(engine, scim.account_id))
    with engine.begin() as conn:
        schedule.configure(conn, scim.account_id, hold_percent=10, hold_minimum=1)
    for user_id in ids[:2]:
        set_active(scim, user_id, "False")
    sync(engine, scim.account_id, dry_run=True)
    held = sync(engine, scim.account_id)
    assert held.status == "held"
    assert len(all_events(engine, scim.account_id)) == before
    audited = all_events(engine, scim.account_id, audit=True)[-1]["data"]
    assert (audited["action"], audited["details"]["run_id"]) == ("sync_run.started", held.run_id)
    sync(engine, scim.account_id, confirm=held.run_id)
    after = all_events(engine, scim.account_id)[before:]
    assert [e["type"] for e in after] == ["member.deactivated", "member.deactivated"]


def test_manual_changes_write_events_and_the_feed_reads_them_in_order(scim, other, engine, http):
    with engine.begin() as conn:
        key = api_keys.create_key(conn, scim.account_id).key
        other_key = api_keys.create_key(conn, other.account_id).key
        # account creation, activation and the keys were audited: events up to here
        start, theirs_start = (event_store.last_seq(conn, a.account_id) for a in (scim, other))
    with engine.begin() as conn:
        created = members.create_member(conn, scim.account_id, "x@example.com", name="X")
        members.update_member(conn, scim.account_id, created["id"], properties={"Job title": "CTO"})
        members.update_member(conn, scim.account_id, created["id"], name="X")  # no change, no event
        members.create_member(conn, other.account_id, "y@example.com")
    auth = {"Authorization": f"Bearer {key}"}
    feed = http.get(f"/api/v1/events?after={start}&limit=1", headers=auth).json()
    assert [e["type"] for e in feed["data"]] == ["member.created"]
    assert feed["next_after"] == start + 1
    feed = http.get(f"/api/v1/events?after={feed['next_after']}", headers=auth).json()
    assert [(e["seq"], e["type"]) for e in feed["data"]] == [(start + 2, "member.updated")]
    assert feed["data"][0]["data"]["changes"] == {"Job title": [None, "CTO"]}
    empty = http.get(f"/api/v1/events?after={start + 2}", headers=auth).json()
    assert empty == {"data": [], "next_after": start + 2}
    theirs = http.get(
        f"/api/v1/events?after={theirs_start}", headers={"Authorization": f"Bearer {other_key}"}
    ).json()
    assert [(e["seq"], e["data"]["email"]) for e in theirs["data"]] == [
        (theirs_start + 1, "y@example.com")
    ]


def test_concurrent_writers_never_leave_a_gap_a_reader_could_skip(scim, engine):
    """Writers in several threads; a reader that only remembers its last seq sees all."""
    seen: list[int] = []
    done = threading.Event()

    def reader() -> None:
        after = 0
        while True:
            finished = done.is_set()
            with engine.connect() as conn:
                rows = event_store.read(conn, scim.account_id, after=after, limit=50)
            seen.extend(r["seq"] for r in rows)
            after = rows[-1]["seq"] if rows else after
            if finished and not rows:
                return

    def writer(n: int) -> None:
        for i in range(15):
            with engine.connect() as conn:
                conn.execution_options(writes=True)
                with conn.begin():
                    members.create_member(conn, scim.account_id, f"w{n}-{i}@example.com")

    with engine.connect() as conn:
        start = event_store.last_seq(conn, scim.account_id)  # the account's audit events
    threads = [threading.Thread(target=writer, args=(n,)) for n in range(4)]
    read = threading.Thread(target=reader)
    read.start()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    done.set()
    read.join()
    assert seen == list(range(1, start + 61))
