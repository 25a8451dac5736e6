"""/sync-runs: synchronizations, started, planned (dry run) and confirmed."""

from typing import Annotated, Any

from fastapi import APIRouter, Path
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import Connection
from starlette.responses import JSONResponse, Response

from scimgate.accounts.api_keys import ApiPrincipal
from scimgate.store.errors import storage_edge
from scimgate.sync import background, history, plan_cache
from scimgate.sync.engine import SyncOptions
from scimgate.web.api.deps import ApiContext, Caller, Context
from scimgate.web.api.fields import Cursor, Limit, Time
from scimgate.web.api.problems import EVERY_ROUTE, Problem

router = APIRouter(tags=["sync"], responses=EVERY_ROUTE)

RunId = Annotated[int, Path(ge=1, le=2**62)]


class SyncRun(BaseModel):
    id: int
    trigger: str
    status: str = Field(description="running, succeeded, failed, held or superseded")
    counts: dict[str, int]
    detail: str | None
    created_at: Time
    started_at: Time | None = Field(description="a confirmed held run keeps the hold's")
    finished_at: Time | None
    confirmed_at: Time | None = Field(default=None, description="when a held run was confirmed")
    confirmed_by: str | None = Field(
        default=None, description="who confirmed it: an admin's email, cli:<user>, apikey:<prefix>"
    )
    items: list[dict[str, Any]] | None = None


class SyncRunPage(BaseModel):
    data: list[SyncRun]
    next_cursor: str | None = Field(
        description="pass as `cursor` for the next (older) page; null at the end"
    )


class SyncPlan(BaseModel):
    status: str = "planned"
    counts: dict[str, int]
    would_hold: bool
    items: list[dict[str, Any]] = Field(
        description="the first 200 changes, each with its field changes, error and notes "
        "(e.g. a value a group rule sets)"
    )
    items_total: int = Field(description="how many items the plan has (items: the first 200)")


class SyncRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    dry_run: bool = Field(default=False, description="plan only: nothing is written")


@router.get("/sync-runs", response_model=SyncRunPage)
def list_runs(
    who: Caller, ctx: Context, cursor: Cursor = None, limit: Limit = 20
) -> dict[str, Any]:
    """The newest synchronizations first, a page at a time (a cursor this list did not
    hand out is a 400)."""
    with ctx.transaction() as conn:
        rows, next_cursor = history.run_page(conn, who.account_id, cursor=cursor, limit=limit)
    return {"data": rows, "next_cursor": next_cursor}


def _run(conn: Connection, account_id: int, run_id: int, items: bool) -> dict[str, Any]:
    found = history.get_run(conn, account_id, run_id)
    if items:
        found["items"] = history.run_items(conn, account_id, run_id, limit=1000)[0]
    return found


@router.get("/sync-runs/{run_id}", response_model=SyncRun, responses={404: {"model": Problem}})
def get_run(who: Caller, ctx: Context, run_id: RunId) -> dict[str, Any]:
    """One synchronization with its first 1,000 items (for a held run: who it would deactivate)."""
    with ctx.transaction() as conn:
        return _run(conn, who.account_id, run_id, items=True)


@router.post(
    "/sync-runs",
    status_code=202,
    responses={
        200: {"model": SyncPlan, "description": "dry run: the plan"},
        202: {"model": SyncRun, "description": "started (or finished) run"},
        409: {"model": Problem, "description": "a synchronization is running"},
    },
)
def trigger(who: Caller, ctx: Context, body: SyncRequest | None = None) -> Response:
    """Synchronize now (202 with the run; poll it), or plan only with dry_run (200)."""
    options = SyncOptions.from_settings(ctx.settings)
    with storage_edge():  # background work runs on the background engine, outside a request tx
        if body is not None and body.dry_run:
            with ctx.transaction() as conn:  # the console's cached plan, while it holds
                plan = plan_cache.dry_run(ctx.engine, conn, who.account_id, options=options)
            doc = SyncPlan.model_validate(plan.plan_json())
            return JSONResponse(doc.model_dump(mode="json"), status_code=200)
        started = background.start(
            ctx.engine, who.account_id, trigger="api", actor=who.actor, options=options
        )
    return _started(ctx, who, started.run_id)


@router.post(
    "/sync-runs/{run_id}/confirm",
    status_code=202,
    response_model=SyncRun,
    responses={404: {"model": Problem}, 400: {"model": Problem}, 409: {"model": Problem}},
)
def confirm(who: Caller, ctx: Context, run_id: RunId) -> Response:
    """Apply a held run (its deactivations were reviewed)."""
    with ctx.transaction() as conn:
        _run(conn, who.account_id, run_id, items=False)
    with storage_edge():
        started = background.start(
            ctx.engine,
            who.account_id,
            trigger="api",
            actor=who.actor,
            confirm=run_id,
            options=SyncOptions.from_settings(ctx.settings),
        )
    return _started(ctx, who, started.run_id)


def _started(ctx: ApiContext, who: ApiPrincipal, run_id: int | None) -> Response:
    with ctx.transaction() as conn:
        runs = history.latest_runs(conn, who.account_id, limit=1) if run_id is None else None
        found = history.get_run(conn, who.account_id, run_id) if run_id else (runs or [None])[0]
    doc = SyncRun.model_validate(found).model_dump(mode="json") if found else {}
    headers = {"Location": f"/api/v1/sync-runs/{found['id']}"} if found else {}
    return JSONResponse(doc, status_code=202, headers=headers)
