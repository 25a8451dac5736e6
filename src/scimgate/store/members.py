"""Members, Properties, Property values, attribute mappings and teams, per account.

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
from scimgate.store import bulk, driver
from scimgate.store import sync as sync_store
from scimgate.store.tables.accounts import account
from scimgate.store.tables.members import (
    attribute_mapping,
    member,
    member_property,
    property_value,
    team,
    team_member,
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
        like = f"%{_like(search.lower())}%"
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


# ---- teams ----


def list_teams(conn: Connection, account_id: int) -> list[dict[str, Any]]:
    """Teams by name, each with the emails (or names) of its members."""
    t, tm, m = team, team_member, member
    teams = [
        dict(r)
        for r in conn.execute(
            select(t.c.id, t.c.name, t.c.directory_group_id, t.c.created_at, t.c.updated_at)
            .where(t.c.account_id == account_id)
            .order_by(t.c.name, t.c.id)
        ).mappings()
    ]
    by_id = {row["id"]: row for row in teams}
    for row in teams:
        row["members"] = []
    rows = conn.execute(
        select(tm.c.team_id, m.c.email, m.c.name)
        .join(m, (m.c.account_id == tm.c.account_id) & (m.c.id == tm.c.member_id))
        .where(tm.c.account_id == account_id)
        .order_by(tm.c.team_id, m.c.email_key)
    )
    for team_id, email, name in rows:
        by_id[team_id]["members"].append(email or name)
    return teams


def team_page(
    conn: Connection,
    account_id: int,
    *,
    search: str | None = None,
    after: str | None = None,
    limit: int = 50,
    team_id: str | None = None,
) -> list[dict[str, Any]]:
    """Teams in id order with their member counts (one page, never every membership)."""
    t, tm = team, team_member
    counted = (
        select(func.count())
        .where(tm.c.account_id == t.c.account_id, tm.c.team_id == t.c.id)
        .scalar_subquery()
    )
    query = select(
        t.c.id,
        t.c.name,
        t.c.directory_group_id,
        t.c.created_at,
        t.c.updated_at,
        counted.label("member_count"),
    ).where(t.c.account_id == account_id)
    if search:
        query = query.where(func.lower(t.c.name).like(f"%{_like(search.lower())}%", escape="\\"))
    if team_id is not None:
        query = query.where(t.c.id == team_id)
    if after:
        query = query.where(t.c.id > after)
    rows = conn.execute(query.order_by(t.c.id).limit(limit)).mappings()
    return [dict(r) for r in rows]


def get_team(conn: Connection, account_id: int, team_id: str) -> dict[str, Any] | None:
    """One team of this account."""
    row = (
        conn.execute(select(team).where(team.c.account_id == account_id, team.c.id == team_id))
        .mappings()
        .first()
    )
    return dict(row) if row else None


def team_member_page(
    conn: Connection, account_id: int, team_id: str, *, after: str | None = None, limit: int = 100
) -> list[dict[str, Any]]:
    """Members of one team in id order."""
    tm, m = team_member, member
    query = (
        select(m.c.id, m.c.email, m.c.name, m.c.status, m.c.source)
        .join(tm, (tm.c.account_id == m.c.account_id) & (tm.c.member_id == m.c.id))
        .where(tm.c.account_id == account_id, tm.c.team_id == team_id)
    )
    if after:
        query = query.where(m.c.id > after)
    return [dict(r) for r in conn.execute(query.order_by(m.c.id).limit(limit)).mappings()]


def teams_of_member(conn: Connection, account_id: int, member_id: str) -> list[dict[str, Any]]:
    """The teams one member belongs to, by name."""
    t, tm = team, team_member
    rows = conn.execute(
        select(t.c.id, t.c.name)
        .join(tm, (tm.c.account_id == t.c.account_id) & (tm.c.team_id == t.c.id))
        .where(tm.c.account_id == account_id, tm.c.member_id == member_id)
        .order_by(t.c.name)
    ).mappings()
    return [dict(r) for r in rows]


def _like(text: str) -> str:
    """Escape LIKE wildcards so a search for "50%" finds "50%"."""
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


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
