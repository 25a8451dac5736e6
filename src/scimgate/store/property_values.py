"""Property values of members, per account: read for a batch, set one by hand, written in
bulk by a sync (upsert, or COPY for new members) and removed."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, delete

from scimgate.store import bulk, driver
from scimgate.store import sync as sync_store
from scimgate.store.tables.members import property_value


def values_of(
    conn: Connection, account_id: int, member_ids: Sequence[str]
) -> dict[str, dict[str, tuple[Any, str]]]:
    """Property values of some members: member id -> property id -> (value, source)."""
    out: dict[str, dict[str, tuple[Any, str]]] = {m: {} for m in member_ids}
    rows = sync_store.select_in(
        conn,
        "SELECT member_id, property_id, value, source FROM property_value "
        "WHERE account_id = ? AND member_id IN ({keys})",
        account_id,
        member_ids,
    )
    for member_id, prop_id, value, source in rows:
        out[member_id][prop_id] = (driver.load_value(conn, value), source)
    return out


def set_value(
    conn: Connection,
    account_id: int,
    member_id: str,
    property_id: str,
    value: Any,
    *,
    source: str,
    now: datetime,
) -> None:
    """Set (or with None, clear) one Property value of one member."""
    if value is None:
        conn.execute(
            delete(property_value).where(
                property_value.c.account_id == account_id,
                property_value.c.member_id == member_id,
                property_value.c.property_id == property_id,
            )
        )
        return
    upsert_values(conn, [(account_id, member_id, property_id, value, source, now)])


_UPSERT = (
    "INSERT INTO property_value (account_id, member_id, property_id, value, source, updated_at) "
    "{rows} ON CONFLICT (account_id, member_id, property_id) DO UPDATE SET "
    "value = excluded.value, source = excluded.source, updated_at = excluded.updated_at"
)


VALUE_COLUMNS = ("account_id", "member_id", "property_id", "value", "source", "updated_at")


def upsert_values(conn: Connection, rows: Sequence[tuple[Any, ...]]) -> None:
    """Insert or replace Property values: (account_id, member_id, property_id, value, source, now).

    A later row for the same member and Property wins. PostgreSQL: one statement over
    arrays (an executemany is a statement per row, and one INSERT may not update a row
    twice, hence the deduplication).
    """
    if not rows:
        return
    last = {(r[0], r[1], r[2]): r for r in rows}
    if driver.is_pg(conn):
        columns = list(zip(*last.values(), strict=True))
        driver.execute(
            conn,
            _UPSERT.format(
                rows="SELECT * FROM unnest(CAST(? AS BIGINT[]), CAST(? AS TEXT[]), "
                "CAST(? AS TEXT[]), CAST(? AS JSONB[]), CAST(? AS TEXT[]), "
                "CAST(? AS TIMESTAMPTZ[]))"
            ),
            [
                list(columns[0]),
                list(columns[1]),
                list(columns[2]),
                [driver.dump_json(v) for v in columns[3]],
                list(columns[4]),
                list(columns[5]),
            ],
        )
        return
    times: dict[datetime, Any] = {}  # rows of a batch share one time: convert it once
    driver.executemany(
        conn,
        _UPSERT.format(rows="VALUES (?, ?, ?, ?, ?, ?)"),
        [
            (
                a,
                m,
                p,
                driver.dump_json(v),
                s,
                times.get(t) or times.setdefault(t, driver.to_db_time(conn, t)),
            )
            for a, m, p, v, s, t in last.values()
        ],
    )


def insert_new_values(conn: Connection, rows: Sequence[tuple[Any, ...]]) -> None:
    """Property values of members created in this transaction (none can exist yet): plain
    inserts, by COPY on PostgreSQL. Rows as for `upsert_values`."""
    if not rows:
        return
    times: dict[datetime, Any] = {}
    copy_time = bulk.copy_time
    bulk.insert_rows(
        conn,
        "property_value",
        VALUE_COLUMNS,
        [
            (
                a,
                m,
                p,
                driver.dump_json(v),
                s,
                times.get(t) or times.setdefault(t, copy_time(conn, t)),
            )
            for a, m, p, v, s, t in rows
        ],
    )


def delete_values(conn: Connection, account_id: int, pairs: Sequence[tuple[str, str]]) -> None:
    """Remove Property values: (member_id, property_id) pairs."""
    driver.executemany(
        conn,
        "DELETE FROM property_value WHERE account_id = ? AND member_id = ? AND property_id = ?",
        [(account_id, m, p) for m, p in pairs],
    )
