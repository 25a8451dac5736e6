"""/properties: the account's typed member fields, their options and how many hold each."""

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path, Request
from pydantic import BaseModel, ConfigDict, Field

from scimgate.errors import InvalidValueError
from scimgate.mapping.types import TYPES
from scimgate.members import listing, properties
from scimgate.members import service as members
from scimgate.web.api.deps import Caller, Context, refuse_nul
from scimgate.web.api.fields import Cursor, Limit
from scimgate.web.api.group_rules import GroupRuleOut
from scimgate.web.api.problems import EVERY_ROUTE, Problem, problem

router = APIRouter(tags=["properties"], responses=EVERY_ROUTE)

PropertyId = Annotated[str, Path(max_length=64)]


class PropertyOut(BaseModel):
    id: str
    name: str
    type: str = Field(description=", ".join(TYPES))
    options: list[str] = Field(description="a select's options, in order; [] otherwise")
    mapped_from: str | None = Field(description="the SCIM path that fills it, if any")
    scim_path: str | None = Field(
        default=None,
        description="its attribute in scimgate's SCIM extension, which an IdP can send (it "
        "fills the Property when mapped_from is null or gives no value); null for a member "
        "reference",
    )


class PropertyPage(BaseModel):
    data: list[PropertyOut]
    next_cursor: str | None


class PropertyUsage(BaseModel):
    members: int = Field(description="members holding a value")
    options: dict[str, int] | None = Field(
        default=None, description="a select's options: members holding each"
    )


class PropertyDetail(PropertyOut):
    usage: PropertyUsage
    group_rules: list[GroupRuleOut] = Field(
        description="the group rules that set it, in the order they apply (deleting it "
        "removes them)"
    )


class PropertyCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(max_length=64)
    type: Literal["text", "number", "date", "boolean", "select", "member"]
    options: list[Annotated[str, Field(max_length=255)]] = Field(
        default_factory=list, max_length=200, description="select only: at least one"
    )


class PropertyUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str | None = Field(default=None, max_length=64, description="a new name")
    scim_attribute: str | None = Field(
        default=None,
        max_length=255,
        description="a new name for its attribute in scimgate's SCIM extension (RFC 7643 "
        "ATTRNAME, 1-64 characters, unique in the account whatever its case; the full "
        "scim_path is accepted too). Members' values stay; an IdP mapping that still sends "
        "the old name has that value left out (listed as ignored in the request log) until "
        "it is updated in the IdP",
    )
    options: list[Annotated[str, Field(max_length=255)]] | None = Field(
        default=None,
        max_length=200,
        description="a select's whole new option list: options left out are removed",
    )
    renamed_options: dict[str, Annotated[str, Field(max_length=255)]] = Field(
        default_factory=dict,
        max_length=200,
        description="{old: new}: members holding old now hold new (new must be in options)",
    )
    clear_removed_options: bool = Field(
        default=False,
        description="clear the value of members holding a removed option; "
        "without it such a removal is a 409 naming the options and member counts",
    )


class PropertyDeleted(BaseModel):
    id: str
    name: str
    mapped_from: str | None = Field(description="the mapping that was removed with it")
    members: int = Field(description="members whose value of it was cleared")
    group_rules: list[GroupRuleOut] = Field(description="the group rules removed with it")


@router.get("/properties", response_model=PropertyPage)
def list_properties(
    who: Caller, ctx: Context, cursor: Cursor = None, limit: Limit = 100
) -> dict[str, Any]:
    """The account's Properties and what fills them, in id order."""
    refuse_nul(cursor)
    with ctx.transaction() as conn:
        data, next_cursor = listing.property_page(conn, who.account_id, cursor=cursor, limit=limit)
    return {"data": data, "next_cursor": next_cursor}


@router.get(
    "/properties/{property_id}",
    response_model=PropertyDetail,
    responses={404: {"model": Problem}},
)
def get_property(who: Caller, ctx: Context, property_id: PropertyId) -> dict[str, Any]:
    """One Property with how many members hold a value (and each option): what a
    deletion or an option's removal would clear."""
    refuse_nul(property_id)
    with ctx.transaction() as conn:
        return properties.detail(conn, who.account_id, property_id)


@router.post(
    "/properties",
    response_model=PropertyDetail,
    status_code=201,
    responses={409: {"model": Problem, "description": "the name is taken"}},
)
def create_property(who: Caller, ctx: Context, body: PropertyCreate) -> dict[str, Any]:
    """A new Property (a typed member field); map a SCIM attribute onto it with /mappings."""
    refuse_nul(body.name, *body.options)
    with ctx.transaction(writes=True) as conn:
        created = members.create_property(
            conn, who.account_id, body.name, body.type, body.options, actor=who.actor
        )
        return properties.detail(conn, who.account_id, created["id"])


@router.patch(
    "/properties/{property_id}",
    response_model=PropertyDetail,
    responses={
        404: {"model": Problem},
        409: {
            "model": Problem,
            "description": "the name or SCIM attribute is taken, or removed options are held",
        },
    },
)
def update_property(
    who: Caller, ctx: Context, property_id: PropertyId, body: PropertyUpdate, request: Request
) -> Any:
    """Rename a Property (its mapping follows it), change its SCIM attribute name, and/or
    change a select's options: all or nothing."""
    renamed = body.renamed_options
    refuse_nul(property_id, body.name, body.scim_attribute, *(body.options or []))
    refuse_nul(*renamed, *renamed.values())
    if renamed and body.options is None:
        raise InvalidValueError("renamed_options goes with options (the whole new list)")
    try:
        with ctx.transaction(writes=True) as conn:
            if body.name is not None:
                properties.rename(conn, who.account_id, property_id, body.name, actor=who.actor)
            if body.scim_attribute is not None:
                properties.rename_attribute(
                    conn, who.account_id, property_id, body.scim_attribute, actor=who.actor
                )
            if body.options is not None:
                properties.update_options(
                    conn,
                    who.account_id,
                    property_id,
                    body.options,
                    renamed=renamed,
                    clear_removed=body.clear_removed_options,
                    actor=who.actor,
                )
            return properties.detail(conn, who.account_id, property_id)
    except properties.OptionsInUseError as exc:  # nothing was written
        held = [
            {"loc": ["body", "options", option], "msg": f"held by {n} members"}
            for option, n in exc.held.items()
        ]
        detail = f"{exc.detail} (send clear_removed_options: true to clear them)"
        return problem(409, "Conflict", detail, request, errors=held)


@router.delete(
    "/properties/{property_id}",
    response_model=PropertyDeleted,
    responses={404: {"model": Problem}},
)
def delete_property(who: Caller, ctx: Context, property_id: PropertyId) -> dict[str, Any]:
    """Delete a Property, the mapping onto it, the group rules that set it and every
    member's value of it (each member whose value goes gets a member.updated event). GET it
    first to see what goes: its mapping, `group_rules` and `usage`."""
    refuse_nul(property_id)
    with ctx.transaction(writes=True) as conn:
        impact = properties.delete(conn, who.account_id, property_id, actor=who.actor)
    prop = impact["property"]
    return {
        "id": prop["id"],
        "name": prop["name"],
        "mapped_from": impact["mapped_from"],
        "members": impact["members"],
        "group_rules": impact["group_rules"],
    }
