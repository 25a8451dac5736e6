"""Dry-run plans computed off the request and reused while valid: what "Available to
synchronize" in the console and a dry run of /api/v1 show.

A plan of a large account takes seconds (about 5 s for 100,000 new users). A page waits
a moment for it; if it is not ready, the page says so and refreshes itself while the plan
finishes on its own thread. A plan is reused while the account's plan fingerprint (see
store.sync_counts.plan_fingerprint) has not moved, for at most `ttl` seconds.
"""

from __future__ import annotations

import logging
import threading
import time
import weakref
from collections import OrderedDict
from dataclasses import dataclass, field

from scimgate.store.database import Connection, Engine
from scimgate.store.sync_counts import plan_fingerprint
from scimgate.sync.engine import RunResult, SyncOptions, synchronize

log = logging.getLogger("scimgate.console")  # the logger its lines have always had


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
        with _registry_lock:  # the one a dry run of this database reuses (see `dry_run`)
            _registry[engine] = self

    def get(self, conn: Connection, account_id: int) -> RunResult | None:
        """The current plan, or None while it is still being computed."""
        return self.plan(conn, account_id, wait=self.wait)

    def plan(self, conn: Connection, account_id: int, *, wait: float | None) -> RunResult | None:
        """The current plan, waiting for it at most `wait` seconds (None: until it is
        done); None while it is still being computed."""
        fingerprint = plan_fingerprint(conn, account_id)
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
        if not job.done.wait(wait):
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


# The cache of each database's process (the console's, once it made one).
_registry: weakref.WeakKeyDictionary[Engine, PlanCache] = weakref.WeakKeyDictionary()
_registry_lock = threading.Lock()


def dry_run(
    engine: Engine, conn: Connection, account_id: int, *, options: SyncOptions
) -> RunResult:
    """What a synchronization of the account would do: the cached plan while it holds,
    else a new one (waited for), shared with the console's "Available to synchronize"."""
    with _registry_lock:
        cache = _registry.get(engine)
    if cache is None:
        cache = PlanCache(engine, options)
    plan = cache.plan(conn, account_id, wait=None)
    assert plan is not None  # waited for until done
    return plan
