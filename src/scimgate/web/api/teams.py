"""/teams: mirrors of the directory's groups, and their members."""

from typing import Annotated, Any

from fastapi import APIRouter, Query
from pydantic import BaseModel

from scimgate.members import listing
from scimgate.web.api.deps import Caller, Context, refuse_nul
from scimgate.web.api.fields import Cursor, Limit, Time
from scimgate.web.api.problems import EVERY_ROUTE, Problem

router = APIRouter(tags=["teams"], responses=EVERY_ROUTE)


class Team(BaseModel):
    id: str
    name: str
    directory_group_id: str
    member_count: int
    created_at: Time
    updated_at: Time


class TeamPage(BaseModel):
    data: list[Team]
    next_cursor: str | None


class TeamMember(BaseModel):
    id: str
    email: str | None
    name: str
    status: str
    source: str


class TeamMemberPage(BaseModel):
    data: list[TeamMember]
    next_cursor: str | None


@router.get("/teams", response_model=TeamPage)
def list_teams(
    who: Caller,
    ctx: Context,
    q: Annotated[str | None, Query(max_length=200)] = None,
    cursor: Cursor = None,
    limit: Limit = 50,
) -> dict[str, Any]:
    """Teams (mirrors of directory groups) with member counts."""
    refuse_nul(q, cursor)
    with ctx.transaction() as conn:
        data, next_cursor = listing.team_page(
            conn, who.account_id, search=q, cursor=cursor, limit=limit
        )
    return {"data": data, "next_cursor": next_cursor}


@router.get("/teams/{team_id}", response_model=Team, responses={404: {"model": Problem}})
def get_team(who: Caller, ctx: Context, team_id: str) -> dict[str, Any]:
    """One team."""
    with ctx.transaction() as conn:
        refuse_nul(team_id)
        return listing.get_team(conn, who.account_id, team_id)


@router.get(
    "/teams/{team_id}/members",
    response_model=TeamMemberPage,
    responses={404: {"model": Problem}},
)
def team_members(
    who: Caller, ctx: Context, team_id: str, cursor: Cursor = None, limit: Limit = 100
) -> dict[str, Any]:
    """The members of one team."""
    refuse_nul(team_id, cursor)
    with ctx.transaction() as conn:
        data, next_cursor = listing.team_member_page(
            conn, who.account_id, team_id, cursor=cursor, limit=limit
        )
    return {"data": data, "next_cursor": next_cursor}
