"""The /api/v1 application: the shared context, the error handlers and one router per resource."""

from fastapi import FastAPI
from sqlalchemy import Engine

from scimgate import __version__
from scimgate.settings import Settings
from scimgate.web.api import (
    audit,
    drift,
    event_settings,
    events,
    group_rules,
    mappings,
    members,
    properties,
    provisioning,
    setup_links,
    snapshot,
    sync_runs,
    teams,
    webhooks,
)
from scimgate.web.api.deps import ApiContext
from scimgate.web.api.handlers import install_handlers
from scimgate.web.api.problems import EVERY_ROUTE, openapi_document
from scimgate.web.metrics import Metrics
from scimgate.web.outage import OutageLog
from scimgate.web.rate_limits import SurfaceLimits

# In the order of the OpenAPI document's paths.
ROUTERS = (
    members,
    teams,
    properties,
    mappings,
    group_rules,
    events,
    snapshot,
    event_settings,
    webhooks,
    audit,
    sync_runs,
    drift,
    setup_links,
    provisioning,
)


def create_api(
    engine: Engine,
    settings: Settings,
    *,
    request_engine: Engine | None = None,
    limits: SurfaceLimits | None = None,
    outage: OutageLog | None = None,
    metrics: Metrics | None = None,
) -> FastAPI:
    """The /api/v1 application (mounted by web.app).

    Requests read and write through `request_engine` (its connections carry the request
    deadlines) under rate limits per API key and per account; background work (a
    triggered Synchronize) uses `engine`.
    """
    api = FastAPI(
        title="scimgate host API",
        version=__version__,
        description="Members, teams, Properties and synchronizations of one account, "
        "for the product that hosts scimgate. Authenticate with `Authorization: Bearer <API key>`.",
        docs_url=None,
        redoc_url=None,
        openapi_url="/openapi.json",
        responses=EVERY_ROUTE,
    )
    api.state.api_context = ApiContext(
        engine=engine,
        request_engine=request_engine or engine,
        settings=settings,
        limits=limits or SurfaceLimits(1, 1, workers=1, enabled=False),
        outage=outage or OutageLog(),
        metrics=metrics,
    )
    install_handlers(api)
    for resource in ROUTERS:
        # The routes themselves, not include_router: FastAPI (0.165) would wrap them in one
        # lazy route per router, and the 405 handler and the tests look for each APIRoute.
        api.router.routes.extend(resource.router.routes)
    api.openapi = lambda: openapi_document(api)  # type: ignore[method-assign]
    return api
