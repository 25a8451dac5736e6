"""The setup pages' URL map under /setup: every page is behind its link's check."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import Engine
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from scimgate.settings import Settings
from scimgate.web.setup import views
from scimgate.web.setup.site import INVALID, PREFIX, SetupSite

STATIC = Path(__file__).parent / "static"


def setup_mount(engine: Engine, settings: Settings) -> Mount:
    """GET /setup/<link> and its few pages and forms; anything else under /setup is a 404."""
    site = SetupSite(engine, settings)
    page = site.endpoint
    get, post = ["GET"], ["POST"]

    async def nothing(request: Request) -> Response:
        return site.message(request, 404, INVALID)

    routes = [
        Mount("/static", app=StaticFiles(directory=STATIC), name="setup-static"),
        Route("/{token}", page(views.show), methods=get),
        Route("/{token}/token", page(views.new_token), methods=post),
        Route("/{token}/status", page(views.status), methods=get),
        Route("/{token}/mapping", page(views.mapping), methods=post),
        Route("/{token}/requests/{entry_id:int}", page(views.entry, views_entry=True), methods=get),
        Route("/{token}/{rest:path}", page(views.elsewhere), methods=["GET", "POST"]),
        Route("/", nothing, methods=["GET", "POST"]),
    ]
    return Mount(PREFIX, routes=routes)
