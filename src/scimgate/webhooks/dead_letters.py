"""Webhook dead letters: list the deliveries that used up their retries, and send them again.

A bulk redelivery sends each chosen dead letter's event now, out of order, like a single
redelivery (delivery.redeliver): each attempt is logged (attempt 0) and a 2xx settles its
dead letter. It does not move the endpoint's cursor or resume it: resuming is what sends
the events held behind a failing endpoint, in order. One call sends at most
`MAX_PER_CALL` events and stops starting new ones after `TIME_BUDGET` seconds; what is
left is reported (`remaining`) for the next call.

One bulk redelivery per endpoint runs at a time, across processes: it holds the endpoint's
`redelivering_until` lease (a conditional UPDATE) while it sends, so two callers cannot
send the same events twice; another caller meanwhile gets RedeliveryBusyError (409). A
lease outlives the longest call, and one left by a crashed process expires.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import timedelta
from typing import Any

from sqlalchemy import Connection, Engine

from scimgate.errors import ConflictError, InvalidValueError, NotFoundError
from scimgate.settings import Settings
from scimgate.store import accounts as account_store
from scimgate.store import dead_letters as store
from scimgate.store import events as event_store
from scimgate.store import webhooks as webhook_store
from scimgate.store.database import utcnow
from scimgate.webhooks.delivery import Sender, send_and_log

MAX_PER_CALL = 25
TIME_BUDGET = 30.0  # seconds of sending per call, at most (plus one delivery's timeout)
MAX_IDS = 1000
LEASE_MARGIN = 30.0  # seconds a redelivery lease outlives the longest call


class RedeliveryBusyError(ConflictError):
    """A bulk redelivery to this endpoint is running (in this process or another)."""


def _endpoint(conn: Connection, account_id: int, endpoint_id: int) -> dict[str, Any]:
    found = webhook_store.get_endpoint(conn, account_id, endpoint_id)
    if found is None:
        raise NotFoundError(f"No webhook endpoint {endpoint_id}")
    return found


def list_dead_letters(
    conn: Connection, account_id: int, endpoint_id: int, *, after_id: int = 0, limit: int = 50
) -> tuple[list[dict[str, Any]], int | None]:
    """Open dead letters of one endpoint of this account, oldest first, a page at a time;
    the id to continue after (None at the end)."""
    _endpoint(conn, account_id, endpoint_id)
    rows = store.list_open(conn, account_id, endpoint_id, after_id=after_id, limit=limit + 1)
    if len(rows) > limit:
        return rows[:limit], int(rows[limit - 1]["id"])
    return rows, None


def count_dead_letters(conn: Connection, account_id: int, endpoint_id: int) -> int:
    """How many dead letters of the endpoint are open."""
    return store.count_open(conn, account_id, endpoint_id)


def _chosen(
    conn: Connection, account_id: int, endpoint_id: int, ids: Sequence[int] | None
) -> list[dict[str, Any]]:
    """The open dead letters to send: all of them, or exactly `ids` (NotFoundError names
    an id that is not an open dead letter of this endpoint)."""
    if ids is None:
        return store.list_open(conn, account_id, endpoint_id, after_id=0, limit=MAX_IDS)
    wanted = sorted(set(ids))
    if not wanted or len(wanted) > MAX_IDS:
        raise InvalidValueError(f"Name 1-{MAX_IDS} dead letter ids, or ask for all of them")
    found = store.find_open(conn, account_id, endpoint_id, wanted)
    missing = sorted(set(wanted) - {int(r["id"]) for r in found})
    if missing:
        raise NotFoundError(f"No open dead letter {missing[0]} for webhook endpoint {endpoint_id}")
    return found


def redeliver(
    engine: Engine,
    settings: Settings,
    account_id: int,
    endpoint_id: int,
    ids: Sequence[int] | None = None,
) -> dict[str, Any]:
    """Send the events of the chosen dead letters (None: all) again now, in event order.

    Returns {"results": [{id, event_seq, ok, status_code, error}], "remaining": n}.
    """
    with engine.connect() as conn:
        endpoint = _endpoint(conn, account_id, endpoint_id)
        slug = account_store.get_account_by_id(conn, account_id)["slug"]
    lease = TIME_BUDGET + settings.webhook_timeout_seconds + LEASE_MARGIN
    with _lease(engine, account_id, endpoint_id, lease):
        return _redeliver(engine, settings, endpoint, slug, ids)


@contextmanager
def _lease(engine: Engine, account_id: int, endpoint_id: int, seconds: float) -> Iterator[None]:
    """Hold the endpoint's redelivery lease for the block (RedeliveryBusyError if taken)."""
    now = utcnow()
    until = now + timedelta(seconds=seconds)
    with engine.connect() as conn:
        conn.execution_options(writes=True)
        with conn.begin():
            claimed = store.claim_redelivery(conn, account_id, endpoint_id, now, until)
    if not claimed:
        raise RedeliveryBusyError(
            f"A redelivery of webhook endpoint {endpoint_id}'s dead letters is running; "
            "try again when it ends"
        )
    try:
        yield
    finally:
        with engine.connect() as conn:
            conn.execution_options(writes=True)
            with conn.begin():
                store.release_redelivery(conn, account_id, endpoint_id, until)


def _redeliver(
    engine: Engine,
    settings: Settings,
    endpoint: dict[str, Any],
    slug: str,
    ids: Sequence[int] | None,
) -> dict[str, Any]:
    """Send the chosen dead letters' events while holding the lease (read after taking it,
    so what a previous call settled is not sent again)."""
    account_id, endpoint_id = endpoint["account_id"], endpoint["id"]
    with engine.connect() as conn:
        chosen = _chosen(conn, account_id, endpoint_id, ids)
        # Open dead letters have distinct events (a later one of the same event settles it).
        total = store.count_open(conn, account_id, endpoint_id) if ids is None else 0
    events: dict[int, dict[str, Any]] = {}
    for letter in sorted(chosen, key=lambda r: (r["event_seq"], r["id"])):
        events.setdefault(int(letter["event_seq"]), letter)  # one send per event
    results: list[dict[str, Any]] = []
    sender = Sender(settings.webhook_timeout_seconds)
    started = time.monotonic()
    try:
        for seq, letter in events.items():
            if len(results) >= MAX_PER_CALL or time.monotonic() - started > TIME_BUDGET:
                break
            results.append(_send_one(engine, settings, sender, endpoint, slug, seq, letter))
    finally:
        sender.close()
    chosen_count = total if ids is None else len(events)
    return {"results": results, "remaining": max(chosen_count - len(results), 0)}


def _send_one(
    engine: Engine,
    settings: Settings,
    sender: Sender,
    endpoint: dict[str, Any],
    slug: str,
    seq: int,
    letter: dict[str, Any],
) -> dict[str, Any]:
    """Send one event again and log the attempt; an event pruned meanwhile is reported."""
    account_id = endpoint["account_id"]
    result = {"id": int(letter["id"]), "event_seq": seq}
    with engine.connect() as conn:
        found = event_store.read(conn, account_id, after=seq - 1, limit=1)
    if not found or found[0]["seq"] != seq:
        return {**result, "ok": False, "status_code": None, "error": "the event was pruned"}
    outcome = send_and_log(engine, settings, sender, endpoint, slug, found[0])
    ok = {"ok": outcome.ok, "status_code": outcome.status_code, "error": outcome.error}
    return {**result, **ok}
