"""Teams and their members, per account, as the console and /api/v1 page through them."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, func, select

from scimgate.store.filter_compare import escape_like
from scimgate.store.tables.members import member, team, team_member


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
        query = query.where(
            func.lower(t.c.name).like(f"%{escape_like(search.lower())}%", escape="\\")
        )
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
