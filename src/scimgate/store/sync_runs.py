"""SQL for sync runs: the one-run-per-account lease row, its progress and its outcome."""

from __future__ import annotations

from datetime import datetime
from typing import Any, NamedTuple

from sqlalchemy import Connection, select, update
from sqlalchemy.exc import IntegrityError

from scimgate.errors import ConflictError
from scimgate.states import RunStatus
from scimgate.store import driver
from scimgate.store.tables.accounts import account
from scimgate.store.tables.sync import sync_run

_BUSY = "A synchronization of this account is already running"


def insert_run(
    conn: Connection,
    account_id: int,
    *,
    trigger: str,
    status: str,
    owner: str | None,
    now: datetime,
    counts: dict[str, Any] | None = None,
) -> int:
    """A new run row; a second `running` row for the account is a ConflictError (unique index)."""
    try:
        result = conn.execute(
            sync_run.insert().values(
                account_id=account_id,
                trigger=trigger,
                status=status,
                counts=counts or {},
                owner=owner,
                created_at=now,
                started_at=now if status == RunStatus.RUNNING else None,
                heartbeat_at=now if status == RunStatus.RUNNING else None,
            )
        )
    except IntegrityError:
        raise ConflictError(_BUSY) from None
    return int(result.inserted_primary_key[0])


def resume_held(
    conn: Connection,
    account_id: int,
    run_id: int,
    *,
    owner: str,
    actor: str,
    now: datetime,
    allowance: int,
) -> None:
    """A confirmed held run runs again (started_at stays the hold's: the confirmation has
    its own time); another running run is a ConflictError (unique index)."""
    try:
        set_run(
            conn,
            account_id,
            run_id,
            status=RunStatus.RUNNING,
            owner=owner,
            confirmed_at=now,
            confirmed_by=actor,
            heartbeat_at=now,
            finished_at=None,
            allow_deactivations=allowance,
        )
    except IntegrityError:
        raise ConflictError(_BUSY) from None


def lock_account(conn: Connection, account_id: int) -> None:
    """Serialise run starts per account (SQLite's BEGIN IMMEDIATE already does)."""
    if driver.is_pg(conn):
        driver.execute(conn, "SELECT id FROM account WHERE id = ? FOR UPDATE", (account_id,))


def running_run(conn: Connection, account_id: int) -> dict[str, Any] | None:
    """The account's running run, if any."""
    row = (
        conn.execute(
            select(sync_run).where(
                sync_run.c.account_id == account_id, sync_run.c.status == RunStatus.RUNNING
            )
        )
        .mappings()
        .first()
    )
    return dict(row) if row else None


def get_run(conn: Connection, account_id: int, run_id: int) -> dict[str, Any] | None:
    """One run of this account."""
    row = (
        conn.execute(
            select(sync_run).where(sync_run.c.account_id == account_id, sync_run.c.id == run_id)
        )
        .mappings()
        .first()
    )
    return dict(row) if row else None


def list_runs(
    conn: Connection, account_id: int, *, limit: int = 20, before: int | None = None
) -> list[dict[str, Any]]:
    """Newest runs first; `before` continues a page after the run with that id."""
    query = select(sync_run).where(sync_run.c.account_id == account_id)
    if before is not None:
        query = query.where(sync_run.c.id < before)
    rows = conn.execute(query.order_by(sync_run.c.id.desc()).limit(limit)).mappings()
    return [dict(r) for r in rows]


def set_run(conn: Connection, account_id: int, run_id: int, **values: Any) -> None:
    """Update columns of one run."""
    conn.execute(
        update(sync_run)
        .where(sync_run.c.account_id == account_id, sync_run.c.id == run_id)
        .values(**values)
    )


def supersede_held(conn: Connection, account_id: int, run_id: int) -> None:
    """Older held runs no longer describe what a confirmation would do."""
    driver.execute(
        conn,
        "UPDATE sync_run SET status = ? WHERE account_id = ? AND status = ? AND id < ?",
        (RunStatus.SUPERSEDED.value, account_id, RunStatus.HELD.value, run_id),
    )


class RunSettings(NamedTuple):
    """What a run reads of its account before it starts."""

    mapping_rev: int
    hold_percent: int
    hold_minimum: int
    slug: str


def run_settings(conn: Connection, account_id: int) -> RunSettings | None:
    """The account's mapping revision and safety threshold (None: no such account)."""
    row = conn.execute(
        select(
            account.c.mapping_rev,
            account.c.sync_hold_percent,
            account.c.sync_hold_minimum,
            account.c.slug,
        ).where(account.c.id == account_id)
    ).first()
    return RunSettings(*row) if row is not None else None
