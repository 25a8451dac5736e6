"""Members, Properties and attribute mappings, per account (values: property_values.py,
teams: teams.py).

Every function takes the account id and puts it in every statement. Uniqueness (email,
linked directory user, Property name) comes from database constraints.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, delete, func, literal, or_, select, tuple_, update
from sqlalchemy.exc import IntegrityError

from scimgate.errors import ConflictError, NotFoundError
from scimgate.states import MemberStatus
from scimgate.store import bulk
from scimgate.store.filter_compare import escape_like
from scimgate.store.tables.accounts import account
from scimgate.store.tables.members import (
    attribute_mapping,
    member,
    member_property,
)

_CHUNK = 500


def new_id() -> str:
    """Member, Property and team ids: UUIDs, like directory ids."""
    return bulk.new_id()


# ---- members ----


def insert_member(
    conn: Connection, account_id: int, *, email: str, name: str, source: str, now: datetime
) -> str:
    """A new active member; an email already used in the account is a ConflictError."""
    member_id = new_id()
    try:
        with conn.begin_nested():
            conn.execute(
                member.insert().values(
                    account_id=account_id,
                    id=member_id,
                    email=email,
                    email_key=email.lower(),
                    name=name,
                    status=MemberStatus.ACTIVE,
                    source=source,
                    created_at=now,
                    updated_at=now,
                )
            )
    except IntegrityError:
        raise ConflictError(f"A member with email {email!r} already exists", "email") from None
    return member_id


def list_members(
    conn: Connection,
    account_id: int,
    *,
    status: str | None = None,
    source: str | None = None,
    search: str | None = None,
    after: str | Sequence[str] | None = None,
    limit: int | None = None,
    member_id: str | None = None,
    sort: str = "id",
    descending: bool = False,
) -> list[dict[str, Any]]:
    """Members in a stable order (`sort`, then id: keyset pages), optionally filtered; each
    row's `sort_key` is what to continue after."""
    m = member
    keys = sort_columns(sort)
    query = select(
        *(k.label(f"k{i}") for i, k in enumerate(keys)),
        m.c.id,
        m.c.email,
        m.c.name,
        m.c.status,
        m.c.source,
        m.c.directory_user_id,
        m.c.created_at,
        m.c.updated_at,
        m.c.deactivated_at,
    ).where(m.c.account_id == account_id)
    if status:
        query = query.where(m.c.status == status)
    if source:
        query = query.where(m.c.source == source)
    if search:
        like = f"%{escape_like(search.lower())}%"
        query = query.where(
            or_(m.c.email_key.like(like, escape="\\"), func.lower(m.c.name).like(like, escape="\\"))
        )
    if member_id is not None:
        query = query.where(m.c.id == member_id)
    if after:
        position = (after,) if isinstance(after, str) else tuple(after)
        row_key, bound = tuple_(*keys), tuple_(*(literal(v) for v in position))
        query = query.where(row_key < bound if descending else row_key > bound)
    query = query.order_by(*(k.desc() if descending else k for k in keys))
    if limit:
        query = query.limit(limit)
    rows = []
    for r in conn.execute(query).mappings():
        row = dict(r)
        row["sort_key"] = [row.pop(f"k{i}") for i in range(len(keys))]
        rows.append(row)
    return rows


def sort_columns(sort: str) -> list[Any]:
    """The key a member list is ordered by: the sort column(s), then the id to break ties."""
    m = member
    columns = {
        "id": [],
        "name": [func.lower(m.c.name)],
        "email": [func.coalesce(m.c.email_key, "")],
        "status": [m.c.status, func.lower(m.c.name)],
    }[sort]
    return [*columns, m.c.id]


def count_members(conn: Connection, account_id: int, **where: Any) -> int:
    """How many members match simple column equalities (status, source)."""
    query = select(func.count()).select_from(member).where(member.c.account_id == account_id)
    for column, value in where.items():
        query = query.where(member.c[column] == value)
    return int(conn.execute(query).scalar_one())


def member_labels(conn: Connection, account_id: int, member_ids: Sequence[str]) -> dict[str, str]:
    """Email (or name) of members, to show member references."""
    out: dict[str, str] = {}
    ids = list(dict.fromkeys(member_ids))
    for start in range(0, len(ids), _CHUNK):
        chunk = ids[start : start + _CHUNK]
        rows = conn.execute(
            select(member.c.id, member.c.email, member.c.name).where(
                member.c.account_id == account_id, member.c.id.in_(chunk)
            )
        )
        for row in rows:
            out[row.id] = row.email or row.name or row.id
    return out


# ---- Properties ----


def insert_property(
    conn: Connection, account_id: int, *, name: str, kind: str, options: list[str], now: datetime
) -> str:
    """A new Property; its name is unique in the account, case-insensitively."""
    prop_id = new_id()
    try:
        with conn.begin_nested():
            conn.execute(
                member_property.insert().values(
                    account_id=account_id,
                    id=prop_id,
                    name=name,
                    name_key=name.lower(),
                    type=kind,
                    options=options,
                    created_at=now,
                )
            )
    except IntegrityError:
        raise ConflictError(f"A Property named {name!r} already exists", "name") from None
    return prop_id


def list_properties(conn: Connection, account_id: int) -> list[dict[str, Any]]:
    """Every Property of the account, by name."""
    p = member_property
    rows = conn.execute(
        select(p.c.id, p.c.name, p.c.type, p.c.options, p.c.created_at)
        .where(p.c.account_id == account_id)
        .order_by(p.c.name_key)
    ).mappings()
    return [dict(r) for r in rows]


def find_property(conn: Connection, account_id: int, name: str) -> dict[str, Any]:
    """A Property by case-insensitive name, or NotFoundError."""
    p = member_property
    row = (
        conn.execute(
            select(p.c.id, p.c.name, p.c.type, p.c.options).where(
                p.c.account_id == account_id, p.c.name_key == name.strip().lower()
            )
        )
        .mappings()
        .first()
    )
    if row is None:
        raise NotFoundError(f"No Property named {name!r}")
    return dict(row)


# ---- attribute mappings ----


def list_mappings(conn: Connection, account_id: int) -> list[tuple[str, str]]:
    """(target, source) pairs, in target order."""
    am = attribute_mapping
    rows = conn.execute(
        select(am.c.target, am.c.source).where(am.c.account_id == account_id).order_by(am.c.target)
    )
    return [(r.target, r.source) for r in rows]


def put_mapping(conn: Connection, account_id: int, target: str, source: str, now: datetime) -> None:
    """Create or replace the mapping of one target."""
    conn.execute(
        delete(attribute_mapping).where(
            attribute_mapping.c.account_id == account_id, attribute_mapping.c.target == target
        )
    )
    conn.execute(
        attribute_mapping.insert().values(
            account_id=account_id, target=target, source=source, created_at=now
        )
    )


def delete_mapping(conn: Connection, account_id: int, target: str) -> bool:
    """Remove the mapping of one target; False if there was none."""
    result = conn.execute(
        delete(attribute_mapping).where(
            attribute_mapping.c.account_id == account_id, attribute_mapping.c.target == target
        )
    )
    return result.rowcount == 1


def bump_mapping_rev(conn: Connection, account_id: int) -> int:
    """A new mapping revision: the next sync recomputes every member."""
    conn.execute(
        update(account)
        .where(account.c.id == account_id)
        .values(mapping_rev=account.c.mapping_rev + 1)
    )
    return int(
        conn.execute(select(account.c.mapping_rev).where(account.c.id == account_id)).scalar_one()
    )


def update_member(conn: Connection, account_id: int, member_id: str, **values: Any) -> None:
    """Set columns of one member (email_key follows email); a taken email is a ConflictError."""
    if "email" in values:
        values["email_key"] = values["email"].lower()
    try:
        with conn.begin_nested():
            conn.execute(
                update(member)
                .where(member.c.account_id == account_id, member.c.id == member_id)
                .values(**values)
            )
    except IntegrityError:
        raise ConflictError(
            f"A member with email {values.get('email')!r} already exists", "email"
        ) from None


def find_member_id(conn: Connection, account_id: int, id_or_email: str) -> str | None:
    """A member of this account by id or by email (case-insensitive)."""
    found = conn.execute(
        select(member.c.id).where(
            member.c.account_id == account_id,
            or_(member.c.id == id_or_email, member.c.email_key == id_or_email.lower()),
        )
    ).first()
    return found[0] if found else None
