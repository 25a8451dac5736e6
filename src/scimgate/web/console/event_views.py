"""Integrations: how long events are kept, and an endpoint's dead letters sent again in bulk."""

from __future__ import annotations

from urllib.parse import quote

from starlette.responses import RedirectResponse, Response

from scimgate import audit
from scimgate.errors import InvalidValueError, NotFoundError
from scimgate.web.console.endpoint import MAX_ID, PREFIX, Ctx, Page
from scimgate.web.console.integration_views import integrations_page
from scimgate.webhooks import dead_letters, retention

PAGE = f"{PREFIX}/integrations"


def set_retention(ctx: Ctx) -> Page | Response:
    """Change the account's event retention (audited)."""
    assert ctx.session is not None
    raw = ctx.form.get("retention_days", "").strip()
    try:
        days = int(raw)
        retention.set_retention(
            ctx.conn, ctx.account_id, days, actor=audit.console_actor(ctx.session.email)
        )
    except (ValueError, InvalidValueError):
        message = f"A whole number of days, {retention.MIN_DAYS}-{retention.MAX_DAYS}"
        return integrations_page(ctx, errors={"retention_days": message}, retention_value=raw[:20])
    return RedirectResponse(f"{PAGE}?done=retention", status_code=303)


def _ids(ctx: Ctx) -> list[int] | None:
    """The dead letters ticked, or None for all of them."""
    if ctx.form.get("all") == "1":
        return None
    try:
        ids = [int(v) for v in ctx.form_list("ids")]
    except ValueError:
        raise NotFoundError("no such dead letter") from None
    if not ids or not all(1 <= i <= MAX_ID for i in ids):
        raise InvalidValueError("Tick the dead letters to send again, or send them all")
    return ids


def redeliver_dead(ctx: Ctx) -> Response:
    """Send the endpoint's dead letters again (outside the transaction: it is HTTP)."""
    endpoint_id = ctx.path["endpoint_id"]
    target = f"{PAGE}/webhooks/{endpoint_id}"
    try:
        ids = _ids(ctx)
    except InvalidValueError as exc:
        return RedirectResponse(f"{target}?error={quote(exc.detail)}", status_code=303)
    report = dead_letters.redeliver(ctx.engine, ctx.settings, ctx.account_id, endpoint_id, ids)
    sent = sum(1 for r in report["results"] if r["ok"])
    failed = len(report["results"]) - sent
    query = f"sent={sent}&failed={failed}&remaining={report['remaining']}"
    return RedirectResponse(f"{target}?done=dead&{query}", status_code=303)
