"""Domain errors: facts about what went wrong, with no HTTP in them.

ServiceError
 +-- NotFoundError        a resource or account does not exist (in this account)
 +-- ConflictError        a uniqueness rule would be broken
 +-- InvalidValueError    a value is not acceptable
 +-- PreconditionFailedError  an If-Match version is stale
 +-- ForbiddenError       the account may not do this (e.g. not entitled)
 +-- CursorTooOldError    a feed cursor points before the events kept (they were pruned)
 +-- BusyError            too much of this work is under way: try again after `retry_after`
      InvalidValueError
       +-- UnstorableValueError  the database cannot hold or compare a value (e.g. a NUL)

StorageError              the database failed the request (raised at the storage edge)
 +-- StorageTimeoutError      this request's deadline passed, or a lock was not granted in time
 +-- StorageUnavailableError  the database is not answering (an outage)
"""

from __future__ import annotations


class ServiceError(Exception):
    """Base of every error a service raises on purpose."""

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


class NotFoundError(ServiceError):
    """Something addressed by id or name does not exist for this account."""


class ConflictError(ServiceError):
    """A uniqueness rule (enforced by the database) would be broken."""

    def __init__(self, detail: str, attribute: str | None = None) -> None:
        super().__init__(detail)
        self.attribute = attribute


class InvalidValueError(ServiceError):
    """A value given from outside is not acceptable."""


class PreconditionFailedError(ServiceError):
    """The version the client holds is not the current one."""


class ForbiddenError(ServiceError):
    """The account is not allowed to do this."""


class CursorTooOldError(ServiceError):
    """The events after this cursor were pruned: reading on would skip them silently.

    `oldest_after` is the oldest cursor still served; a reader this far behind starts
    again from a snapshot (docs/api.md, "Resuming from a snapshot").
    """

    def __init__(self, detail: str, *, oldest_after: int) -> None:
        super().__init__(detail)
        self.oldest_after = oldest_after


class BusyError(ServiceError):
    """Expensive work (a drift report) is bounded per account and per process, and the
    bound is reached: the caller asks again after `retry_after` seconds."""

    def __init__(self, detail: str, *, retry_after: int) -> None:
        super().__init__(detail)
        self.retry_after = retry_after


class UnstorableValueError(InvalidValueError):
    """The database refused a value it cannot hold or compare (e.g. a NUL in PostgreSQL text)."""

    def __init__(self, detail: str = "A value cannot be stored or compared") -> None:
        super().__init__(detail)


class StorageError(Exception):
    """The database failed, not the request: not a ServiceError, so no service catches it.

    `detail` is the driver's type and first line, for the logs only (never for clients).
    """

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


class StorageTimeoutError(StorageError):
    """A statement ran past its deadline or a lock wait timed out: this request only."""


class StorageUnavailableError(StorageError):
    """The database is unreachable or gone: an outage, as every request sees it."""
