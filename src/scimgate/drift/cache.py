"""Drift reports computed off the request and kept for a short while: what the console's
Drift page shows.

A report maps every provisioned member's staged user again (about 6 s for 20,000 members,
docs/sync.md). The page waits a moment for it; if it is not ready, the page says so and
refreshes itself while the report finishes on its own thread. A report is kept for `ttl`
seconds (hand edits made behind scimgate's back move nothing it could watch), and the
page can ask for a fresh one.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Engine

from scimgate.drift.report import summary
from scimgate.store.database import storage_errors
from scimgate.timestamps import utcnow

log = logging.getLogger("scimgate.console")


@dataclass(frozen=True)
class Snapshot:
    """A report and when it was read."""

    report: dict[str, Any]
    at: datetime


@dataclass
class _Job:
    done: threading.Event = field(default_factory=threading.Event)
    snapshot: Snapshot | None = None
    error: BaseException | None = None


class ReportCache:
    """The last report per account (bounded), and the ones being computed."""

    wait = 1.5  # seconds a page waits for a report before it shows "checking…"

    def __init__(self, engine: Engine, *, limit: int, ttl: float = 60.0, size: int = 64):
        self.engine, self.limit, self.ttl, self.size = engine, limit, ttl, size
        self._done: OrderedDict[int, tuple[float, Snapshot]] = OrderedDict()
        self._jobs: dict[int, _Job] = {}
        self._lock = threading.Lock()

    def get(
        self, account_id: int, *, fresh: bool = False, wait: float | None = None
    ) -> Snapshot | None:
        """The account's report (a new one if `fresh`), waiting for it at most `wait`
        seconds (default `self.wait`; None: until done); None while it is computed."""
        with self._lock:
            kept = self._done.get(account_id)
            if kept and not fresh and time.monotonic() - kept[0] < self.ttl:
                return kept[1]
            job = self._jobs.get(account_id)
            if job is None:
                job = self._jobs[account_id] = _Job()
                threading.Thread(
                    target=self._compute,
                    args=(account_id, job),
                    name=f"drift-{account_id}",
                    daemon=True,
                ).start()
        if not job.done.wait(self.wait if wait is None else wait):
            return None
        if job.error is not None:
            raise job.error
        return job.snapshot

    def _compute(self, account_id: int, job: _Job) -> None:
        try:
            with storage_errors(), self.engine.connect() as conn, conn.begin():
                job.snapshot = Snapshot(summary(conn, account_id, limit=self.limit), utcnow())
        except Exception as exc:  # shown by the page that asked; logged here once
            log.exception("drift report of account %s failed", account_id)
            job.error = exc
        finally:
            with self._lock:
                if self._jobs.get(account_id) is job:
                    del self._jobs[account_id]
                if job.snapshot is not None:
                    self._done[account_id] = (time.monotonic(), job.snapshot)
                    self._done.move_to_end(account_id)
                    while len(self._done) > self.size:
                        self._done.popitem(last=False)
            job.done.set()
