"""/settings/events: how long the account's events are kept."""

from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict, Field

from scimgate.web.api.deps import Caller, Context
from scimgate.web.api.problems import EVERY_ROUTE
from scimgate.webhooks import retention

router = APIRouter(tags=["events"], responses=EVERY_ROUTE)


class EventSettings(BaseModel):
    retention_days: int = Field(description="events older than this are pruned (default 90)")
    oldest_after: int = Field(
        description="the oldest `after` the feed serves (events up to it were pruned)"
    )
    last_seq: int = Field(description="the newest event seq")


class EventSettingsUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    retention_days: int = Field(ge=retention.MIN_DAYS, le=retention.MAX_DAYS)


@router.get("/settings/events", response_model=EventSettings)
def get_event_settings(who: Caller, ctx: Context) -> dict[str, Any]:
    """The event retention window and where the feed starts."""
    with ctx.transaction() as conn:
        return retention.settings_of(conn, who.account_id)


@router.patch("/settings/events", response_model=EventSettings)
def update_event_settings(who: Caller, ctx: Context, body: EventSettingsUpdate) -> dict[str, Any]:
    """Change the retention window (audited); the next hourly prune applies it."""
    with ctx.transaction(writes=True) as conn:
        return retention.set_retention(conn, who.account_id, body.retention_days, actor=who.actor)
