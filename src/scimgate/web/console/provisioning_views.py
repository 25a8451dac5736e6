"""Settings > Security and Identity > User Provisioning: activation, tokens, status, guides."""

from __future__ import annotations

from typing import Any

from starlette.responses import RedirectResponse, Response

from scimgate import audit
from scimgate.accounts import service as accounts
from scimgate.accounts import setup_links
from scimgate.accounts.lookup import account_by_slug, tokens_of
from scimgate.provisioning import activity, idp_profile
from scimgate.scim.client_habits import HABITS
from scimgate.scim.client_profile import PatchAnswer, patch_answer
from scimgate.web.console import page_charts
from scimgate.web.console.endpoint import PREFIX, Ctx, Page, set_cookie, sign, unsign
from scimgate.web.console.hints import hint_for

PAGE = f"{PREFIX}/provisioning"


def _page(ctx: Ctx, **extra: Any) -> Page:
    assert ctx.session is not None
    account = account_by_slug(ctx.conn, ctx.session.account_slug)
    context: dict[str, Any] = {"account": account, "new_token": None, "errors": {}, **extra}
    if account["provisioning_active"]:
        tokens = tokens_of(ctx.conn, account["id"])
        status = activity.connection_status(ctx.conn, account["id"])
        if status["last_error"]:
            status["last_error"]["hint"] = hint_for(status["last_error"])
        context.update(
            tokens=[t for t in tokens if t["revoked_at"] is None],
            revoked=[t for t in tokens if t["revoked_at"] is not None][:10],
            status=status,
            requests=page_charts.requests_per_hour(ctx.conn, account["id"], ctx.arg("range")),
            setup_links=setup_links.list_links(ctx.conn, account["id"]),
            **_profile(ctx, account["id"]),
        )
    return Page("provisioning.html", context, status=400 if context["errors"] else 200)


def provisioning_page(ctx: Ctx, **extra: Any) -> Page:
    """The page with extra context (a form's errors, a value shown once)."""
    return _page(ctx, **extra)


_GROUP_PATCH = {
    PatchAnswer.NO_CONTENT: "204 No Content",
    PatchAnswer.WITHOUT_MEMBERS: "200 with the group, without its members",
    PatchAnswer.RESOURCE: "200 with the group (204 once it has {page:,} members or more)",
}


def _profile(ctx: Ctx, account_id: int) -> dict[str, Any]:
    """The identity-provider panel: the guess, its habits, and the Group PATCH answer."""
    found = idp_profile.profile(ctx.conn, account_id)
    answer = patch_answer("Group", found.decisive_idp, projected=False)
    text = _GROUP_PATCH[answer].format(page=ctx.settings.group_member_page)
    return {"profile": found, "habits": HABITS, "group_patch": text}


def show(ctx: Ctx) -> Page:
    """The page in whichever state the account is: not entitled, inactive or active; a
    token issued by the post just before is shown here, once."""
    assert ctx.session is not None
    done = ctx.arg("done")
    carried = FLASH_COOKIE in ctx.request.cookies
    token = _taken_token(ctx) if carried and done in _ISSUED else None
    if token is not None:
        page = _page(ctx, new_token=token, notice=_ISSUED[done])
    else:
        page = _page(ctx, notice=_notice(done))
    if carried:
        page.cookies.append((FLASH_COOKIE, "", 0))  # read once: a reload finds nothing
    return page


# The new token rides from the post to the page after it in a cookie of its own: HttpOnly,
# scoped to the console, five minutes, signed with a key bound to this session and account
# (another session or a forged value shows nothing). Never in a URL, never stored by us,
# and any worker of `serve --workers N` can show it.
FLASH_COOKIE = "scimgate_new_token"
_FLASH_SECONDS = 300


def _flash_key(ctx: Ctx) -> str:
    assert ctx.session is not None
    return f"{ctx.settings.secret_key}:new-token:{ctx.session.id}:{ctx.account_id}"


def _taken_token(ctx: Ctx) -> str | None:
    """The token the post before left for this session and account, if it is genuine."""
    return unsign(ctx.request.cookies.get(FLASH_COOKIE), _flash_key(ctx))


_ISSUED = {
    "activated": "User provisioning is activated.",
    "issued": "A new Secret Token is ready.",
}
_SHOWN_ONCE = (
    "It is shown only on the page right after it is made, and is not kept: if you did not "
    "copy it, revoke it below and generate another."
)


def _notice(done: str) -> str | None:
    return {
        "revoked": "The token is revoked: requests with it are refused from now on.",
        "link-revoked": "The setup link is revoked: it opens nothing from now on. The Secret "
        "Tokens it issued keep working until you revoke them.",
        "link-and-tokens-revoked": "The setup link is revoked, and the Secret Tokens it issued "
        "with it: requests with them are refused from now on.",
        "deactivated": "User provisioning is deactivated: every token is refused until you "
        "activate it again. Staged users and members are kept.",
        "activated": f"User provisioning is activated with a Secret Token. {_SHOWN_ONCE}",
        "issued": f"A new Secret Token was generated. {_SHOWN_ONCE}",
    }.get(done)


def _show_once(ctx: Ctx, token: str, done: str) -> Response:
    """Post-redirect-get: the token waits for the next page of this session, never in a URL,
    so a reload shows the list instead of issuing another token."""
    response = RedirectResponse(f"{PAGE}?done={done}", status_code=303)
    flash = sign(token, _flash_key(ctx))
    set_cookie(response, ctx.request, FLASH_COOKIE, flash, _FLASH_SECONDS, ctx.settings.public_url)
    return response


def activate(ctx: Ctx) -> Response:
    """Turn provisioning on and show the first Secret Token, once."""
    assert ctx.session is not None
    issued = accounts.activate_provisioning(
        ctx.conn, ctx.account_id, actor=audit.console_actor(ctx.session.email)
    )
    return _show_once(ctx, issued.token, "activated")


def deactivate(ctx: Ctx) -> Page | Response:
    """Turn provisioning off, after the admin ticked the confirmation."""
    assert ctx.session is not None
    if ctx.form.get("confirm") != "yes":
        return _page(
            ctx,
            errors={
                "confirm": "Tick the box to confirm that the identity provider will be refused."
            },
        )
    accounts.deactivate_provisioning(
        ctx.conn, ctx.account_id, actor=audit.console_actor(ctx.session.email)
    )
    return RedirectResponse(f"{PAGE}?done=deactivated", status_code=303)


def new_token(ctx: Ctx) -> Page | Response:
    """Another live token (rotation): shown once; the old ones work until revoked."""
    name = ctx.form.get("name", "")[:255]
    account = account_by_slug(ctx.conn, ctx.session.account_slug)  # type: ignore[union-attr]
    if not account["provisioning_active"]:
        return _page(ctx, errors={"token": "Activate user provisioning first."})
    issued = accounts.issue_token(
        ctx.conn,
        ctx.account_id,
        name=name,
        actor=audit.console_actor(ctx.session.email),  # type: ignore[union-attr]
    )
    return _show_once(ctx, issued.token, "issued")


def revoke(ctx: Ctx) -> Response:
    """Revoke one token of this account (another account's id is simply not found)."""
    assert ctx.session is not None
    token_id = ctx.path["token_id"]
    accounts.revoke_token(
        ctx.conn, ctx.account_id, token_id, actor=audit.console_actor(ctx.session.email)
    )
    return RedirectResponse(f"{PAGE}?done=revoked", status_code=303)
