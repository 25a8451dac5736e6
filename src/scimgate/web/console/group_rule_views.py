"""Group rules: members of an identity-provider group get a Property value."""

from __future__ import annotations

from typing import Any

from starlette.responses import RedirectResponse, Response

from scimgate import audit
from scimgate.errors import ConflictError, InvalidValueError, NotFoundError
from scimgate.group_rules import service as rules
from scimgate.members import service as members
from scimgate.web.console.endpoint import PREFIX, Ctx, Page

_EMPTY = {"group": "", "property": "", "value": "", "priority": str(rules.DEFAULT_PRIORITY)}


def _actor(ctx: Ctx) -> str:
    """The signed-in admin, as the audit log names them."""
    assert ctx.session is not None
    return audit.console_actor(ctx.session.email)


def page(ctx: Ctx) -> Page:
    """The rules in the order they apply, and a form to add one."""
    if ctx.request.method != "POST":
        return _page(ctx, values=dict(_EMPTY), notice=_notice(ctx.arg("done")))
    values = {k: ctx.form.get(k, "").strip() for k in _EMPTY}
    errors = _missing(values)
    if not errors:
        try:
            rule = rules.add_rule(
                ctx.conn,
                ctx.account_id,
                group=values["group"],
                prop=values["property"],
                value=values["value"],
                priority=_priority(values["priority"]),
                actor=_actor(ctx),
            )
        except NotFoundError as exc:
            errors["property" if "Property" in exc.detail else "group"] = exc.detail
        except ConflictError as exc:
            errors["group"] = exc.detail
        except InvalidValueError as exc:
            errors["priority" if "priority" in exc.detail else "value"] = exc.detail
        else:
            notice = (
                f"Members of {rule['group_name']} get {rule['property_name']} = "
                f"{shown(rule['value'])} from the next Synchronize."
            )
            return _page(ctx, values=dict(_EMPTY), notice=notice)
    return _page(ctx, values=values, errors=errors, status=400)


def _missing(values: dict[str, str]) -> dict[str, str]:
    """Form messages for empty fields."""
    messages = {
        "group": "Choose a group.",
        "property": "Choose a Property.",
        "value": "Enter the value the group's members get.",
        "priority": "Enter a priority (lower wins).",
    }
    return {k: m for k, m in messages.items() if not values[k]}


def _priority(text: str) -> int:
    """A priority typed in the form (InvalidValueError when it is not a whole number)."""
    try:
        return int(text)
    except ValueError:
        raise InvalidValueError(f"priority is a whole number 0-{rules.MAX_PRIORITY}") from None


def shown(value: Any) -> str:
    """A rule's value as the console writes it (a boolean as Yes or No)."""
    if isinstance(value, bool):
        return "Yes" if value else "No"
    return str(value)


def _notice(done: str) -> str | None:
    return {
        "removed": "Rule removed. The next Synchronize clears the values it set "
        "(or gives the mapped value).",
        "priority": "Priority saved. The next Synchronize applies it.",
    }.get(done)


def _page(ctx: Ctx, *, status: int = 200, **context: Any) -> Page:
    props = [
        p
        for p in members.list_properties(ctx.conn, ctx.account_id)
        if p["type"] in rules.RULE_TYPES
    ]
    context.setdefault("errors", {})
    return Page(
        "group_rules.html",
        {
            "rows": rules.list_rules(ctx.conn, ctx.account_id),
            "groups": rules.group_choices(ctx.conn, ctx.account_id),
            "props": props,
            "shown": shown,
            **context,
        },
        status=status,
    )


def _rule_id(ctx: Ctx) -> int:
    return int(ctx.path["rule_id"])


def remove(ctx: Ctx) -> Response | Page:
    """Remove a rule (its values go, or the mapping's come, at the next Synchronize)."""
    try:
        rules.remove_rule(ctx.conn, ctx.account_id, _rule_id(ctx), actor=_actor(ctx))
    except NotFoundError as exc:
        return _page(ctx, values=dict(_EMPTY), errors={"rows": exc.detail}, status=404)
    return RedirectResponse(f"{PREFIX}/group-rules?done=removed", status_code=303)


def priority(ctx: Ctx) -> Response | Page:
    """Change a rule's priority."""
    try:
        rules.update_rule(
            ctx.conn,
            ctx.account_id,
            _rule_id(ctx),
            priority=_priority(ctx.form.get("priority", "").strip()),
            actor=_actor(ctx),
        )
    except NotFoundError as exc:
        return _page(ctx, values=dict(_EMPTY), errors={"rows": exc.detail}, status=404)
    except InvalidValueError as exc:
        return _page(ctx, values=dict(_EMPTY), errors={"rows": exc.detail}, status=400)
    return RedirectResponse(f"{PREFIX}/group-rules?done=priority", status_code=303)
