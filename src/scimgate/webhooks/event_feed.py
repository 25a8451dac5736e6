"""Reading the event feed (the outbox), as pollers of /api/v1/events do: a poller remembers the
last seq it has and never misses or repeats one, or hears that the events it would need next
were pruned (CursorTooOldError) instead of skipping them."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection

from scimgate.errors import CursorTooOldError
from scimgate.store import event_retention
from scimgate.store import events as event_store


def events_after(
    conn: Connection, account_id: int, *, after: int, limit: int
) -> tuple[list[dict[str, Any]], int]:
    """The next events after `after`, and the seq to pass next (the same when nothing is new).

    The pruned mark is read after the events: a prune that committed before the events
    were read (and so may have removed some the reader needed) is seen by the later read.
    """
    rows = event_store.read(conn, account_id, after=after, limit=limit)
    pruned = event_retention.pruned_seq(conn, account_id)
    if after < pruned:
        raise CursorTooOldError(
            f"The events after {after} up to {pruned} were pruned (older than the account's "
            f"retention): resume from a snapshot (GET /api/v1/snapshot), then read the feed "
            f"from the `resume_after` it gives",
            oldest_after=pruned,
        )
    return rows, rows[-1]["seq"] if rows else after
