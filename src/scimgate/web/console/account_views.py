"""The signed-in admin's own account: their sessions, and changing their password."""

from __future__ import annotations

from starlette.responses import RedirectResponse, Response

from scimgate.admins import service as admins
from scimgate.admins.service import SignInThrottled, WrongPassword
from scimgate.errors import InvalidValueError
from scimgate.scim.text import whole_number
from scimgate.web.console.auth_views import signed_out
from scimgate.web.console.endpoint import PREFIX, Ctx, Page

SESSIONS = f"{PREFIX}/account/sessions"


def _plural(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"


def sessions(ctx: Ctx) -> Page:
    """Your sessions: where and when each was signed in, this one marked."""
    assert ctx.session is not None
    done = ctx.arg("done")
    notice = None
    if done == "revoked":
        notice = "The session is signed out."
    elif done.startswith("others-") and (count := whole_number(done[7:])) is not None:
        notice = f"Signed out everywhere else ({_plural(count, 'session')})."
    rows = admins.list_sessions(ctx.conn, ctx.session)
    return Page("sessions.html", {"sessions": rows, "notice": notice})


def revoke(ctx: Ctx) -> Response:
    """End one of your sessions (ending this one signs you out)."""
    assert ctx.session is not None
    if admins.revoke_session(ctx.conn, ctx.session, ctx.path["handle"]):
        return signed_out(ctx)
    return RedirectResponse(f"{SESSIONS}?done=revoked", status_code=303)


def sign_out_others(ctx: Ctx) -> Response:
    """End every session of yours but this one."""
    assert ctx.session is not None
    ended = admins.sign_out_others(ctx.conn, ctx.session)
    return RedirectResponse(f"{SESSIONS}?done=others-{ended}", status_code=303)


def password(ctx: Ctx) -> Page:
    """Change your password: the current one, and the new one twice. Your other sessions end."""
    assert ctx.session is not None
    errors: dict[str, str] = {}
    notice = None
    status = 200
    headers: dict[str, str] = {}
    if ctx.request.method == "POST":
        new, again = ctx.form_lists.get("new", [""])[0], ctx.form_lists.get("again", [""])[0]
        current = ctx.form_lists.get("current", [""])[0]
        if not current:
            errors["current"] = "Enter your current password."
        if new != again:
            errors["again"] = "The two new passwords are not the same."
        else:
            try:
                admins.check_password(new)
            except InvalidValueError as exc:
                errors["new"] = exc.detail
        if not errors:
            try:
                ended = admins.change_password(
                    ctx.conn,
                    ctx.session,
                    current,
                    new,
                    client=ctx.client,
                    policy=ctx.throttle,
                )
            except SignInThrottled as exc:
                errors["current"] = exc.detail
                status = 429
                headers["Retry-After"] = str(exc.retry_after)
            except WrongPassword as exc:  # caught here: the failure count must be committed
                errors["current"] = exc.detail
            else:
                notice = "Your password is changed." + (
                    f" {_plural(ended, 'other session')} signed out." if ended else ""
                )
        if errors and status == 200:
            status = 400
    return Page("password.html", {"errors": errors, "notice": notice}, status, headers=headers)
