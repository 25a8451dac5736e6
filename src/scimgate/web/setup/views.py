"""The guided setup pages: the identity provider's guide, Tenant URL and Secret Token,
live connection status, and the attribute mapping, for the holder of a setup link.

Each handler works on the link's own account through the services the console uses.
"""

from __future__ import annotations

import re
from typing import Any

from scimgate.accounts import setup_links
from scimgate.errors import InvalidValueError, NotFoundError
from scimgate.mapping import service as mappings
from scimgate.mapping.types import MEMBER_FIELDS
from scimgate.members import service as members
from scimgate.provisioning import activity, request_log
from scimgate.web.console.endpoint import MAX_ID
from scimgate.web.console.hints import hint_for
from scimgate.web.docs_views import DOCS_DIR, DocsMissingError, load_page
from scimgate.web.setup.site import SetupCtx, SetupPage

# The identity providers the setup offers, each with its guide (a page under /docs).
IDPS: dict[str, tuple[str, str | None]] = {
    "entra": ("Microsoft Entra ID", "idp/entra"),
    "okta": ("Okta", "idp/okta"),
    "google-workspace": (
        "Google Workspace (through a SCIM-capable connector)",
        "idp/google-workspace",
    ),
    "onelogin": ("OneLogin", "idp/onelogin"),
    "jumpcloud": ("JumpCloud", "idp/jumpcloud"),
    "other": ("Another SCIM 2.0 identity provider", None),
}
RECENT_ERRORS = 5


def show(ctx: SetupCtx) -> SetupPage:
    """The guided setup: choose the identity provider, then its steps with your values."""
    return _page(ctx)


def new_token(ctx: SetupCtx) -> SetupPage:
    """A new Secret Token (the console's Generate new token), shown on this page only."""
    issued = setup_links.issue_token(ctx.conn, ctx.visit)
    return _page(ctx, new_token=issued.token, notice=_SHOWN_ONCE)


def status(ctx: SetupCtx) -> SetupPage:
    """The connection status alone: what the page's script polls."""
    return SetupPage("setup_status.html", {"status": _status(ctx), "base": ctx.base})


def mapping(ctx: SetupCtx) -> SetupPage:
    """Save one mapping with the console's validation; errors come back on the form."""
    values = {"target": ctx.form.get("target", ""), "source": ctx.form.get("source", "")}
    errors: dict[str, str] = {}
    if not values["target"]:
        errors["target"] = "Choose a member field or Property."
    if not values["source"]:
        errors["source"] = "Enter a SCIM attribute, or pick one the identity provider sent."
    notice = None
    if not errors:
        try:
            saved = setup_links.set_mapping(ctx.conn, ctx.visit, values["target"], values["source"])
        except NotFoundError as exc:
            errors["target"] = exc.detail
        except InvalidValueError as exc:
            errors["source"] = exc.detail
        else:
            notice = f"{saved['target']} now comes from {saved['source']}."
            values = {"target": "", "source": ""}
    page = _page(ctx, values=values, errors=errors, notice=notice)
    page.status = 400 if errors else 200
    return page


def entry(ctx: SetupCtx) -> SetupPage:
    """One logged request of this account, with its hint (another account's id: 404)."""
    entry_id = ctx.path["entry_id"]
    if not 0 <= entry_id <= MAX_ID:
        raise NotFoundError("no such log entry")
    found = request_log.get_entry(ctx.conn, ctx.account_id, entry_id)
    found["hint"] = hint_for(found)
    return SetupPage("setup_entry.html", {"e": found, "base": ctx.base, "visit": ctx.visit})


_SHOWN_ONCE = (
    "A new Secret Token is ready. Copy it now: it is shown only on this page, and is not "
    "kept. If you lose it, generate another."
)


def elsewhere(ctx: SetupCtx) -> SetupPage:
    """Any other path under a link: nothing (a link opens these pages only)."""
    raise NotFoundError("no such setup page")


def _page(ctx: SetupCtx, **extra: Any) -> SetupPage:
    idp = ctx.arg("idp") or ctx.form.get("idp", "")
    idp = idp if idp in IDPS else ""
    context: dict[str, Any] = {
        "visit": ctx.visit,
        "base": ctx.base,
        "csrf_token": ctx.csrf_token,
        "idps": {key: label for key, (label, _) in IDPS.items()},
        "idp": idp,
        "guide": _guide(idp),
        "status": _status(ctx),
        "mappings": mappings.list_mappings(ctx.conn, ctx.account_id),
        "received": mappings.received_attributes(ctx.conn, ctx.account_id, sample=500),
        "targets": _targets(ctx),
        "new_token": None,
        "values": {"target": "", "source": ""},
        "errors": {},
        "notice": None,
        **extra,
    }
    return SetupPage("setup.html", context)


def _guide(idp: str) -> dict[str, str] | None:
    """The identity provider's guide as served at /docs (its headings two levels down, under
    the page's own), or None (another provider, or an installation without docs)."""
    page = IDPS[idp][1] if idp else None
    if page is None:
        return None
    try:
        doc = load_page(DOCS_DIR, page)
    except DocsMissingError:
        return None
    html = _HEADING.sub(lambda m: f"<{m[1]}h{min(int(m[2]) + 2, 6)}", doc.html)
    return {"title": doc.title, "html": html}


_HEADING = re.compile(r"<(/?)h([1-6])\b")


def _status(ctx: SetupCtx) -> dict[str, Any]:
    """Last request, counts, and the latest refused requests, each with its hint."""
    found = activity.connection_status(ctx.conn, ctx.account_id)
    recent = request_log.list_entries(ctx.conn, ctx.account_id, limit=50)
    found["errors"] = [
        {**row, "hint": hint_for(row)}
        for row in recent
        if (row.get("status") or 0) >= 400 and not row.get("expected")
    ][:RECENT_ERRORS]
    return found


def _targets(ctx: SetupCtx) -> list[tuple[str, str]]:
    """Member fields and Properties a SCIM attribute can be mapped onto."""
    props = members.list_properties(ctx.conn, ctx.account_id)
    return [(f, f.capitalize()) for f in MEMBER_FIELDS] + [(p["name"], p["name"]) for p in props]
