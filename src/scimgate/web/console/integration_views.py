"""Integrations: API keys for /api/v1 and webhook endpoints, with their delivery logs."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from starlette.responses import RedirectResponse, Response

from scimgate import audit
from scimgate.accounts import api_keys
from scimgate.errors import InvalidValueError, NotFoundError
from scimgate.web.console.endpoint import MAX_ID, PREFIX, Ctx, Page
from scimgate.web.console.event_views import dead_letter_notice
from scimgate.webhooks import dead_letters, delivery, retention
from scimgate.webhooks import service as webhooks
from scimgate.webhooks.lookup import get_endpoint

PAGE = f"{PREFIX}/integrations"


def _page(ctx: Ctx, **extra: Any) -> Page:
    assert ctx.session is not None
    context: dict[str, Any] = {
        "keys": [
            k for k in api_keys.list_keys(ctx.conn, ctx.account_id) if k["revoked_at"] is None
        ],
        "endpoints": [
            {**e, "dead": dead_letters.count_dead_letters(ctx.conn, ctx.account_id, e["id"])}
            for e in webhooks.list_endpoints(ctx.conn, ctx.account_id)
        ],
        "event_types": webhooks.EVENT_TYPES,
        "errors": {},
        "values": {"url": "", "events": []},
        "new_key": None,
        "new_secret": None,
        "retention": retention.settings_of(ctx.conn, ctx.account_id),
        "retention_value": None,
        **extra,
    }
    return Page("integrations.html", context, status=400 if context["errors"] else 200)


def show(ctx: Ctx) -> Page:
    """API keys and webhook endpoints."""
    done = {
        "revoked": "The API key is revoked.",
        "removed": "The webhook endpoint is removed.",
        "resumed": "Deliveries to the endpoint resume now.",
        "retention": "The event retention is saved; the next hourly prune applies it.",
    }.get(ctx.arg("done"))
    return _page(ctx, notice=done)


def set_retention(ctx: Ctx) -> Page | Response:
    """Change the account's event retention (audited)."""
    assert ctx.session is not None
    raw = ctx.form.get("retention_days", "").strip()
    try:
        retention.set_retention(
            ctx.conn, ctx.account_id, int(raw), actor=audit.console_actor(ctx.session.email)
        )
    except (ValueError, InvalidValueError):
        message = f"A whole number of days, {retention.MIN_DAYS}-{retention.MAX_DAYS}"
        return _page(ctx, errors={"retention_days": message}, retention_value=raw[:20])
    return RedirectResponse(f"{PAGE}?done=retention", status_code=303)


def create_key(ctx: Ctx) -> Page:
    """A new API key, shown once."""
    assert ctx.session is not None
    issued = api_keys.create_key(
        ctx.conn,
        ctx.account_id,
        name=ctx.form.get("name", ""),
        actor=audit.console_actor(ctx.session.email),
    )
    return _page(ctx, new_key=issued.key, notice="A new API key is ready.")


def revoke_key(ctx: Ctx) -> Response:
    """Revoke an API key of this account."""
    assert ctx.session is not None
    api_keys.revoke_key(
        ctx.conn,
        ctx.account_id,
        ctx.path["key_id"],
        actor=audit.console_actor(ctx.session.email),
    )
    return RedirectResponse(f"{PAGE}?done=revoked", status_code=303)


def add_endpoint(ctx: Ctx) -> Page:
    """A new webhook endpoint; its signing secret is shown once."""
    assert ctx.session is not None
    values = {"url": ctx.form.get("url", ""), "events": ctx.form_list("events")}
    try:
        added = webhooks.add_endpoint(
            ctx.conn,
            ctx.account_id,
            values["url"],
            event_types=values["events"],
            allow_private=ctx.settings.webhooks_allow_private,
            actor=audit.console_actor(ctx.session.email),
        )
    except InvalidValueError as exc:
        return _page(ctx, errors={"url": exc.detail}, values=values)
    return _page(ctx, new_secret=added["secret"], notice=f"Endpoint {added['url']} added.")


def remove_endpoint(ctx: Ctx) -> Response:
    """Remove an endpoint of this account."""
    assert ctx.session is not None
    webhooks.remove_endpoint(
        ctx.conn,
        ctx.account_id,
        ctx.path["endpoint_id"],
        actor=audit.console_actor(ctx.session.email),
    )
    return RedirectResponse(f"{PAGE}?done=removed", status_code=303)


def resume(ctx: Ctx) -> Response:
    """Resume a failing endpoint."""
    assert ctx.session is not None
    webhooks.resume(
        ctx.conn,
        ctx.account_id,
        ctx.path["endpoint_id"],
        actor=audit.console_actor(ctx.session.email),
    )
    return RedirectResponse(
        f"{PAGE}/webhooks/{ctx.path['endpoint_id']}?done=resumed", status_code=303
    )


def endpoint(ctx: Ctx) -> Page:
    """One endpoint and its delivery log."""
    assert ctx.session is not None
    found = get_endpoint(ctx.conn, ctx.account_id, ctx.path["endpoint_id"])
    notice = {"resumed": "Deliveries resume now.", "redelivered": "Sent again."}.get(
        ctx.arg("done")
    )
    notice = dead_letter_notice(ctx) or notice
    letters, _ = dead_letters.list_dead_letters(ctx.conn, ctx.account_id, found["id"], limit=50)
    return Page(
        "webhook.html",
        {
            "e": found,
            "deliveries": webhooks.deliveries(ctx.conn, ctx.account_id, found["id"], limit=100),
            "notice": notice,
            "dead_letters": letters,
            "error": ctx.arg("error")[:300] or None,
        },
    )


def redeliver(ctx: Ctx) -> Response:
    """Send one past event to the endpoint again (outside the transaction: it is HTTP)."""
    endpoint_id = ctx.path["endpoint_id"]
    try:
        seq = int(ctx.form.get("seq", ""))
    except ValueError:
        raise NotFoundError("no such event") from None
    if not 0 <= seq <= MAX_ID:
        raise NotFoundError("no such event")
    outcome = delivery.redeliver(ctx.engine, ctx.settings, ctx.account_id, endpoint_id, seq)
    target = f"{PAGE}/webhooks/{endpoint_id}"
    if outcome.ok:
        return RedirectResponse(f"{target}?done=redelivered", status_code=303)
    return RedirectResponse(f"{target}?error={quote(outcome.error or 'failed')}", status_code=303)
