"""/api/v1/snapshot: members as of one event, paged; then the feed from `resume_after` loses
nothing and applies nothing twice, even while other writers change members."""

from __future__ import annotations

import threading
import time

from scimgate.members import service as members
from tests.helpers.api import assert_problem
from tests.helpers.webhooks import add_members, last_seq


def read_snapshot(api, limit, between=None):
    """Every page of one snapshot, in order (calling `between()` after each page)."""
    pages, cursor = [], None
    while True:
        query = f"/snapshot?limit={limit}" + (f"&cursor={cursor}" if cursor else "")
        page = api.ok("GET", query)
        pages.append(page)
        cursor = page["next_cursor"]
        if cursor is None:
            return pages
        if between is not None:
            between()


def read_feed(api, after):
    """Every event after `after`, to the end."""
    events = []
    while True:
        page = api.ok("GET", f"/events?after={after}&limit=1000")
        events += page["data"]
        if page["next_after"] == after:
            return events
        after = page["next_after"]


def apply(state, event):
    """A member event applied to {member_id: {name, email}}: each change sets its new value."""
    if not event["type"].startswith("member."):
        return
    member = state.setdefault(event["data"]["member_id"], {})
    for field in ("name", "email"):
        if field in event["data"]["changes"]:
            member[field] = event["data"]["changes"][field][1]


def test_snapshot_pages_share_one_resume_point(api, engine):
    add_members(engine, api.account_id, "m", 7)
    pages = read_snapshot(api, 3)
    assert [len(p["data"]) for p in pages] == [3, 3, 1]
    resume = pages[0]["resume_after"]
    assert resume == pages[0]["as_of_event"] == last_seq(engine, api.account_id)
    assert all(p["resume_after"] == resume for p in pages)
    ids = [m["id"] for p in pages for m in p["data"]]
    assert ids == sorted(ids) and len(set(ids)) == 7
    # A cursor the snapshot did not give, and a members-list cursor, are refused.
    for bad in ("nope", ids[0], "W10"):
        assert_problem(api.get(f"/snapshot?cursor={bad}"), 400)


def test_snapshot_is_account_scoped(make_api, engine):
    api, other = make_api("a"), make_api("b")
    add_members(engine, api.account_id, "a", 2)
    add_members(engine, other.account_id, "b", 3)
    emails = sorted(m["email"] for m in read_snapshot(other, 50)[0]["data"])
    assert emails == [f"b{i:02d}@example.com" for i in range(3)]
    # b's cursor names a's member id: it pages b's members only.
    first = read_snapshot(api, 1)[0]
    page = other.ok("GET", f"/snapshot?cursor={first['next_cursor']}")
    assert all(m["email"].startswith("b") for m in page["data"])


def test_snapshot_then_feed_resume_loses_nothing_under_concurrent_writes(api, engine):
    add_members(engine, api.account_id, "seed", 30)
    stop = threading.Event()
    errors: list[Exception] = []
    done = threading.Semaphore(0)  # released once per committed write

    def writer() -> None:
        n = 0
        try:
            while not stop.is_set() and n < 5000:
                n += 1
                with engine.connect() as conn:
                    conn.execution_options(writes=True)
                    with conn.begin():
                        if n % 5 == 0:
                            members.create_member(conn, api.account_id, f"new{n}@example.com")
                        else:
                            rows = members.member_documents(conn, api.account_id)
                            target = rows[(n * 7) % len(rows)]
                            members.update_member(
                                conn, api.account_id, target["id"], name=f"name {n}"
                            )
                done.release()
                time.sleep(0.01)  # a few writes per page read: the snapshot still ends
        except Exception as exc:  # noqa: BLE001 - reported by the test
            errors.append(exc)

    thread = threading.Thread(target=writer)
    thread.start()
    try:

        def one_more_write() -> None:
            """Wait for a write that commits after the page just read."""
            while done.acquire(blocking=False):
                pass
            assert done.acquire(timeout=10), "the writer stopped"

        # At least one write commits between two pages, and more while each is read.
        pages = read_snapshot(api, 4, between=one_more_write)
    finally:
        time.sleep(0.05)
        stop.set()
        thread.join(30)
    assert not errors, errors
    resume = pages[0]["resume_after"]
    as_of = [p["as_of_event"] for p in pages]
    assert as_of == sorted(set(as_of)), as_of  # each page saw writes the one before did not

    # Each page is one consistent state: its members are what the feed says at as_of_event.
    everything = read_feed(api, 0)
    assert [e["seq"] for e in everything] == list(range(1, len(everything) + 1))
    for page in pages:
        truth: dict[str, dict[str, str]] = {}
        for e in everything:
            if e["seq"] <= page["as_of_event"]:
                apply(truth, e)
        for m in page["data"]:
            assert truth[m["id"]] == {"name": m["name"], "email": m["email"]}, page["as_of_event"]

    # The resume recipe: the snapshot, then the feed after resume_after, skipping an event
    # about a member its page already shows (seq <= that page's as_of_event).
    replica = {m["id"]: {"name": m["name"], "email": m["email"]} for p in pages for m in p["data"]}
    shown_as_of = {m["id"]: p["as_of_event"] for p in pages for m in p["data"]}
    feed = read_feed(api, resume)
    assert [e["seq"] for e in feed] == list(range(resume + 1, last_seq(engine, api.account_id) + 1))
    applied = 0
    for e in feed:
        member_id = e["data"].get("member_id")
        if member_id in shown_as_of and e["seq"] <= shown_as_of[member_id]:
            continue  # already in the snapshot: applying it again would be a duplicate
        apply(replica, e)
        applied += 1
    assert applied > 0
    with engine.connect() as conn:
        final = {
            m["id"]: {"name": m["name"], "email": m["email"]}
            for m in members.member_documents(conn, api.account_id)
        }
    assert replica == final


def test_a_page_does_not_see_a_write_that_commits_while_it_is_read(api, engine, monkeypatch):
    """A write committed between the page's first read (its as_of_event) and its members
    is not in the page: one transaction, one state (REPEATABLE READ on PostgreSQL)."""
    from scimgate.members import listing, snapshot

    add_members(engine, api.account_id, "m", 3)
    with engine.connect() as conn:
        target = members.member_documents(conn, api.account_id)[0]
    original = listing.member_page

    def write_then_read(conn, account_id, **kw):
        with engine.connect() as other:
            other.execution_options(writes=True)
            with other.begin():
                members.update_member(other, account_id, target["id"], name="changed meanwhile")
        return original(conn, account_id, **kw)

    monkeypatch.setattr(snapshot.listing, "member_page", write_then_read)
    page = api.ok("GET", "/snapshot")
    shown = {m["id"]: m["name"] for m in page["data"]}
    assert shown[target["id"]] == target["name"]
    assert page["as_of_event"] == last_seq(engine, api.account_id) - 1
