"""POST /scim/v2/Bulk: read the BulkRequest, run it, answer a BulkResponse, log each operation.

Reading and planning are scim/bulk.py's (pure), running is provisioning/bulk.py's; this
module is the route. The body limit (`bulk_max_payload_bytes`) is applied before auth by
web/guard.py like every body limit; the request is read once, after the token check, and
the account's rate limit is charged the operations read (a Bulk the bucket cannot pay now
is refused whole with 429 and Retry-After, nothing run; one it could never pay, above its
burst, is over `maxOperations` and refused 413). Each operation's data is held to the
single request's body limit. Each operation answered gets its own request log entry, as
the single request would, with its own start time and duration, next to the Bulk's own;
and the per-account request counts (/metrics, the console's charts) count a Bulk that ran
as its operations, as the rate limit does.
"""

from __future__ import annotations

import time
from typing import Any

import orjson
from starlette.responses import Response

from scimgate import errors as domain
from scimgate.provisioning.bulk import BulkLimits, OperationOutcome, run_bulk
from scimgate.scim import errors as scim_errors
from scimgate.scim.bulk import (
    BulkRequest,
    bulk_response,
    location,
    operation_result,
    read_bulk_request,
)
from scimgate.scim.render import etag
from scimgate.scim.resource_types import resource_type
from scimgate.store.database import KeptConnection
from scimgate.timestamps import utcnow
from scimgate.web.db_threads import retry_after
from scimgate.web.scim_endpoint import AfterCommit, Call, ScimEndpoint, ScimRuntime, scim_response
from scimgate.web.status_table import answer_for, scim_error

# Stop starting operations this long before the request deadline (at most a tenth of it):
# the one running then still has time to finish inside the deadline.
_DEADLINE_MARGIN_SECONDS = 1.0


def max_operations(runtime: ScimRuntime) -> int:
    """The most operations one Bulk may carry (advertised as `maxOperations`): the setting,
    and no more than the account's bucket holds in this worker (its burst shared out over
    `--workers`), since a Bulk is charged one request per operation and the bucket could
    never pay more."""
    largest = runtime.limits.largest_cost()
    setting = runtime.settings.bulk_max_operations
    return setting if largest is None else max(1, min(setting, largest))


def bulk_endpoint(runtime: ScimRuntime) -> ScimEndpoint:
    """The /Bulk endpoint: its own body limit, read once, a cost of one per operation."""
    settings = runtime.settings
    most = max_operations(runtime)
    # An operation's data is held to the single request's body limit; a Bulk no larger than
    # that limit cannot carry a bigger one, so nothing is measured then.
    per_data = settings.max_body_bytes
    checked = per_data if settings.bulk_max_payload_bytes > per_data else None

    def read(body: Any) -> BulkRequest:
        return read_bulk_request(body, max_operations=most, max_data_bytes=checked)

    def cost(request: BulkRequest) -> int:
        return request.cost

    return ScimEndpoint(
        _bulk_handler(runtime),
        runtime,
        body_limit=settings.bulk_max_payload_bytes,
        reader=read,
        cost=cost,
    )


def _bulk_handler(runtime: ScimRuntime) -> Any:
    """The handler: the request was read inside the auth transaction, runs after it commits."""

    def bulk(call: Call) -> Response:
        request = call.read
        assert isinstance(request, BulkRequest)
        timeout = call.settings.request_timeout_seconds
        limits = BulkLimits(
            max_patch_operations=call.settings.max_patch_operations,
            stop_at=time.monotonic() + timeout - min(_DEADLINE_MARGIN_SECONDS, timeout / 10),
        )

        def work(kept: KeptConnection) -> Response:
            outcomes = run_bulk(
                request,
                account_id=call.account_id,
                transaction=lambda: kept.transaction(writes=True),
                limits=limits,
            )
            results = [_result(runtime, call, outcome) for outcome in outcomes]
            call.requests = len(results)  # counted per operation, as the rate limit charges
            _log_operations(runtime, call, outcomes, results)
            return scim_response(bulk_response(results))

        return AfterCommit(work)

    return bulk


def _error(runtime: ScimRuntime, error: Exception) -> scim_errors.ScimError:
    """An operation's error as the SCIM error the single request would have answered."""
    if isinstance(error, scim_errors.ScimError):
        return error
    if isinstance(error, domain.ServiceError):
        return scim_error(error)
    if isinstance(error, domain.StorageError):
        failure = runtime.outage.classify(error)
        return answer_for(error).scim(failure.detail, headers=retry_after(failure.retry_seconds))
    return scim_errors.InternalError()


def _result(runtime: ScimRuntime, call: Call, outcome: OperationOutcome) -> dict[str, Any]:
    """One BulkResponse operation for an outcome."""
    op, rid = outcome.op, outcome.resource_id
    where = location(call.base_url, op.kind, rid) if op.kind is not None and rid else None
    if outcome.error is not None:
        error = _error(runtime, outcome.error)
        return operation_result(op, status=error.status, location=where, error=error)
    assert outcome.status is not None
    version = etag(outcome.version) if outcome.version is not None else None
    return operation_result(op, status=outcome.status, location=where, version=version)


def _log_operations(
    runtime: ScimRuntime,
    call: Call,
    outcomes: list[OperationOutcome],
    results: list[dict[str, Any]],
) -> None:
    """A request log entry per operation answered, shaped as its single request's would be,
    at the time it started (one not processed: when the run stopped) and with its duration."""
    if runtime.buffer is None:
        return
    prefix = call.request.scope["path"].rsplit("/", 1)[0]
    for outcome, result in zip(outcomes, results, strict=True):
        op = outcome.op
        path = op.path
        if op.kind is not None:
            path = "/" + resource_type(op.kind).collection
            if op.resource_id is not None:  # as resolved; else as sent (a bulkId not created)
                path += f"/{outcome.resource_id or op.resource_id}"
        error = result.get("response")
        runtime.buffer.add(
            {
                "account_id": call.account_id,
                "at": outcome.started_at or utcnow(),
                "method": op.method or "-",
                "path": prefix + ("/" if not path.startswith("/") else "") + path,
                "query": "",
                "status": int(result["status"]),
                "duration_ms": round(outcome.seconds * 1000),
                "scim_type": error.get("scimType") if error else None,
                "detail": error.get("detail") if error else None,
                "ignored": orjson.dumps(outcome.ignored).decode() if outcome.ignored else None,
                "resource_id": outcome.resource_id,
                "request_body": orjson.dumps(op.data) if op.data is not None else b"",
                "response_body": orjson.dumps(result),
            }
        )
