"""SQL for Synchronize's team pass: teams that mirror directory groups, and memberships
that follow the groups' user members, read in keyset batches and written in bulk."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import NamedTuple

from sqlalchemy import Connection

from scimgate.store import bulk, driver


class TeamToWrite(NamedTuple):
    """A group whose team is missing (team_id None) or named differently."""

    group_id: str
    group_name: str
    team_id: str | None
    team_name: str | None


class TeamToRemove(NamedTuple):
    """A team whose group is gone."""

    id: str
    name: str
    group_id: str


class MembershipToAdd(NamedTuple):
    group_id: str
    user_id: str
    team_id: str
    member_id: str


class MembershipToRemove(NamedTuple):
    team_id: str
    member_id: str


def teams_to_write(conn: Connection, account_id: int, after: str, limit: int) -> list[TeamToWrite]:
    """Groups from `after` on whose team is to create or rename."""
    rows = driver.execute(
        conn,
        "SELECT dg.id, dg.display_name, t.id, t.name FROM directory_group dg LEFT JOIN team t "
        "ON t.account_id = dg.account_id AND t.directory_group_id = dg.id "
        "WHERE dg.account_id = ? AND dg.id > ? AND (t.id IS NULL OR t.name <> dg.display_name) "
        "ORDER BY dg.id LIMIT ?",
        (account_id, after, limit),
    ).fetchall()
    return list(map(TeamToWrite._make, rows))


def insert_teams(
    conn: Connection, account_id: int, teams: Sequence[tuple[str, str, str]], now: datetime
) -> None:
    """New teams: (team id, name, directory group id)."""
    t = bulk.copy_time(conn, now)
    bulk.insert_rows(
        conn,
        "team",
        ("account_id", "id", "name", "directory_group_id", "created_at", "updated_at"),
        [(account_id, team_id, name, group_id, t, t) for team_id, name, group_id in teams],
    )


def rename_teams(
    conn: Connection, account_id: int, names: Sequence[tuple[str, str]], now: datetime
) -> None:
    """Teams renamed after their group: (team id, new name)."""
    t = driver.to_db_time(conn, now)
    driver.executemany(
        conn,
        "UPDATE team SET name = ?, updated_at = ? WHERE account_id = ? AND id = ?",
        [(name, t, account_id, team_id) for team_id, name in names],
    )


def teams_to_remove(
    conn: Connection, account_id: int, after: str, limit: int
) -> list[TeamToRemove]:
    """Teams from `after` on whose group is gone."""
    rows = driver.execute(
        conn,
        "SELECT t.id, t.name, t.directory_group_id FROM team t WHERE t.account_id = ? AND t.id > ? "
        "AND NOT EXISTS (SELECT 1 FROM directory_group dg "
        "WHERE dg.account_id = t.account_id AND dg.id = t.directory_group_id) ORDER BY t.id LIMIT ?",
        (account_id, after, limit),
    ).fetchall()
    return list(map(TeamToRemove._make, rows))


def delete_teams(conn: Connection, account_id: int, team_ids: Sequence[str]) -> None:
    driver.executemany(
        conn,
        "DELETE FROM team WHERE account_id = ? AND id = ?",
        [(account_id, team_id) for team_id in team_ids],
    )


def team_names(conn: Connection, account_id: int) -> dict[str, str]:
    """Every team's name, by id."""
    return dict(
        driver.execute(
            conn, "SELECT id, name FROM team WHERE account_id = ?", (account_id,)
        ).fetchall()
    )


def memberships_to_add(
    conn: Connection, account_id: int, after: tuple[str, str], limit: int
) -> list[MembershipToAdd]:
    """Group memberships from `after` (group id, user id) on whose team lacks the member."""
    rows = driver.execute(
        conn,
        "SELECT dm.group_id, dm.member_id, t.id, m.id FROM directory_membership dm "
        "JOIN team t ON t.account_id = dm.account_id AND t.directory_group_id = dm.group_id "
        "JOIN member m ON m.account_id = dm.account_id AND m.directory_user_id = dm.member_id "
        "WHERE dm.account_id = ? AND dm.member_type = 'User' "
        # A row-value comparison: PostgreSQL turns it into an index range, an OR it does not.
        "AND (dm.group_id, dm.member_id) > (?, ?) AND NOT EXISTS (SELECT 1 FROM team_member tm "
        "WHERE tm.account_id = dm.account_id AND tm.team_id = t.id AND tm.member_id = m.id) "
        "ORDER BY dm.group_id, dm.member_id LIMIT ?",
        (account_id, *after, limit),
    ).fetchall()
    return list(map(MembershipToAdd._make, rows))


def insert_memberships(conn: Connection, account_id: int, pairs: Sequence[tuple[str, str]]) -> None:
    """(team id, member id) pairs."""
    bulk.insert_rows(
        conn,
        "team_member",
        ("account_id", "team_id", "member_id"),
        [(account_id, team_id, member_id) for team_id, member_id in pairs],
    )


def memberships_to_remove(
    conn: Connection, account_id: int, after: tuple[str, str], limit: int
) -> list[MembershipToRemove]:
    """Team memberships from `after` (team id, member id) on that their group no longer has."""
    rows = driver.execute(
        conn,
        "SELECT tm.team_id, tm.member_id FROM team_member tm "
        "JOIN team t ON t.account_id = tm.account_id AND t.id = tm.team_id "
        "JOIN member m ON m.account_id = tm.account_id AND m.id = tm.member_id "
        "WHERE tm.account_id = ? AND (tm.team_id, tm.member_id) > (?, ?) "
        # A team whose group is gone is removed with its memberships: not counted twice.
        "AND EXISTS (SELECT 1 FROM directory_group g WHERE g.account_id = t.account_id "
        "AND g.id = t.directory_group_id) "
        "AND NOT EXISTS (SELECT 1 FROM directory_membership dm WHERE dm.account_id = tm.account_id "
        "AND dm.group_id = t.directory_group_id AND dm.member_id = m.directory_user_id) "
        "ORDER BY tm.team_id, tm.member_id LIMIT ?",
        (account_id, *after, limit),
    ).fetchall()
    return list(map(MembershipToRemove._make, rows))


def delete_memberships(conn: Connection, account_id: int, pairs: Sequence[tuple[str, str]]) -> None:
    """(team id, member id) pairs."""
    driver.executemany(
        conn,
        "DELETE FROM team_member WHERE account_id = ? AND team_id = ? AND member_id = ?",
        [(account_id, team_id, member_id) for team_id, member_id in pairs],
    )
