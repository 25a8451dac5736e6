"""/events: the account's change feed, read in order."""

from typing import Annotated, Any

from fastapi import APIRouter, Query
from pydantic import BaseModel, Field

from scimgate.web.api.deps import Caller, Context
from scimgate.web.api.fields import Time
from scimgate.web.api.problems import EVERY_ROUTE, Problem
from scimgate.webhooks import event_feed as feed

router = APIRouter(tags=["events"], responses=EVERY_ROUTE)


class Event(BaseModel):
    seq: int = Field(description="per-account sequence number; only grows")
    id: str = Field(description="stable id (webhook-id of its deliveries)")
    type: str = Field(
        description="member.created|updated|deactivated|reactivated, "
        "team.created|renamed|removed|member_added|member_removed, audit.recorded"
    )
    subject_id: str | None
    data: dict[str, Any]
    created_at: Time


class EventPage(BaseModel):
    data: list[Event]
    next_after: int = Field(description="pass as `after` to read on; the same when nothing is new")


@router.get(
    "/events",
    response_model=EventPage,
    responses={
        410: {
            "model": Problem,
            "description": "the events after `after` were pruned: start again from /snapshot",
        }
    },
)
def list_events(
    who: Caller,
    ctx: Context,
    after: Annotated[int, Query(ge=0, le=2**62, description="the last seq you have")] = 0,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> dict[str, Any]:
    """Events after `after`, in order: remember the last `seq` and never miss or repeat one
    (or get a 410 when the events after it were pruned, rather than skip them)."""
    with ctx.transaction() as conn:
        rows, next_after = feed.events_after(conn, who.account_id, after=after, limit=limit)
    return {"data": rows, "next_after": next_after}
