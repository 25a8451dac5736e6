"""Integrations: an endpoint's dead letters sent again in bulk, and what came of it."""

from __future__ import annotations

from urllib.parse import quote

from starlette.responses import RedirectResponse, Response

from scimgate.errors import InvalidValueError, NotFoundError
from scimgate.scim.text import whole_number
from scimgate.web.console.endpoint import MAX_ID, PREFIX, Ctx
from scimgate.webhooks import dead_letters

PAGE = f"{PREFIX}/integrations"
_COUNTS = ("sent", "failed", "remaining")  # a bulk redelivery's outcome, in the query string


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
    try:
        report = dead_letters.redeliver(ctx.engine, ctx.settings, ctx.account_id, endpoint_id, ids)
    except dead_letters.RedeliveryBusyError as exc:  # one at a time per endpoint
        return RedirectResponse(f"{target}?error={quote(exc.detail)}", status_code=303)
    sent = sum(1 for r in report["results"] if r["ok"])
    failed = len(report["results"]) - sent
    query = f"sent={sent}&failed={failed}&remaining={report['remaining']}"
    return RedirectResponse(f"{target}?done=dead&{query}", status_code=303)


def dead_letter_notice(ctx: Ctx) -> str | None:
    """The endpoint page's notice after a bulk redelivery (its counts come in the query)."""
    if ctx.arg("done") != "dead":
        return None
    # The counts come back in the query string: "²" or 5000 digits read as 0, never a 500.
    sent, failed, left = (whole_number(ctx.arg(k)) or 0 for k in _COUNTS)
    return f"Dead letters sent again: {sent} delivered, {failed} failed, {left} left."
