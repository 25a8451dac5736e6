"""A snapshot of the members to resume the event feed from (docs/api.md, "Resuming from a
snapshot").

Each page is read in one transaction that sees one committed state (the caller opens it:
REPEATABLE READ on PostgreSQL, a read transaction on SQLite), together with the last event
sequence number of that state (`as_of_event`): the page holds every change up to it and
none after. The first page's `as_of_event` travels in the cursor as `resume_after`; a
reader that pages to the end and then reads the feed after `resume_after` misses nothing,
and can skip an event about a member whose seq is at most the `as_of_event` of the page
that held the member (that page already shows it).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection

from scimgate.errors import InvalidValueError
from scimgate.members import listing
from scimgate.store import events as event_store

_BAD_CURSOR = "cursor is not a next_cursor the snapshot gave: start again without it"


def _encode(resume_after: int, last_id: str) -> str:
    return listing.pack_cursor(["snapshot", resume_after, last_id])


def _decode(cursor: str) -> tuple[int, str]:
    """(resume_after, the member id to continue after), or InvalidValueError."""
    value = listing.unpack_cursor(cursor, _BAD_CURSOR)
    if (
        not isinstance(value, list)
        or len(value) != 3
        or value[0] != "snapshot"
        or isinstance(value[1], bool)
        or not isinstance(value[1], int)
        or not 0 <= value[1] <= 2**62
        or not isinstance(value[2], str)
    ):
        raise InvalidValueError(_BAD_CURSOR)
    return value[1], listing.id_cursor(value[2]) or ""


def snapshot_page(
    conn: Connection, account_id: int, *, cursor: str | None = None, limit: int = 100
) -> dict[str, Any]:
    """One page of members in id order with the event seq it is consistent with."""
    resume_after, after_id = _decode(cursor) if cursor else (None, None)
    as_of = event_store.last_seq(conn, account_id)
    if resume_after is not None and resume_after > as_of:
        raise InvalidValueError(_BAD_CURSOR)
    data, next_id = listing.member_page(conn, account_id, cursor=after_id, limit=limit)
    first = as_of if resume_after is None else resume_after
    return {
        "data": data,
        "as_of_event": as_of,
        "resume_after": first,
        "next_cursor": _encode(first, next_id) if next_id else None,
    }
