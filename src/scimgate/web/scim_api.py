"""/scim/v2: thin handlers over provisioning.directory, with one error translation point.

Handlers are plain functions run inside `ScimEndpoint`, which applies the rate limits,
receives the body, then on a request thread (web/db_threads.py: bounded, per-account
shares, a deadline) authenticates the bearer token, opens one transaction, turns every
error into an RFC 7644 Error body, and records the request in the account's request log.
Nothing waits on the database on the event loop, so one slow request stalls no other.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import orjson
import psycopg
from sqlalchemy import Connection
from sqlalchemy.exc import DataError, OperationalError
from sqlalchemy.exc import TimeoutError as SATimeoutError
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route, Router, request_response
from starlette.types import Receive, Scope, Send

from scimgate import errors as domain
from scimgate.accounts.service import Principal, authenticate, needs_touch, record_use
from scimgate.provisioning import directory
from scimgate.scim import errors as scim_errors
from scimgate.scim.constants import (
    ACCEPTED_REQUEST_TYPES,
    MAX_JSON_DEPTH,
    MEDIA_TYPE,
    SEARCH_REQUEST,
)
from scimgate.scim.discovery import resource_types, schemas_list, service_provider_config
from scimgate.scim.filter import parse_filter
from scimgate.scim.filter_cost import check_filter_budget
from scimgate.scim.render import (
    Projection,
    etag,
    list_response,
    parse_attribute_list,
    render_resource,
)
from scimgate.scim.schema import schema_for
from scimgate.scim.text import undecodable_param
from scimgate.settings import Settings
from scimgate.store import directory as store
from scimgate.store.database import KeptConnection, is_timeout, utcnow
from scimgate.store.filter_sql import compile_filter, sort_expression
from scimgate.store.lookups import compile_lookup
from scimgate.web.db_threads import AccountBusyError, PoolBusyError, RequestThreads, retry_after
from scimgate.web.metrics import Metrics
from scimgate.web.outage import OutageLog
from scimgate.web.rate_limits import SurfaceLimits
from scimgate.web.request_log import RequestLogBuffer

log = logging.getLogger("scimgate.access")

_BODY_METHODS = {"POST", "PUT", "PATCH"}


def scim_response(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    """A JSON body with the SCIM media type."""
    return Response(orjson.dumps(body), status_code=status, media_type=MEDIA_TYPE, headers=headers)


def error_response(error: scim_errors.ScimError) -> Response:
    """The RFC 7644 §3.12 Error body for a protocol error."""
    return scim_response(error.to_body(), error.status, error.headers or None)


def translate(error: domain.ServiceError) -> scim_errors.ScimError:
    """Domain errors to protocol errors: the one place this mapping lives."""
    if isinstance(error, domain.NotFoundError):
        return scim_errors.NotFoundError(error.detail)
    if isinstance(error, domain.ConflictError):
        if error.attribute:
            return scim_errors.UniquenessError(error.detail)
        return scim_errors.ConflictError(error.detail)
    if isinstance(error, domain.PreconditionFailedError):
        return scim_errors.PreconditionFailedError(error.detail)
    if isinstance(error, domain.ForbiddenError):
        return scim_errors.ForbiddenError(error.detail)
    return scim_errors.InvalidValueError(error.detail)


@dataclass
class Call:
    """What a handler gets: the request's parts, the account, its transaction and a scratchpad for the log."""

    request: Request
    conn: Connection
    principal: Principal
    settings: Settings
    body: Any = None
    ignored: list[str] = field(default_factory=list)
    resource_id: str | None = None
    _params: dict[str, str] | None = None

    @property
    def account_id(self) -> int:
        return self.principal.account_id

    @property
    def base_url(self) -> str:
        return self.settings.tenant_url

    def param(self, name: str) -> str | None:
        """A query parameter by case-insensitive name (`startindex` works like `startIndex`)."""
        if self._params is None:
            self._params = {key.lower(): value for key, value in self.request.query_params.items()}
        return self._params.get(name.lower())


@dataclass
class ScimRuntime:
    """What every SCIM endpoint shares: threads, limits, the log, the outage tracker, metrics."""

    threads: RequestThreads
    settings: Settings
    buffer: RequestLogBuffer | None
    limits: SurfaceLimits
    outage: OutageLog
    metrics: Metrics | None = None
    known_good: KnownTokens = field(default_factory=lambda: KnownTokens())


class KnownTokens:
    """Tokens that authenticated lately, and their account.

    Their requests skip the refused-credential limit (that limit is per client address,
    and an IdP's addresses are shared by its customers: one tenant's revoked token must
    not slow down another tenant calling from there), and they queue for their account's
    share of the request threads before the database says whose they are. Only those two
    decisions use it: every request is still authenticated against the database, so a
    revoked token stops working on its next request.
    """

    def __init__(self, size: int = 10_000) -> None:
        self.size = size
        self._seen: dict[str, int] = {}

    def add(self, token: str, account_id: int) -> None:
        if self._seen.get(token) != account_id:
            if len(self._seen) >= self.size:
                self._seen.pop(next(iter(self._seen)))
            self._seen[token] = account_id

    def discard(self, token: str | None) -> None:
        if token:
            self._seen.pop(token, None)

    def account(self, token: str | None) -> int | None:
        return self._seen.get(token) if token else None

    def __contains__(self, token: object) -> bool:
        return token in self._seen


@dataclass
class _Outcome:
    """What the database part of a request produced."""

    response: Response | None = None
    principal: Principal | None = None
    call: Call | None = None
    error: scim_errors.ScimError | None = None


class ScimEndpoint:
    """Wraps a handler: limits, body, a thread with a transaction, error translation, request log."""

    def __init__(
        self,
        handler: Callable[[Call], Response],
        runtime: ScimRuntime,
        *,
        reads_body: bool = True,
    ) -> None:
        self.handler = handler
        self.reads_body = reads_body
        self.rt = runtime
        self.settings = runtime.settings

    async def __call__(self, request: Request) -> Response:
        started = time.perf_counter()
        token = _bearer(request)
        client = request.client.host if request.client else "-"
        raw_body = b""
        outcome = _Outcome()
        try:
            self._check_limits(token, client)
            early: scim_errors.ScimError | None = None
            body = None
            try:
                if self.reads_body and request.method in _BODY_METHODS:
                    raw_body = await self._receive(request)
                    body = _parse_body(raw_body)
            except scim_errors.ScimError as exc:
                early = exc  # answered after the token check: a stranger gets 401
            account = self.rt.known_good.account(token)
            outcome = await self.rt.threads.run(
                lambda kept: self._work(kept, request, token, body, early),
                share=account if account is not None else token,
            )
        except scim_errors.ScimError as exc:
            outcome.error = exc
        except PoolBusyError:
            outcome.error = self._limited(
                "threads", self.settings.db_queue_seconds, "The server is busy", status=503
            )
        except AccountBusyError:
            outcome.error = self._limited(
                "account_concurrency",
                self.settings.db_queue_seconds,
                "Too many requests for this account at once",
                status=503,
            )
        if outcome.error is not None:
            if isinstance(outcome.error, scim_errors.UnauthorizedError):
                self.rt.known_good.discard(token)  # revoked: no longer exempt
                self.rt.limits.check_refused(client)
            outcome.response = error_response(outcome.error)
        elif token and outcome.principal is not None:
            self.rt.known_good.add(token, outcome.principal.account_id)
        assert outcome.response is not None
        elapsed = time.perf_counter() - started
        self._record(request, outcome, elapsed, raw_body)
        return outcome.response

    def _check_limits(self, token: str | None, client: str) -> None:
        """Limits decided before any database work: refused credentials and per-token rate."""
        limits = self.rt.limits
        if token not in self.rt.known_good:
            wait = limits.refused_waiting(client)
            if wait:
                raise self._limited(
                    "refused_credentials",
                    wait,
                    "Too many requests with a missing or refused token from this address",
                )
        if token:
            wait = limits.check_credential(token)
            if wait:
                raise self._limited("token", wait, "Too many requests with this token")

    def _limited(
        self, limit: str, wait: float, detail: str, *, status: int = 429
    ) -> scim_errors.ScimError:
        """The error for a limit hit, counted in the metrics."""
        if self.rt.metrics is not None:
            self.rt.metrics.rate_limited.labels("scim", limit).inc()
        error_class = (
            scim_errors.TooManyRequestsError
            if status == 429
            else scim_errors.ServiceUnavailableError
        )
        return error_class(f"{detail}; retry after Retry-After seconds", headers=retry_after(wait))

    def _work(
        self,
        kept: KeptConnection,
        request: Request,
        token: str | None,
        body: Any,
        early: scim_errors.ScimError | None,
    ) -> _Outcome:
        """The database part, on a request thread: auth, account limits, handler, one transaction."""
        outcome = _Outcome()
        try:
            with kept.transaction(writes=request.method != "GET") as conn:
                outcome.principal = authenticate(conn, token) if token else None
                if outcome.principal is None:
                    raise scim_errors.UnauthorizedError()
                account_id = outcome.principal.account_id
                wait = self.rt.limits.check_account(account_id)
                if wait:
                    raise self._limited("account", wait, "Too many requests for this account")
                if early is not None:
                    raise early
                outcome.call = Call(
                    request=request,
                    conn=conn,
                    principal=outcome.principal,
                    settings=self.settings,
                    body=body,
                )
                outcome.response = self.handler(outcome.call)
            self.rt.outage.succeeded()
        except scim_errors.ScimError as exc:
            outcome.error = exc
        except domain.ServiceError as exc:
            outcome.error = translate(exc)
        except (DataError, psycopg.DataError):
            # e.g. a NUL character, which PostgreSQL text cannot hold (SQLite can)
            outcome.error = scim_errors.InvalidValueError(
                "A value contains characters that cannot be stored or compared"
            )
        except (OperationalError, SATimeoutError) as exc:
            outcome.error = self._database_error(exc)
        except Exception:
            log.exception("unhandled error on %s %s", request.method, request.scope["path"])
            outcome.error = scim_errors.InternalError()
        if outcome.principal is not None:
            self._record_use(kept, outcome.principal)
        return outcome

    def _database_error(self, exc: Exception) -> scim_errors.ScimError:
        """A deadline passed (this request was too slow) or the database is gone (an outage)."""
        metrics = self.rt.metrics
        if is_timeout(exc):
            if metrics is not None:
                metrics.database_errors.labels("timeout").inc()
            return scim_errors.ServiceUnavailableError(
                "The request did not finish in time (database deadline); retry later",
                headers=retry_after(2),
            )
        if metrics is not None:
            metrics.database_errors.labels("unavailable").inc()
        self.rt.outage.failed(exc)
        return scim_errors.ServiceUnavailableError(
            "The database is not answering; retry later", headers=retry_after(5)
        )

    def _record_use(self, kept: KeptConnection, principal: Principal) -> None:
        """Token bookkeeping in its own short transaction, never failing the request."""
        if not needs_touch(principal):
            return
        try:
            with kept.transaction(writes=True) as conn:
                record_use(conn, principal)
        except (OperationalError, SATimeoutError):
            log.warning("could not record token use; will retry on a later request")

    async def _receive(self, request: Request) -> bytes:
        """The body as received (kept for the log even when it does not parse), bounded."""
        media = request.headers.get("content-type", "").split(";")[0].strip().lower()
        if media and media not in ACCEPTED_REQUEST_TYPES:
            raise scim_errors.UnsupportedMediaTypeError()
        limit = self.settings.max_body_bytes
        declared = request.headers.get("content-length")
        if declared is not None and declared.isdigit() and int(declared) > limit:
            raise scim_errors.PayloadTooLargeError(f"The request body is over {limit} bytes")
        chunks = []
        size = 0
        async for chunk in request.stream():
            size += len(chunk)
            if size > limit:
                raise scim_errors.PayloadTooLargeError(f"The request body is over {limit} bytes")
            chunks.append(chunk)
        return b"".join(chunks)

    def _record(self, request: Request, outcome: _Outcome, elapsed: float, raw_body: bytes) -> None:
        response, principal, call, error = (
            outcome.response,
            outcome.principal,
            outcome.call,
            outcome.error,
        )
        assert response is not None
        status = response.status_code
        duration_ms = int(elapsed * 1000)
        if log.isEnabledFor(logging.INFO):
            log.info(
                "method=%s path=%s status=%s duration_ms=%.1f account=%s scim_type=%s",
                request.method,
                request.scope["path"],
                status,
                elapsed * 1000,
                principal.account_id if principal else "-",
                error.scim_type if error is not None and error.scim_type else "-",
            )
        if principal is None:
            return
        if self.rt.metrics is not None:
            self.rt.metrics.count_account(principal.account_id, "scim")
        if self.rt.buffer is None:
            return
        self.rt.buffer.add(
            {
                "account_id": principal.account_id,
                "at": utcnow(),
                "method": request.method,
                "path": request.scope["path"],
                "query": request.scope["query_string"].decode("latin-1"),
                "status": status,
                "duration_ms": duration_ms,
                "scim_type": error.scim_type if error is not None else None,
                "detail": error.detail if error is not None else None,
                "ignored": orjson.dumps(call.ignored).decode()
                if call is not None and call.ignored
                else None,
                "resource_id": call.resource_id if call is not None else None,
                "request_body": raw_body,
                # Successful reads are not kept: they can be asked again, and they are most
                # of the traffic. Writes and every error are what an admin comes to read.
                "response_body": response.body if status >= 400 or request.method != "GET" else b"",
            }
        )


def _parse_body(raw: bytes) -> Any:
    """A SCIM request body: JSON, not empty, not nested beyond MAX_JSON_DEPTH."""
    if not raw.strip():
        raise scim_errors.InvalidSyntaxError("The request body is empty")
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise scim_errors.InvalidSyntaxError(
            f"The request body is not valid JSON: {exc.msg}"
        ) from None
    if _depth(body) > MAX_JSON_DEPTH:
        raise scim_errors.InvalidSyntaxError(
            f"The request body nests deeper than {MAX_JSON_DEPTH} levels"
        )
    return body


def _bearer(request: Request) -> str | None:
    header = request.headers.get("authorization")
    if not header:
        return None
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    return token.strip()


def _depth(value: Any) -> int:
    """Nesting depth of a JSON value, iteratively (a hostile body must not blow the stack)."""
    deepest = 0
    stack = [(value, 1)]
    while stack:
        item, level = stack.pop()
        if isinstance(item, dict):
            deepest = max(deepest, level)
            stack.extend((v, level + 1) for v in item.values())
        elif isinstance(item, list):
            deepest = max(deepest, level)
            stack.extend((v, level + 1) for v in item)
    return deepest


# -- handlers ----------------------------------------------------------------------------------------


def _projection(call: Call, kind: str) -> Projection:
    """attributes/excludedAttributes from the query string (single-resource responses)."""
    return Projection(
        schema_for(kind),
        parse_attribute_list(call.param("attributes")),
        parse_attribute_list(call.param("excludedAttributes")),
    )


def _render_rows(
    call: Call, kind: str, rows: list[dict[str, Any]], projection: Projection
) -> list[dict[str, Any]]:
    ids = [r["id"] for r in rows]
    with_members = kind == "Group" and projection.wants("members")
    with_groups = kind == "User" and projection.wants("groups")
    members = store.members_of(call.conn, call.account_id, ids) if with_members and ids else {}
    groups = store.groups_of(call.conn, call.account_id, ids) if with_groups and ids else {}
    return [
        projection.apply(
            render_resource(
                kind,
                row,
                base_url=call.base_url,
                members=members.get(row["id"], []) if with_members else None,
                groups=groups.get(row["id"]),
            )
        )
        for row in rows
    ]


def _single(
    call: Call,
    kind: str,
    row: dict[str, Any],
    status: int = 200,
    projection: Projection | None = None,
) -> Response:
    projection = projection or _projection(call, kind)
    resource = _render_rows(call, kind, [row], projection)[0]
    headers = {"ETag": etag(row["version"])}
    if status == 201:
        headers["Location"] = (
            f"{call.base_url}/{'Users' if kind == 'User' else 'Groups'}/{row['id']}"
        )
    return scim_response(resource, status, headers)


# startIndex beyond this addresses no row: SQLite and PostgreSQL take OFFSET as a signed
# 64-bit integer (a larger one overflows) and neither can hold 2^63 - 1 rows. A larger
# startIndex is clamped here, so the answer is what RFC 7644 §3.4.2.4 asks for past the
# last result (an empty page with the exact totalResults), and the startIndex echoed in
# the ListResponse is this clamped value: one that fits the 64-bit integers JSON encoders
# (orjson included) and most clients can read, never the unbounded number sent.
_MAX_START_INDEX = 2**63 - 1


def _int_param(raw: Any, name: str) -> int | None:
    """A paging integer from the query string or a SearchRequest; anything else is invalidValue."""
    if raw is None or raw == "":
        return None
    if isinstance(raw, bool):
        raise scim_errors.InvalidValueError(f"{name} must be an integer")
    if isinstance(raw, int):
        return raw
    if isinstance(raw, float):
        # orjson reads an integer beyond 64 bits (and 5.0) as a float: whole ones are integers.
        if raw.is_integer():
            return int(raw)
        raise scim_errors.InvalidValueError(f"{name} must be an integer, got {raw!r}")
    try:
        return int(str(raw).strip())
    except ValueError:
        raise scim_errors.InvalidValueError(f"{name} must be an integer, got {raw!r}") from None


def _search(call: Call, kinds: list[str], params: dict[str, Any]) -> Response:
    """GET list and POST /.search share this: filter, sort, page, project."""
    start = _int_param(params.get("startIndex"), "startIndex")
    count = _int_param(params.get("count"), "count")
    start = 1 if start is None or start < 1 else min(start, _MAX_START_INDEX)
    count = (
        call.settings.default_page_size
        if count is None
        else max(0, min(count, call.settings.max_page_size))
    )
    raw_filter = params.get("filter")
    if raw_filter is not None and not isinstance(raw_filter, str):
        raise scim_errors.InvalidFilterError("filter must be a string")
    ast = parse_filter(raw_filter) if raw_filter is not None and raw_filter.strip() else None
    if ast is not None:
        check_filter_budget(ast, call.settings.filter_budget)
    sort_by = params.get("sortBy")
    order = str(params.get("sortOrder") or "ascending").lower()
    if order not in ("ascending", "descending"):
        raise scim_errors.InvalidValueError("sortOrder is 'ascending' or 'descending'")
    dialect = call.conn.dialect.name
    resources: list[dict[str, Any]] = []
    total = 0
    offset = start - 1
    remaining = count
    for kind in kinds:
        schema = schema_for(kind)
        fast: tuple[str | None, list[Any]] | None = None
        if not sort_by:
            fast = (
                (None, [])
                if ast is None
                else compile_lookup(
                    ast, kind, account_id=call.account_id, postgres=dialect == "postgresql"
                )
            )
        if fast is not None:
            kind_total, rows = store.lookup_resources(
                call.conn,
                call.account_id,
                kind,
                where=fast[0],
                params=fast[1],
                offset=offset,
                limit=remaining,
            )
        else:
            where = (
                compile_filter(
                    ast,
                    schema,
                    dialect,
                    account_id=call.account_id,
                    unknown_is_false=len(kinds) > 1,
                )
                if ast is not None
                else None
            )
            order_by = [sort_expression(schema, sort_by, order)] if sort_by else []
            kind_total, rows = store.query_resources(
                call.conn,
                call.account_id,
                kind,
                where=where,
                order_by=order_by,
                offset=offset,
                limit=remaining,
            )
        total += kind_total
        offset = max(0, offset - kind_total)
        projection = Projection(schema, params["attributes"], params["excludedAttributes"])
        resources.extend(_render_rows(call, kind, rows, projection))
        remaining = count - len(resources)
    return scim_response(list_response(resources, total=total, start_index=start))


def _query_params(call: Call) -> dict[str, Any]:
    """A list request's parameters; one that is not UTF-8 is refused rather than searched for."""
    bad = undecodable_param(call.request.scope["query_string"])
    if bad is not None:
        error = (
            scim_errors.InvalidFilterError
            if bad.lower() == "filter"
            else scim_errors.InvalidValueError
        )
        raise error(f"The query parameter {bad!r} is not valid UTF-8")
    return {
        "filter": call.param("filter"),
        "startIndex": call.param("startIndex"),
        "count": call.param("count"),
        "sortBy": call.param("sortBy"),
        "sortOrder": call.param("sortOrder"),
        "attributes": parse_attribute_list(call.param("attributes")),
        "excludedAttributes": parse_attribute_list(call.param("excludedAttributes")),
    }


def _search_body(call: Call) -> dict[str, Any]:
    body = call.body
    if not isinstance(body, dict):
        raise scim_errors.InvalidSyntaxError("A SearchRequest body must be a JSON object")
    fields = {str(k).lower(): v for k, v in body.items()}
    schemas = fields.get("schemas")
    if schemas is not None and (
        not isinstance(schemas, list)
        or SEARCH_REQUEST.lower() not in [str(s).lower() for s in schemas]
    ):
        raise scim_errors.InvalidSyntaxError(
            f"A search body must declare the schema {SEARCH_REQUEST}"
        )

    def names(value: Any, label: str) -> list[str] | None:
        if value is None:
            return None
        if isinstance(value, str):
            return parse_attribute_list(value)
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise scim_errors.InvalidValueError(f"{label} must be a list of attribute names")
        return value

    return {
        "filter": fields.get("filter"),
        "startIndex": fields.get("startindex"),
        "count": fields.get("count"),
        "sortBy": fields.get("sortby"),
        "sortOrder": fields.get("sortorder"),
        "attributes": names(fields.get("attributes"), "attributes"),
        "excludedAttributes": names(fields.get("excludedattributes"), "excludedAttributes"),
    }


def make_handlers(kind: str) -> dict[str, Callable[[Call], Response]]:
    """The handlers of one resource endpoint (`/Users` or `/Groups`)."""

    def list_(call: Call) -> Response:
        return _search(call, [kind], _query_params(call))

    def search(call: Call) -> Response:
        return _search(call, [kind], _search_body(call))

    def create(call: Call) -> Response:
        written = directory.create(call.conn, call.account_id, kind, call.body, now=utcnow())
        call.ignored, call.resource_id = written.ignored, written.row["id"]
        return _single(call, kind, written.row, 201)

    def get(call: Call) -> Response:
        resource_id = call.request.path_params["id"]
        call.resource_id = resource_id
        row = directory.get(call.conn, call.account_id, kind, resource_id)
        if_none_match = call.request.headers.get("if-none-match")
        if if_none_match and etag(row["version"]) in [t.strip() for t in if_none_match.split(",")]:
            return Response(status_code=304, headers={"ETag": etag(row["version"])})
        return _single(call, kind, row)

    def replace(call: Call) -> Response:
        resource_id = call.request.path_params["id"]
        call.resource_id = resource_id
        written = directory.replace(
            call.conn,
            call.account_id,
            kind,
            resource_id,
            call.body,
            now=utcnow(),
            if_match=call.request.headers.get("if-match"),
        )
        call.ignored = written.ignored
        return _single(call, kind, written.row)

    def patch(call: Call) -> Response:
        resource_id = call.request.path_params["id"]
        call.resource_id = resource_id
        written = directory.patch(
            call.conn,
            call.account_id,
            kind,
            resource_id,
            call.body,
            now=utcnow(),
            if_match=call.request.headers.get("if-match"),
            max_operations=call.settings.max_patch_operations,
        )
        call.ignored = written.ignored
        asked = call.param("attributes") is not None or call.param("excludedAttributes") is not None
        if kind == "Group" and not asked:
            # Entra: "Update to the group PATCH request should yield an HTTP 204 No Content".
            return Response(status_code=204, headers={"ETag": etag(written.row["version"])})
        return _single(call, kind, written.row)

    def delete(call: Call) -> Response:
        resource_id = call.request.path_params["id"]
        call.resource_id = resource_id
        directory.delete(
            call.conn,
            call.account_id,
            kind,
            resource_id,
            if_match=call.request.headers.get("if-match"),
        )
        return Response(status_code=204)

    return {
        "list": list_,
        "search": search,
        "create": create,
        "get": get,
        "replace": replace,
        "patch": patch,
        "delete": delete,
    }


def root_search(call: Call) -> Response:
    """POST /.search across Users and Groups."""
    return _search(call, ["User", "Group"], _search_body(call))


def discovery_spc(call: Call) -> Response:
    return scim_response(service_provider_config(call.base_url, call.settings))


def discovery_resource_types(call: Call) -> Response:
    items = resource_types(call.base_url)
    return scim_response(list_response(items, total=len(items), start_index=1))


def discovery_resource_type(call: Call) -> Response:
    name = call.request.path_params["name"]
    for item in resource_types(call.base_url):
        if item["id"].lower() == name.lower():
            return scim_response(item)
    raise scim_errors.NotFoundError(f"Resource type {name!r} not found")


def discovery_schemas(call: Call) -> Response:
    items = schemas_list(call.base_url)
    return scim_response(list_response(items, total=len(items), start_index=1))


def discovery_schema(call: Call) -> Response:
    urn = call.request.path_params["urn"]
    for item in schemas_list(call.base_url):
        if item["id"].lower() == urn.lower():
            return scim_response(item)
    raise scim_errors.NotFoundError(f"Schema {urn!r} not found")


def not_implemented(call: Call) -> Response:
    raise scim_errors.NotImplementedScimError(
        f"{call.request.url.path.rsplit('/', 1)[-1]} is not supported (see /ServiceProviderConfig)"
    )


def not_found(call: Call) -> Response:
    raise scim_errors.NotFoundError(f"No SCIM endpoint at {call.request.url.path}")


def method_not_allowed(call: Call) -> Response:
    raise scim_errors.MethodNotAllowedError(
        f"{call.request.method} is not supported on {call.request.url.path}"
    )


class _AnyMethod:
    """An endpoint as a plain ASGI app, so Starlette routes every verb to it (not just GET)."""

    def __init__(self, endpoint: ScimEndpoint) -> None:
        self.app = request_response(endpoint.__call__)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self.app(scope, receive, send)


def scim_router(prefix: str, runtime: ScimRuntime) -> Router:
    """A bare Starlette router for /scim/v2: no framework middleware on the IdP's hot path.

    After the real routes come a 405 route per path and a 404 catch-all, so every
    answer, even for a wrong method or path, is a SCIM Error body.
    """
    routes = scim_routes(runtime)
    paths = list(dict.fromkeys(route.path for route in routes))
    wrapped = [Route(prefix + r.path, r.endpoint, methods=list(r.methods or [])) for r in routes]
    wrapped += [
        Route(
            prefix + path,
            _AnyMethod(ScimEndpoint(method_not_allowed, runtime, reads_body=False)),
            methods=None,  # any verb, TRACE and PROPFIND included: a SCIM error, token first
        )
        for path in paths
    ]
    catch_all = _AnyMethod(ScimEndpoint(not_found, runtime, reads_body=False))
    wrapped += [
        Route(prefix, catch_all, methods=None),
        Route(prefix + "/{rest:path}", catch_all, methods=None),
    ]
    return Router(routes=wrapped)


def scim_routes(runtime: ScimRuntime) -> list[Route]:
    """Every /scim/v2 route, each wrapped in ScimEndpoint."""

    def wrap(handler: Callable[[Call], Response]) -> Callable[[Request], Any]:
        # A bound method, so Starlette treats it as a request/response endpoint.
        return ScimEndpoint(handler, runtime).__call__

    routes: list[Route] = []
    for kind, endpoint in (("User", "/Users"), ("Group", "/Groups")):
        h = make_handlers(kind)
        routes += [
            Route(endpoint, wrap(h["list"]), methods=["GET"]),
            Route(endpoint, wrap(h["create"]), methods=["POST"]),
            Route(endpoint + "/.search", wrap(h["search"]), methods=["POST"]),
            Route(endpoint + "/{id}", wrap(h["get"]), methods=["GET"]),
            Route(endpoint + "/{id}", wrap(h["replace"]), methods=["PUT"]),
            Route(endpoint + "/{id}", wrap(h["patch"]), methods=["PATCH"]),
            Route(endpoint + "/{id}", wrap(h["delete"]), methods=["DELETE"]),
        ]
    routes += [
        Route("/.search", wrap(root_search), methods=["POST"]),
        Route("/ServiceProviderConfig", wrap(discovery_spc), methods=["GET"]),
        Route("/ResourceTypes", wrap(discovery_resource_types), methods=["GET"]),
        Route("/ResourceTypes/{name}", wrap(discovery_resource_type), methods=["GET"]),
        Route("/Schemas", wrap(discovery_schemas), methods=["GET"]),
        Route("/Schemas/{urn:path}", wrap(discovery_schema), methods=["GET"]),
        Route("/Bulk", wrap(not_implemented), methods=["POST"]),
        Route("/Me", wrap(not_implemented), methods=["GET", "POST", "PUT", "PATCH", "DELETE"]),
    ]
    return routes
