"""The wrapper every setup page runs in: the link check, the throttle, CSRF, a transaction.

A setup page is reached only through /setup/<link>: the link in the path is checked on
every request (live, its account's provisioning active) and opens that one account's
setup pages, nothing else. It is not a console session and sets none: the only cookie is
the CSRF secret of the setup forms, scoped to /setup. An unknown, tampered, expired or
revoked link all get one 404 page that names no account; unknown links are counted per
client address and, past the console sign-in's allowance, the address waits (429).
The checks run in a read transaction; a write one is opened only to count an unknown
link, note a use (accounts/setup_link_uses.py), or run a post.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from jinja2 import ChoiceLoader, FileSystemLoader
from sqlalchemy import Connection, Engine
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from scimgate.accounts import setup_link_uses as uses
from scimgate.accounts import setup_links
from scimgate.accounts.setup_link_uses import SetupClient, UseNote
from scimgate.accounts.setup_links import SetupVisit
from scimgate.admins import throttle
from scimgate.admins.throttle import ThrottlePolicy
from scimgate.errors import NotFoundError, ServiceError, StorageError
from scimgate.settings import Settings
from scimgate.store.errors import storage_edge
from scimgate.timestamps import utcnow
from scimgate.web.console.endpoint import (
    SECURITY_HEADERS,
    FormTooLarge,
    Renderer,
    is_https,
    new_secret,
    read_form,
    same_origin,
    sign,
    unsign,
)
from scimgate.web.console.endpoint import (
    TEMPLATES as CONSOLE_TEMPLATES,
)
from scimgate.web.rate_limits import RateLimiter
from scimgate.web.status_table import answer_for

log = logging.getLogger("scimgate.setup")

PREFIX = "/setup"
CSRF_COOKIE = "scimgate_setup"
TEMPLATES = Path(__file__).parent / "templates"
INVALID = (
    "This setup link does not work: it may be mistyped, expired or revoked. Ask the person "
    "who sent it for a new one."
)
NOT_HERE = "There is nothing here for this setup link."
LINK_RATE, LINK_BURST = 5.0, 60.0  # requests a second through one live link, and its burst
# The link is in the URL: the console's Referrer-Policy (same-origin) never sends it on to
# another site in a Referer (no-referrer would make browsers send `Origin: null` on the
# setup forms, which the same-origin check refuses).
HEADERS = SECURITY_HEADERS


@dataclass
class SetupCtx:
    """What a setup handler gets: the visit (one account, as one link) and the request."""

    request: Request
    conn: Connection
    settings: Settings
    visit: SetupVisit
    token: str
    csrf_token: str
    browser_secret: str  # this browser's CSRF cookie secret (binds values shown once to it)
    client: SetupClient  # address, User-Agent and browser, as the audit log names them
    form: dict[str, str]
    path: dict[str, Any]

    @property
    def account_id(self) -> int:
        return self.visit.account_id

    @property
    def base(self) -> str:
        """This link's setup page."""
        return f"{PREFIX}/{self.token}"

    def arg(self, name: str) -> str:
        """A query-string value, stripped and bounded."""
        return (self.request.query_params.get(name) or "").strip()[:128]


@dataclass
class SetupPage:
    """A template to render, its context and status."""

    template: str
    context: dict[str, Any]
    status: int = 200
    cookies: list[tuple[str, str, int]] = field(default_factory=list)  # name, value, max-age


Handler = Callable[[SetupCtx], SetupPage | Response]


@dataclass(frozen=True)
class _Call:
    """One request to a setup page, as the checks and then its handler see it."""

    handler: Handler
    request: Request
    form: dict[str, str]
    kept: str | None  # the browser's cookie secret, when it brought a genuine one
    secret: str  # that secret, or the new one this answer sets
    client: SetupClient
    entry_id: int | None  # the logged request the page shows (its opening is audited)

    @property
    def token(self) -> str:
        return str(self.request.path_params.get("token", ""))

    @property
    def ip(self) -> str | None:
        return self.client.ip


@dataclass(frozen=True)
class _Next:
    """What the read-only checks leave to do: count an unknown link (no visit), note a
    use, run the handler in a write transaction."""

    visit: SetupVisit | None
    use: UseNote
    writes: bool


class SetupSite:
    """Builds the setup endpoints, sharing the engine, settings and templates."""

    def __init__(self, engine: Engine, settings: Settings) -> None:
        self.engine = engine
        self.settings = settings
        console = Renderer(settings)
        self.env = console.env.overlay(
            loader=ChoiceLoader([FileSystemLoader(TEMPLATES), FileSystemLoader(CONSOLE_TEMPLATES)])
        )
        self.env.globals.update(setup_prefix=PREFIX)
        # Requests of one live link: a holder cannot hammer the database through it.
        self.per_link = RateLimiter(LINK_RATE, LINK_BURST, workers=settings.workers)

    def endpoint(self, handler: Handler, *, views_entry: bool = False) -> Callable[..., Any]:
        """An ASGI endpoint for `handler` (`views_entry`: it shows a logged request, whose
        opening is audited)."""

        async def run(request: Request) -> Response:
            try:
                pairs = await read_form(request) if request.method == "POST" else []
            except FormTooLarge:
                return self.message(request, 413, "That form is too large.")
            return await run_in_threadpool(self._run, handler, request, pairs, views_entry)

        return run

    def _run(
        self, handler: Handler, request: Request, pairs: list[tuple[str, str]], views_entry: bool
    ) -> Response:
        if any("\x00" in k + v for k, v in [*request.query_params.multi_items(), *pairs]):
            return self.message(request, 400, "A value contains a NUL character.")
        form: dict[str, str] = {}
        for key, value in pairs:
            form.setdefault(key, value.strip())
        kept = unsign(request.cookies.get(CSRF_COOKIE), self.settings.secret_key)
        secret = kept or new_secret()  # a first visit: its forms use the cookie set below
        client = uses.SetupClient(
            ip=request.client.host if request.client else None,
            user_agent=request.headers.get("user-agent"),
            browser=browser_mark(self.settings.secret_key, secret),
            new_browser=kept is None,
        )
        entry_id = request.path_params.get("entry_id") if views_entry else None
        call = _Call(handler, request, form, kept, secret, client, entry_id)
        try:
            with storage_edge(), self.engine.connect() as conn:
                result = self._served(conn, call)
        except ServiceError as exc:
            message = NOT_HERE if isinstance(exc, NotFoundError) else exc.detail
            return self.message(request, answer_for(exc).status, message)
        except StorageError:
            response = self.message(request, 503, "The database is busy. Try again in a moment.")
            response.headers["Retry-After"] = "5"
            return response
        except Exception:
            log.exception("unhandled error on a setup page")
            return self.message(request, 500, "Something went wrong on our side.")
        return self._answer(request, result, None if kept else secret)

    def _served(self, conn: Connection, call: _Call) -> SetupPage | Response:
        """The checks in a read transaction, then writes only when there is one to make.

        Read: the throttle, the link, the per-link rate, the form's CSRF token, and whether
        this use is new to the audit log; a GET with nothing to write runs its handler right
        there (the 5-second polls: no write lock on SQLite). Otherwise a write transaction
        counts an unknown link or notes the use, and the handler runs in a transaction of
        its own (a write one for a post or a logged request to audit), the link checked
        again in each.
        """
        policy = ThrottlePolicy.from_settings(self.settings)
        now = utcnow()
        conn.execution_options(writes=False)
        with conn.begin():
            checked = self._checked(conn, call, policy, now)
            if not isinstance(checked, _Next):
                return checked
            if not checked.use and not checked.writes:
                assert checked.visit is not None
                return call.handler(self._ctx(conn, call, checked.visit))
        if checked.visit is None:
            with self._writing(conn):
                setup_links.record_failure(conn, policy, call.ip, now)
            return self.message(call.request, 404, INVALID)
        if checked.use:
            with self._writing(conn):
                visit = setup_links.open_link(conn, call.token)
                if visit is not None:
                    uses.note_use(conn, visit, call.client, utcnow())
        conn.execution_options(writes=checked.writes)
        with conn.begin():
            visit = setup_links.open_link(conn, call.token)
            if visit is None:  # revoked or expired in the meantime
                return self.message(call.request, 404, INVALID)
            return call.handler(self._ctx(conn, call, visit))

    def _checked(
        self, conn: Connection, call: _Call, policy: ThrottlePolicy, now: datetime
    ) -> Response | _Next:
        """The read-only checks: a refusal, or what is left to do."""
        left = setup_links.wait_left(conn, policy, call.ip, now)
        if left.total_seconds() > 0:
            return self._too_many(call.request, throttle.seconds(left))
        visit = setup_links.open_link(conn, call.token, now=now)
        if visit is None:
            return _Next(visit=None, use=UseNote(audited=False, touch=False), writes=True)
        refusal = self._refusal(call, visit)
        if refusal is not None:
            return refusal
        use = uses.use_to_note(conn, visit, call.client, now)
        view = call.entry_id is not None and uses.view_to_note(
            conn, visit, call.client, call.entry_id, now
        )
        return _Next(visit=visit, use=use, writes=call.request.method == "POST" or view)

    @contextmanager
    def _writing(self, conn: Connection) -> Iterator[None]:
        """A write transaction (BEGIN IMMEDIATE on SQLite)."""
        conn.execution_options(writes=True)
        with conn.begin():
            yield

    def _refusal(self, call: _Call, visit: SetupVisit) -> Response | None:
        """The per-link rate limit, then a post's CSRF token and origin."""
        if self.settings.rate_limits and (wait_s := self.per_link.take(visit.link_id)):
            return self._too_many(call.request, max(1, round(wait_s)))
        if call.request.method == "POST":
            csrf = csrf_for(self.settings.secret_key, call.secret, visit.link_id)
            refusal = self._csrf_refusal(call.request, call.form, call.kept, csrf)
            if refusal:
                return self.message(call.request, 403, refusal)
        return None

    def _ctx(self, conn: Connection, call: _Call, visit: SetupVisit) -> SetupCtx:
        return SetupCtx(
            request=call.request,
            conn=conn,
            settings=self.settings,
            visit=visit,
            token=call.token,
            csrf_token=csrf_for(self.settings.secret_key, call.secret, visit.link_id),
            browser_secret=call.secret,
            client=call.client,
            form=call.form,
            path=dict(call.request.path_params),
        )

    def _too_many(self, request: Request, seconds: int) -> Response:
        return self._page_response(
            request,
            "setup_message.html",
            {"status": 429, "message": _wait(seconds)},
            429,
            {"Retry-After": str(seconds)},
        )

    def _csrf_refusal(
        self, request: Request, form: dict[str, str], secret: str | None, csrf: str
    ) -> str | None:
        """Why a setup form post is refused: another origin, or not this browser's token."""
        if not same_origin(request, self.settings.public_url):
            return "This form was sent from another site, so it was not accepted."
        if secret is None or not hmac.compare_digest(form.get("csrf_token", ""), csrf):
            return "This form has expired. Reload the page and try again."
        return None

    def _answer(self, request: Request, result: SetupPage | Response, new: str | None) -> Response:
        """The handler's page rendered (or its response), with the CSRF cookie set once
        (`new`: the secret of a browser that had none)."""
        if isinstance(result, SetupPage):
            response = self._page_response(
                request, result.template, result.context, result.status, {}
            )
            for name, value, max_age in result.cookies:
                set_setup_cookie(response, request, self.settings, name, value, max_age)
        else:
            response = result
            for key, value in HEADERS.items():
                response.headers.setdefault(key, value)
        if new is not None:
            secret = sign(new, self.settings.secret_key)
            set_setup_cookie(response, request, self.settings, CSRF_COOKIE, secret, 12 * 3600)
        return response

    def _page_response(
        self,
        request: Request,
        template: str,
        context: dict[str, Any],
        status: int,
        headers: dict[str, str],
    ) -> Response:
        html = self.env.get_template(template).render(request=request, **context)
        return Response(
            html, status_code=status, media_type="text/html", headers={**HEADERS, **headers}
        )

    def message(self, request: Request, status: int, message: str) -> Response:
        """A page with a message: the same for every refused link, naming no account."""
        return self._page_response(
            request, "setup_message.html", {"status": status, "message": message}, status, {}
        )


def set_setup_cookie(
    response: Response,
    request: Request,
    settings: Settings,
    name: str,
    value: str,
    max_age: int,
) -> None:
    """HttpOnly, SameSite=Strict, scoped to /setup (never sent to /console or /api/v1),
    Secure when the site is https."""
    response.set_cookie(
        name,
        value,
        max_age=max_age,
        path=PREFIX,
        httponly=True,
        samesite="strict",
        secure=is_https(request, settings.public_url),
    )


def browser_mark(key: str, secret: str) -> str:
    """How the audit log tells browsers apart: a keyed fingerprint of the setup cookie's
    secret (the secret itself never leaves the browser and this server)."""
    digest = hmac.new(key.encode(), f"setup-browser:{secret}".encode(), hashlib.sha256)
    return digest.hexdigest()[:16]


def csrf_for(key: str, secret: str, link_id: int) -> str:
    """The setup forms' token: bound to this browser's cookie secret and to the link."""
    return hmac.new(key.encode(), f"setup:{link_id}:{secret}".encode(), hashlib.sha256).hexdigest()


def _wait(seconds: int) -> str:
    return f"Too many setup links that do not work came from your address. Try again in {seconds} seconds."
