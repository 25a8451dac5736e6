"""Liveness and readiness: whether to restart this process, and whether to send it traffic.

/livez is the process answering at all (its event loop turns). /readyz (and /healthz,
kept for load balancers set up against it) checks what a request needs: the database
answers within a deadline, its schema is the one this code ships, and the background
workers of this process (request log writer, scheduler, webhook worker) are alive.
A failing check answers 503 with Retry-After and says which check failed.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Engine

from scimgate.operations import status
from scimgate.web.outage import OutageLog, first_line

CHECK_SECONDS = 3.0  # a database that takes longer than this to answer SELECT 1 is not ready
CACHE_SECONDS = 1.0  # probes from several balancers share one check


@dataclass
class Readiness:
    """The result of one readiness check."""

    ready: bool
    checks: dict[str, str] = field(default_factory=dict)

    def body(self) -> dict[str, Any]:
        return {"status": "ok" if self.ready else "unavailable", "checks": self.checks}


class Health:
    """Runs the readiness checks, at most once a second, off the event loop."""

    def __init__(
        self,
        engine: Engine,
        outage: OutageLog,
        workers: Callable[[], dict[str, bool]],
    ) -> None:
        self.engine = engine
        self.outage = outage
        self.workers = workers
        self._head = status.code_revision()
        self._last: tuple[float, Readiness] | None = None

    async def readiness(self) -> Readiness:
        """Database, schema and workers; cached for a second."""
        now = time.monotonic()
        if self._last is not None and now - self._last[0] < CACHE_SECONDS:
            return self._last[1]
        checks = {"database": "ok", "migrations": "ok"}
        try:
            revision = await asyncio.wait_for(asyncio.to_thread(self._database), CHECK_SECONDS)
        except TimeoutError:
            checks["database"] = f"no answer within {CHECK_SECONDS:.0f} s"
            checks["migrations"] = "unknown"
        except Exception as exc:  # noqa: BLE001 - any failure is "not ready", with its reason
            self.outage.failed(exc)
            checks["database"] = f"unavailable: {first_line(exc)}"
            checks["migrations"] = "unknown"
        else:
            self.outage.succeeded()
            if revision != self._head:
                checks["migrations"] = (
                    f"database at {revision or 'no schema'}, code needs {self._head}: "
                    "run `scimgate migrate`"
                )
        for name, alive in self.workers().items():
            checks[name] = "ok" if alive else "not running"
        result = Readiness(all(v == "ok" for v in checks.values()), checks)
        self._last = (time.monotonic(), result)
        return result

    def _database(self) -> str | None:
        return status.database_revision(self.engine)
