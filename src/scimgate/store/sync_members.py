"""SQL for what a sync batch writes to members: new and changed members, their Property
values and sync markers, and members unlinked from a directory user that is gone."""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from datetime import datetime
from typing import Any, NamedTuple

import psycopg
from sqlalchemy import Connection
from sqlalchemy.exc import IntegrityError

from scimgate.errors import ConflictError
from scimgate.states import MemberSource, MemberStatus
from scimgate.store import bulk, driver
from scimgate.store import property_values as value_store

_INTEGRITY = (IntegrityError, sqlite3.IntegrityError, psycopg.IntegrityError)
_MEMBER_COLUMNS = (
    "account_id",
    "id",
    "email",
    "email_key",
    "name",
    "status",
    "source",
    "directory_user_id",
    "synced_version",
    "synced_rev",
    "created_at",
    "updated_at",
    "deactivated_at",
)


class MemberWrite(NamedTuple):
    """A member as a sync batch writes it (source scim)."""

    id: str
    email: str | None
    name: str
    status: str
    directory_user_id: str
    synced_version: int | None  # None: compare it again next run


def write_members(
    conn: Connection,
    account_id: int,
    rev: int,
    now: datetime,
    *,
    created: Sequence[MemberWrite],
    changed: Sequence[MemberWrite],
    in_sync: Sequence[tuple[str, int | None]],
    new_values: Sequence[tuple[Any, ...]],
    values: Sequence[tuple[Any, ...]],
    removed_values: Sequence[tuple[str, str]],
) -> None:
    """One batch's member writes: `in_sync` (member id, version) only moves sync markers;
    value rows as for `property_values.upsert_values` (`new_values`: of members created here, plain
    inserts); `removed_values` (member id, property id).

    A uniqueness rule broken by a concurrent write (an email the API gave a member) is a
    ConflictError; the transaction (or savepoint) must then be rolled back.
    """
    t = driver.to_db_time(conn, now)
    tc = bulk.copy_time(conn, now)  # for the inserted rows
    try:
        bulk.insert_rows(
            conn,
            "member",
            _MEMBER_COLUMNS,
            [
                (
                    account_id,
                    m.id,
                    m.email,
                    m.email.lower() if m.email else None,
                    m.name,
                    m.status,
                    MemberSource.SCIM.value,
                    m.directory_user_id,
                    m.synced_version,
                    rev,
                    tc,
                    tc,
                    tc if m.status == MemberStatus.DEACTIVATED else None,
                )
                for m in created
            ],
        )
        driver.executemany(
            conn,
            f"UPDATE member SET email = ?, email_key = ?, name = ?, status = ?, source = '{MemberSource.SCIM}', "
            "directory_user_id = ?, synced_version = ?, synced_rev = ?, updated_at = ?, "
            f"deactivated_at = CASE WHEN ? = '{MemberStatus.DEACTIVATED}' THEN COALESCE(deactivated_at, ?) END "
            "WHERE account_id = ? AND id = ?",
            [
                (
                    m.email,
                    m.email.lower() if m.email else None,
                    m.name,
                    m.status,
                    m.directory_user_id,
                    m.synced_version,
                    rev,
                    t,
                    m.status,
                    t,
                    account_id,
                    m.id,
                )
                for m in changed
            ],
        )
        set_sync_markers(conn, account_id, [(m, v, rev) for m, v in in_sync])
        value_store.delete_values(conn, account_id, removed_values)
        value_store.insert_new_values(conn, new_values)
        value_store.upsert_values(conn, values)
    except _INTEGRITY:
        raise ConflictError("a member's email is already used", "email") from None


def set_sync_markers(
    conn: Connection, account_id: int, rows: Sequence[tuple[str, int | None, int]]
) -> None:
    """Record what each member was last synced from: (member id, directory version, rev)."""
    if not rows:
        return
    if not driver.is_pg(conn):
        driver.executemany(
            conn,
            "UPDATE member SET synced_version = ?, synced_rev = ? WHERE account_id = ? AND id = ?",
            [(version, rev, account_id, member_id) for member_id, version, rev in rows],
        )
        return
    # One statement for the batch (an executemany is one statement per row).
    ids, versions, revs = zip(*rows, strict=True)
    driver.execute(
        conn,
        "UPDATE member AS m SET synced_version = v.version, synced_rev = v.rev "
        "FROM unnest(CAST(? AS TEXT[]), CAST(? AS INTEGER[]), CAST(? AS INTEGER[])) "
        "AS v(id, version, rev) WHERE m.account_id = ? AND m.id = v.id",
        (list(ids), list(versions), list(revs), account_id),
    )


def unlink_removed(
    conn: Connection, account_id: int, member_ids: Sequence[str], now: datetime
) -> None:
    """Members whose directory user is gone: deactivated (data kept) and unlinked."""
    t = driver.to_db_time(conn, now)
    driver.executemany(
        conn,
        "UPDATE member SET status = 'deactivated', directory_user_id = NULL, "
        "synced_version = NULL, deactivated_at = COALESCE(deactivated_at, ?), "
        "updated_at = ? WHERE account_id = ? AND id = ?",
        [(t, t, account_id, m) for m in member_ids],
    )
