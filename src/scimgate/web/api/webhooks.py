"""/webhooks/{id}/dead-letters: deliveries that used up their retries, and sending them again."""

from typing import Annotated, Any

from fastapi import APIRouter, Path, Query
from pydantic import BaseModel, ConfigDict, Field, model_validator

from scimgate.web.api.deps import Caller, Context
from scimgate.web.api.fields import Limit, Time
from scimgate.web.api.problems import EVERY_ROUTE, Problem
from scimgate.webhooks import dead_letters

router = APIRouter(tags=["webhooks"], responses=EVERY_ROUTE)

EndpointId = Annotated[int, Path(ge=1, le=2**62, description="a webhook endpoint of the account")]
NOT_FOUND: dict[int | str, dict[str, Any]] = {
    404: {"model": Problem, "description": "no such endpoint (or dead letter) in the account"}
}


class DeadLetter(BaseModel):
    id: int = Field(description="the delivery that used up the retries")
    endpoint_id: int
    event_seq: int
    event_id: str = Field(description="the webhook-id of every delivery of the event")
    event_type: str
    attempt: int
    status_code: int | None = Field(description="the last answer; null: none (refused, timeout)")
    error: str | None
    at: Time


class DeadLetterPage(BaseModel):
    data: list[DeadLetter]
    next_cursor: str | None = Field(
        description="pass as `cursor` for the next page; null at the end"
    )


class RedeliverRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    ids: list[Annotated[int, Field(ge=1, le=2**62)]] | None = Field(
        default=None, max_length=dead_letters.MAX_IDS, description="dead letter ids to send"
    )
    all: bool = Field(default=False, description="send every open dead letter of the endpoint")

    @model_validator(mode="after")
    def _one_choice(self) -> "RedeliverRequest":
        if self.all == bool(self.ids):
            raise ValueError("give either `ids` (a non-empty list) or `all: true`")
        return self


class RedeliverResult(BaseModel):
    id: int
    event_seq: int
    ok: bool
    status_code: int | None
    error: str | None


class RedeliverReport(BaseModel):
    results: list[RedeliverResult] = Field(description="one per event sent, in event order")
    remaining: int = Field(description="chosen events not sent by this call: call again")


@router.get(
    "/webhooks/{endpoint_id}/dead-letters", response_model=DeadLetterPage, responses=NOT_FOUND
)
def list_dead_letters(
    who: Caller,
    ctx: Context,
    endpoint_id: EndpointId,
    cursor: Annotated[
        int | None,
        Query(ge=0, le=2**62, description="next_cursor of the previous page"),
    ] = None,
    limit: Limit = 50,
) -> dict[str, Any]:
    """Deliveries to the endpoint that used up their retries and whose event has not
    reached it since, oldest first."""
    with ctx.transaction() as conn:
        rows, next_id = dead_letters.list_dead_letters(
            conn, who.account_id, endpoint_id, after_id=cursor or 0, limit=limit
        )
    return {"data": rows, "next_cursor": str(next_id) if next_id else None}


@router.post(
    "/webhooks/{endpoint_id}/dead-letters/redeliver",
    response_model=RedeliverReport,
    responses={
        **NOT_FOUND,
        409: {"model": Problem, "description": "a redelivery to this endpoint is running"},
    },
)
def redeliver_dead_letters(
    who: Caller, ctx: Context, endpoint_id: EndpointId, body: RedeliverRequest
) -> dict[str, Any]:
    """Send the events of the chosen dead letters again now (at most 25 a call); the
    endpoint's cursor stays where it is (resume it to go on). One redelivery per endpoint
    runs at a time: another meanwhile is a 409."""
    ids = None if body.all else body.ids
    return dead_letters.redeliver(ctx.engine, ctx.settings, who.account_id, endpoint_id, ids)
