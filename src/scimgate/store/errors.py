"""The storage edge: driver failures become domain errors here, so no shell sees a driver."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager

import psycopg
from sqlalchemy.exc import DataError, InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as SATimeoutError

from scimgate.errors import (
    StorageError,
    StorageTimeoutError,
    StorageUnavailableError,
    UnstorableValueError,
)

# What the driver raises when the database (not the data) failed: a deadline, a lock wait,
# a lost or refused connection, or no pooled connection in time.
UNAVAILABLE = (OperationalError, InterfaceError, SATimeoutError)
UNSTORABLE = (DataError, psycopg.DataError)


def is_timeout(exc: BaseException) -> bool:
    """A statement cancelled by its deadline or a lock not granted in time (not an outage)."""
    orig = getattr(exc, "orig", exc)
    if isinstance(orig, (psycopg.errors.QueryCanceled, psycopg.errors.LockNotAvailable)):
        return True
    text = str(orig).lower()
    return isinstance(orig, sqlite3.OperationalError) and (
        "interrupted" in text or "locked" in text or "busy" in text
    )


def storage_error(exc: BaseException) -> StorageError:
    """The domain error for a failed database: a timeout (this request) or an outage."""
    error_class = StorageTimeoutError if is_timeout(exc) else StorageUnavailableError
    return error_class(driver_summary(exc))


def driver_summary(exc: BaseException) -> str:
    """The driver's error type and first line, without SQL or parameters."""
    orig = getattr(exc, "orig", None) or exc
    text = str(orig).strip()
    first = text.splitlines()[0] if text else type(orig).__name__
    return f"{type(orig).__name__}: {first[:300]}"


@contextmanager
def storage_edge() -> Iterator[None]:
    """Raise driver failures inside the block as domain errors (cause kept for the logs)."""
    try:
        yield
    except UNSTORABLE as exc:
        # e.g. a NUL character, which PostgreSQL text cannot hold (SQLite can)
        raise UnstorableValueError() from exc
    except UNAVAILABLE as exc:
        raise storage_error(exc) from exc
