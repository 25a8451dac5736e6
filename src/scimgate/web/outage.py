"""One log line when the database goes away and one when it is back, instead of a traceback per request."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from scimgate.errors import StorageError, StorageTimeoutError

log = logging.getLogger("scimgate.database")


@dataclass(frozen=True)
class DatabaseFailure:
    """What a request that met the database's failure is told, whatever its surface."""

    kind: str  # "timeout": this request was too slow; "unavailable": the database is gone
    retry_seconds: int
    detail: str


_TIMEOUT = DatabaseFailure(
    "timeout", 2, "The request did not finish in time (database deadline); retry later"
)
_UNAVAILABLE = DatabaseFailure("unavailable", 5, "The database is not answering; retry later")


class OutageLog:
    """Tracks whether the database is answering, as seen by the requests of this process."""

    def __init__(self, count: Callable[[str], None] | None = None) -> None:
        self.count = count  # told the kind of each failure (the metrics)
        self._lock = threading.Lock()
        self.down_since: float | None = None
        self.failed_requests = 0  # during the current outage
        self.last_error: str | None = None

    @property
    def down(self) -> bool:
        return self.down_since is not None

    def classify(self, exc: StorageError) -> DatabaseFailure:
        """A deadline passed (this request only) or an outage (logged once): the one place
        SCIM, the API and the console learn which, and what to tell the client."""
        failure = _TIMEOUT if isinstance(exc, StorageTimeoutError) else _UNAVAILABLE
        if failure is _UNAVAILABLE:
            self.failed(exc)
        if self.count is not None:
            self.count(failure.kind)
        return failure

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
    """The driver's error type and first line."""
    orig = _driver_error(exc)
    return f"{type(orig).__name__}: {first_line(exc, 300)}"


def first_line(exc: BaseException, limit: int = 200) -> str:
    """The driver's first line, without SQL or parameters (its type when it says nothing)."""
    orig = _driver_error(exc)
    text = str(orig).strip()
    return (text.splitlines()[0] if text else type(orig).__name__)[:limit]


def _driver_error(exc: BaseException) -> BaseException:
    """The driver's own error: the cause of a StorageError the storage edge raised."""
    if isinstance(exc, StorageError) and exc.__cause__ is not None:
        exc = exc.__cause__
    return getattr(exc, "orig", None) or exc
