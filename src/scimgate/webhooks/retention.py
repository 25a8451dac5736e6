"""Events that last a window: each account's retention setting, and the prune that applies it.

The prune runs beside the request log's (web.request_log): once an hour a sweep starts
over every account, in id order, and each call does a bounded amount of work (at most
`budget` events deleted, in transactions of at most `batch`), so a large backlog is
spread over many calls instead of one long delete. The oldest events go first and a
prune stops at the first event inside the window: what is left is always an unbroken
run of the sequence, which is what lets the feed answer a too-old cursor with a 410.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, Engine

from scimgate import audit
from scimgate.audit.actions import AuditAction
from scimgate.errors import InvalidValueError
from scimgate.store import event_retention as store
from scimgate.store.database import storage_errors
from scimgate.timestamps import utcnow

log = logging.getLogger("scimgate.events")

DEFAULT_DAYS = 90
MIN_DAYS, MAX_DAYS = 1, 3650
ACCOUNTS_PER_READ = 500  # accounts listed at a time during a sweep
BATCH = 1000  # events deleted per transaction
BUDGET = 5000  # events deleted per step (every 10 s or so while a sweep is on), at most
PRUNED_NOTE = "events up to {last} were pruned (older than the retention window) before delivery"


def settings_of(conn: Connection, account_id: int) -> dict[str, Any]:
    """The window and where the feed starts: `oldest_after` is the oldest `after` served."""
    found = store.retention(conn, account_id)
    return {
        "retention_days": found["retention_days"],
        "oldest_after": found["pruned_seq"],
        "last_seq": found["last_seq"],
    }


def set_retention(
    conn: Connection, account_id: int, days: int, *, actor: str | None = None
) -> dict[str, Any]:
    """Change the window (audited when it changes); the next prune applies it."""
    if isinstance(days, bool) or not isinstance(days, int) or not MIN_DAYS <= days <= MAX_DAYS:
        raise InvalidValueError(
            f"The event retention is a whole number of days, {MIN_DAYS}-{MAX_DAYS}"
        )
    before = store.retention(conn, account_id)["retention_days"]
    if days != before:
        store.set_retention_days(conn, account_id, days)
        audit.record(
            conn,
            account_id,
            actor=actor,
            action=AuditAction.EVENT_RETENTION_CHANGED,
            target="event retention",
            details={"changes": {"retention_days": [before, days]}},
        )
    return settings_of(conn, account_id)


def prune_account(
    engine: Engine, account_id: int, days: int, now: datetime, *, budget: int = BUDGET
) -> int:
    """Delete the account's events older than `days`, oldest first, at most `budget`;
    one transaction per BATCH. Returns how many were deleted."""
    cutoff = now - timedelta(days=days)
    deleted = 0
    while deleted < budget:
        with engine.connect() as conn:
            conn.execution_options(writes=True)
            with conn.begin():
                last = store.oldest_prefix(conn, account_id, cutoff, min(BATCH, budget - deleted))
                if last is None:
                    return deleted
                done = store.prune_through(conn, account_id, last, PRUNED_NOTE.format(last=last))
        deleted += done
        if done == 0:
            return deleted
    return deleted


@dataclass
class RetentionSweep:
    """Every account pruned once per sweep, a bounded step at a time.

    `start()` begins a sweep (the request log's hourly one); `step()` prunes from where
    the last step stopped and returns how many events it deleted. An account whose
    backlog outlasts a step's budget is taken up again by the next step.
    """

    engine: Engine
    budget: int = BUDGET
    _next_after: int | None = None  # the sweep goes on after this account id; None: idle

    @property
    def running(self) -> bool:
        return self._next_after is not None

    def start(self) -> None:
        if self._next_after is None:
            self._next_after = 0

    def step(self, now: datetime | None = None) -> int:
        """One bounded step of the sweep in progress (nothing when none is)."""
        if self._next_after is None:
            return 0
        now = now or utcnow()
        deleted = 0
        with storage_errors():
            with self.engine.connect() as conn:
                accounts = store.accounts_after(conn, self._next_after, ACCOUNTS_PER_READ)
            if not accounts:
                self._next_after = None
                return 0
            for account_id, days in accounts:
                left = self.budget - deleted
                done = prune_account(self.engine, account_id, days, now, budget=left)
                deleted += done
                if done >= left:
                    return deleted  # this account again next step: it may have more
                self._next_after = account_id
        if deleted:
            log.info("pruned %d events older than their accounts' retention", deleted)
        return deleted

    def run(self, now: datetime | None = None) -> int:
        """A whole sweep at once (tests); returns how many events went."""
        self.start()
        total = 0
        while self.running:
            total += self.step(now)
        return total


def prune_now(
    engine: Engine, account_id: int | None = None, *, dry_run: bool = False
) -> Iterator[dict[str, Any]]:
    """Prune one account (None: every account, in id order) to its window now, to the end,
    yielding how many events each lost (or would lose): the sweep's own prune, in its
    bounded transactions, so it is safe beside running `serve` processes (the CLI)."""
    now, after = utcnow(), 0
    with storage_errors():
        while True:
            with engine.connect() as conn:
                accounts = store.account_windows(conn, after, ACCOUNTS_PER_READ, account_id)
            if not accounts:
                return
            for after, slug, days in accounts:
                cutoff = now - timedelta(days=days)
                count, last = 0, 0
                if dry_run:
                    with engine.connect() as conn:
                        count, last = store.prunable(conn, after, cutoff, BATCH)
                else:
                    count = prune_account(engine, after, days, now, budget=sys.maxsize)
                if not last:
                    with engine.connect() as conn:
                        last = store.pruned_seq(conn, after)
                yield {
                    "account": slug,
                    "retention_days": days,
                    "cutoff": cutoff,
                    "pruned": count,
                    "oldest_after": last,
                    "dry_run": dry_run,
                }
