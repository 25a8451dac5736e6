"""Setup links on the User Provisioning page: create one for the customer's IT admin, revoke it."""

from __future__ import annotations

from starlette.responses import RedirectResponse, Response

from scimgate import audit
from scimgate.accounts import setup_links
from scimgate.errors import ForbiddenError, InvalidValueError
from scimgate.web.console.endpoint import PREFIX, Ctx, Page
from scimgate.web.console.provisioning_views import provisioning_page

PAGE = f"{PREFIX}/provisioning"


def _actor(ctx: Ctx) -> str:
    assert ctx.session is not None
    return audit.console_actor(ctx.session.email)


def create(ctx: Ctx) -> Page:
    """A new link, shown once on the page this post answers with (never in a URL we keep)."""
    try:
        days = setup_links.parse_days(ctx.form.get("days"))
        issued = setup_links.create(
            ctx.conn, ctx.account_id, days=days, note=ctx.form.get("note", ""), actor=_actor(ctx)
        )
    except (InvalidValueError, ForbiddenError) as exc:
        return provisioning_page(ctx, errors={"setup_link": exc.detail})
    url = f"{ctx.settings.public_url.rstrip('/')}/setup/{issued.token}"
    return provisioning_page(
        ctx,
        new_link=url,
        new_link_expires=issued.expires_at,
        notice="A setup link is ready: copy it now and send it to the IT admin who "
        "connects your identity provider. It is shown only here.",
    )


def revoke(ctx: Ctx) -> Response:
    """Revoke one link of this account (another account's id is simply not found), and the
    Secret Tokens it issued when the box is ticked."""
    with_tokens = ctx.form.get("revoke_tokens") == "1"
    setup_links.revoke(
        ctx.conn, ctx.account_id, ctx.path["link_id"], actor=_actor(ctx), revoke_tokens=with_tokens
    )
    done = "link-and-tokens-revoked" if with_tokens else "link-revoked"
    return RedirectResponse(f"{PAGE}?done={done}#setup-links", status_code=303)
