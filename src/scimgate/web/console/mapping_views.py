"""Properties and Attribute Mapping: create Properties, map SCIM attributes, preview first."""

from __future__ import annotations

from typing import Any

from starlette.responses import RedirectResponse, Response

from scimgate import audit
from scimgate.errors import ConflictError, InvalidValueError, NotFoundError
from scimgate.mapping import service as mappings
from scimgate.mapping.types import MEMBER_FIELDS, TYPES
from scimgate.members import service as members
from scimgate.sync.references import staged_people
from scimgate.web.console.endpoint import PREFIX, Ctx, Page

TYPE_LABELS = {
    "text": "Text",
    "number": "Number",
    "date": "Date",
    "boolean": "Yes / no",
    "select": "Select (one of a list)",
    "member": "Member (e.g. a manager)",
}


def _actor(ctx: Ctx) -> str:
    """The signed-in admin, as the audit log names them."""
    assert ctx.session is not None
    return audit.console_actor(ctx.session.email)


def properties(ctx: Ctx) -> Page:
    """The account's Properties and a form to create one."""
    errors: dict[str, str] = {}
    values = {"name": "", "type": "text", "options": ""}
    notice = None
    if ctx.request.method == "POST":
        values = {k: ctx.form.get(k, "") for k in values}
        options = [line.strip() for line in values["options"].splitlines() if line.strip()]
        if values["type"] not in TYPES:
            errors["type"] = "Choose a type from the list."
        elif values["type"] != "select" and options:
            errors["options"] = "Only a select Property has options: clear this box."
        else:
            try:
                created = members.create_property(
                    ctx.conn,
                    ctx.account_id,
                    values["name"],
                    values["type"],
                    options,
                    actor=_actor(ctx),
                )
            except ConflictError as exc:
                errors["name"] = exc.detail
            except InvalidValueError as exc:
                field = "options" if "option" in exc.detail.lower() else "name"
                errors[field] = exc.detail
            else:
                notice = (
                    f"Property {created['name']!r} created. Your identity provider can send it "
                    f"as {created['scim_path']}, or map a SCIM attribute onto it."
                    if created["scim_path"]
                    else f"Property {created['name']!r} created. Map a SCIM attribute onto it."
                )
                values = {"name": "", "type": "text", "options": ""}
    return Page(
        "properties.html",
        {
            "rows": members.list_properties(ctx.conn, ctx.account_id),
            "errors": errors,
            "values": values,
            "notice": notice,
            "types": TYPE_LABELS,
        },
        status=400 if errors else 200,
    )


def mapping(ctx: Ctx) -> Page:
    """Mappings, the attributes staging has received, a preview, and saving."""
    errors: dict[str, str] = {}
    values = {"target": ctx.arg("target"), "source": ""}
    notice = None
    sample: list[dict[str, Any]] | None = None
    if ctx.request.method == "POST":
        values = {"target": ctx.form.get("target", ""), "source": ctx.form.get("source", "")}
        action = ctx.form.get("action", "preview")
        if not values["target"]:
            errors["target"] = "Choose a member field or Property."
        if not values["source"]:
            errors["source"] = "Enter a SCIM attribute, or pick one the identity provider sent."
        if not errors:
            try:
                if action == "save":
                    saved = mappings.set_mapping(
                        ctx.conn,
                        ctx.account_id,
                        values["target"],
                        values["source"],
                        actor=_actor(ctx),
                    )
                    notice = (
                        f"{saved['target']} now comes from {saved['source']}. The next "
                        "Synchronize updates every member."
                    )
                    values = {"target": "", "source": ""}
                else:
                    sample = _with_people(
                        ctx,
                        mappings.preview(
                            ctx.conn,
                            ctx.account_id,
                            limit=5,
                            candidate=(values["target"], values["source"]),
                        ),
                    )
            except NotFoundError as exc:
                errors["target"] = exc.detail
            except InvalidValueError as exc:
                errors["source"] = exc.detail
    return _page(ctx, values=values, errors=errors, notice=notice, sample=sample)


def _with_people(ctx: Ctx, sample: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The preview names people, not directory ids: each sample user, and the staged user a
    member reference (the manager) points at."""
    props = members.list_properties(ctx.conn, ctx.account_id)
    refs = {p["name"] for p in props if p["type"] == "member"}
    ids = [s["id"] for s in sample] + [
        s["values"][label] for s in sample for label in refs if s["values"].get(label)
    ]
    people = staged_people(ctx.conn, ctx.account_id, ids)
    for s in sample:
        s["person"] = people.get(s["id"], s["userName"])
        for label in refs:
            target = s["values"].get(label)
            if target:
                s["values"][label] = people.get(target, f"{target} (not staged)")
    return sample


def _page(ctx: Ctx, **context: Any) -> Page:
    props = members.list_properties(ctx.conn, ctx.account_id)
    targets = [(f, f.capitalize()) for f in MEMBER_FIELDS] + [(p["name"], p["name"]) for p in props]
    return Page(
        "mapping.html",
        {
            "rows": mappings.list_mappings(ctx.conn, ctx.account_id),
            "received": mappings.received_attributes(ctx.conn, ctx.account_id, sample=500),
            "targets": targets,
            **context,
        },
        status=400 if context.get("errors") else 200,
    )


def remove(ctx: Ctx) -> Response | Page:
    """Stop filling a target from SCIM (its values stay until the next Synchronize)."""
    target = ctx.form.get("target", "")
    try:
        mappings.remove_mapping(ctx.conn, ctx.account_id, target, actor=_actor(ctx))
    except NotFoundError as exc:
        return _page(ctx, values={"target": "", "source": ""}, errors={"remove": exc.detail})
    return RedirectResponse(f"{PREFIX}/mapping", status_code=303)
