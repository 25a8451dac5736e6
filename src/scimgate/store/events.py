"""The event outbox: appended in the writer's transaction, read in sequence order.

Sequence numbers come from the account row (`event_seq`), bumped by an UPDATE in the same
transaction as the events: the row lock makes concurrent writers of one account take
their numbers in commit order, so a reader that remembers the last number it saw never
misses an event that commits later (on SQLite the database write lock does the same).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Connection

from scimgate.store import bulk, driver

# From this many events on, COPY (a sync batch); below, one prepared INSERT per event.
_COPY_FROM = 50


def append(
    conn: Connection,
    account_id: int,
    events: Sequence[tuple[str, str | None, dict[str, Any]]],
    now: datetime,
) -> int:
    """Write (type, subject_id, data) events, as scimgate.events builds them; returns the
    last sequence number used."""
    if not events:
        return 0
    last = driver.execute(
        conn,
        "UPDATE account SET event_seq = event_seq + ? WHERE id = ? RETURNING event_seq",
        (len(events), account_id),
    ).fetchone()[0]
    first = int(last) - len(events) + 1
    if len(events) >= _COPY_FROM:  # a sync batch's thousands: one COPY
        t, dump = bulk.copy_time(conn, now), driver.dump_json
        bulk.insert_rows(
            conn,
            "event",
            ("account_id", "seq", "id", "type", "subject_id", "data", "created_at"),
            (
                (account_id, first + i, bulk.new_id(), kind, subject, dump(data), t)
                for i, (kind, subject, data) in enumerate(events)
            ),
        )
        return int(last)
    t = driver.to_db_time(conn, now)
    driver.executemany(
        conn,
        "INSERT INTO event (account_id, seq, id, type, subject_id, data, created_at) "
        f"VALUES (?, ?, ?, ?, ?, {driver.json_param(conn)}, ?)",
        [
            (account_id, first + i, bulk.new_id(), kind, subject, driver.dump_json(data), t)
            for i, (kind, subject, data) in enumerate(events)
        ],
    )
    return int(last)


def read(conn: Connection, account_id: int, *, after: int, limit: int) -> list[dict[str, Any]]:
    """Events with a sequence number above `after`, in order."""
    rows = driver.execute(
        conn,
        "SELECT seq, id, type, subject_id, data, created_at FROM event "
        "WHERE account_id = ? AND seq > ? ORDER BY seq LIMIT ?",
        (account_id, after, limit),
    ).fetchall()
    return [
        {
            "seq": int(r[0]),
            "id": r[1],
            "type": r[2],
            "subject_id": r[3],
            "data": driver.load_json(r[4]),
            "created_at": driver.from_db_time(r[5]),
        }
        for r in rows
    ]


def last_seq(conn: Connection, account_id: int) -> int:
    """The newest sequence number handed out in the account (0 when none)."""
    found = driver.execute(
        conn, "SELECT event_seq FROM account WHERE id = ?", (account_id,)
    ).fetchone()
    return int(found[0]) if found else 0
