"""Many rows at once: COPY on PostgreSQL, executemany on SQLite, and the ids and times for them.

A sync batch writes thousands of rows per table (members, values, items, Events, teams,
memberships); the event outbox writes a sync's Events the same way.
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Iterable, Sequence, Sized
from datetime import datetime
from typing import Any

import psycopg
from sqlalchemy import Connection
from sqlalchemy.exc import OperationalError

from scimgate.store import driver

_UNAVAILABLE = (sqlite3.OperationalError, psycopg.OperationalError)


def new_id() -> str:
    """A random UUID (version 4) as text, like `str(uuid.uuid4())` in a quarter of the time
    (a first sync makes one per member and per Event: measured 5.7 µs against 1.5 µs)."""
    b = bytearray(os.urandom(16))
    b[6] = b[6] & 0x0F | 0x40
    b[8] = b[8] & 0x3F | 0x80
    h = b.hex()
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


def copy_time(conn: Connection, value: datetime) -> Any:
    """A time for `insert_rows`: PostgreSQL's COPY takes the ISO text (adapting a datetime
    per row cost 1.9 µs of the 2.5 µs a value row took), SQLite its own format."""
    return value.isoformat() if driver.is_pg(conn) else driver.to_db_time(conn, value)


def insert_rows(
    conn: Connection, table: str, columns: Sequence[str], rows: Iterable[Sequence[Any]]
) -> None:
    """Insert many rows: COPY on PostgreSQL, executemany on SQLite.

    A batch of a sync writes thousands of rows per table; PostgreSQL executes an
    executemany row by row (one Bind/Execute each, measured 20-25 µs of server time a
    row), COPY streams them into one statement. The rows are adapted as psycopg adapts
    parameters: JSON documents go as their text, times as datetimes (SQLite: as
    `driver.to_db_time` made them).
    """
    if isinstance(rows, Sized) and not rows:
        return
    names = ", ".join(columns)
    if not driver.is_pg(conn):
        marks = ", ".join("?" * len(columns))
        driver.executemany(conn, f"INSERT INTO {table} ({names}) VALUES ({marks})", list(rows))
        return
    cursor = conn.connection.driver_connection.cursor()
    try:
        with cursor.copy(f"COPY {table} ({names}) FROM STDIN") as copy:
            write = copy.write_row
            for row in rows:
                write(row)
    except _UNAVAILABLE as exc:  # as driver.execute reports it
        raise OperationalError(f"COPY {table}", None, exc) from exc
