"""The SCIM endpoint wrapper: limits, body, a request thread with one transaction, one error
translation point, and the request log, around every /scim/v2 handler.

`ScimEndpoint` applies the rate limits, receives the body, then on a request thread
(web/db_threads.py: bounded, per-account shares, a deadline) authenticates the bearer
token, opens one transaction, runs the handler, turns every error into an RFC 7644 Error
body, and records the request in the account's request log. Nothing waits on the
database on the event loop, so one slow request stalls no other.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import orjson
from sqlalchemy import Connection
from starlette.requests import Request
from starlette.responses import Response

from scimgate import errors as domain
from scimgate.accounts.service import (
    Principal,
    authenticate,
    hash_token,
    needs_touch,
    record_use,
)
from scimgate.provisioning import directory
from scimgate.scim import errors as scim_errors
from scimgate.scim.client_habits import habits_of, request_client
from scimgate.scim.constants import (
    ACCEPTED_REQUEST_TYPES,
    MEDIA_TYPE,
)
from scimgate.scim.text import whole_number
from scimgate.settings import Settings
from scimgate.store.accounts import TokenGuard
from scimgate.store.database import KeptConnection
from scimgate.timestamps import utcnow
from scimgate.web.access_log import AccessLog
from scimgate.web.client_habits import ClientProfiles, HabitCounts
from scimgate.web.db_threads import AccountBusyError, PoolBusyError, RequestThreads, retry_after
from scimgate.web.known_tokens import KnownTokens
from scimgate.web.metrics import Metrics
from scimgate.web.outage import OutageLog
from scimgate.web.rate_limits import SurfaceLimits
from scimgate.web.request_log import RequestLogBuffer
from scimgate.web.scim_request import bearer_token, parse_body
from scimgate.web.status_table import answer_for, scim_error

log = logging.getLogger("scimgate.access")

_BODY_METHODS = {"POST", "PUT", "PATCH"}


def scim_response(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    """A JSON body with the SCIM media type."""
    return Response(orjson.dumps(body), status_code=status, media_type=MEDIA_TYPE, headers=headers)


def error_response(error: scim_errors.ScimError) -> Response:
    """The RFC 7644 §3.12 Error body for a protocol error."""
    return scim_response(error.to_body(), error.status, error.headers or None)


class AfterCommit(Response):
    """A handler's answer that is work still to do on the kept connection, after the
    request's own transaction (auth, limits) has committed: a Bulk runs each of its
    operations in a transaction of its own (provisioning/bulk.py)."""

    def __init__(self, work: Callable[[KeptConnection], Response]) -> None:
        super().__init__()
        self.work = work


@dataclass
class Call:
    """What a handler gets: the request's parts, the account, its transaction and a scratchpad for the log."""

    request: Request
    conn: Connection
    principal: Principal
    settings: Settings
    body: Any = None
    read: Any = None  # the body as the endpoint's reader read it (a Bulk: its BulkRequest)
    ignored: list[str] = field(default_factory=list)
    resource_id: str | None = None
    guard: TokenGuard | None = None  # the token check a read may make in its own statement
    profiles: ClientProfiles | None = None
    requests: int = 1  # what the per-account counts count it as (a Bulk: its operations)
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

    def client(self) -> str | None:
        """The identity provider behind this request: the request's own User-Agent or an
        IdP-only habit in its body; else, only for a request without a User-Agent, the
        account's profile (cached per process). A request whose User-Agent names another
        client (curl, a script, a validator) is that client's, not the account's IdP's."""
        agent = self.request.headers.get("user-agent")
        query = self.request.scope["query_string"].decode("latin-1")
        own = request_client(agent, query, self.body)
        if own is not None or self.profiles is None or (agent and agent.strip()):
            return own
        return self.profiles.client(self.conn, self.account_id)


@dataclass
class ScimRuntime:
    """What every SCIM endpoint shares: threads, limits, the log, the outage tracker, metrics."""

    threads: RequestThreads
    settings: Settings
    buffer: RequestLogBuffer | None
    limits: SurfaceLimits
    outage: OutageLog
    metrics: Metrics | None = None
    known_good: KnownTokens = field(default_factory=KnownTokens)
    access: AccessLog = field(default_factory=AccessLog)
    habits: HabitCounts = field(default_factory=HabitCounts)
    profiles: ClientProfiles = field(default_factory=ClientProfiles)


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
        fuse_auth: bool = False,
        body_limit: int | None = None,
        reader: Callable[[Any], Any] | None = None,
        cost: Callable[[Any], int] | None = None,
    ) -> None:
        self.handler = handler
        self.reads_body = reads_body
        self.fuse_auth = fuse_auth
        self.rt = runtime
        self.settings = runtime.settings
        self.body_limit = body_limit or runtime.settings.max_body_bytes
        # A body read once into the handler's request (a Bulk), after the token check; the
        # request's charge on the account's rate limit comes from what was read (a Bulk: its
        # operations), so the limit and the handler never see two readings of one body.
        self.reader = reader
        self.cost = cost

    async def __call__(self, request: Request) -> Response:
        started = time.perf_counter()
        token = bearer_token(request)
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
                    body = parse_body(raw_body)
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

    async def read_member_page(
        self, account_id: int, group_id: str, after: str
    ) -> list[dict[str, Any]]:
        """The next page of a streamed group's members, read on a request thread in the
        account's share (a failure here cuts the stream: the status has been sent)."""

        def read(kept: KeptConnection) -> list[dict[str, Any]]:
            with kept.transaction(writes=False) as conn:
                return directory.member_page(
                    conn, account_id, group_id, after=after, limit=self.settings.group_member_page
                )

        return await self.rt.threads.run(read, share=account_id)

    def log_unhandled(self, scope: dict[str, Any]) -> None:
        """An error that escaped the endpoint itself (a bug): logged with its traceback."""
        log.exception("unhandled error on %s %s", scope.get("method"), scope.get("path"))

    def _check_limits(self, token: str | None, client: str) -> None:
        """Limits decided before any database work: refused credentials and per-token rate."""
        hit = self.rt.limits.before_auth(token, client, exempt=token in self.rt.known_good)
        if hit is None:
            return
        limit, wait = hit
        if limit == "credential":
            raise self._limited("token", wait, "Too many requests with this token")
        raise self._limited(
            limit, wait, "Too many requests with a missing or refused token from this address"
        )

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
        guard = self._guard(kept, request, token, early)
        try:
            with kept.transaction(writes=request.method not in ("GET", "HEAD")) as conn:
                principal = self._principal(conn, token, guard, outcome)
                read, early = self._read(body, early)
                cost = self.cost(read) if self.cost is not None and early is None else 1
                wait = self.rt.limits.check_account(principal.account_id, cost)
                if wait:
                    raise self._limited("account", wait, _account_limit_detail(cost))
                if early is not None:
                    raise early
                outcome.call = Call(
                    request=request,
                    conn=conn,
                    principal=principal,
                    settings=self.settings,
                    body=body,
                    read=read,
                    guard=guard,
                    profiles=self.rt.profiles,
                )
                response = self.handler(outcome.call)
                if guard is not None:
                    outcome.principal = self._verified(conn, token, guard)
                outcome.response = response
            if isinstance(outcome.response, AfterCommit):
                outcome.response = outcome.response.work(kept)
            self.rt.outage.succeeded()
        except (scim_errors.ScimError, domain.ServiceError) as exc:
            outcome.error = self._refusal(kept, token, guard, outcome, exc)
        except domain.StorageError as exc:
            outcome.error = self._database_error(exc)
        except Exception:
            log.exception("unhandled error on %s %s", request.method, request.scope["path"])
            outcome.error = scim_errors.InternalError()
        if outcome.principal is not None:
            self._record_use(kept, outcome.principal)
        return outcome

    def _read(
        self, body: Any, early: scim_errors.ScimError | None
    ) -> tuple[Any, scim_errors.ScimError | None]:
        """The body read by the endpoint's reader, or the error it is answered with."""
        if self.reader is None or early is not None:
            return None, early
        try:
            return self.reader(body), None
        except scim_errors.ScimError as exc:
            return None, exc

    @staticmethod
    def _principal(
        conn: Connection, token: str | None, guard: TokenGuard | None, outcome: _Outcome
    ) -> Principal:
        """Who the request speaks for: authenticated now, or (a fused check) the account this
        token had lately, checked in the handler's read."""
        if guard is not None:
            return Principal(guard.account_id, 0)
        principal = authenticate(conn, token) if token else None
        if principal is None:
            raise scim_errors.UnauthorizedError()
        outcome.principal = principal
        return principal

    def _refusal(
        self,
        kept: KeptConnection,
        token: str | None,
        guard: TokenGuard | None,
        outcome: _Outcome,
        exc: scim_errors.ScimError | domain.ServiceError,
    ) -> scim_errors.ScimError:
        """The error to answer with: 401 unless the token is known good, else the error's own."""
        if guard is not None and outcome.principal is None:
            outcome.principal = self._verified_apart(kept, token, guard)
        if outcome.principal is None:
            return scim_errors.UnauthorizedError()
        if isinstance(exc, scim_errors.ScimError):
            return exc
        return scim_error(exc)

    def _guard(
        self,
        kept: KeptConnection,
        request: Request,
        token: str | None,
        early: scim_errors.ScimError | None,
    ) -> TokenGuard | None:
        """A fused token check on PostgreSQL for a token that authenticated lately: made in the
        request's first read (a write's too), or, when no read made it, before the commit."""
        if not (self.fuse_auth and token and early is None and kept.postgres):
            return None
        account_id = self.rt.known_good.account(token)
        return None if account_id is None else TokenGuard(hash_token(token), account_id)

    @staticmethod
    def _verified(conn: Connection, token: str | None, guard: TokenGuard) -> Principal | None:
        """Who the token speaks for: from the read's own check, or (no read made it) asked now."""
        if not guard.checked:
            principal = authenticate(conn, token) if token else None
            if principal is None or principal.account_id != guard.account_id:
                raise scim_errors.UnauthorizedError()
            return principal
        if not guard.live or guard.token_id is None:
            raise scim_errors.UnauthorizedError()
        return Principal(guard.account_id, guard.token_id, guard.last_used_at)

    def _verified_apart(
        self, kept: KeptConnection, token: str | None, guard: TokenGuard
    ) -> Principal | None:
        """The token checked before an error is told (a refused token hears only 401)."""
        if guard.checked:
            if not guard.live or guard.token_id is None:
                return None
            return Principal(guard.account_id, guard.token_id, guard.last_used_at)
        try:
            with kept.transaction(writes=False) as conn:
                return self._verified(conn, token, guard)
        except (domain.StorageError, scim_errors.ScimError):
            return None

    def _database_error(self, exc: domain.StorageError) -> scim_errors.ScimError:
        """A deadline passed (this request was too slow) or the database is gone (an outage)."""
        failure = self.rt.outage.classify(exc)
        return answer_for(exc).scim(failure.detail, headers=retry_after(failure.retry_seconds))

    def _record_use(self, kept: KeptConnection, principal: Principal) -> None:
        """Token bookkeeping in its own short transaction, never failing the request."""
        if not needs_touch(principal):
            return
        try:
            with kept.transaction(writes=True) as conn:
                record_use(conn, principal)
        except domain.StorageError:
            log.warning("could not record token use; will retry on a later request")

    async def _receive(self, request: Request) -> bytes:
        """The body as received (kept for the log even when it does not parse), bounded."""
        media = request.headers.get("content-type", "").split(";")[0].strip().lower()
        if media and media not in ACCEPTED_REQUEST_TYPES:
            raise scim_errors.UnsupportedMediaTypeError()
        limit = self.body_limit
        declared = request.headers.get("content-length")
        length = whole_number(declared)  # "²".isdigit() is True, and int() raises on it
        if length is not None and length > limit:
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
        # Whole milliseconds, rounded: int() made every request under 1 ms (most lookups) 0.
        duration_ms = round(elapsed * 1000)
        access = self.rt.access
        if access.enabled():
            path = request.scope["path"]
            if not path.isprintable():  # a decoded %0A must not start a forged log line
                path = path.encode("unicode_escape").decode("ascii")
            access.add(
                f"method={request.method} path={path} status={status}"
                f" duration_ms={elapsed * 1000:.1f}"
                f" account={principal.account_id if principal else '-'}"
                f" scim_type={error.scim_type if error is not None and error.scim_type else '-'}"
            )
        if principal is None:
            return
        if self.rt.metrics is not None:
            counted = call.requests if call is not None else 1
            self.rt.metrics.count_account(principal.account_id, "scim", counted)
        at = utcnow()
        self._note_habits(request, principal.account_id, call, at)
        if self.rt.buffer is None:
            return
        self.rt.buffer.add(
            {
                "account_id": principal.account_id,
                "at": at,
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

    def _note_habits(self, request: Request, account_id: int, call: Call | None, at: Any) -> None:
        """Count what this request shows of its client (in memory; see web/client_habits.py).
        Never fails the request: a body that trips the reading is simply not counted."""
        try:
            agent = request.headers.get("user-agent")
            query = request.scope["query_string"].decode("latin-1")
            body = call.body if call is not None else None
            habits = habits_of(request.method, request.scope["path"], query, agent, body)
            self.rt.habits.note(account_id, habits, at, agent)
        except Exception:  # evidence is best effort; the answer is not
            log.exception("could not count the habits of %s %s", request.method, request.url.path)


def _account_limit_detail(cost: int) -> str:
    """The 429 detail: a Bulk is refused whole when the account cannot pay all its operations."""
    if cost == 1:
        return "Too many requests for this account"
    return f"Too many requests for this account: this Bulk counts as {cost} requests"
