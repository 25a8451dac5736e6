"""/provisioning/profile: which identity provider calls /scim/v2, and with which habits."""

from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel, Field

from scimgate.provisioning import idp_profile
from scimgate.web.api.deps import Caller, Context
from scimgate.web.api.fields import Time
from scimgate.web.api.problems import EVERY_ROUTE

router = APIRouter(tags=["provisioning"], responses=EVERY_ROUTE)


class HabitSeen(BaseModel):
    code: str = Field(description="e.g. agent_okta, capitalised_ops, string_booleans")
    label: str = Field(description="what the client does, for people")
    handling: str = Field(description="what scimgate does about it")
    idp: str | None = Field(description="the identity provider it points to; null: several")
    count: int = Field(description="requests that showed it")
    first_seen: Time
    last_seen: Time


class IdpProfile(BaseModel):
    idp: str | None = Field(description="entra, okta, onelogin, jumpcloud; null: unknown")
    idp_name: str = Field(description='e.g. "Microsoft Entra ID", "Unknown"')
    headline: str = Field(description='e.g. "Microsoft Entra ID (without aadOptscim062020 flag)"')
    confidence: str = Field(
        description="high (the client names itself), medium, low, or none (no evidence)"
    )
    since: Time | None = Field(description="the first evidence of this identity provider")
    entra_flag: str | None = Field(
        description="with or without (Entra's aadOptscim062020 flag), when the traffic tells"
    )
    user_agent: str | None = Field(description="the User-Agent it named itself with, last")
    habits: list[HabitSeen] = Field(description="every habit seen, most recent first")


@router.get("/provisioning/profile", response_model=IdpProfile)
def get_profile(who: Caller, ctx: Context) -> dict[str, Any]:
    """The identity provider this account's SCIM traffic comes from, guessed from what
    its requests showed (recorded about once a second; habits older than 30 days before
    the newest one no longer count), and how scimgate answers it (docs/scim.md)."""
    with ctx.transaction() as conn:
        return idp_profile.as_document(idp_profile.profile(conn, who.account_id))
