"""SQL for the member references a run resolves at its end, kept in a temporary table.

A temporary table (per connection, never seen by others), so that a run holds one batch
of them in memory whatever the account's size.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, NamedTuple

from sqlalchemy import Connection

from scimgate.store import driver
from scimgate.store.bulk import insert_rows


class Deferred(NamedTuple):
    """A member reference to resolve once every member of the run exists."""

    member_id: str
    prop_id: str
    target: str  # the referenced directory user
    label: str | None  # the holder, as an admin knows them
    email: str | None  # the holder's email (for its Event)
    directory_id: str  # the holder's directory user
    action: str  # what the holder's own comparison decided
    clean: bool  # the holder had no other error
    old: Any  # the value before the run, and its source
    source: str | None
    version: int  # the holder's directory version, its sync marker once resolved


_DEFERRED = "scimgate_sync_deferred"
_COLUMNS = ("seq", *Deferred._fields)


def create_deferred_table(conn: Connection) -> None:
    """The run's table of deferred references, empty (a pooled connection may have one)."""
    driver.execute(
        conn,
        f"CREATE TEMPORARY TABLE IF NOT EXISTS {_DEFERRED} (seq INTEGER PRIMARY KEY, "
        "member_id TEXT NOT NULL, prop_id TEXT NOT NULL, target TEXT NOT NULL, label TEXT, "
        "email TEXT, directory_id TEXT NOT NULL, action TEXT NOT NULL, clean INTEGER NOT NULL, old TEXT NOT NULL, source TEXT, "
        "version INTEGER NOT NULL)",
    )
    driver.execute(conn, f"DELETE FROM {_DEFERRED}")


def drop_deferred_table(conn: Connection) -> None:
    driver.execute(conn, f"DROP TABLE IF EXISTS {_DEFERRED}")


def insert_deferred(conn: Connection, last_seq: int, deferred: Sequence[Deferred]) -> int:
    """Keep deferred references; they are written in the batch's transaction and go with
    it if it fails. Returns the last sequence number used."""
    insert_rows(
        conn,
        _DEFERRED,
        _COLUMNS,
        [
            (last_seq + i + 1, *d[:7], int(d.clean), driver.dump_json(d.old), d.source, d.version)
            for i, d in enumerate(deferred)
        ],
    )
    return last_seq + len(deferred)


def deferred_batch(conn: Connection, after: int, limit: int) -> list[tuple[int, Deferred]]:
    """Deferred references after sequence number `after`, in order, with their sequence
    numbers; `old` and `clean` as they were handed in."""
    rows = driver.execute(
        conn,
        f"SELECT {', '.join(_COLUMNS)} FROM {_DEFERRED} WHERE seq > ? ORDER BY seq LIMIT ?",
        (after, limit),
    ).fetchall()
    return [(r[0], Deferred(*r[1:8], bool(r[8]), driver.load_json(r[9]), *r[10:])) for r in rows]
