"""/members: the account's members, provisioned and manual."""

from typing import Annotated, Any

from fastapi import APIRouter, Query
from pydantic import BaseModel, ConfigDict, Field

from scimgate.members import listing
from scimgate.members import service as members
from scimgate.web.api.deps import Caller, Context, refuse_nul
from scimgate.web.api.fields import Limit, Time
from scimgate.web.api.problems import EVERY_ROUTE, Problem

router = APIRouter(tags=["members"], responses=EVERY_ROUTE)


class Member(BaseModel):
    id: str
    email: str | None
    name: str
    status: str = Field(description="active or deactivated")
    source: str = Field(description="scim (provisioned) or manual")
    directory_user_id: str | None = Field(description="the staged SCIM user it mirrors")
    properties: dict[str, Any] = Field(description="Property values by Property name")
    property_sources: dict[str, str] = Field(
        description="scim (the mapping), group (a group rule) or manual, by Property name"
    )
    created_at: Time
    updated_at: Time


class MemberPage(BaseModel):
    data: list[Member]
    next_cursor: str | None = Field(
        description="pass as `cursor` for the next page; null at the end"
    )


class MemberCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    email: str = Field(max_length=320)
    name: str = Field(default="", max_length=512)
    properties: dict[str, Any] = Field(default_factory=dict, description="values by Property name")


class MemberUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str | None = Field(default=None, max_length=512, description="manual members only")
    email: str | None = Field(default=None, max_length=320, description="manual members only")
    properties: dict[str, Any] | None = Field(
        default=None, description="manual values by Property name; null clears one"
    )


@router.get("/members", response_model=MemberPage)
def list_members(
    who: Caller,
    ctx: Context,
    status: Annotated[str | None, Query(pattern="^(active|deactivated)$")] = None,
    source: Annotated[str | None, Query(pattern="^(scim|manual)$")] = None,
    q: Annotated[
        str | None, Query(max_length=200, description="in name or email, any case")
    ] = None,
    sort: Annotated[
        str | None,
        Query(
            pattern="^(-?(name|email|status))?$",
            description="name, email or status (then name); prefix - for descending; "
            "default: id order",
        ),
    ] = None,
    cursor: Annotated[
        str | None, Query(max_length=2048, description="next_cursor of the previous page")
    ] = None,
    limit: Limit = 50,
) -> dict[str, Any]:
    """Members in a stable order, a page at a time."""
    refuse_nul(q, cursor)
    with ctx.transaction() as conn:
        data, next_cursor = listing.member_page(
            conn,
            who.account_id,
            sort=sort,
            cursor=cursor,
            limit=limit,
            status=status,
            source=source,
            search=q or None,
        )
    return {"data": data, "next_cursor": next_cursor}


@router.get("/members/{member_id}", response_model=Member, responses={404: {"model": Problem}})
def get_member(who: Caller, ctx: Context, member_id: str) -> dict[str, Any]:
    """One member with its Property values and where each came from."""
    refuse_nul(member_id)
    with ctx.transaction() as conn:
        return members.get_member(conn, who.account_id, member_id)


@router.post(
    "/members", response_model=Member, status_code=201, responses={409: {"model": Problem}}
)
def create_member(who: Caller, ctx: Context, body: MemberCreate) -> dict[str, Any]:
    """A manual member (not provisioned), with optional Property values."""
    refuse_nul(body.email, body.name, *map(str, body.properties.values()), *body.properties)
    with ctx.transaction(writes=True) as conn:
        return members.create_member(
            conn, who.account_id, body.email, name=body.name, properties=body.properties
        )


@router.patch(
    "/members/{member_id}",
    response_model=Member,
    responses={404: {"model": Problem}, 409: {"model": Problem}},
)
def update_member(who: Caller, ctx: Context, member_id: str, body: MemberUpdate) -> dict[str, Any]:
    """Change a manual member's name or email, or any member's manual Property values."""
    props = body.properties or {}
    refuse_nul(member_id, body.name, body.email, *map(str, props.values()), *props)
    with ctx.transaction(writes=True) as conn:
        return members.update_member(
            conn,
            who.account_id,
            member_id,
            name=body.name,
            email=body.email,
            properties=body.properties,
        )
