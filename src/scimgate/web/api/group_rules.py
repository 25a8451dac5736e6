"""/group-rules: members of an identity-provider group get a Property value."""

from typing import Annotated, Any

from fastapi import APIRouter, Path
from pydantic import BaseModel, ConfigDict, Field

from scimgate.group_rules import service as rules
from scimgate.web.api.deps import Caller, Context, refuse_nul
from scimgate.web.api.fields import Time
from scimgate.web.api.problems import EVERY_ROUTE, Problem

router = APIRouter(tags=["group rules"], responses=EVERY_ROUTE)

RuleId = Annotated[int, Path(ge=1, le=2**62)]
Value = Annotated[
    str | bool,
    Field(description="a select's option, true/false for a boolean, text for a text Property"),
]
Priority = Annotated[
    int, Field(ge=0, le=rules.MAX_PRIORITY, description="lower wins; a tie goes to the older rule")
]


class GroupRuleOut(BaseModel):
    id: int
    group_id: str = Field(description="the staged group's id (the rule follows it across renames)")
    group_name: str = Field(description="its current displayName (the last seen once it is gone)")
    group_present: bool = Field(description="false once the group was deleted from staging")
    property_id: str
    property_name: str
    property_type: str
    value: str | bool
    priority: int
    created_at: Time


class GroupRuleList(BaseModel):
    data: list[GroupRuleOut] = Field(
        description="every rule (never paged), by Property, in the order they apply"
    )


class GroupRuleCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    group: str = Field(max_length=512, description="a staged group's id or displayName")
    property: str = Field(
        max_length=64, description="a select, boolean or text Property's id or name"
    )
    value: Value
    priority: Priority = rules.DEFAULT_PRIORITY


class GroupRuleUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    value: Value | None = None
    priority: Priority | None = None


@router.get("/group-rules", response_model=GroupRuleList)
def list_rules(who: Caller, ctx: Context) -> dict[str, Any]:
    """Every group rule, by Property, in the order they apply (lower priority first)."""
    with ctx.transaction() as conn:
        return {"data": rules.list_rules(conn, who.account_id)}


@router.get(
    "/group-rules/{rule_id}", response_model=GroupRuleOut, responses={404: {"model": Problem}}
)
def get_rule(who: Caller, ctx: Context, rule_id: RuleId) -> dict[str, Any]:
    """One group rule."""
    with ctx.transaction() as conn:
        return rules.get_rule(conn, who.account_id, rule_id)


@router.post(
    "/group-rules",
    response_model=GroupRuleOut,
    status_code=201,
    responses={
        404: {"model": Problem, "description": "no such staged group or Property"},
        409: {"model": Problem, "description": "the group already has a rule for the Property"},
    },
)
def create_rule(who: Caller, ctx: Context, body: GroupRuleCreate) -> dict[str, Any]:
    """A new rule; the next Synchronize gives the group's members the value (it wins over
    the attribute mapping for that Property)."""
    refuse_nul(body.group, body.property, body.value)
    with ctx.transaction(writes=True) as conn:
        return rules.add_rule(
            conn,
            who.account_id,
            group=body.group,
            prop=body.property,
            value=body.value,
            priority=body.priority,
            actor=who.actor,
        )


@router.patch(
    "/group-rules/{rule_id}", response_model=GroupRuleOut, responses={404: {"model": Problem}}
)
def update_rule(
    who: Caller, ctx: Context, rule_id: RuleId, body: GroupRuleUpdate
) -> dict[str, Any]:
    """Change a rule's value and/or priority; the next Synchronize re-evaluates members."""
    refuse_nul(body.value)
    with ctx.transaction(writes=True) as conn:
        return rules.update_rule(
            conn,
            who.account_id,
            rule_id,
            value=body.value,
            priority=body.priority,
            actor=who.actor,
        )


@router.delete("/group-rules/{rule_id}", status_code=204, responses={404: {"model": Problem}})
def delete_rule(who: Caller, ctx: Context, rule_id: RuleId) -> None:
    """Remove a rule; the next Synchronize clears its values (or the mapping's apply)."""
    with ctx.transaction(writes=True) as conn:
        rules.remove_rule(conn, who.account_id, rule_id, actor=who.actor)
