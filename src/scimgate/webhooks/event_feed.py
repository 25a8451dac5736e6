"""Reading the event feed (the outbox), as pollers of /api/v1/events do: a poller remembers the
last seq it has and never misses or repeats one."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection

from scimgate.store import events as event_store


def events_after(
    conn: Connection, account_id: int, *, after: int, limit: int
) -> tuple[list[dict[str, Any]], int]:
    """The next events after `after`, and the seq to pass next (the same when nothing is new)."""
    rows = event_store.read(conn, account_id, after=after, limit=limit)
    return rows, rows[-1]["seq"] if rows else after
