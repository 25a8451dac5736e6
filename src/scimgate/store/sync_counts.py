"""SQL counts for Synchronize: the safety hold, members already in sync, a plan's
memberships, and what a plan depends on."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Connection, text

from scimgate.states import MemberSource, MemberStatus, RunStatus
from scimgate.store import driver, sync_batches


def _count(conn: Connection, sql: str, params: Sequence[Any]) -> int:
    """A single COUNT."""
    return int(driver.execute(conn, sql, params).fetchone()[0])


def deactivations(conn: Connection, account_id: int) -> int:
    """Active members a run would deactivate: inactive in, or removed from, the directory."""
    inactive = _count(
        conn,
        "SELECT COUNT(*) FROM member m JOIN directory_user du "
        "ON du.account_id = m.account_id AND du.id = m.directory_user_id "
        f"WHERE m.account_id = ? AND m.status = '{MemberStatus.ACTIVE}' AND du.active = ?",
        (account_id, driver.to_db_bool(conn, False)),
    )
    removed = _count(
        conn,
        f"SELECT COUNT(*) FROM member m WHERE m.account_id = ? AND m.status = '{MemberStatus.ACTIVE}' "
        "AND m.directory_user_id IS NOT NULL AND NOT EXISTS (SELECT 1 FROM directory_user du "
        "WHERE du.account_id = m.account_id AND du.id = m.directory_user_id)",
        (account_id,),
    )
    return inactive + removed


def active_provisioned(conn: Connection, account_id: int) -> int:
    """Active members the identity provider provisioned."""
    return _count(
        conn,
        "SELECT COUNT(*) FROM member WHERE account_id = ? "
        f"AND status = '{MemberStatus.ACTIVE}' AND source = '{MemberSource.SCIM}'",
        (account_id,),
    )


def in_sync(conn: Connection, account_id: int, rev: int, but: Sequence[str] = ()) -> int:
    """Staged users whose member was synced from their current version and this mapping
    (`but`: except these directory users, recomputed anyway)."""
    sql = (
        "SELECT COUNT(*) FROM directory_user du JOIN member m "
        "ON m.account_id = du.account_id AND m.directory_user_id = du.id "
        "WHERE du.account_id = ? AND m.synced_version = du.version AND m.synced_rev = ?"
    )
    if not but:
        return _count(conn, sql, (account_id, rev))
    sql += f" AND NOT {sync_batches.id_list(conn, 'du.id')}"
    return _count(conn, sql, (account_id, rev, sync_batches.list_param(conn, but)))


def planned_membership_adds(conn: Connection, account_id: int) -> int:
    """For a dry run: memberships whose user is staged but not yet on the team (the team or
    the member may not exist yet either)."""
    return _count(
        conn,
        "SELECT COUNT(*) FROM directory_membership dm JOIN directory_user du "
        "ON du.account_id = dm.account_id AND du.id = dm.member_id "
        "LEFT JOIN member m ON m.account_id = du.account_id AND m.directory_user_id = du.id "
        "WHERE dm.account_id = ? AND dm.member_type = 'User' AND (du.active = ? OR m.id IS NOT NULL) "
        "AND NOT EXISTS (SELECT 1 FROM team t JOIN team_member tm "
        "ON tm.account_id = t.account_id AND tm.team_id = t.id "
        "WHERE t.account_id = dm.account_id AND t.directory_group_id = dm.group_id AND tm.member_id = m.id)",
        (account_id, driver.to_db_bool(conn, True)),
    )


_FINGERPRINT_SQL = (
    "SELECT "
    "(SELECT max(updated_at) FROM directory_user WHERE account_id = :a), "
    "(SELECT max(updated_at) FROM directory_group WHERE account_id = :a), "
    "(SELECT coalesce(sum(n), 0) FROM directory_count WHERE account_id = :a), "
    "(SELECT count(*) FROM member WHERE account_id = :a), "
    "(SELECT max(id) FROM sync_run WHERE account_id = :a), "
    # a confirmed held run keeps its id: its end is what moves
    "(SELECT max(finished_at) FROM sync_run WHERE account_id = :a), "
    f"(SELECT count(*) FROM sync_run WHERE account_id = :a AND status = '{RunStatus.RUNNING}'), "
    "mapping_rev, sync_hold_percent, sync_hold_minimum, event_seq "
    "FROM account WHERE id = :a"
)


def plan_fingerprint(conn: Connection, account_id: int) -> tuple[Any, ...]:
    """What a dry-run plan depends on, read through indexes: when none of it moved, an
    earlier plan still holds (staging writes move updated_at or the counts, a sync adds or
    finishes a run, a mapping change bumps the revision, a manual member or Property value
    writes an event)."""
    row = conn.execute(text(_FINGERPRINT_SQL), {"a": account_id}).first()
    return tuple(str(v) for v in row) if row else ()
