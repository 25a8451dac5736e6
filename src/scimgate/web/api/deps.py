"""What every /api/v1 handler depends on: the shared context (engines, settings, limits)
and the account resolved from the API key, as FastAPI dependencies."""

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Depends, Request
from sqlalchemy import Connection, Engine

from scimgate.accounts import api_keys
from scimgate.accounts.api_keys import ApiPrincipal
from scimgate.errors import InvalidValueError
from scimgate.settings import Settings
from scimgate.store.database import deadline
from scimgate.store.errors import storage_edge
from scimgate.web.api.problems import ApiError
from scimgate.web.db_threads import retry_after
from scimgate.web.metrics import Metrics
from scimgate.web.outage import OutageLog
from scimgate.web.rate_limits import SurfaceLimits


@dataclass(frozen=True)
class ApiContext:
    """What the handlers of one /api/v1 application share.

    Requests read and write through `request_engine` (its connections carry the request
    deadlines) under rate limits per API key and per account; background work (a
    triggered Synchronize) uses `engine`.
    """

    engine: Engine
    request_engine: Engine
    settings: Settings
    limits: SurfaceLimits
    outage: OutageLog
    metrics: Metrics | None

    @contextmanager
    def transaction(self, writes: bool = False, *, snapshot: bool = False) -> Iterator[Connection]:
        """One request transaction under the request deadline; a failed database is
        raised as a StorageError (answered 503 by the table). With `snapshot`, every
        statement sees the same committed state (REPEATABLE READ on PostgreSQL; a SQLite
        read transaction does anyway)."""
        with (
            storage_edge(),
            deadline(self.settings.request_timeout_seconds),
            self.request_engine.connect() as conn,
        ):
            conn.execution_options(writes=writes)
            if snapshot and conn.dialect.name == "postgresql":
                conn.execution_options(isolation_level="REPEATABLE READ")
            with conn.begin():
                yield conn
        self.outage.succeeded()

    def limited(self, limit: str, wait: float, detail: str) -> ApiError:
        """The 429 for a limit hit, counted in the metrics."""
        if self.metrics is not None:
            self.metrics.rate_limited.labels("api", limit).inc()
        return ApiError(429, "Too Many Requests", detail, retry_after(wait))


def api_context(request: Request) -> ApiContext:
    """The context create_api left on the application."""
    context: ApiContext = request.app.state.api_context
    return context


Context = Annotated[ApiContext, Depends(api_context)]


def caller(request: Request, ctx: Context) -> ApiPrincipal:
    """The account the request's API key speaks for, after the rate limits."""
    header = request.headers.get("authorization", "")
    scheme, _, key = header.partition(" ")
    key = key.strip() if scheme.lower() == "bearer" else ""
    client = request.client.host if request.client else "-"
    limits = ctx.limits
    principal = None
    if hit := limits.before_auth(key, client):
        limit, wait = hit
        if limit == "credential":
            raise ctx.limited("key", wait, "Too many requests with this API key")
        raise ctx.limited(limit, wait, "Too many refused API keys from this address")
    if key:
        with ctx.transaction(writes=False) as conn:
            principal = api_keys.authenticate(conn, key)
    if principal is None:
        limits.check_refused(client)
        raise ApiError(
            401,
            "Unauthorized",
            "Send a live API key: Authorization: Bearer sgk_… (scimgate apikey create)",
            {"WWW-Authenticate": 'Bearer realm="scimgate"'},
        )
    if wait := limits.check_account(principal.account_id):
        raise ctx.limited("account", wait, "Too many requests for this account")
    if ctx.metrics is not None:
        ctx.metrics.count_account(principal.account_id, "api")
    if api_keys.needs_touch(principal):
        with ctx.transaction(writes=True) as conn:
            api_keys.record_use(conn, principal)
    return principal


Caller = Annotated[ApiPrincipal, Depends(caller)]


def refuse_nul(*values: Any) -> None:
    """A NUL character is refused before any database sees it (PostgreSQL text cannot hold one)."""
    if any(isinstance(v, str) and "\x00" in v for v in values):
        raise InvalidValueError("A value contains a NUL character")
