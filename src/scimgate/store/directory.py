"""The staging directory: users, groups and memberships as the IdP pushed them, per account.

Every function takes the account id and puts it in every statement: nothing here can
read or write another account's rows. Uniqueness comes from the database constraints;
a violation becomes a ConflictError. Hot statements are pre-written SQL (see driver.py);
general filters arrive as SQLAlchemy expressions from filter_sql.py.
"""

from __future__ import annotations

import sqlite3
import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any

import psycopg
from sqlalchemy import Connection, Table

from scimgate.errors import ConflictError
from scimgate.scim.resource_types import ResourceKind
from scimgate.store import driver
from scimgate.store.accounts import TokenGuard, guarded_rows
from scimgate.store.tables.staging import directory_group, directory_user

_INTEGRITY = (sqlite3.IntegrityError, psycopg.IntegrityError)
_COLUMNS = "id, doc, version, created_at, updated_at"
# Storage's own details of each resource type (scim.resource_types): its table ...
TABLE_NAME = {ResourceKind.USER: "directory_user", ResourceKind.GROUP: "directory_group"}
_TABLES = {ResourceKind.USER: directory_user, ResourceKind.GROUP: directory_group}


def new_id() -> str:
    """A fresh resource id (a UUID, so ids never reveal counts or order)."""
    return str(uuid.uuid4())


def table_for(kind: str) -> Table:
    """`User` or `Group` to its SQLAlchemy table."""
    return _TABLES[kind]  # type: ignore[index]


# A User's groups (RFC 7643 §4.1.2, read-only), read in the same statement as the user:
# one round trip fewer on every User lookup, GET and write response.
_GROUPS_MEMBERSHIP = (
    "FROM directory_membership m JOIN directory_group g "
    "ON g.account_id = m.account_id AND g.id = m.group_id "
    "WHERE m.account_id = directory_user.account_id AND m.member_id = directory_user.id"
)
_GROUPS_COLUMN = {
    "postgresql": "(SELECT json_agg(json_build_array(m.group_id, g.display_name) "
    f"ORDER BY g.display_name, m.group_id) {_GROUPS_MEMBERSHIP})",
    "sqlite": "(SELECT json_group_array(json_array(x.group_id, x.display_name)) FROM "
    f"(SELECT m.group_id, g.display_name {_GROUPS_MEMBERSHIP} "
    "ORDER BY g.display_name, m.group_id) x)",
}


def columns_sql(conn: Connection, kind: str, with_groups: bool) -> str:
    """The columns `row_of` reads, with the groups column for Users when asked."""
    if kind == ResourceKind.USER and with_groups:
        return f"{_COLUMNS}, {_GROUPS_COLUMN[conn.dialect.name]}"
    return _COLUMNS


def row_of(values: Sequence[Any]) -> dict[str, Any]:
    row = {
        "id": values[0],
        "doc": driver.load_json(values[1]),
        "version": values[2],
        "created_at": driver.from_db_time(values[3]),
        "updated_at": driver.from_db_time(values[4]),
    }
    if len(values) > 5:
        row["groups"] = [
            {"value": value, "display": display}
            for value, display in driver.load_json(values[5]) or ()
        ]
    return row


def _key_columns(conn: Connection, kind: str, doc: dict[str, Any]) -> list[Any]:
    """The indexed copies of document values, in the column order of the SQL below."""
    if kind == ResourceKind.USER:
        return [
            doc["userName"],
            doc["userName"].lower(),
            doc.get("externalId"),
            doc.get("displayName"),
            driver.to_db_bool(conn, doc.get("active", True) is not False),
        ]
    return [doc["displayName"], doc["displayName"].lower(), doc.get("externalId")]


# ... and the indexed copies of document values it keeps, in `_key_columns` order.
_KEY_NAMES = {
    ResourceKind.USER: ["user_name", "user_name_key", "external_id", "display_name", "active"],
    ResourceKind.GROUP: ["display_name", "display_name_key", "external_id"],
}


def _email_rows(
    account_id: int, user_id: str, doc: dict[str, Any], conn: Connection
) -> list[tuple[Any, ...]]:
    rows = []
    for position, email in enumerate(doc.get("emails") or []):
        if isinstance(email, dict) and isinstance(email.get("value"), str):
            kind = email.get("type")
            rows.append(
                (
                    account_id,
                    user_id,
                    position,
                    email["value"].lower()[:512],
                    kind if isinstance(kind, str) else None,
                    driver.to_db_bool(conn, email.get("primary") is True),
                )
            )
    return rows


# PostgreSQL: a user's e-mail rows from four arrays (position, value, type, primary), so a
# write of the user and its e-mails is one statement (and one round trip), whatever their number.
_PG_EMAIL_ROWS = (
    "SELECT ?, ?, p, v, t, x FROM unnest(CAST(? AS integer[]), CAST(? AS text[]), "
    "CAST(? AS text[]), CAST(? AS boolean[])) AS e(p, v, t, x)"
)
_PG_EMAILS_INSERT = (
    "INSERT INTO directory_user_email (account_id, user_id, position, value_key, type, is_primary) "
    + _PG_EMAIL_ROWS
)


def _email_arrays(rows: list[tuple[Any, ...]]) -> list[list[Any]]:
    """E-mail rows as the four arrays `_PG_EMAIL_ROWS` reads."""
    return [[r[2] for r in rows], [r[3] for r in rows], [r[4] for r in rows], [r[5] for r in rows]]


def _write_emails(
    conn: Connection, account_id: int, user_id: str, doc: dict[str, Any], *, replace: bool
) -> None:
    if replace:
        driver.execute(
            conn,
            "DELETE FROM directory_user_email WHERE account_id = ? AND user_id = ?",
            (account_id, user_id),
        )
    driver.executemany(
        conn,
        "INSERT INTO directory_user_email (account_id, user_id, position, value_key, type, is_primary) VALUES (?, ?, ?, ?, ?, ?)",
        _email_rows(account_id, user_id, doc, conn),
    )


def _conflict(kind: str, doc: dict[str, Any]) -> ConflictError:
    if kind == ResourceKind.USER:
        return ConflictError(
            f"A User with userName {doc.get('userName')!r} already exists", "userName"
        )
    return ConflictError(
        f"A Group with displayName {doc.get('displayName')!r} already exists", "displayName"
    )


def insert_resource(
    conn: Connection,
    account_id: int,
    kind: str,
    *,
    doc: dict[str, Any],
    now: datetime,
    resource_id: str | None = None,
) -> dict[str, Any]:
    """Insert a User or Group; a taken userName/displayName is a ConflictError.

    The caller's transaction is unusable after a conflict (PostgreSQL aborts it): the
    error is meant to end the request, which rolls back.
    """
    resource_id = resource_id or new_id()
    names = ["account_id", "id", *_KEY_NAMES[kind], "doc", "version", "created_at", "updated_at"]
    stamp = driver.to_db_time(conn, now)
    values = [
        account_id,
        resource_id,
        *_key_columns(conn, kind, doc),
        driver.dump_json(doc),
        1,
        stamp,
        stamp,
    ]
    placeholders = ", ".join(driver.json_param(conn) if n == "doc" else "?" for n in names)
    insert = f"INSERT INTO {TABLE_NAME[kind]} ({', '.join(names)}) VALUES ({placeholders})"
    try:
        if driver.is_pg(conn):
            # One round trip: the row, its e-mail rows and the count in one statement.
            emails = (
                _email_rows(account_id, resource_id, doc, conn) if kind == ResourceKind.USER else []
            )
            driver.execute(
                conn,
                f"WITH r AS ({insert}), "
                f"e AS ({_PG_EMAILS_INSERT}), "
                f"c AS ({_COUNT_UPSERT}) SELECT 1",
                [*values, account_id, resource_id, *_email_arrays(emails), account_id, kind, 1],
            )
        else:
            driver.execute(conn, insert, values)
    except _INTEGRITY:
        raise _conflict(kind, doc) from None
    if not driver.is_pg(conn):
        if kind == ResourceKind.USER:
            _write_emails(conn, account_id, resource_id, doc, replace=False)
        _count(conn, account_id, kind, +1)
    row = {"id": resource_id, "doc": doc, "version": 1, "created_at": now, "updated_at": now}
    if kind == ResourceKind.USER:
        row["groups"] = []  # a new id is in no group yet
    return row


_COUNT_UPSERT = (
    "INSERT INTO directory_count (account_id, kind, n, changes) VALUES (?, ?, ?, 1) "
    "ON CONFLICT (account_id, kind) DO UPDATE "
    "SET n = directory_count.n + excluded.n, changes = directory_count.changes + 1"
)


def _count(conn: Connection, account_id: int, kind: str, delta: int) -> None:
    driver.execute(conn, _COUNT_UPSERT, (account_id, kind, delta))


def count_resources(conn: Connection, account_id: int, kind: str) -> int:
    """How many Users or Groups the account holds (O(1))."""
    found = driver.execute(
        conn, "SELECT n FROM directory_count WHERE account_id = ? AND kind = ?", (account_id, kind)
    ).fetchone()
    return int(found[0]) if found else 0


def get_resource(
    conn: Connection,
    account_id: int,
    kind: str,
    resource_id: str,
    *,
    with_groups: bool = False,
    guard: TokenGuard | None = None,
) -> dict[str, Any] | None:
    """One User or Group of this account by id (a User with its groups when asked); with a
    guard (PostgreSQL) the bearer check rides in the same statement: None if the token is not live."""
    sql = (
        f"SELECT {columns_sql(conn, kind, with_groups)} FROM {TABLE_NAME[kind]} "
        "WHERE account_id = ? AND id = ?"
    )
    if guard is not None and driver.is_pg(conn):
        rows = guarded_rows(conn, guard, sql, (account_id, resource_id))
        return row_of(rows[0]) if rows else None
    found = driver.execute(conn, sql, (account_id, resource_id)).fetchone()
    return row_of(found) if found else None


def update_resource(
    conn: Connection,
    account_id: int,
    kind: str,
    resource_id: str,
    *,
    doc: dict[str, Any],
    expected_version: int,
    now: datetime,
    old_doc: dict[str, Any] | None = None,
) -> dict[str, Any] | None:
    """Write a new document if the stored version is still `expected_version` (else None).

    A User's e-mail rows are rewritten only when they differ from `old_doc`'s (when given);
    on PostgreSQL the update and that rewrite are one statement.
    """
    sets = ", ".join(f"{n} = ?" for n in _KEY_NAMES[kind])
    sql = (
        f"UPDATE {TABLE_NAME[kind]} SET {sets}, doc = {driver.json_param(conn)}, version = ?, updated_at = ? "
        "WHERE account_id = ? AND id = ? AND version = ?"
    )
    params = [
        *_key_columns(conn, kind, doc),
        driver.dump_json(doc),
        expected_version + 1,
        driver.to_db_time(conn, now),
        account_id,
        resource_id,
        expected_version,
    ]
    emails = _email_rows(account_id, resource_id, doc, conn) if kind == ResourceKind.USER else None
    if (
        emails is not None
        and old_doc is not None
        and emails == _email_rows(account_id, resource_id, old_doc, conn)
    ):
        emails = None  # unchanged: no e-mail rows to rewrite
    try:
        if emails is not None and driver.is_pg(conn):
            updated = driver.execute(
                conn,
                _pg_update_with_emails(sql),
                [
                    *params,
                    *(account_id, resource_id, *_email_arrays(emails)),
                    *(account_id, resource_id, len(emails)),
                ],
            ).fetchone()[0]
        else:
            updated = driver.execute(conn, sql, params).rowcount
    except _INTEGRITY:
        raise _conflict(kind, doc) from None
    if updated != 1:
        return None
    if emails is not None and not driver.is_pg(conn):
        _write_emails(conn, account_id, resource_id, doc, replace=True)
    return {"id": resource_id, "doc": doc, "version": expected_version + 1, "updated_at": now}


def _pg_update_with_emails(update: str) -> str:
    """The user's UPDATE and its e-mail rows in one statement: rows at the new positions
    are upserted and the ones past the last are deleted (no key is deleted and inserted
    in the same statement), all only if the UPDATE found the expected version."""
    return (
        f"WITH u AS ({update} RETURNING id), "
        f"e AS ({_PG_EMAILS_INSERT} WHERE EXISTS (SELECT 1 FROM u) "
        "ON CONFLICT (account_id, user_id, position) DO UPDATE SET value_key = excluded.value_key, "
        "type = excluded.type, is_primary = excluded.is_primary), "
        "d AS (DELETE FROM directory_user_email WHERE account_id = ? AND user_id = ? "
        "AND position >= ? AND EXISTS (SELECT 1 FROM u)) "
        "SELECT count(*) FROM u"
    )


def touch_resource(
    conn: Connection, account_id: int, kind: str, resource_id: str, *, now: datetime
) -> None:
    """Bump version and lastModified (a group whose members changed)."""
    driver.execute(
        conn,
        f"UPDATE {TABLE_NAME[kind]} SET version = version + 1, updated_at = ? WHERE account_id = ? AND id = ?",
        (driver.to_db_time(conn, now), account_id, resource_id),
    )


def delete_resource(conn: Connection, account_id: int, kind: str, resource_id: str) -> bool:
    """Delete a User or Group and every membership row that names it."""
    key = (account_id, resource_id)
    if kind == ResourceKind.USER:
        driver.execute(
            conn, "DELETE FROM directory_user_email WHERE account_id = ? AND user_id = ?", key
        )
    else:
        driver.execute(
            conn, "DELETE FROM directory_membership WHERE account_id = ? AND group_id = ?", key
        )
    driver.execute(
        conn, "DELETE FROM directory_membership WHERE account_id = ? AND member_id = ?", key
    )
    cursor = driver.execute(
        conn, f"DELETE FROM {TABLE_NAME[kind]} WHERE account_id = ? AND id = ?", key
    )
    if cursor.rowcount != 1:
        return False
    _count(conn, account_id, kind, -1)
    return True
