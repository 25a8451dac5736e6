"""SCIM Bulk (RFC 7644 §3.7): the operations of one BulkRequest run through the same
directory calls as single requests, each in a transaction of its own.

Why one transaction per operation: §3.7 asks a service provider to "continue performing
as many changes as possible and disregard partial failures"; a failed operation must not
undo the ones before it, and a long Bulk must not hold the write lock (SQLite) or one
transaction (PostgreSQL) for its whole length. Operations run in request order, except
that a POST runs before the operations that reference its bulkId (scim/bulk.py plans it).
The run stops after `failOnErrors` errors (the rest are left out of the response), when
the database fails, or when the request's time is up (the rest are answered 503:
not processed, send them again).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Connection

from scimgate.errors import ServiceError, StorageError
from scimgate.provisioning import directory
from scimgate.scim.bulk import BulkOperation, BulkPlan, BulkRequest, blocked, plan_bulk, resolve
from scimgate.scim.errors import InternalError, ScimError, ServiceUnavailableError
from scimgate.timestamps import utcnow

log = logging.getLogger("scimgate.bulk")

Transaction = Callable[[], AbstractContextManager[Connection]]
_SUCCESS = {"POST": 201, "PUT": 200, "PATCH": 200, "DELETE": 204}


@dataclass
class OperationOutcome:
    """What one operation did: its status and resource, or the error it is answered with."""

    op: BulkOperation
    status: int | None = None  # set on success; a failure's comes from its error
    resource_id: str | None = None
    version: int | None = None
    ignored: list[str] = field(default_factory=list)
    error: Exception | None = None
    skipped: bool = False  # not attempted (time limit or database failure): send it again
    started_at: datetime | None = None  # when it started (a skipped one: when it was skipped)
    seconds: float = 0.0  # how long it took, on the monotonic clock


@dataclass(frozen=True)
class BulkLimits:
    """What bounds a run: the PATCH operation limit and the monotonic time to stop by, and
    the clocks an operation's start (wall) and duration (monotonic) are read from."""

    max_patch_operations: int
    stop_at: float
    clock: Callable[[], float] = time.monotonic
    now: Callable[[], datetime] = utcnow


def run_bulk(
    request: BulkRequest, *, account_id: int, transaction: Transaction, limits: BulkLimits
) -> list[OperationOutcome]:
    """Run the operations in plan order; return the outcomes reached, in request order."""
    plan = plan_bulk(request.operations)
    created: dict[str, str] = {}
    outcomes: dict[int, OperationOutcome] = {}
    errors = 0
    for position, index in enumerate(plan.order):
        if limits.clock() >= limits.stop_at:
            why = "the Bulk request reached its time limit"
            _skip(request, plan.order[position:], outcomes, why, limits.now())
            break
        outcome = _run_one(
            request.operations[index], plan, created, account_id, transaction, limits
        )
        outcomes[index] = outcome
        if outcome.error is None:
            if outcome.op.declares is not None and outcome.resource_id is not None:
                created[outcome.op.declares] = outcome.resource_id
            continue
        errors += 1
        if isinstance(outcome.error, StorageError):
            rest = plan.order[position + 1 :]
            _skip(request, rest, outcomes, "the database failed", limits.now())
            break
        if request.fail_on_errors is not None and errors >= request.fail_on_errors:
            break
    return [outcomes[i] for i in sorted(outcomes)]


def _skip(
    request: BulkRequest,
    rest: tuple[int, ...],
    outcomes: dict[int, OperationOutcome],
    why: str,
    at: datetime,
) -> None:
    """The operations not attempted, answered 503 so that the client sends them again."""
    for index in rest:
        error = ServiceUnavailableError(
            f"Operations[{index}] was not processed: {why}; send it again"
        )
        outcomes[index] = OperationOutcome(
            request.operations[index], error=error, skipped=True, started_at=at
        )


def _run_one(
    op: BulkOperation,
    plan: BulkPlan,
    created: dict[str, str],
    account_id: int,
    transaction: Transaction,
    limits: BulkLimits,
) -> OperationOutcome:
    """One operation in its own transaction, timed; every error it meets becomes its outcome."""
    started = limits.clock()
    outcome = OperationOutcome(op, started_at=limits.now())
    _attempt(outcome, plan, created, account_id, transaction, limits)
    outcome.seconds = limits.clock() - started
    return outcome


def _attempt(
    outcome: OperationOutcome,
    plan: BulkPlan,
    created: dict[str, str],
    account_id: int,
    transaction: Transaction,
    limits: BulkLimits,
) -> None:
    """Run one operation, recording its status and resource or its error in `outcome`."""
    op = outcome.op
    reason = blocked(op, plan, created)
    if reason is not None:
        outcome.error = reason
        return
    outcome.resource_id = resolve(op.resource_id, created)
    try:
        with transaction() as conn:
            written = _execute(
                conn, account_id, op, outcome.resource_id, resolve(op.data, created), limits
            )
    except (ScimError, ServiceError, StorageError) as exc:
        outcome.error = exc
    except Exception:  # a bug in one operation must not lose the others' answers
        log.exception(
            "unhandled error in Bulk Operations[%d] (%s %s)", op.index, op.method, op.path
        )
        outcome.error = InternalError()
    else:
        outcome.status = _SUCCESS[op.method]
        if written is not None:
            outcome.resource_id = written.row["id"]
            outcome.version = written.row["version"]
            outcome.ignored = written.ignored


def _execute(
    conn: Connection,
    account_id: int,
    op: BulkOperation,
    resource_id: str | None,
    data: Any,
    limits: BulkLimits,
) -> directory.Written | None:
    """The directory call the single request with this method and path makes."""
    assert op.kind is not None
    kind = op.kind.value
    if op.method == "POST":
        return directory.create(conn, account_id, kind, data, now=utcnow())
    assert resource_id is not None
    if op.method == "PUT":
        return directory.replace(
            conn, account_id, kind, resource_id, data, now=utcnow(), if_match=op.version
        )
    if op.method == "PATCH":
        return directory.patch(
            conn,
            account_id,
            kind,
            resource_id,
            data,
            now=utcnow(),
            if_match=op.version,
            max_operations=limits.max_patch_operations,
        )
    directory.delete(conn, account_id, kind, resource_id, if_match=op.version)
    return None
