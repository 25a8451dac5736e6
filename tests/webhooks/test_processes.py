"""Many deliverers, one database: each event reaches an endpoint once and in order, whether
the deliverers are threads with different lease owners or real `scimgate serve` processes,
and nothing is lost when the only server stops and starts again."""

from __future__ import annotations

import json
import threading
import time

import pytest

from scimgate.members import service as members
from tests.helpers.webhooks import (
    add_endpoint,
    add_members,
    all_events,
    delivery_log,
    endpoint,
    last_seq,
)


def changes(engine, account_id):
    """Member and team events (an endpoint without a list of types gets no audit.recorded)."""
    return [e for e in all_events(engine, account_id) if e["type"] != "audit.recorded"]


def assert_once_in_order(received, events):
    """Each event exactly once (by webhook-id), in sequence order."""
    assert [r.id for r in received] == [e["id"] for e in events]
    assert [r.seq for r in received] == [e["seq"] for e in events]


def assert_all_in_order(received, events):
    """Every event arrived; a repeat only with the event's own webhook-id; first arrivals in
    sequence order."""
    ids = {e["seq"]: e["id"] for e in events}
    assert all(ids.get(r.seq) == r.id for r in received), "a repeat with another webhook-id"
    first: list[int] = []
    for r in received:
        if r.seq not in first:
            first.append(r.seq)
    assert first == [e["seq"] for e in events]


def test_many_processes_deliver_once(make_account, engine, receiver, make_deliverer):
    slug, _, account_id = make_account()
    add_endpoint(engine, slug, receiver.url("/p1"))
    created = add_endpoint(engine, slug, receiver.url("/p2"), ["member.created"])
    receiver.slow("/p1", 0.005)
    deliverers = [make_deliverer(f"process-{i}") for i in range(4)]
    stop = threading.Event()
    errors: list[BaseException] = []
    made = [0] * len(deliverers)

    def work(i: int) -> None:
        try:
            while not stop.is_set():
                made[i] += deliverers[i].tick()
                time.sleep(0.002)
        except BaseException as exc:  # noqa: BLE001 (reported by the test)
            errors.append(exc)

    def write() -> None:
        try:
            for i in range(30):
                with engine.connect() as conn:
                    conn.execution_options(writes=True)
                    with conn.begin():
                        row = members.create_member(conn, account_id, f"w{i:02d}@example.com")
                        if i % 3 == 0:
                            members.update_member(conn, account_id, row["id"], name=f"W {i}")
        except BaseException as exc:  # noqa: BLE001
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(len(deliverers))]
    writer = threading.Thread(target=write)
    for t in [*threads, writer]:
        t.start()
    writer.join(60)
    try:
        receiver.wait(lambda: len(receiver.ok("/p1")) >= 40 and len(receiver.ok("/p2")) >= 30)
        time.sleep(0.3)  # time for a duplicate to show up
    finally:
        stop.set()
        for t in threads:
            t.join(30)
    assert errors == []
    events = changes(engine, account_id)
    assert len(events) == 40
    assert_once_in_order(receiver.on("/p1"), events)
    assert_once_in_order(receiver.on("/p2"), [e for e in events if e["type"] == "member.created"])
    assert sum(made) == 70  # no attempt twice, none failed
    log = delivery_log(engine, slug, created["id"])
    assert [d["event_seq"] for d in log] == [r.seq for r in receiver.on("/p2")]
    assert sum(1 for m in made if m) >= 1


@pytest.mark.slow
@pytest.mark.process
def test_two_serve_processes_deliver_once(make_account, engine, receiver, make_serve):
    slug, _, account_id = make_account()
    a, b = make_serve("a"), make_serve("b")
    a.start()
    b.start()
    hook = json.loads(a.cli("webhook", "add", slug, receiver.url("/two"), "--json"))
    receiver.slow("/two", 0.01)
    b.cli("member", "add", slug, "cli@example.com")
    add_members(engine, account_id, "m", 24)
    total = len(changes(engine, account_id))
    assert total == 25
    receiver.wait(lambda: len(receiver.ok("/two")) >= total, timeout=30)
    time.sleep(0.8)  # a few more ticks of both processes: no duplicate
    assert_once_in_order(receiver.on("/two"), changes(engine, account_id))
    assert endpoint(engine, slug, hook["id"])["cursor"] == last_seq(engine, account_id)
    assert len(delivery_log(engine, slug, hook["id"])) == total
    assert a.stop() and b.stop()
    assert "Traceback" not in a.log() + b.log()


@pytest.mark.slow
@pytest.mark.process
def test_no_loss_across_restart(make_account, engine, receiver, make_serve):
    slug, _, account_id = make_account()
    srv = make_serve()
    srv.start()
    hook = json.loads(srv.cli("webhook", "add", slug, receiver.url("/hook"), "--json"))
    srv.cli("member", "add", slug, "first@example.com")
    add_members(engine, account_id, "a", 4)
    receiver.wait(lambda: len(receiver.ok("/hook")) >= 5)

    # A slow receiver: the server is stopped (SIGTERM) in the middle of a batch.
    receiver.slow("/hook", 0.1)
    add_members(engine, account_id, "b", 8)
    receiver.wait(lambda: len(receiver.ok("/hook")) >= 7)
    assert srv.stop()
    stopped_at = len(receiver.on("/hook"))

    # Written while no server runs.
    add_members(engine, account_id, "c", 6)
    srv.cli("member", "add", slug, "down@example.com")
    time.sleep(0.3)
    assert len(receiver.on("/hook")) == stopped_at

    receiver.slow("/hook", 0)
    srv.start()
    total = len(changes(engine, account_id))
    assert total == 1 + 4 + 8 + 6 + 1
    receiver.wait(lambda: len({r.id for r in receiver.ok("/hook")}) >= total, timeout=30)
    time.sleep(0.5)
    events = changes(engine, account_id)
    assert_all_in_order(receiver.ok("/hook"), events)
    assert endpoint(engine, slug, hook["id"])["cursor"] == last_seq(engine, account_id)
    assert srv.stop()
    assert "Traceback" not in srv.log()
