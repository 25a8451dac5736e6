"""One Property: rename it, change its SCIM attribute name, change a select's options, delete
it, each after showing its effect."""

from __future__ import annotations

from typing import Any

from starlette.responses import RedirectResponse, Response

from scimgate import audit
from scimgate.errors import ConflictError, InvalidValueError
from scimgate.group_rules.service import RULE_TYPES
from scimgate.members import properties
from scimgate.web.console.endpoint import PREFIX, Ctx, Page
from scimgate.web.console.group_rule_views import shown
from scimgate.web.console.mapping_views import TYPE_LABELS


def show(ctx: Ctx) -> Page:
    """The Property, what fills it, how many members hold each value, and its forms."""
    return _page(ctx, notice=_notice(ctx.arg("done")))


def _notice(done: str) -> str | None:
    return {
        "renamed": "Property renamed. Its mapping and member values stay with it.",
        "attribute": "SCIM attribute name changed; member values stay with it. Update the "
        "mapping in your identity provider to send the new path below: until then, what it "
        "sends under the old name is left out (the Provisioning log lists it as ignored).",
        "options": "Options saved. The next Synchronize fills values the new options now accept.",
    }.get(done)


def _page(ctx: Ctx, status: int = 200, **context: Any) -> Page:
    prop = properties.detail(ctx.conn, ctx.account_id, _prop_id(ctx))
    context.setdefault("errors", {})
    context.setdefault("name", prop["name"])
    context.setdefault("scim_attribute", (prop["scim_path"] or "").rpartition(":")[2])
    return Page(
        "property.html",
        {"p": prop, "types": TYPE_LABELS, "shown": shown, "rule_types": RULE_TYPES, **context},
        status=status,
    )


def _actor(ctx: Ctx) -> str:
    """The signed-in admin, as the audit log names them."""
    assert ctx.session is not None
    return audit.console_actor(ctx.session.email)


def _prop_id(ctx: Ctx) -> str:
    return str(ctx.path["property_id"])[:64]


def rename(ctx: Ctx) -> Response | Page:
    """Give the Property a new name (unique in the account)."""
    name = ctx.form.get("name", "")
    try:
        properties.rename(ctx.conn, ctx.account_id, _prop_id(ctx), name, actor=_actor(ctx))
    except (ConflictError, InvalidValueError) as exc:
        return _page(ctx, 400, errors={"name": exc.detail}, name=name)
    return RedirectResponse(f"{PREFIX}/properties/{_prop_id(ctx)}?done=renamed", status_code=303)


def rename_attribute(ctx: Ctx) -> Response | Page:
    """Give the Property's SCIM attribute another name (the form warns what it breaks)."""
    new = ctx.form.get("scim_attribute", "")
    try:
        properties.rename_attribute(ctx.conn, ctx.account_id, _prop_id(ctx), new, actor=_actor(ctx))
    except (ConflictError, InvalidValueError) as exc:
        return _page(ctx, 400, errors={"scim_attribute": exc.detail}, scim_attribute=new)
    return RedirectResponse(f"{PREFIX}/properties/{_prop_id(ctx)}?done=attribute", status_code=303)


def _edited(ctx: Ctx, current: list[str]) -> tuple[list[str], dict[str, str], list[str], str]:
    """The option form: (new options, {old: new}, removed, added text)."""
    rename_to: dict[str, str] = {}
    removed: list[str] = []
    for index, option in enumerate(current):
        if ctx.form.get(f"remove_{index}"):
            removed.append(option)
            continue
        new = ctx.form.get(f"option_{index}", option).strip()
        if new != option:
            rename_to[option] = new
    added_text = ctx.form.get("add", "")
    added = [line.strip() for line in added_text.splitlines() if line.strip()]
    options, renamed = properties.edit_options(current, add=added, rename=rename_to, remove=removed)
    return options, renamed, removed, added_text


def options(ctx: Ctx) -> Response | Page:
    """Save a select's options; removing options members hold asks first, with the counts."""
    prop_id = _prop_id(ctx)
    current = list(properties.detail(ctx.conn, ctx.account_id, prop_id)["options"])
    try:
        new, renamed, _removed, _added = _edited(ctx, current)
        if new == current and not renamed:
            return _page(ctx, errors={"options": "Nothing to change."}, status=400)
        impact = properties.options_impact(ctx.conn, ctx.account_id, prop_id, new, renamed)
        held = {o: n for o, n in impact["removed"].items() if n}
        if held and ctx.form.get("confirm") != "clear":
            return _page(ctx, confirm={"held": held, "form": _echo(ctx, current)})
        properties.update_options(
            ctx.conn,
            ctx.account_id,
            prop_id,
            new,
            renamed=renamed,
            clear_removed=True,
            actor=_actor(ctx),
        )
    except (ConflictError, InvalidValueError) as exc:
        return _page(ctx, 400, errors={"options": exc.detail}, form=_echo(ctx, current))
    return RedirectResponse(f"{PREFIX}/properties/{prop_id}?done=options", status_code=303)


def _echo(ctx: Ctx, current: list[str]) -> dict[str, str]:
    """The option form's fields as posted, to post again on confirmation or show on error."""
    names = [f"option_{i}" for i in range(len(current))] + [
        f"remove_{i}" for i in range(len(current))
    ]
    echoed = {n: ctx.form[n] for n in names if n in ctx.form}
    echoed["add"] = ctx.form.get("add", "")
    return echoed


def delete(ctx: Ctx) -> Response | Page:
    """Delete the Property once confirmed; first show what goes with it (its mapping, the
    group rules that set it, members' values)."""
    prop_id = _prop_id(ctx)
    if ctx.request.method == "GET" or ctx.form.get("confirm") != "delete":
        impact = properties.delete_impact(ctx.conn, ctx.account_id, prop_id)
        return Page(
            "property_delete.html", {"impact": impact, "p": impact["property"], "shown": shown}
        )
    properties.delete(ctx.conn, ctx.account_id, prop_id, actor=_actor(ctx))
    return RedirectResponse(f"{PREFIX}/properties?deleted=1", status_code=303)
