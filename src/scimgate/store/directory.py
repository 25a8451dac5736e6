"""The staging directory: users, groups and memberships as the IdP pushed them, per account.

Every function takes the account id and puts it in every statement: nothing here can
read or write another account's rows. Uniqueness comes from the database constraints;
an IntegrityError becomes a ConflictError.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any, Iterable, Sequence

from sqlalchemy import Connection, ColumnElement, Table, and_, delete, func, insert, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import IntegrityError

from scimgate.errors import ConflictError, InvalidValueError
from scimgate.store.tables import (
    directory_group,
    directory_membership,
    directory_user,
    directory_user_email,
)

_CHUNK = 500


def new_id() -> str:
    """A fresh resource id (a UUID, so ids never reveal counts or order)."""
    return str(uuid.uuid4())


def table_for(kind: str) -> Table:
    """`User` or `Group` to its table."""
    return directory_user if kind == "User" else directory_group


def _key(value: str | None) -> str | None:
    return value.lower() if isinstance(value, str) else None


def _user_columns(doc: dict[str, Any]) -> dict[str, Any]:
    return {
        "user_name": doc["userName"],
        "user_name_key": doc["userName"].lower(),
        "external_id": doc.get("externalId"),
        "display_name": doc.get("displayName"),
        "active": doc.get("active", True) is not False,
    }


def _group_columns(doc: dict[str, Any]) -> dict[str, Any]:
    return {
        "display_name": doc["displayName"],
        "display_name_key": doc["displayName"].lower(),
        "external_id": doc.get("externalId"),
    }


def _columns(kind: str, doc: dict[str, Any]) -> dict[str, Any]:
    return _user_columns(doc) if kind == "User" else _group_columns(doc)


def _email_rows(account_id: int, user_id: str, doc: dict[str, Any]) -> list[dict[str, Any]]:
    rows = []
    for position, email in enumerate(doc.get("emails") or []):
        if isinstance(email, dict) and isinstance(email.get("value"), str):
            rows.append(
                {
                    "account_id": account_id,
                    "user_id": user_id,
                    "position": position,
                    "value_key": email["value"].lower()[:512],
                    "type": email.get("type") if isinstance(email.get("type"), str) else None,
                    "is_primary": email.get("primary") is True,
                }
            )
    return rows


def _conflict(kind: str, doc: dict[str, Any]) -> ConflictError:
    if kind == "User":
        return ConflictError(f"A User with userName {doc.get('userName')!r} already exists", "userName")
    return ConflictError(f"A Group with displayName {doc.get('displayName')!r} already exists", "displayName")


def insert_resource(
    conn: Connection, account_id: int, kind: str, *, doc: dict[str, Any], now: datetime, resource_id: str | None = None
) -> dict[str, Any]:
    """Insert a User or Group; a taken userName/displayName is a ConflictError."""
    table = table_for(kind)
    row = {
        "account_id": account_id,
        "id": resource_id or new_id(),
        "doc": doc,
        "version": 1,
        "created_at": now,
        "updated_at": now,
        **_columns(kind, doc),
    }
    try:
        with conn.begin_nested():
            conn.execute(insert(table), row)
            if kind == "User":
                emails = _email_rows(account_id, row["id"], doc)
                if emails:
                    conn.execute(insert(directory_user_email), emails)
    except IntegrityError:
        raise _conflict(kind, doc) from None
    return row


def get_resource(conn: Connection, account_id: int, kind: str, resource_id: str) -> dict[str, Any] | None:
    """One User or Group of this account by id."""
    table = table_for(kind)
    row = conn.execute(
        select(table).where(table.c.account_id == account_id, table.c.id == resource_id)
    ).mappings().first()
    return dict(row) if row else None


def update_resource(
    conn: Connection,
    account_id: int,
    kind: str,
    resource_id: str,
    *,
    doc: dict[str, Any],
    expected_version: int,
    now: datetime,
) -> dict[str, Any] | None:
    """Write a new document if the stored version is still `expected_version` (else None)."""
    table = table_for(kind)
    values = {"doc": doc, "version": expected_version + 1, "updated_at": now, **_columns(kind, doc)}
    try:
        with conn.begin_nested():
            result = conn.execute(
                update(table)
                .where(table.c.account_id == account_id, table.c.id == resource_id, table.c.version == expected_version)
                .values(**values)
            )
            if result.rowcount != 1:
                return None
            if kind == "User":
                e = directory_user_email
                conn.execute(delete(e).where(e.c.account_id == account_id, e.c.user_id == resource_id))
                emails = _email_rows(account_id, resource_id, doc)
                if emails:
                    conn.execute(insert(e), emails)
    except IntegrityError:
        raise _conflict(kind, doc) from None
    return {"account_id": account_id, "id": resource_id, **values}


def touch_resource(conn: Connection, account_id: int, kind: str, resource_id: str, *, now: datetime) -> None:
    """Bump version and lastModified (a group whose members changed)."""
    table = table_for(kind)
    conn.execute(
        update(table)
        .where(table.c.account_id == account_id, table.c.id == resource_id)
        .values(version=table.c.version + 1, updated_at=now)
    )


def delete_resource(conn: Connection, account_id: int, kind: str, resource_id: str) -> bool:
    """Delete a User or Group and every membership row that names it."""
    table = table_for(kind)
    m = directory_membership
    if kind == "User":
        e = directory_user_email
        conn.execute(delete(e).where(e.c.account_id == account_id, e.c.user_id == resource_id))
    else:
        conn.execute(delete(m).where(m.c.account_id == account_id, m.c.group_id == resource_id))
    conn.execute(delete(m).where(m.c.account_id == account_id, m.c.member_id == resource_id))
    result = conn.execute(delete(table).where(table.c.account_id == account_id, table.c.id == resource_id))
    return result.rowcount == 1


def query_resources(
    conn: Connection,
    account_id: int,
    kind: str,
    *,
    where: ColumnElement[bool] | None,
    order_by: Sequence[Any],
    offset: int,
    limit: int,
) -> tuple[int, list[dict[str, Any]]]:
    """One page of matches and the total count of the same filtered, account-scoped query."""
    table = table_for(kind)
    condition = table.c.account_id == account_id
    if where is not None:
        condition = and_(condition, where)
    total = conn.execute(select(func.count()).select_from(table).where(condition)).scalar_one()
    if limit <= 0 or offset >= total:
        return total, []
    rows = conn.execute(
        select(table).where(condition).order_by(*order_by, table.c.id).offset(offset).limit(limit)
    ).mappings()
    return total, [dict(r) for r in rows]


# -- memberships ------------------------------------------------------------------------------


def _chunks(items: Sequence[Any]) -> Iterable[Sequence[Any]]:
    for start in range(0, len(items), _CHUNK):
        yield items[start : start + _CHUNK]


def existing_ids(conn: Connection, account_id: int, ids: Sequence[str]) -> dict[str, str]:
    """Which of these ids are Users or Groups of this account: id -> "User" | "Group"."""
    found: dict[str, str] = {}
    for chunk in _chunks(list(ids)):
        for kind, table in (("User", directory_user), ("Group", directory_group)):
            rows = conn.execute(
                select(table.c.id).where(table.c.account_id == account_id, table.c.id.in_(chunk))
            ).scalars()
            for resource_id in rows:
                found[resource_id] = kind
    return found


def add_members(
    conn: Connection, account_id: int, group_id: str, members: Sequence[dict[str, Any]]
) -> int:
    """Add members (O(batch)); unknown ids are an InvalidValueError; returns how many were new."""
    ids = [m["value"] for m in members]
    if not ids:
        return 0
    if group_id in ids:
        raise InvalidValueError("A group cannot be a member of itself")
    kinds = existing_ids(conn, account_id, ids)
    missing = [i for i in ids if i not in kinds]
    if missing:
        shown = ", ".join(repr(i) for i in missing[:5])
        raise InvalidValueError(f"No User or Group with id {shown} in this account")
    m = directory_membership
    present: set[str] = set()
    for chunk in _chunks(ids):
        present.update(
            conn.execute(
                select(m.c.member_id).where(m.c.account_id == account_id, m.c.group_id == group_id, m.c.member_id.in_(chunk))
            ).scalars()
        )
    displays = {m["value"]: m.get("display") for m in members}
    rows = [
        {"account_id": account_id, "group_id": group_id, "member_id": i, "member_type": kinds[i], "display": displays[i]}
        for i in dict.fromkeys(ids)
        if i not in present
    ]
    stmt_factory = pg_insert if conn.dialect.name == "postgresql" else sqlite_insert
    for chunk in _chunks(rows):
        # DO NOTHING covers a concurrent PATCH adding the same member between our read and write.
        conn.execute(stmt_factory(m).on_conflict_do_nothing(), list(chunk))
    return len(rows)


def remove_members(conn: Connection, account_id: int, group_id: str, ids: Sequence[str] | None) -> int:
    """Remove these members (None: all of them); returns how many rows went."""
    m = directory_membership
    base = and_(m.c.account_id == account_id, m.c.group_id == group_id)
    if ids is None:
        return conn.execute(delete(m).where(base)).rowcount
    removed = 0
    for chunk in _chunks(list(ids)):
        removed += conn.execute(delete(m).where(base, m.c.member_id.in_(chunk))).rowcount
    return removed


def members_of(conn: Connection, account_id: int, group_ids: Sequence[str]) -> dict[str, list[dict[str, Any]]]:
    """Members of these groups with display names: group id -> [{value, type, display}]."""
    m, u, g = directory_membership, directory_user, directory_group
    out: dict[str, list[dict[str, Any]]] = {gid: [] for gid in group_ids}
    for chunk in _chunks(list(group_ids)):
        rows = conn.execute(
            select(
                m.c.group_id,
                m.c.member_id,
                m.c.member_type,
                func.coalesce(m.c.display, u.c.display_name, u.c.user_name, g.c.display_name),
            )
            .select_from(
                m.outerjoin(u, and_(u.c.account_id == m.c.account_id, u.c.id == m.c.member_id))
                .outerjoin(g, and_(g.c.account_id == m.c.account_id, g.c.id == m.c.member_id))
            )
            .where(m.c.account_id == account_id, m.c.group_id.in_(chunk))
            .order_by(m.c.group_id, m.c.member_id)
        )
        for group_id, member_id, member_type, display in rows:
            out[group_id].append({"value": member_id, "type": member_type, "display": display})
    return out


def groups_of(conn: Connection, account_id: int, user_ids: Sequence[str]) -> dict[str, list[dict[str, Any]]]:
    """Groups these users are direct members of: user id -> [{value, display}]."""
    m, g = directory_membership, directory_group
    out: dict[str, list[dict[str, Any]]] = {uid: [] for uid in user_ids}
    for chunk in _chunks(list(user_ids)):
        rows = conn.execute(
            select(m.c.member_id, m.c.group_id, g.c.display_name)
            .select_from(m.join(g, and_(g.c.account_id == m.c.account_id, g.c.id == m.c.group_id)))
            .where(m.c.account_id == account_id, m.c.member_id.in_(chunk))
            .order_by(m.c.member_id, g.c.display_name)
        )
        for member_id, group_id, display in rows:
            out[member_id].append({"value": group_id, "display": display})
    return out
