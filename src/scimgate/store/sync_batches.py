"""SQL for the batched reads that compare staging with members.

Reads are keyset-paginated (`id > last ORDER BY id LIMIT n`) so a run holds one batch in
memory and each batch commits on its own: a run killed half-way leaves whole batches,
and the next run picks up from what is there. Rows come back as small named tuples.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any, NamedTuple

from sqlalchemy import Connection

from scimgate.store import driver


class StagedRow(NamedTuple):
    """A staged user and its member (the member columns are None when it has none)."""

    id: str
    doc: str  # JSON text on both databases
    version: int
    active: Any
    user_name: str
    member_id: str | None
    member_email: str | None
    member_name: str | None
    member_status: str | None
    member_source: str | None
    display_name: str | None


class RemovedRow(NamedTuple):
    """A member whose directory user is gone from staging."""

    id: str
    email: str | None
    name: str
    status: str


class MemberOwner(NamedTuple):
    """The member that owns an email."""

    id: str
    email: str | None
    name: str
    status: str
    source: str
    directory_user_id: str | None


class StagedUser(NamedTuple):
    """A staged user as an admin knows them."""

    user_name: str
    display_name: str | None
    active: bool


def staged_batch(
    conn: Connection,
    account_id: int,
    rev: int,
    after: str,
    limit: int,
    also: Sequence[str] = (),
) -> list[StagedRow]:
    """Staged users whose member is missing or out of date, from `after` on (`also`: these
    directory users too, whatever their markers say: a group rule's outcome moved).

    The document as JSON text on both databases (psycopg would parse it with the json
    module, `driver.load_json` does it with orjson).
    """
    doc = "CAST(du.doc AS TEXT)" if driver.is_pg(conn) else "du.doc"
    extra, params = (
        ("", ()) if not also else (f" OR {id_list(conn, 'du.id')}", (list_param(conn, also),))
    )
    rows = driver.execute(
        conn,
        f"SELECT du.id, {doc}, du.version, du.active, du.user_name, "
        "m.id, m.email, m.name, m.status, m.source, du.display_name "
        "FROM directory_user du LEFT JOIN member m "
        "ON m.account_id = du.account_id AND m.directory_user_id = du.id "
        "WHERE du.account_id = ? AND du.id > ? AND (m.id IS NULL OR m.synced_version IS NULL "
        f"OR m.synced_version <> du.version OR m.synced_rev IS NULL OR m.synced_rev <> ?{extra}) "
        "ORDER BY du.id LIMIT ?",
        (account_id, after, rev, *params, limit),
    ).fetchall()
    return list(map(StagedRow._make, rows))


def id_list(conn: Connection, column: str) -> str:
    """`column IN` one parameter holding a list of ids (see list_param): a hashed set on
    both databases, whatever its length."""
    if driver.is_pg(conn):
        return f"{column} IN (SELECT unnest(CAST(? AS TEXT[])))"
    return f"{column} IN (SELECT value FROM json_each(?))"


def list_param(conn: Connection, ids: Sequence[str]) -> Any:
    """The parameter of id_list: an array on PostgreSQL, JSON text on SQLite."""
    return list(ids) if driver.is_pg(conn) else driver.dump_json(list(ids))


def removed_batch(conn: Connection, account_id: int, after: str, limit: int) -> list[RemovedRow]:
    """Members linked to a directory user that is no longer staged."""
    rows = driver.execute(
        conn,
        "SELECT m.id, m.email, m.name, m.status FROM member m "
        "WHERE m.account_id = ? AND m.id > ? AND m.directory_user_id IS NOT NULL "
        "AND NOT EXISTS (SELECT 1 FROM directory_user du "
        "WHERE du.account_id = m.account_id AND du.id = m.directory_user_id) "
        "ORDER BY m.id LIMIT ?",
        (account_id, after, limit),
    ).fetchall()
    return list(map(RemovedRow._make, rows))


def select_in(
    conn: Connection, sql: str, account_id: int, keys: Sequence[Any]
) -> Iterable[Sequence[Any]]:
    """Rows of `sql` (whose last condition is `column IN ({keys})`) for these keys, deduplicated.

    PostgreSQL: one statement with an array (`= ANY`), whatever the number of keys;
    SQLite: IN lists of 500 (its limit on parameters is far above, its plans are per text).
    """
    keys = list(dict.fromkeys(keys))
    if not keys:
        return
    if driver.is_pg(conn):
        yield from driver.execute(
            conn, sql.replace(" IN ({keys})", " = ANY(CAST(? AS TEXT[]))"), (account_id, keys)
        ).fetchall()
        return
    for start in range(0, len(keys), 500):
        chunk = keys[start : start + 500]
        yield from driver.execute(
            conn, sql.replace("{keys}", ", ".join("?" * len(chunk))), (account_id, *chunk)
        ).fetchall()


def members_by_email(
    conn: Connection, account_id: int, email_keys: Sequence[str]
) -> dict[str, MemberOwner]:
    """Members owning these lower-cased emails, by email key."""
    rows = select_in(
        conn,
        "SELECT email_key, id, email, name, status, source, directory_user_id FROM member "
        "WHERE account_id = ? AND email_key IN ({keys})",
        account_id,
        email_keys,
    )
    return {row[0]: MemberOwner._make(row[1:]) for row in rows}


def members_of_directory_users(
    conn: Connection, account_id: int, user_ids: Sequence[str]
) -> dict[str, str]:
    """Directory user id -> member id, for those that are linked."""
    rows = select_in(
        conn,
        "SELECT directory_user_id, id FROM member "
        "WHERE account_id = ? AND directory_user_id IN ({keys})",
        account_id,
        user_ids,
    )
    return {r[0]: r[1] for r in rows}


def staged_users(
    conn: Connection, account_id: int, user_ids: Sequence[str]
) -> dict[str, StagedUser]:
    """Which of these directory user ids are staged, by id."""
    rows = select_in(
        conn,
        "SELECT id, user_name, display_name, active FROM directory_user "
        "WHERE account_id = ? AND id IN ({keys})",
        account_id,
        user_ids,
    )
    return {r[0]: StagedUser(r[1], r[2], bool(r[3])) for r in rows}


def memberships_of(conn: Connection, account_id: int, user_ids: Sequence[str]) -> int:
    """How many group memberships these directory users have."""
    rows = select_in(
        conn,
        "SELECT COUNT(*) FROM directory_membership WHERE account_id = ? AND member_type = 'User' "
        "AND member_id IN ({keys})",
        account_id,
        user_ids,
    )
    return sum(int(r[0]) for r in rows)
