"""Audit log rows: numbered per account under the account row's lock, read newest first."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, func, select

from scimgate.store import driver
from scimgate.store.tables.operations import audit_entry


def insert_entry(
    conn: Connection,
    account_id: int,
    *,
    at: datetime,
    actor: str,
    action: str,
    target: str,
    details: dict[str, Any],
) -> int:
    """Write one entry with the account's next number (the row lock orders writers)."""
    if driver.is_pg(conn):  # SQLite's write lock already serializes writers
        # NO KEY UPDATE: serializes audit writers without conflicting with the KEY SHARE lock
        # that a foreign key to the account takes (FOR UPDATE deadlocked two transactions
        # that had each inserted a row referencing the account, e.g. two `admin create`).
        driver.execute(conn, "SELECT id FROM account WHERE id = ? FOR NO KEY UPDATE", (account_id,))
    last = conn.execute(
        select(func.max(audit_entry.c.id)).where(audit_entry.c.account_id == account_id)
    ).scalar()
    entry_id = int(last or 0) + 1
    conn.execute(
        audit_entry.insert().values(
            account_id=account_id,
            id=entry_id,
            at=at,
            actor=actor,
            action=action,
            target=target,
            details=details,
        )
    )
    return entry_id


def list_entries(
    conn: Connection, account_id: int, *, before: int | None = None, limit: int = 50
) -> list[dict[str, Any]]:
    """Newest first; `before` continues after the last entry of the previous page."""
    a = audit_entry
    query = select(a.c.id, a.c.at, a.c.actor, a.c.action, a.c.target, a.c.details).where(
        a.c.account_id == account_id
    )
    if before is not None:
        query = query.where(a.c.id < before)
    rows = conn.execute(query.order_by(a.c.id.desc()).limit(limit)).mappings()
    return [dict(r) for r in rows]


def entries_since(
    conn: Connection,
    account_id: int,
    *,
    since: datetime,
    actions: Iterable[str],
    target: str | None = None,
    actor_prefix: str | None = None,
) -> list[dict[str, Any]]:
    """Entries of these actions written since `since`, oldest first (the (account, at)
    index bounds the read), optionally of one target or of actors starting so."""
    a = audit_entry
    query = select(a.c.id, a.c.at, a.c.actor, a.c.action, a.c.target, a.c.details).where(
        a.c.account_id == account_id, a.c.at >= since, a.c.action.in_(list(actions))
    )
    if target is not None:
        query = query.where(a.c.target == target)
    if actor_prefix is not None:
        query = query.where(a.c.actor.startswith(actor_prefix, autoescape=True))
    return [dict(r) for r in conn.execute(query.order_by(a.c.id)).mappings()]
