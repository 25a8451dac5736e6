"""/setup-links: time-limited links that open the guided setup for the customer's IT admin."""

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query
from pydantic import BaseModel, ConfigDict, Field

from scimgate.accounts import setup_links
from scimgate.web.api.deps import Caller, Context, refuse_nul
from scimgate.web.api.fields import Time
from scimgate.web.api.problems import EVERY_ROUTE, Problem

router = APIRouter(tags=["setup links"], responses=EVERY_ROUTE)

LinkId = Annotated[int, Path(ge=1, le=2**63 - 1)]


class SetupLinkOut(BaseModel):
    id: int
    prefix: str = Field(description="the link's first characters (the link itself is not kept)")
    note: str = Field(description="who or what it is for")
    created_by: str = Field(description="who created it, as the audit log names them")
    created_at: Time
    expires_at: Time
    last_used_at: Time | None
    revoked_at: Time | None
    revoked_by: str | None = Field(description="who revoked it, as the audit log names them")
    state: str = Field(description="live, expired or revoked")
    tokens_issued: int = Field(
        description=f"Secret Tokens issued through it (at most {setup_links.MAX_TOKENS})"
    )
    tokens_live: int = Field(description="of those, the ones not revoked")


class SetupLinkPage(BaseModel):
    data: list[SetupLinkOut]


class SetupLinkCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    days: int = Field(
        default=setup_links.DEFAULT_DAYS,
        ge=1,
        le=setup_links.MAX_DAYS,
        description="how long it works, in days",
    )
    note: str = Field(default="", max_length=255, description="who or what it is for")


class SetupLinkCreated(BaseModel):
    id: int
    url: str = Field(description="the link to send: shown only in this answer")
    prefix: str
    expires_at: datetime


@router.get("/setup-links", response_model=SetupLinkPage)
def list_setup_links(who: Caller, ctx: Context) -> dict[str, Any]:
    """The account's setup links: every live one (newest first), then the 50 newest expired
    or revoked ones; each with its state and the Secret Tokens it issued."""
    with ctx.transaction() as conn:
        return {"data": setup_links.list_links(conn, who.account_id)}


@router.post(
    "/setup-links",
    response_model=SetupLinkCreated,
    status_code=201,
    responses={403: {"model": Problem, "description": "user provisioning is not active"}},
)
def create_setup_link(who: Caller, ctx: Context, body: SetupLinkCreate) -> dict[str, Any]:
    """A new setup link (audited as setup_link.created); its URL is in this answer only."""
    refuse_nul(body.note)
    with ctx.transaction(writes=True) as conn:
        issued = setup_links.create(
            conn, who.account_id, days=body.days, note=body.note, actor=who.actor
        )
    return {
        "id": issued.id,
        "url": f"{ctx.settings.public_url.rstrip('/')}/setup/{issued.token}",
        "prefix": issued.prefix,
        "expires_at": issued.expires_at,
    }


@router.post(
    "/setup-links/{link_id}/revoke",
    status_code=204,
    responses={404: {"model": Problem, "description": "no unrevoked link with this id"}},
)
def revoke_setup_link(
    who: Caller,
    ctx: Context,
    link_id: LinkId,
    revoke_tokens: Annotated[
        bool, Query(description="also revoke the Secret Tokens it issued that are still live")
    ] = False,
) -> None:
    """Revoke a link: it opens nothing from then on (audited as setup_link.revoked), and
    with revoke_tokens=true the live Secret Tokens it issued (each audited as token.revoked)."""
    with ctx.transaction(writes=True) as conn:
        setup_links.revoke(
            conn, who.account_id, link_id, actor=who.actor, revoke_tokens=revoke_tokens
        )
