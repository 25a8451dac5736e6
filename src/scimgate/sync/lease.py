"""One run per account at a time: the running SyncRun row is a lease.

A unique index allows one `running` row per account; the run beats its heartbeat every
batch and names its owner (host and pid). A later run takes the lease over only once
the owner is gone (no heartbeat for `stale_after`, or its process died on this host),
recording the interrupted run as failed; otherwise it is refused as busy.
"""

from __future__ import annotations

import os
import socket
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from scimgate import audit
from scimgate.audit.actions import AuditAction
from scimgate.errors import ConflictError, InvalidValueError, NotFoundError
from scimgate.scim.text import whole_number
from scimgate.states import RunStatus
from scimgate.store import sync_items, sync_runs
from scimgate.store.database import Connection, as_utc
from scimgate.sync.context import RunContext


class SyncBusyError(ConflictError):
    """Another synchronization of this account is running."""


def owner_tag() -> str:
    """Which process runs a sync: host and pid."""
    return f"{socket.gethostname()}:{os.getpid()}"


def owner_alive(owner: str | None) -> bool:
    """False when the owner ran on this host and its process is gone."""
    if not owner or ":" not in owner:
        return True
    host, _, pid = owner.rpartition(":")
    number = whole_number(pid, max_digits=10)  # "²".isdigit() is True; int() refuses it
    if host != socket.gethostname() or number is None:
        return True
    try:
        os.kill(number, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _live(running: dict[str, Any], now: datetime, stale_after: float) -> bool:
    beat = running["heartbeat_at"] or running["created_at"]
    fresh = now - as_utc(beat) < timedelta(seconds=stale_after)
    return fresh and owner_alive(running["owner"])


def _busy(running: dict[str, Any]) -> SyncBusyError:
    return SyncBusyError(
        f"A synchronization of this account is already running (run {running['id']})"
    )


def refuse_if_busy(run: RunContext) -> None:
    """Answer "already running" at once, without waiting for the running one's write lock."""
    with run.tx(writes=False) as conn:
        running = sync_runs.running_run(conn, run.account_id)
    if running is not None and _live(running, run.clock(), run.options.stale_after):
        raise _busy(running)


@dataclass(frozen=True)
class Lease:
    """The run this process now runs, and for a confirmed held run, who confirmed it when."""

    run_id: int
    allowance: int | None  # deactivations the confirmation allows
    confirmed_by: str | None = None
    confirmed_at: datetime | None = None


def claim(run: RunContext, *, trigger: str, confirm: int | None, actor: str | None) -> Lease:
    """Take the lease with a new run (or the confirmed held run `confirm`), audited in the
    same transaction; a run whose owner is gone is recorded as interrupted."""
    now = run.clock()
    try:
        with run.tx() as conn:
            sync_runs.lock_account(conn, run.account_id)
            _take_over(conn, run, now)
            who = (actor or audit.local_actor())[:320]
            if confirm is not None:
                lease = _confirm(conn, run.account_id, confirm, who, now)
                action, details = AuditAction.SYNC_RUN_CONFIRMED, {"deactivations": lease.allowance}
            else:
                run_id = sync_runs.insert_run(
                    conn,
                    run.account_id,
                    trigger=trigger,
                    status=RunStatus.RUNNING,
                    owner=owner_tag(),
                    now=now,
                )
                lease = Lease(run_id, None)
                action, details = AuditAction.SYNC_RUN_STARTED, {"trigger": trigger}
            audit.record(
                conn,
                run.account_id,
                actor=who,
                action=action,
                target=f"sync run {lease.run_id}",
                details={"run_id": lease.run_id, **details},
            )
            return lease
    except SyncBusyError:
        raise
    except ConflictError:  # the unique index: another run took the lease meanwhile
        raise SyncBusyError("A synchronization of this account is already running") from None


def _take_over(conn: Connection, run: RunContext, now: datetime) -> None:
    """Refuse while the running run is live; record it as interrupted when it is not."""
    running = sync_runs.running_run(conn, run.account_id)
    if running is None:
        return
    if _live(running, now, run.options.stale_after):
        raise _busy(running)
    sync_runs.set_run(
        conn,
        run.account_id,
        running["id"],
        status=RunStatus.FAILED,
        detail="interrupted: its process stopped; the next run continued from where it was",
        finished_at=now,
    )


def _confirm(conn: Connection, account_id: int, confirm: int, actor: str, now: datetime) -> Lease:
    """The held run `confirm` runs now: its plan's items go, its deactivations are allowed."""
    held = sync_runs.get_run(conn, account_id, confirm)
    if held is None:
        raise NotFoundError(f"No sync run {confirm} in this account")
    if held["status"] != RunStatus.HELD:
        raise InvalidValueError(
            f"Run {confirm} is {held['status']}, not held: only a held run can be confirmed"
        )
    allowance = int((held["counts"] or {}).get("deactivated", 0))
    # The held run's items were its plan; from now on it records what it does.
    sync_items.delete_items(conn, account_id, confirm)
    sync_runs.resume_held(
        conn, account_id, confirm, owner=owner_tag(), actor=actor, now=now, allowance=allowance
    )
    return Lease(confirm, allowance, actor, now)
