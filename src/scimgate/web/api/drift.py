"""/drift: where the members and the identity provider disagree (docs/sync.md, "Drift report")."""

from typing import Annotated, Any

from fastapi import APIRouter, Query
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from scimgate.accounts.api_keys import ApiPrincipal
from scimgate.drift import report
from scimgate.drift.cache import ReportCache
from scimgate.store.errors import storage_edge
from scimgate.web.api.deps import ApiContext, Caller, Context, refuse_nul
from scimgate.web.api.fields import Cursor, Limit, Time
from scimgate.web.api.problems import EVERY_ROUTE

router = APIRouter(tags=["drift"], responses=EVERY_ROUTE)

_NEXT = (
    "pass as `cursor` to this section's list for the next page; null at the end (a page "
    "of `edited` may be short, even empty, before the end)"
)


class UnsyncedUser(BaseModel):
    directory_user_id: str
    person: str = Field(
        description='the staged user as an admin knows them: "Display Name (userName)"'
    )
    user_name: str
    display_name: str | None
    email: str | None = Field(description="the e-mail the mapping gives it")
    active: bool = Field(description="active in the identity provider")
    reason: str = Field(
        description="inactive, email_taken, failed, never_run, run_failed or waiting"
    )
    detail: str = Field(description="the reason in a sentence (Synchronize's own error, if any)")


class ManualMember(BaseModel):
    member_id: str
    email: str | None
    name: str
    status: str


class EditedField(BaseModel):
    field: str = Field(description="name, email, status or a Property name")
    member_value: Any = Field(description="what the member has")
    mapped_value: Any = Field(description="what the mapping makes of the staged user")


class EditedMember(BaseModel):
    member_id: str
    email: str | None
    name: str
    directory_user_id: str
    person: str
    fields: list[EditedField]


class UnfilledProperty(BaseModel):
    property_id: str
    property: str
    type: str
    source: str | None = Field(description="the mapped SCIM path(s), if any")
    reason: str = Field(description="not_mapped, no_attribute or no_fit")
    detail: str


class UnsyncedPage(BaseModel):
    data: list[UnsyncedUser]
    next_cursor: str | None = Field(description=_NEXT)


class ManualPage(BaseModel):
    data: list[ManualMember]
    next_cursor: str | None = Field(description=_NEXT)


class EditedPage(BaseModel):
    data: list[EditedMember]
    next_cursor: str | None = Field(description=_NEXT)


class UnfilledPage(BaseModel):
    data: list[UnfilledProperty]
    next_cursor: str | None = Field(description=_NEXT)


class UnsyncedSection(UnsyncedPage):
    count: int


class ManualSection(ManualPage):
    count: int


class EditedSection(EditedPage):
    count: int


class UnfilledSection(UnfilledPage):
    count: int


class Sections(BaseModel):
    unsynced: UnsyncedSection = Field(description="staged users never synchronized, and why")
    manual: ManualSection = Field(description="manual members no staged user has the e-mail of")
    edited: EditedSection = Field(
        description="provisioned members changed by hand since their sync"
    )
    unfilled: UnfilledSection = Field(description="Properties the mapping never fills")


class DriftReport(BaseModel):
    last_run_id: int | None = Field(description="the newest run that succeeded or failed")
    computed_at: Time = Field(
        description="when the report was read: it is kept for a minute, then read again"
    )
    sections: Sections


class Computing(BaseModel):
    status: str = Field(description='"computing"')
    detail: str


# How long GET /drift waits for a report it started, and how long until the client asks
# again: a large account's report takes seconds (docs/sync.md), computed on a bounded worker.
WAIT, POLL = 1.0, 2


@router.get(
    "/drift",
    response_model=DriftReport,
    responses={
        202: {
            "model": Computing,
            "description": "the report is being computed: ask again after Retry-After",
        },
        503: {"description": "too many reports under way (Retry-After)"},
    },
)
def drift_report(
    who: Caller,
    ctx: Context,
    limit: Annotated[int, Query(ge=1, le=200, description="rows per section")] = 20,
) -> Any:
    """Every section's count and first rows, each with the cursor of its next page: the
    report computed at most a minute ago, or 202 while it is computed."""
    reports = ReportCache.shared(ctx.engine)
    snapshot = reports.get(who.account_id, wait=WAIT, join_wait=0.0)
    if snapshot is None:
        body = {"status": "computing", "detail": "The drift report is being computed"}
        return JSONResponse(body, status_code=202, headers={"Retry-After": str(POLL)})
    return {**snapshot.first(limit), "computed_at": snapshot.at}


def _page(
    who: ApiPrincipal, ctx: ApiContext, section: str, cursor: str | None, limit: int
) -> dict[str, Any]:
    """One page, read outside the request deadline on the background engine (as a dry run
    of /sync-runs is), one at a time per account and a few in all (ReportCache.gate); a
    page of `edited` looks at PAGE_SCAN members at most, so it may be short, even empty,
    with a cursor to go on from."""
    refuse_nul(cursor)
    with (
        ReportCache.shared(ctx.engine).gate.slot(who.account_id),
        storage_edge(),
        ctx.engine.connect() as conn,
        conn.begin(),
    ):
        data, next_cursor = report.section_page(
            conn, who.account_id, section, cursor=cursor, limit=limit, scan=report.PAGE_SCAN
        )
    return {"data": data, "next_cursor": next_cursor}


@router.get("/drift/unsynced", response_model=UnsyncedPage)
def unsynced(who: Caller, ctx: Context, cursor: Cursor = None, limit: Limit = 50) -> dict[str, Any]:
    """Staged users no member mirrors, in directory id order, each with why."""
    return _page(who, ctx, "unsynced", cursor, limit)


@router.get("/drift/manual", response_model=ManualPage)
def manual(who: Caller, ctx: Context, cursor: Cursor = None, limit: Limit = 50) -> dict[str, Any]:
    """Manual members no staged user has the e-mail of (as an address or a userName)."""
    return _page(who, ctx, "manual", cursor, limit)


@router.get("/drift/edited", response_model=EditedPage)
def edited(who: Caller, ctx: Context, cursor: Cursor = None, limit: Limit = 50) -> dict[str, Any]:
    """Provisioned members whose values differ from what the mapping makes of a staged
    user unchanged since their last sync: edits made by hand."""
    return _page(who, ctx, "edited", cursor, limit)


@router.get("/drift/unfilled", response_model=UnfilledPage)
def unfilled(who: Caller, ctx: Context, cursor: Cursor = None, limit: Limit = 50) -> dict[str, Any]:
    """Properties no staged user's value fills, by name, with why."""
    return _page(who, ctx, "unfilled", cursor, limit)
