"""Group memberships of the staging directory as rows: a change costs its batch, never the group.

Every statement names the account. A membership (account, group, member) is the
primary key, so adding a member twice, even from two requests at once, leaves one row.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection

from scimgate.errors import InvalidValueError
from scimgate.store import driver
from scimgate.store.directory import TABLE_NAME

_CHUNK = 500


def _chunks(items: Sequence[Any]) -> Iterable[Sequence[Any]]:
    for start in range(0, len(items), _CHUNK):
        yield items[start : start + _CHUNK]


def _in(n: int) -> str:
    return ", ".join("?" * n)


_PG_EXISTING = (
    "SELECT id, 'User' FROM directory_user WHERE account_id = ? AND id = ANY(CAST(? AS TEXT[])) "
    "UNION ALL "
    "SELECT id, 'Group' FROM directory_group WHERE account_id = ? AND id = ANY(CAST(? AS TEXT[]))"
)
# The batch in one statement; RETURNING tells which rows were new (DO NOTHING: those
# already there, a concurrent PATCH's included).
_PG_ADD = (
    "INSERT INTO directory_membership (account_id, group_id, member_id, member_type, display) "
    "SELECT ?, ?, m.id, m.kind, m.display "
    "FROM unnest(CAST(? AS TEXT[]), CAST(? AS TEXT[]), CAST(? AS TEXT[])) AS m(id, kind, display) "
    "ON CONFLICT DO NOTHING RETURNING 1"
)
_PG_REMOVE = (
    "DELETE FROM directory_membership "
    "WHERE account_id = ? AND group_id = ? AND member_id = ANY(CAST(? AS TEXT[]))"
)


def existing_ids(conn: Connection, account_id: int, ids: Sequence[str]) -> dict[str, str]:
    """Which of these ids are Users or Groups of this account: id -> "User" | "Group"."""
    if driver.is_pg(conn):  # one statement whatever the count (an array, not a list of ids)
        unique = list(dict.fromkeys(ids))
        cursor = driver.execute(conn, _PG_EXISTING, (account_id, unique, account_id, unique))
        return dict(cursor.fetchall())
    found: dict[str, str] = {}
    for chunk in _chunks(list(dict.fromkeys(ids))):
        for kind, table in TABLE_NAME.items():
            cursor = driver.execute(
                conn,
                f"SELECT id FROM {table} WHERE account_id = ? AND id IN ({_in(len(chunk))})",
                (account_id, *chunk),
            )
            for (resource_id,) in cursor.fetchall():
                found[resource_id] = kind.value
    return found


@dataclass(frozen=True)
class Added:
    """How many memberships were new, and the ids that name no User or Group of the account."""

    count: int
    unknown: tuple[str, ...] = ()


def add_members(
    conn: Connection, account_id: int, group_id: str, members: Sequence[dict[str, Any]]
) -> Added:
    """Add members (O(batch)). An id that is not a User or Group of this account (unknown, or
    another account's) is left out and returned, never linked; the group itself is refused."""
    ids = list(dict.fromkeys(m["value"] for m in members))
    if not ids:
        return Added(0)
    if group_id in ids:
        raise InvalidValueError("A group cannot be a member of itself")
    kinds = existing_ids(conn, account_id, ids)
    unknown = tuple(i for i in ids if i not in kinds)
    if unknown:
        ids = [i for i in ids if i in kinds]
        if not ids:
            return Added(0, unknown)
    displays = {m["value"]: m.get("display") for m in members}
    if driver.is_pg(conn):
        kinds_of = [kinds[i] for i in ids]
        added = driver.execute(
            conn,
            _PG_ADD,
            (account_id, group_id, ids, kinds_of, [displays.get(i) for i in ids]),
        )
        return Added(len(added.fetchall()), unknown)
    present: set[str] = set()
    for chunk in _chunks(ids):
        cursor = driver.execute(
            conn,
            f"SELECT member_id FROM directory_membership WHERE account_id = ? AND group_id = ? AND member_id IN ({_in(len(chunk))})",
            (account_id, group_id, *chunk),
            planned_each_time=True,  # a generic plan walks a big group instead of probing
        )
        present.update(r[0] for r in cursor.fetchall())
    rows = [(account_id, group_id, i, kinds[i], displays.get(i)) for i in ids if i not in present]
    # DO NOTHING covers a concurrent PATCH adding the same member between our read and write.
    driver.executemany(
        conn,
        "INSERT INTO directory_membership (account_id, group_id, member_id, member_type, display) "
        "VALUES (?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
        rows,
    )
    return Added(len(rows), unknown)


def remove_members(
    conn: Connection, account_id: int, group_id: str, ids: Sequence[str] | None
) -> int:
    """Remove these members (None: all of them); returns how many rows went."""
    if ids is None:
        return driver.execute(
            conn,
            "DELETE FROM directory_membership WHERE account_id = ? AND group_id = ?",
            (account_id, group_id),
        ).rowcount
    if driver.is_pg(conn):
        return driver.execute(
            conn,
            _PG_REMOVE,
            (account_id, group_id, list(dict.fromkeys(ids))),
            planned_each_time=True,  # a generic plan walks a big group instead of probing
        ).rowcount
    removed = 0
    for chunk in _chunks(list(dict.fromkeys(ids))):
        removed += driver.execute(
            conn,
            f"DELETE FROM directory_membership WHERE account_id = ? AND group_id = ? AND member_id IN ({_in(len(chunk))})",
            (account_id, group_id, *chunk),
            planned_each_time=True,  # a generic plan walks a big group instead of probing
        ).rowcount
    return removed


# A member as the Group's `members` shows it: id, type, and the display name it was sent
# with, else the user's or group's own.
_MEMBER_COLUMNS = (
    "m.member_id, m.member_type, COALESCE(m.display, u.display_name, u.user_name, g.display_name) "
    "FROM directory_membership m "
    "LEFT JOIN directory_user u ON u.account_id = m.account_id AND u.id = m.member_id "
    "LEFT JOIN directory_group g ON g.account_id = m.account_id AND g.id = m.member_id"
)


def members_of(
    conn: Connection, account_id: int, group_ids: Sequence[str]
) -> dict[str, list[dict[str, Any]]]:
    """Members of these groups with display names: group id -> [{value, type, display}]."""
    out: dict[str, list[dict[str, Any]]] = {gid: [] for gid in group_ids}
    for chunk in _chunks(list(group_ids)):
        cursor = driver.execute(
            conn,
            f"SELECT m.group_id, {_MEMBER_COLUMNS} "
            f"WHERE m.account_id = ? AND m.group_id IN ({_in(len(chunk))}) ORDER BY m.group_id, m.member_id",
            (account_id, *chunk),
        )
        for group_id, member_id, member_type, display in cursor.fetchall():
            out[group_id].append({"value": member_id, "type": member_type, "display": display})
    return out


def member_page(
    conn: Connection, account_id: int, group_id: str, *, after: str | None, limit: int
) -> list[dict[str, Any]]:
    """Members of one group in member-id order, after `after` (keyset: each page costs its size)."""
    cursor = driver.execute(
        conn,
        f"SELECT {_MEMBER_COLUMNS} "
        "WHERE m.account_id = ? AND m.group_id = ? AND m.member_id > ? "
        "ORDER BY m.member_id LIMIT ?",
        (account_id, group_id, after or "", limit),
    )
    return [{"value": v, "type": t, "display": d} for v, t, d in cursor.fetchall()]


def groups_of(
    conn: Connection, account_id: int, user_ids: Sequence[str]
) -> dict[str, list[dict[str, Any]]]:
    """Groups these users are direct members of: user id -> [{value, display}]."""
    out: dict[str, list[dict[str, Any]]] = {uid: [] for uid in user_ids}
    for chunk in _chunks(list(user_ids)):
        cursor = driver.execute(
            conn,
            "SELECT m.member_id, m.group_id, g.display_name FROM directory_membership m "
            "JOIN directory_group g ON g.account_id = m.account_id AND g.id = m.group_id "
            f"WHERE m.account_id = ? AND m.member_id IN ({_in(len(chunk))}) ORDER BY m.member_id, g.display_name",
            (account_id, *chunk),
        )
        for member_id, group_id, display in cursor.fetchall():
            out[member_id].append({"value": group_id, "display": display})
    return out
