"""Sign in and sign out."""

from __future__ import annotations

import hmac

from starlette.responses import RedirectResponse, Response

from scimgate.admins import service as admins
from scimgate.admins.service import SESSION_LIFETIME, SignInRefused, SignInThrottled
from scimgate.web.console.endpoint import (
    LOGIN_COOKIE,
    PREFIX,
    SESSION_COOKIE,
    Ctx,
    Page,
    delete_cookie,
    login_csrf,
    new_secret,
    same_origin,
    set_cookie,
    sign,
    unsign,
)

HOME = f"{PREFIX}/provisioning"


def safe_next(target: str) -> str:
    """Only a console path: never an open redirect to another site."""
    if target.startswith(PREFIX + "/") and not target.startswith("//") and "\\" not in target:
        return target
    return HOME


def home(ctx: Ctx) -> Response:
    """/console: the provisioning page."""
    return RedirectResponse(HOME, status_code=303)


def not_found(ctx: Ctx) -> Page:
    """Any other console path."""
    return Page("error.html", {"status": 404, "message": "There is no such page."}, 404)


def login(ctx: Ctx) -> Page | Response:
    """The sign-in form; a signed-in admin goes straight on."""
    key = ctx.settings.secret_key
    if ctx.session is not None and ctx.request.method == "GET":
        return RedirectResponse(safe_next(ctx.arg("next")), status_code=303)
    secret = unsign(ctx.request.cookies.get(LOGIN_COOKIE), key)
    fresh = secret is None
    if fresh:
        secret = new_secret()
    values = {
        "account": ctx.form.get("account", ctx.arg("account")),
        "email": ctx.form.get("email", ""),
        "next": ctx.form.get("next", ctx.arg("next")),
    }
    error = None
    status = 200
    headers: dict[str, str] = {}
    if ctx.request.method == "POST":
        token = ctx.form.get("csrf_token", "")
        if (
            fresh
            or not same_origin(ctx.request, ctx.settings.public_url)
            or not hmac.compare_digest(token, login_csrf(secret, key))
        ):
            error, status = "This form has expired. Please sign in again.", 400
        else:
            try:
                cookie, _session = admins.sign_in(
                    ctx.conn,
                    values["account"],
                    values["email"],
                    ctx.form_lists.get("password", [""])[0],  # as typed: never stripped
                    client=ctx.client,
                    policy=ctx.throttle,
                )
            except SignInThrottled as exc:  # nothing was checked: wait and try again
                error, status = exc.detail, 429
                headers["Retry-After"] = str(exc.retry_after)
            except SignInRefused as exc:  # caught here: the failure count must be committed
                error, status = exc.detail, 400
            else:
                response = RedirectResponse(safe_next(values["next"]), status_code=303)
                set_cookie(
                    response,
                    ctx.request,
                    SESSION_COOKIE,
                    sign(cookie, key),
                    int(SESSION_LIFETIME.total_seconds()),
                    ctx.settings.public_url,
                )
                delete_cookie(response, ctx.request, LOGIN_COOKIE, ctx.settings.public_url)
                return response
    page = Page(
        "login.html",
        {"values": values, "error": error, "csrf_token": login_csrf(secret, key)},
        status=status,
        headers=headers,
    )
    if fresh:
        page.cookies.append((LOGIN_COOKIE, sign(secret, key), 3600))
    return page


def logout(ctx: Ctx) -> Response:
    """End the session and forget its cookie."""
    if ctx.session is not None:
        admins.sign_out(ctx.conn, ctx.session)
    return signed_out(ctx)


def signed_out(ctx: Ctx) -> Response:
    """To the sign-in page, forgetting the session cookie."""
    response = RedirectResponse(f"{PREFIX}/login?signed_out=1", status_code=303)
    delete_cookie(response, ctx.request, SESSION_COOKIE, ctx.settings.public_url)
    return response
