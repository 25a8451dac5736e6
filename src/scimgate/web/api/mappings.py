"""/mappings: which SCIM path fills each member field and Property."""

from typing import Annotated, Any

from fastapi import APIRouter, Body
from pydantic import BaseModel, Field

from scimgate.mapping import service as mapping
from scimgate.web.api.deps import Caller, Context, refuse_nul
from scimgate.web.api.problems import EVERY_ROUTE, Problem

router = APIRouter(tags=["mappings"], responses=EVERY_ROUTE)


class MappingOut(BaseModel):
    target: str = Field(description="name, email, or a Property's name")
    kind: str = Field(description="field or property")
    type: str
    source: str = Field(description="SCIM path(s), alternatives joined by ||")
    property_id: str | None
    fallback: str | None = Field(
        default=None,
        description="a Property mapped by hand: its attribute in scimgate's SCIM extension, "
        "read when `source` gives a user no value; null otherwise",
    )
    implicit: bool = Field(
        default=False,
        description="true: a Property no mapping names, filled from its attribute in "
        "scimgate's SCIM extension (a mapping you set is read first, this after it)",
    )


class MappingList(BaseModel):
    data: list[MappingOut] = Field(description="the whole mapping (never paged)")


@router.get("/mappings", response_model=MappingList)
def list_mappings(who: Caller, ctx: Context) -> dict[str, Any]:
    """The attribute mapping: which SCIM path fills each member field and Property."""
    with ctx.transaction() as conn:  # the default mapping was installed at activation
        return {"data": mapping.list_mappings(conn, who.account_id)}


@router.patch(
    "/mappings",
    response_model=MappingList,
    responses={404: {"model": Problem, "description": "no such field or Property"}},
)
def update_mappings(
    who: Caller,
    ctx: Context,
    body: Annotated[
        dict[str, Annotated[str | None, Field(max_length=1024)]],
        Body(
            max_length=100,
            description="A merge patch: {target: SCIM path} sets a mapping, "
            "{target: null} removes one; a target is name, email, or a Property's "
            "name or id. All or nothing.",
            examples=[
                {
                    "Department": "urn:ietf:params:scim:schemas:extension:"
                    "enterprise:2.0:User:department",
                    "Job title": None,
                }
            ],
        ),
    ],
) -> dict[str, Any]:
    """Set or remove mappings; the next Synchronize recomputes every member."""
    refuse_nul(*body, *body.values())
    with ctx.transaction(writes=True) as conn:
        return {"data": mapping.update_mappings(conn, who.account_id, body, actor=who.actor)}
