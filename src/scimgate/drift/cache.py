"""Drift reports computed off the request and kept for a short while: what the console's
Drift page and `GET /api/v1/drift` show.

A report maps every provisioned member's staged user again (about 6 s for 20,000 members,
docs/sync.md). The page waits a moment for it; if it is not ready, the page says so (the
API answers 202) and asks again while the report finishes on a worker. A report is kept
for `ttl` seconds (hand edits made behind scimgate's back move nothing it could watch),
and the console can ask for a fresh one.

The work is bounded, so one tenant's burst cannot take the process's threads and
connections from the others: one computation per account at a time (every request for
it waits on the same one), `workers` threads in all across accounts (each with one
background connection), and at most `backlog` accounts waiting for a worker; past that
a new report is refused with BusyError (503 with Retry-After). The section pages take a
`DriftGate` slot: one page of an account at a time, a few in all.
"""

from __future__ import annotations

import logging
import threading
import time
import weakref
from collections import OrderedDict, deque
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Engine

from scimgate.drift.report import MAX_LIMIT, summary, trim
from scimgate.errors import BusyError
from scimgate.store.database import storage_errors
from scimgate.timestamps import utcnow

log = logging.getLogger("scimgate.console")


@dataclass(frozen=True)
class Snapshot:
    """A report (MAX_LIMIT rows a section) and when it was read."""

    report: dict[str, Any]
    at: datetime

    def first(self, limit: int) -> dict[str, Any]:
        """The report with `limit` rows a section, each cursor continuing after them."""
        return trim(self.report, limit)


@dataclass
class _Job:
    done: threading.Event = field(default_factory=threading.Event)
    snapshot: Snapshot | None = None
    error: BaseException | None = None


class DriftGate:
    """Slots for a drift page's work: one per account at a time, `size` in all; a page
    that gets none within `wait` seconds is refused (BusyError, 503 with Retry-After)."""

    def __init__(self, size: int = 4, wait: float = 2.0) -> None:
        self.size, self.wait = size, wait
        self._cond = threading.Condition()
        self._busy: set[int] = set()

    @contextmanager
    def slot(self, account_id: int) -> Iterator[None]:
        """Hold the account's slot (and one of the process's) while the page reads."""
        deadline = time.monotonic() + self.wait
        with self._cond:
            while account_id in self._busy or len(self._busy) >= self.size:
                left = deadline - time.monotonic()
                if left <= 0:
                    mine = account_id in self._busy
                    raise BusyError(
                        "Another drift page of this account is being read; try again shortly"
                        if mine
                        else "Too many drift reports are being read; try again shortly",
                        retry_after=2,
                    )
                self._cond.wait(left)
            self._busy.add(account_id)
        try:
            yield
        finally:
            with self._cond:
                self._busy.discard(account_id)
                self._cond.notify_all()


class ReportCache:
    """The last report per account (bounded), and the ones being computed or queued."""

    wait = 1.5  # seconds a page waits for a report before it shows "checking…"
    idle = 30.0  # seconds a worker with nothing to do stays before it ends

    def __init__(
        self,
        engine: Engine,
        *,
        ttl: float = 60.0,
        size: int = 64,
        workers: int = 2,
        backlog: int = 16,
    ) -> None:
        self.engine, self.ttl, self.size = engine, ttl, size
        self.workers, self.backlog = workers, backlog
        self.gate = DriftGate()
        self._done: OrderedDict[int, tuple[float, Snapshot]] = OrderedDict()
        self._jobs: dict[int, _Job] = {}  # queued or computing, one per account
        self._queue: deque[tuple[int, _Job]] = deque()
        self._cond = threading.Condition()
        self._threads = 0
        self._idle = 0

    @classmethod
    def shared(cls, engine: Engine) -> ReportCache:
        """The process's cache for this database: the console and /api/v1 share it (and
        so its bounds)."""
        with _registry_lock:
            cache = _registry.get(engine)
            if cache is None:
                cache = _registry[engine] = cls(engine)
            return cache

    def get(
        self,
        account_id: int,
        *,
        fresh: bool = False,
        wait: float | None = None,
        join_wait: float | None = None,
    ) -> Snapshot | None:
        """The account's report (a new one if `fresh`), waiting for it at most `wait`
        seconds (default `self.wait`; None: until done); None while it is computed.
        `join_wait`, if given, replaces `wait` when the report was already under way
        (a poller need not hold a thread for it). BusyError when too many wait."""
        with self._cond:
            kept = self._done.get(account_id)
            if kept and not fresh and time.monotonic() - kept[0] < self.ttl:
                return kept[1]
            job = self._jobs.get(account_id)
            if job is None:
                if len(self._queue) >= self.backlog:
                    raise BusyError(
                        "Too many drift reports are being computed; try again shortly",
                        retry_after=5,
                    )
                job = self._jobs[account_id] = _Job()
                self._queue.append((account_id, job))
                self._start_worker()
                self._cond.notify()
            elif join_wait is not None:
                wait = join_wait
        if not job.done.wait(self.wait if wait is None else wait):
            return None
        if job.error is not None:
            raise job.error
        return job.snapshot

    def _start_worker(self) -> None:
        """A new worker when none is idle and the bound allows (called under the lock)."""
        if self._idle < len(self._queue) and self._threads < self.workers:
            self._threads += 1
            threading.Thread(target=self._work, name="drift-report", daemon=True).start()

    def _work(self) -> None:
        while True:
            with self._cond:
                if not self._queue:
                    self._idle += 1
                    self._cond.wait(self.idle)
                    self._idle -= 1
                if not self._queue:
                    self._threads -= 1
                    return
                account_id, job = self._queue.popleft()
            self._compute(account_id, job)

    def _compute(self, account_id: int, job: _Job) -> None:
        try:
            with storage_errors(), self.engine.connect() as conn, conn.begin():
                job.snapshot = Snapshot(summary(conn, account_id, limit=MAX_LIMIT), utcnow())
        except Exception as exc:  # shown by the page that asked; logged here once
            log.exception("drift report of account %s failed", account_id)
            job.error = exc
        finally:
            with self._cond:
                if self._jobs.get(account_id) is job:
                    del self._jobs[account_id]
                if job.snapshot is not None:
                    self._done[account_id] = (time.monotonic(), job.snapshot)
                    self._done.move_to_end(account_id)
                    while len(self._done) > self.size:
                        self._done.popitem(last=False)
            job.done.set()


# The cache of each database's process (made by the first console or API request to ask).
_registry: weakref.WeakKeyDictionary[Engine, ReportCache] = weakref.WeakKeyDictionary()
_registry_lock = threading.Lock()
