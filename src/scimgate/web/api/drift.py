"""/drift: where the members and the identity provider disagree (docs/sync.md, "Drift report")."""

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Annotated, Any

from fastapi import APIRouter, Query
from pydantic import BaseModel, Field
from sqlalchemy import Connection

from scimgate.accounts.api_keys import ApiPrincipal
from scimgate.drift import report
from scimgate.store.errors import storage_edge
from scimgate.web.api.deps import ApiContext, Caller, Context, refuse_nul
from scimgate.web.api.fields import Cursor, Limit
from scimgate.web.api.problems import EVERY_ROUTE

router = APIRouter(tags=["drift"], responses=EVERY_ROUTE)

_NEXT = "pass as `cursor` to this section's list for the next page; null at the end"


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
    sections: Sections


@router.get("/drift", response_model=DriftReport)
def drift_report(
    who: Caller,
    ctx: Context,
    limit: Annotated[int, Query(ge=1, le=200, description="rows per section")] = 20,
) -> dict[str, Any]:
    """Every section's count and first rows, each with the cursor of its next page."""
    with _scan(ctx) as conn:
        return report.summary(conn, who.account_id, limit=limit)


@contextmanager
def _scan(ctx: ApiContext) -> Iterator[Connection]:
    """A read transaction on the background engine, outside the request deadline: the
    report maps every provisioned member's staged user (about 5 s per 20,000 on SQLite,
    docs/sync.md), as a dry run of /sync-runs does."""
    with storage_edge(), ctx.engine.connect() as conn, conn.begin():
        yield conn


def _page(
    who: ApiPrincipal, ctx: ApiContext, section: str, cursor: str | None, limit: int
) -> dict[str, Any]:
    refuse_nul(cursor)
    with _scan(ctx) as conn:
        data, next_cursor = report.section_page(
            conn, who.account_id, section, cursor=cursor, limit=limit
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
