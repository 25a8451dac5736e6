"""One log line when the database goes away and one when it is back, instead of a traceback per request."""

from __future__ import annotations

import logging
import threading
import time

log = logging.getLogger("scimgate.database")


class OutageLog:
    """Tracks whether the database is answering, as seen by the requests of this process."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.down_since: float | None = None
        self.failed_requests = 0  # during the current outage
        self.last_error: str | None = None

    @property
    def down(self) -> bool:
        return self.down_since is not None

    def failed(self, exc: BaseException) -> None:
        """A request found the database unavailable: log it if it is the first of an outage."""
        summary = _summary(exc)
        with self._lock:
            self.failed_requests += 1
            self.last_error = summary
            if self.down_since is not None:
                return
            self.down_since = time.monotonic()
        log.error(
            "database unavailable: %s (requests get 503 with Retry-After; "
            "further failures are counted, not logged, until it answers again)",
            summary,
        )

    def succeeded(self) -> None:
        """A request reached the database: end the outage if there was one."""
        if self.down_since is None:
            return
        with self._lock:
            if self.down_since is None:
                return
            lasted = time.monotonic() - self.down_since
            failed, self.down_since, self.failed_requests = self.failed_requests, None, 0
        log.warning(
            "database available again after %.1f s; %d requests failed meanwhile", lasted, failed
        )


def _summary(exc: BaseException) -> str:
    """The driver's first line, without SQL or parameters."""
    orig = getattr(exc, "orig", None) or exc
    text = str(orig).strip().splitlines()[0] if str(orig).strip() else type(orig).__name__
    return f"{type(orig).__name__}: {text[:300]}"
