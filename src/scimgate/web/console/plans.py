"""Dry-run plans for "Available to synchronize": computed off the request, reused while valid.

A plan of a large account takes seconds (about 5 s for 100,000 new users). The page waits
a moment for it; if it is not ready, the page says so and refreshes itself while the plan
finishes on its own thread. A plan is reused while the account's plan fingerprint (see
store.sync.plan_fingerprint) has not moved, for at most `ttl` seconds.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass, field

from sqlalchemy import Connection, Engine

from scimgate.store import sync as store
from scimgate.sync.engine import RunResult, SyncOptions, synchronize

log = logging.getLogger("scimgate.console")


@dataclass
class _Job:
    fingerprint: tuple[object, ...]
    done: threading.Event = field(default_factory=threading.Event)
    plan: RunResult | None = None
    error: BaseException | None = None


class PlanCache:
    """The last plan per account (bounded), and the computations under way."""

    wait = 1.5  # seconds a page waits for a plan before it shows "checking…"

    def __init__(self, engine: Engine, options: SyncOptions, *, ttl: float = 300.0, size: int = 64):
        self.engine = engine
        self.options = options
        self.ttl = ttl
        self.size = size
        self._plans: OrderedDict[int, tuple[tuple[object, ...], float, RunResult]] = OrderedDict()
        self._jobs: dict[int, _Job] = {}
        self._lock = threading.Lock()

    def get(self, conn: Connection, account_id: int) -> RunResult | None:
        """The current plan, or None while it is still being computed."""
        fingerprint = store.plan_fingerprint(conn, account_id)
        with self._lock:
            cached = self._plans.get(account_id)
            if cached and cached[0] == fingerprint and time.monotonic() - cached[1] < self.ttl:
                return cached[2]
            job = self._jobs.get(account_id)
            if job is None or job.fingerprint != fingerprint:
                job = self._jobs[account_id] = _Job(fingerprint)
                threading.Thread(
                    target=self._compute,
                    args=(account_id, job),
                    name=f"plan-{account_id}",
                    daemon=True,
                ).start()
        if not job.done.wait(self.wait):
            return None
        if job.error is not None:
            raise job.error
        return job.plan

    def _compute(self, account_id: int, job: _Job) -> None:
        try:
            job.plan = synchronize(self.engine, account_id, dry_run=True, options=self.options)
        except BaseException as exc:  # shown by the page that asked; logged here once
            if not isinstance(exc, Exception):
                raise
            log.exception("dry run of account %s failed", account_id)
            job.error = exc
        finally:
            with self._lock:
                if self._jobs.get(account_id) is job:
                    del self._jobs[account_id]
                if job.plan is not None:
                    self._plans[account_id] = (job.fingerprint, time.monotonic(), job.plan)
                    self._plans.move_to_end(account_id)
                    while len(self._plans) > self.size:
                        self._plans.popitem(last=False)
            job.done.set()
