"""Synchronize one account: staging -> members, Property values and teams.

A run goes in passes, each reading in keyset batches and committing batch by batch:

1. members whose directory user was deleted from staging are deactivated and unlinked;
2. staged users whose member is missing or out of date (directory version or mapping
   revision moved) are compared and written; the rest are counted as unchanged without
   reading their documents;
3. member references (the manager) that pointed at members created later in the run;
4. teams (created, renamed, removed) and team memberships.

Before writing anything the run counts what it would deactivate; above the account's
threshold it stops as `held` until confirmed. One run per account at a time: the
running SyncRun row is a lease (see sync.lease). A run killed half-way leaves whole
batches, and the next run converges on the same result as an uninterrupted one.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from scimgate.errors import NotFoundError
from scimgate.group_rules.service import load_rules
from scimgate.mapping.service import load_mapper
from scimgate.states import RunStatus
from scimgate.store import members as member_store
from scimgate.store import sync_counts, sync_runs
from scimgate.store.database import Engine, as_utc, bulk_session, utcnow
from scimgate.store.statistics import refresh_statistics
from scimgate.sync import lease
from scimgate.sync.context import COUNT_KEYS, RunContext
from scimgate.sync.deferrals import Deferrals
from scimgate.sync.lease import SyncBusyError, owner_tag
from scimgate.sync.member_pass import MemberPass
from scimgate.sync.options import SyncOptions
from scimgate.sync.recorder import Recorder
from scimgate.sync.references import References
from scimgate.sync.removed_pass import removed_pass
from scimgate.sync.teams import TeamPass

__all__ = ["COUNT_KEYS", "RunResult", "SyncBusyError", "SyncOptions", "owner_tag", "synchronize"]

log = logging.getLogger("scimgate.sync")


@dataclass
class RunResult:
    """What a run did (or, dry, would do)."""

    run_id: int | None
    status: str
    counts: dict[str, int]
    detail: str | None = None
    would_hold: bool = False
    items: list[dict[str, Any]] = field(default_factory=list)
    items_total: int = 0  # a plan: how many items it has (`items` keeps the first ones)
    confirmed_by: str | None = None  # a confirmed held run: who confirmed it, and when
    confirmed_at: datetime | None = None

    def as_json(self) -> dict[str, Any]:
        """The `sync --json` document (product.md); a confirmation adds who and when."""
        doc = {
            "run_id": self.run_id,
            "status": self.status,
            **self.counts,
            "detail": self.detail,
            "would_hold": self.would_hold,
        }
        if self.confirmed_by is not None:
            at = as_utc(self.confirmed_at).isoformat() if self.confirmed_at else None
            doc.update(confirmed_by=self.confirmed_by, confirmed_at=at)
        return doc

    def plan_json(self) -> dict[str, Any]:
        """A plan as `POST /api/v1/sync-runs {"dry_run": true}` answers it, and `sync
        --dry-run --json` adds to its document: its first items, with their notes (why a
        value is what it is: a group rule, a manager left empty), and how many there are."""
        return {
            "status": self.status,
            "counts": dict(self.counts),
            "would_hold": self.would_hold,
            "items": self.items,
            "items_total": self.items_total,
        }


def synchronize(
    engine: Engine,
    account_id: int,
    *,
    trigger: str = "cli",
    dry_run: bool = False,
    confirm: int | None = None,
    options: SyncOptions | None = None,
    clock: Callable[[], datetime] = utcnow,
    actor: str | None = None,
) -> RunResult:
    """Plan (dry run) or apply a synchronization of one account.

    Starting a run, or confirming a held one, is audited in the transaction that claims
    it: `actor` is who the audit log names (see scimgate.audit; the scheduler passes
    `daily sync`). A confirmed run keeps its start time and records who confirmed it.
    """
    with engine.connect() as conn, bulk_session(conn):
        # one connection for the whole run, one transaction per batch
        run = _Run(RunContext(conn, account_id, options or SyncOptions(), clock))
        refresh_statistics(conn)  # PostgreSQL: plans for what staging holds now
        if dry_run:
            return run.plan()
        return run.apply(trigger, confirm, actor)


class _Run:
    """One run: its passes in order, between the lease and the outcome it records."""

    def __init__(self, run: RunContext) -> None:
        self.run = run
        self.deferrals = Deferrals()
        self.rec = Recorder(run, self.deferrals)
        self.refs = References(run, self.rec, self.deferrals)
        self.hold_percent = self.hold_minimum = 0  # the account's safety threshold

    def plan(self) -> RunResult:
        """Everything a run would do, without writing."""
        self.run.dry = True
        self._load()
        would_hold, _detail = self._hold_check(allowance=None)
        self._passes()
        return RunResult(
            None,
            RunStatus.PLANNED,
            self.run.counts,
            None,
            would_hold,
            self.rec.sample,
            items_total=self.rec.seq,
        )

    def apply(self, trigger: str, confirm: int | None, actor: str | None) -> RunResult:
        """Claim the account, check the hold, run every pass, record the outcome."""
        run = self.run
        lease.refuse_if_busy(run)
        self._load()
        with run.phase("claim"):
            claimed = lease.claim(run, trigger=trigger, confirm=confirm, actor=actor)
        self.rec.run_id = claimed.run_id
        try:
            held, detail = self._hold_check(claimed.allowance)
            if held:
                result = self._hold(detail)
            else:
                self._passes()
        except Exception as exc:
            self.rec.discard()  # it belonged to the transaction that failed
            try:
                self._finish(RunStatus.FAILED, f"{type(exc).__name__}: {exc}"[:2000])
            except Exception:  # the database itself may be what failed
                log.exception("could not record the failure of sync run %s", claimed.run_id)
            raise
        finally:
            self.deferrals.drop(run, claimed.run_id)
        if not held:
            self._finish(RunStatus.SUCCEEDED, None)
            result = RunResult(claimed.run_id, RunStatus.SUCCEEDED, run.counts)
        result.confirmed_by, result.confirmed_at = claimed.confirmed_by, claimed.confirmed_at
        return result

    def _load(self) -> None:
        """The account's mapping revision, threshold, compiled mapping and Property names."""
        run = self.run
        with run.phase("load"), run.tx() as conn:
            settings = sync_runs.run_settings(conn, run.account_id)
            if settings is None:
                raise NotFoundError(f"No account {run.account_id}")
            run.rev = settings.mapping_rev
            self.hold_percent, self.hold_minimum = settings.hold_percent, settings.hold_minimum
            run.mapper = load_mapper(conn, run.account_id)
            run.rules = load_rules(conn, run.account_id)
            run.names = {
                p["id"]: p["name"] for p in member_store.list_properties(conn, run.account_id)
            }

    def _hold_check(self, allowance: int | None) -> tuple[bool, str | None]:
        """Whether the run would deactivate more than the account's threshold (and the
        confirmation, if any, allows): then it holds, and why."""
        run = self.run
        with run.phase("hold_check"), run.tx(writes=False) as conn:
            deactivations = sync_counts.deactivations(conn, run.account_id)
            base = sync_counts.active_provisioned(conn, run.account_id)
        percent, minimum = self.hold_percent, self.hold_minimum
        over = deactivations >= minimum and deactivations * 100 > base * percent
        if not over or (allowance is not None and deactivations <= allowance):
            return False, None
        share = f"{deactivations * 100 / base:.0f}%" if base else "all"
        detail = (
            f"Held: this run would deactivate {deactivations} of {base} active provisioned members "
            f"({share}), above the safety threshold ({percent}% and at least {minimum}). "
            f"Check the identity provider's assignments, then confirm to apply."
        )
        return True, detail

    def _hold(self, detail: str | None) -> RunResult:
        """Record the full plan on the held run; nothing else is written."""
        run = self.run
        run.dry = run.holding = True
        self._passes()
        run.dry = False
        self._finish(RunStatus.HELD, detail)
        return RunResult(self.rec.run_id, RunStatus.HELD, run.counts, detail)

    def _passes(self) -> None:
        run = self.run
        with run.phase("removed_pass"):
            removed_pass(run, self.rec)
        with run.phase("member_pass"):
            MemberPass(run, self.rec, self.refs)()
        with run.phase("reference_pass"):
            self.refs.resolve_rest()
        TeamPass(run, self.rec)()

    def _finish(self, status: RunStatus, detail: str | None) -> None:
        """Record the outcome (and the last items) on the run row."""
        run, run_id = self.run, self.rec.run_id
        with run.phase("finish"):
            if run_id is None:
                return
            now = run.clock()
            with run.tx() as conn:
                self.rec.flush(conn)
                sync_runs.set_run(
                    conn,
                    run.account_id,
                    run_id,
                    status=status,
                    detail=detail,
                    counts=run.counts,
                    finished_at=now,
                    heartbeat_at=now,
                )
                if status in (RunStatus.SUCCEEDED, RunStatus.HELD):
                    # An older held run no longer describes what a confirmation would do.
                    sync_runs.supersede_held(conn, run.account_id, run_id)
