"""The ASGI application factory: settings in, app out; nothing is built at import time."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import hmac
import logging
import re
from collections.abc import AsyncIterator, Callable
from typing import Any

import orjson
from fastapi import FastAPI
from sqlalchemy import Engine
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Router
from starlette.types import Receive, Scope, Send

from scimgate import __version__
from scimgate.logs import configure_logging
from scimgate.operations import status
from scimgate.operations.status import Figures
from scimgate.settings import Settings
from scimgate.store.database import RequestLimits, make_engine
from scimgate.sync.engine import SyncOptions
from scimgate.sync.schedule import Scheduler
from scimgate.web.api.app import create_api
from scimgate.web.console.endpoint import MAX_FORM_BYTES
from scimgate.web.console.routes import console_mount
from scimgate.web.db_threads import RequestThreads
from scimgate.web.docs_views import docs_mount
from scimgate.web.guard import Guard
from scimgate.web.health import Health
from scimgate.web.metrics import Metrics
from scimgate.web.outage import OutageLog
from scimgate.web.rate_limits import SurfaceLimits
from scimgate.web.request_log import RequestLogBuffer
from scimgate.web.scim_api import scim_router
from scimgate.web.scim_endpoint import ScimRuntime
from scimgate.web.setup.routes import setup_mount
from scimgate.webhooks.delivery import WebhookWorker

log = logging.getLogger("scimgate")

SCIM_PREFIX = "/scim/v2"
_DOUBLE_SLASH = re.compile("/{2,}")


def create_app(settings: Settings, *, engine: Engine | None = None) -> ScimGateApp:
    """Build the app: /scim/v2 for IdPs, /api/v1 for the host, /console for admins, health, metrics.

    `engine` serves background work (sync, scheduler, webhooks, the request log); requests
    get an engine of their own whose connections carry the request deadlines.
    """
    engine = engine or make_engine(settings.database_url)
    request_engine = make_engine(
        settings.database_url,
        limits=RequestLimits(
            statement_timeout_ms=settings.db_statement_timeout_ms,
            lock_timeout_ms=settings.db_lock_timeout_ms,
            busy_timeout_ms=settings.sqlite_busy_timeout_ms,
        ),
    )
    buffer = RequestLogBuffer(
        engine,
        max_rows=settings.request_log_max_rows,
        max_days=settings.request_log_max_days,
        flush_seconds=settings.request_log_flush_seconds,
    )
    threads = RequestThreads(request_engine, settings)
    background: dict[str, Any] = {}
    metrics = Metrics(lambda: _figures(request_engine)) if settings.metrics else None
    outage = OutageLog(metrics.count_database_error if metrics is not None else None)
    health = Health(request_engine, outage, lambda: _workers_alive(buffer, background))
    lifespan = _lifespan(settings, engine, request_engine, buffer, threads, metrics, background)

    app = FastAPI(
        title="scimgate", version=__version__, lifespan=lifespan, docs_url=None, redoc_url=None
    )
    app.state.settings = settings
    app.state.engine = engine
    app.state.request_engine = request_engine
    app.state.request_log = buffer
    app.state.metrics = metrics
    app.state.outage = outage
    runtime = ScimRuntime(
        threads=threads,
        settings=settings,
        buffer=buffer,
        limits=_surface_limits(settings, settings.scim_rate_per_second, settings.scim_rate_burst),
        outage=outage,
        metrics=metrics,
    )
    runtime.habits.on_new_habits = runtime.profiles.forget
    buffer.companions.append(lambda: runtime.habits.flush(engine))
    scim = scim_router(SCIM_PREFIX, runtime)

    app.router.routes.append(console_mount(engine, settings, outage))
    app.router.routes.append(docs_mount(settings))  # the guides, for the console's links
    app.router.routes.append(setup_mount(engine, settings))  # setup links' guided setup
    app.mount(
        "/api/v1",
        create_api(
            engine,
            settings,
            request_engine=request_engine,
            limits=_surface_limits(settings, settings.api_rate_per_second, settings.api_rate_burst),
            outage=outage,
            metrics=metrics,
        ),
    )
    _add_probe_routes(app, settings, health, metrics)

    bulk_path = f"{SCIM_PREFIX}/bulk".lower()

    def body_limit(path: str) -> int:
        if path.startswith(("/console", "/setup")):
            return MAX_FORM_BYTES
        if path.lower() == bulk_path:  # the router matches it in any case too
            return settings.bulk_max_payload_bytes
        return settings.max_body_bytes

    return ScimGateApp(app, scim, body_limit, metrics)


def _surface_limits(settings: Settings, rate: float, burst: float) -> SurfaceLimits:
    """One surface's rate limits, shared out over this server's workers."""
    return SurfaceLimits(rate, burst, workers=settings.workers, enabled=settings.rate_limits)


def _lifespan(
    settings: Settings,
    engine: Engine,
    request_engine: Engine,
    buffer: RequestLogBuffer,
    threads: RequestThreads,
    metrics: Metrics | None,
    background: dict[str, Any],
) -> Callable[[FastAPI], contextlib.AbstractAsyncContextManager[None]]:
    """Start the background workers with the app and stop them, then the engines, after it."""

    @contextlib.asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        background["flusher"] = buffer.start()  # supervised: restarted if it ever dies
        gauges = asyncio.create_task(_update_gauges(metrics, buffer, threads))
        _start_workers(settings, engine, background)
        try:
            yield
        finally:
            for name in ("scheduler", "webhooks"):
                if name in background:
                    await asyncio.to_thread(background[name].stop)
            gauges.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await gauges
            await buffer.stop()
            await asyncio.to_thread(threads.close)
            request_engine.dispose()

    return lifespan


def _start_workers(settings: Settings, engine: Engine, background: dict[str, Any]) -> None:
    """The scheduler and the webhook worker, each only when its setting turns it on."""
    if settings.scheduler:
        background["scheduler"] = Scheduler(
            engine,
            interval=settings.scheduler_interval_seconds,
            options=SyncOptions.from_settings(settings),
        )
        background["scheduler"].start()
    if settings.webhooks:
        background["webhooks"] = WebhookWorker(engine, settings)
        background["webhooks"].start()


def _add_probe_routes(
    app: FastAPI, settings: Settings, health: Health, metrics: Metrics | None
) -> None:
    """The bare address, liveness, readiness, metrics and the generic 500 outside /scim/v2."""

    @app.get("/", include_in_schema=False)
    def root() -> Response:
        """People who open the bare address land on the console."""
        return RedirectResponse("/console/", status_code=307)

    # HEAD too: load balancers often probe with it (Starlette sends the headers, no body).
    @app.api_route("/livez", methods=["GET", "HEAD"], include_in_schema=False)
    async def livez() -> dict[str, Any]:
        """The process answers: restart it only when this fails."""
        return {"status": "ok", "version": __version__}

    async def ready(_request: Request) -> Response:
        """Database, schema and workers: send traffic here only when this is 200."""
        result = await health.readiness()
        body = {**result.body(), "version": __version__}
        headers = None if result.ready else {"Retry-After": "5"}
        return Response(
            orjson.dumps(body),
            status_code=200 if result.ready else 503,
            media_type="application/json",
            headers=headers,
        )

    app.add_api_route("/readyz", ready, include_in_schema=False, methods=["GET", "HEAD"])
    app.add_api_route("/healthz", ready, include_in_schema=False, methods=["GET", "HEAD"])

    @app.get("/metrics", include_in_schema=False)
    async def metrics_page(request: Request) -> Response:
        """Prometheus exposition, for loopback and the addresses in SCIMGATE_METRICS_ALLOW_IPS."""
        if metrics is None or not _metrics_allowed(request, settings):
            return Response(b"Not Found", status_code=404, media_type="text/plain")
        body, media = await asyncio.to_thread(metrics.scrape)
        return Response(body, media_type=media)

    @app.exception_handler(Exception)
    async def unhandled(request: Request, _exc: Exception) -> Response:
        """Outside /scim/v2 (which ScimEndpoint guards itself): a generic 500, the traceback only in the log."""
        log.exception("unhandled error on %s %s", request.method, request.url.path)
        return Response(
            orjson.dumps({"detail": "Internal server error"}),
            status_code=500,
            media_type="application/json",
        )


def _workers_alive(buffer: RequestLogBuffer, background: dict[str, Any]) -> dict[str, bool]:
    """Which of this process's background workers are running (before startup: none checked)."""
    alive: dict[str, bool] = {}
    if "flusher" in background:
        buffer.ensure_running()  # a dead writer is restarted (and reported) here too
        alive["request_log"] = buffer.healthy
    for name in ("scheduler", "webhooks"):
        if name in background:
            alive[name] = background[name].alive
    return alive


def _figures(engine: Engine) -> Figures | None:
    """The database's figures for a scrape, or None when it does not answer."""
    try:
        return status.figures(engine)
    except Exception:  # noqa: BLE001 - a scrape reports the database as down, it does not fail
        log.warning("metrics: could not read figures from the database", exc_info=False)
        return None


async def _update_gauges(
    metrics: Metrics | None, buffer: RequestLogBuffer, threads: RequestThreads
) -> None:
    """Keep this process's gauges fresh, so a scrape served by another worker sees them."""
    if metrics is None:
        return
    while True:
        metrics.request_log_backlog.set(buffer.backlog)
        metrics.request_log_failures.set(buffer.failures_total)
        metrics.db_threads_busy.set(threads.busy())
        await asyncio.sleep(2.0)


def _metrics_allowed(request: Request, settings: Settings) -> bool:
    """Metrics name accounts: only loopback, listed addresses, or the metrics token may read them."""
    if settings.metrics_token:
        header = request.headers.get("authorization", "")
        return hmac.compare_digest(header, f"Bearer {settings.metrics_token}")
    host = request.client.host if request.client else ""
    allowed = {a.strip() for a in settings.metrics_allow_ips.split(",") if a.strip()}
    return host in allowed or "*" in allowed


class ScimGateApp:
    """Top-level ASGI app: the Guard first, then /scim/v2 straight to its router, the rest to FastAPI."""

    def __init__(
        self,
        api: FastAPI,
        scim: Router,
        body_limit: Callable[[str], int],
        metrics: Metrics | None,
    ) -> None:
        self.api = api
        self.scim = scim
        self.state = api.state
        self.guard = Guard(self._route, body_limit, metrics)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self.guard(scope, receive, send)

    async def _route(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "") if scope["type"] == "http" else ""
        if path.startswith(SCIM_PREFIX) and (
            len(path) == len(SCIM_PREFIX) or path[len(SCIM_PREFIX)] == "/"
        ):
            if "//" in path or (path.endswith("/") and path != "/"):
                # A Tenant URL pasted with a trailing slash makes Entra call `/scim/v2//Users`;
                # `/Users/` is as common. Both mean `/scim/v2/Users`.
                scope = {**scope, "path": _DOUBLE_SLASH.sub("/", path).rstrip("/")}
            await self.scim(scope, receive, send)
        else:
            await self.api(scope, receive, send)


def app_from_env() -> ScimGateApp:
    """Entry point for `uvicorn --factory scimgate.web.app:app_from_env` (used by `serve --workers`)."""
    settings = Settings()
    settings.check_production()
    configure_logging(settings)
    app = create_app(settings)
    gc.collect()
    gc.freeze()  # what startup built lives as long as the process (see server.serve)
    return app
