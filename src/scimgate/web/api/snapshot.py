"""/snapshot: the members as of one event, to start or resume reading the feed from."""

from typing import Annotated, Any

from fastapi import APIRouter, Query
from pydantic import BaseModel, Field

from scimgate.members import snapshot
from scimgate.web.api.deps import Caller, Context, refuse_nul
from scimgate.web.api.members import Member
from scimgate.web.api.problems import EVERY_ROUTE

router = APIRouter(tags=["events"], responses=EVERY_ROUTE)


class SnapshotPage(BaseModel):
    data: list[Member]
    as_of_event: int = Field(
        description="this page holds every change up to this event seq and none after"
    )
    resume_after: int = Field(
        description="the first page's as_of_event: when the pages are read, read "
        "/events?after=resume_after (the same on every page of one snapshot)"
    )
    next_cursor: str | None = Field(
        description="pass as `cursor` for the next page; null at the end"
    )


@router.get("/snapshot", response_model=SnapshotPage)
def read_snapshot(
    who: Caller,
    ctx: Context,
    cursor: Annotated[
        str | None, Query(max_length=256, description="next_cursor of the previous page")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 100,
) -> dict[str, Any]:
    """Members in id order, each page read in one consistent transaction with the event
    seq it matches: page to the end, then read /events after `resume_after`."""
    refuse_nul(cursor)
    with ctx.transaction(snapshot=True) as conn:
        return snapshot.snapshot_page(conn, who.account_id, cursor=cursor, limit=limit)
