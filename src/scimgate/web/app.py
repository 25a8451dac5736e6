"""The ASGI application factory: settings in, app out; nothing is built at import time."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
from collections.abc import AsyncIterator
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
from scimgate.settings import Settings
from scimgate.store.database import LoopConnection, make_engine
from scimgate.sync.engine import SyncOptions
from scimgate.sync.schedule import Scheduler
from scimgate.web.api_v1 import create_api
from scimgate.web.console.routes import console_mount
from scimgate.web.request_log import RequestLogBuffer
from scimgate.web.scim_api import scim_router
from scimgate.webhooks.delivery import WebhookWorker

log = logging.getLogger("scimgate")

SCIM_PREFIX = "/scim/v2"
_DOUBLE_SLASH = re.compile("/{2,}")


def create_app(settings: Settings, *, engine: Engine | None = None) -> ScimGateApp:
    """Build the app: /scim/v2 for IdPs, /console for admins, /healthz for load balancers."""
    engine = engine or make_engine(settings.database_url)
    buffer = RequestLogBuffer(
        engine,
        max_rows=settings.request_log_max_rows,
        max_days=settings.request_log_max_days,
        flush_seconds=settings.request_log_flush_seconds,
    )

    @contextlib.asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        flusher = asyncio.create_task(buffer.run())
        scheduler = None
        if settings.scheduler:
            scheduler = Scheduler(
                engine,
                interval=settings.scheduler_interval_seconds,
                options=SyncOptions.from_settings(settings),
            )
            scheduler.start()
        worker = None
        if settings.webhooks:
            worker = WebhookWorker(engine, settings)
            worker.start()
        try:
            yield
        finally:
            if scheduler is not None:
                await asyncio.to_thread(scheduler.stop)
            if worker is not None:
                await asyncio.to_thread(worker.stop)
            flusher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await flusher
            db.close()

    app = FastAPI(
        title="scimgate", version=__version__, lifespan=lifespan, docs_url=None, redoc_url=None
    )
    app.state.settings = settings
    app.state.engine = engine
    app.state.request_log = buffer
    db = LoopConnection(engine)
    scim = scim_router(SCIM_PREFIX, db, settings, buffer)

    app.router.routes.append(console_mount(engine, settings))
    app.mount("/api/v1", create_api(engine, settings))

    @app.get("/", include_in_schema=False)
    def root() -> Response:
        """People who open the bare address land on the console."""
        return RedirectResponse("/console/", status_code=307)

    @app.get("/healthz", include_in_schema=False)
    def healthz() -> dict[str, Any]:
        return {"status": "ok", "version": __version__}

    @app.exception_handler(Exception)
    async def unhandled(request: Request, _exc: Exception) -> Response:
        """Outside /scim/v2 (which ScimEndpoint guards itself): a generic 500, the traceback only in the log."""
        log.exception("unhandled error on %s %s", request.method, request.url.path)
        return Response(
            orjson.dumps({"detail": "Internal server error"}),
            status_code=500,
            media_type="application/json",
        )

    return ScimGateApp(app, scim)


class ScimGateApp:
    """Top-level ASGI app: /scim/v2 goes straight to its router, everything else to FastAPI."""

    def __init__(self, api: FastAPI, scim: Router) -> None:
        self.api = api
        self.scim = scim
        self.state = api.state

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
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
    return create_app(settings)
