"""One wrapper for every console page: session, CSRF, transaction, errors as pages.

Handlers are plain functions of a `Ctx`, run in the thread pool (the database work is
synchronous); they return a `Page` to render or a Starlette response. A form post
without this session's CSRF token, or from another origin, never reaches a handler.
Domain errors become a page with the message; anything else becomes a plain 500 page
with the traceback only in the server log.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode

from jinja2 import Environment, FileSystemLoader, select_autoescape
from markupsafe import Markup
from sqlalchemy import Connection, Engine
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response

from scimgate import timestamps
from scimgate.admins import service as admins
from scimgate.admins.service import Client, Session, session_for
from scimgate.admins.throttle import ThrottlePolicy
from scimgate.drift.cache import ReportCache
from scimgate.errors import BusyError, NotFoundError, ServiceError, StorageError
from scimgate.settings import Settings
from scimgate.store.errors import storage_edge
from scimgate.sync.engine import SyncOptions
from scimgate.sync.plan_cache import PlanCache
from scimgate.web.outage import OutageLog
from scimgate.web.status_table import answer_for

log = logging.getLogger("scimgate.console")

PREFIX = "/console"
SESSION_COOKIE = "scimgate_session"
LOGIN_COOKIE = "scimgate_login"  # pre-session CSRF secret of the sign-in form
MAX_FORM_BYTES = 64 * 1024
NOT_HERE = "There is nothing here in your account."
MAX_ID = 2**63 - 1  # ids are 64-bit integers: a larger number in a URL names nothing
TEMPLATES = Path(__file__).parent / "templates"

SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "frame-ancestors 'none'; form-action 'self'; base-uri 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}


@dataclass
class Page:
    """A template to render with its context, and the status to answer with."""

    template: str
    context: dict[str, Any] = field(default_factory=dict)
    status: int = 200
    cookies: list[tuple[str, str, int]] = field(default_factory=list)  # name, value, max-age
    headers: dict[str, str] = field(default_factory=dict)  # e.g. Retry-After on a 429


@dataclass
class Ctx:
    """What a console handler gets."""

    request: Request
    conn: Connection
    engine: Engine
    settings: Settings
    session: Session | None
    form: dict[str, str]
    form_lists: dict[str, list[str]]
    path: dict[str, Any]
    shared: dict[str, Any]  # per-process memo shared by handlers (e.g. the last sync plans)

    @property
    def account_id(self) -> int:
        assert self.session is not None
        return self.session.account_id

    def form_list(self, name: str) -> list[str]:
        """Every value a form sent under one name (checkboxes)."""
        return [v.strip() for v in self.form_lists.get(name, [])][:50]

    def arg(self, name: str, default: str = "") -> str:
        """A query-string value, stripped and bounded."""
        return (self.request.query_params.get(name) or default).strip()[:512]

    @property
    def client(self) -> Client:
        """The client's IP (the ASGI scope's: uvicorn sets it from X-Forwarded-For when the
        proxy is trusted) and user agent."""
        host = self.request.client.host if self.request.client else None
        return Client(ip=host, user_agent=self.request.headers.get("user-agent"))

    @property
    def throttle(self) -> ThrottlePolicy:
        """The sign-in throttle as configured (SCIMGATE_LOGIN_*)."""
        return ThrottlePolicy.from_settings(self.settings)


def sign(value: str, key: str) -> str:
    """`value.signature`: a cookie the server can tell it issued before any lookup."""
    mac = hmac.new(key.encode(), value.encode(), hashlib.sha256).hexdigest()[:32]
    return f"{value}.{mac}"


def unsign(signed: str | None, key: str) -> str | None:
    """The value of a signed cookie, or None if it was not signed with this key."""
    if not signed or "." not in signed or len(signed) > 200:
        return None
    value, _, _mac = signed.rpartition(".")
    return value if hmac.compare_digest(sign(value, key), signed) else None


def login_csrf(secret: str, key: str) -> str:
    """The sign-in form's token: derived from the pre-session cookie's secret."""
    return hmac.new(key.encode(), f"login:{secret}".encode(), hashlib.sha256).hexdigest()


class Renderer:
    """The Jinja2 environment (autoescaped) with the console's globals."""

    def __init__(self, settings: Settings) -> None:
        self.env = Environment(
            loader=FileSystemLoader(TEMPLATES),
            autoescape=select_autoescape(["html"]),
            trim_blocks=True,
            lstrip_blocks=True,
        )
        self.env.globals.update(prefix=PREFIX, tenant_url=settings.tenant_url)
        self.env.filters["when"] = _when
        self.env.filters["when_text"] = _when_text
        self.env.filters["ms"] = _milliseconds
        self.env.filters["query"] = _with_query
        self.env.filters["field_name"] = _field_name

    def page(self, request: Request, page: Page, session: Session | None) -> HTMLResponse:
        template = self.env.get_template(page.template)
        html = template.render(
            request=request, session=session, current_path=request.url.path, **page.context
        )
        return HTMLResponse(
            html, status_code=page.status, headers={**SECURITY_HEADERS, **page.headers}
        )


def _utc(value: Any) -> datetime | None:
    """A stored time (datetime, or ISO 8601 text) in UTC, to the second."""
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value)
        except ValueError:
            return None
    if not isinstance(value, datetime):
        return None
    # SQLite hands back naive UTC, PostgreSQL answers in its session's time zone.
    return timestamps.as_utc(value).astimezone(UTC).replace(microsecond=0)


def _when_text(value: Any) -> str:
    """A timestamp as text (UTC, to the second): for attributes and no-script readers."""
    if value is None:
        return "never"
    at = _utc(value)
    return at.strftime("%Y-%m-%d %H:%M:%S UTC") if at else str(value)


def _when(value: Any) -> Markup | str:
    """A timestamp in a <time> element: ISO 8601 for machines, UTC text that
    static/console.js rewrites in the viewer's time zone."""
    at = _utc(value)
    if at is None:
        return _when_text(value)
    iso = at.strftime("%Y-%m-%dT%H:%M:%SZ")
    return Markup('<time datetime="{}">{}</time>').format(iso, _when_text(at))


def _milliseconds(value: int | None) -> str:
    """A logged duration in the whole milliseconds the log keeps: 0 was under one."""
    if value is None:
        return "—"
    return "< 1 ms" if value <= 0 else f"{value:,} ms"


def _field_name(name: str) -> str:
    """Built-in member fields read like Properties ("name" -> "Name")."""
    return name.capitalize() if name in ("name", "email", "status") else name


def _with_query(request: Request, **changes: Any) -> str:
    """The current URL with some query parameters changed (None removes one)."""
    params = dict(request.query_params)
    for key, value in changes.items():
        if value is None or value == "":
            params.pop(key, None)
        else:
            params[key] = str(value)
    return f"{request.url.path}?{urlencode(params)}" if params else request.url.path


Handler = Callable[[Ctx], "Page | Response"]


class Console:
    """Builds endpoints for handlers, sharing engine, settings and templates."""

    def __init__(self, engine: Engine, settings: Settings, outage: OutageLog | None = None) -> None:
        self.engine = engine
        self.settings = settings
        self.outage = outage or OutageLog()
        self.renderer = Renderer(settings)
        self.shared: dict[str, Any] = {
            # manual Property edits are not in the plan fingerprint: reuse for 5 min at most
            "plans": PlanCache(engine, SyncOptions.from_settings(settings), ttl=300.0),
            # hand edits behind scimgate's back move nothing a cache could watch: 1 min
            "drift": ReportCache.shared(engine),  # shared with /api/v1's GET /drift
        }

    def endpoint(
        self, handler: Handler, *, public: bool = False, writes: bool = True
    ) -> Callable[..., Any]:
        """An ASGI endpoint running `handler` with the checks every console page needs.

        `writes=False` keeps a form post's transaction read-only (on SQLite it must not
        hold the write lock while it starts a synchronization that needs it).
        """

        async def run(request: Request) -> Response:
            try:
                pairs = await read_form(request) if request.method == "POST" else []
            except FormTooLarge:
                return self.error(request, None, 413, "That form is too large.")
            return await run_in_threadpool(self._run, handler, request, pairs, public, writes)

        return run

    def _run(
        self,
        handler: Handler,
        request: Request,
        pairs: list[tuple[str, str]],
        public: bool,
        writes: bool,
    ) -> Response:
        refusal = _refused_values(request, pairs)
        if refusal is not None:
            return self.error(request, None, *refusal)
        visit = _Visit(*_split_form(pairs))
        try:
            result = self._in_transaction(handler, request, visit, public, writes)
        except ServiceError as exc:
            return self._service_failure(request, visit.session, exc)
        except StorageError as exc:
            return self._storage_failure(request, visit.session, exc)
        except Exception:
            log.exception("unhandled error on %s %s", request.method, request.url.path)
            return self.error(request, visit.session, 500, "Something went wrong on our side.")
        if visit.stopped:
            return result  # the sign-in redirect or the CSRF refusal, as they are
        return self._answer(request, visit.session, result)

    def _in_transaction(
        self, handler: Handler, request: Request, visit: _Visit, public: bool, writes: bool
    ) -> Page | Response:
        """Read the session, check the post, and run the handler, all in one transaction."""
        with storage_edge(), self.engine.connect() as conn:
            conn.execution_options(writes=writes and request.method == "POST")
            with conn.begin():
                secret = unsign(request.cookies.get(SESSION_COOKIE), self.settings.secret_key)
                visit.session = session_for(conn, secret) if secret else None
                stop = self._stop(request, visit, public)
                if stop is not None:
                    visit.stopped = True
                    return stop
                ctx = Ctx(
                    request=request,
                    conn=conn,
                    engine=self.engine,
                    settings=self.settings,
                    session=visit.session,
                    form=visit.form,
                    form_lists=visit.lists,
                    path=dict(request.path_params),
                    shared=self.shared,
                )
                return handler(ctx)

    def _stop(self, request: Request, visit: _Visit, public: bool) -> Response | None:
        """Where a request stops before its handler: no session, or a refused form post."""
        if public:
            return None
        if visit.session is None:
            return self._to_login(request)
        if request.method == "POST":
            refusal = self.csrf_refusal(request, visit.form, visit.session)
            if refusal:
                return self.error(request, visit.session, 403, refusal)
        return None

    def _service_failure(
        self, request: Request, session: Session | None, exc: ServiceError
    ) -> Response:
        """A domain error as a page with its message."""
        # Never say whether another account has it: one message for every 404.
        message = NOT_HERE if isinstance(exc, NotFoundError) else exc.detail
        response = self.error(request, session, answer_for(exc).status, message)
        if isinstance(exc, BusyError):
            response.headers["Retry-After"] = str(exc.retry_after)
        return response

    def _storage_failure(
        self, request: Request, session: Session | None, exc: StorageError
    ) -> Response:
        """A busy or absent database as a page asking to try again."""
        if self.outage.classify(exc).kind == "timeout":
            message = "The database is busy. Try again in a moment."
        else:  # an outage: one log line for it, not a traceback per page
            message = "The database is not answering. Try again in a moment."
        response = self.error(request, session, answer_for(exc).status, message)
        response.headers["Retry-After"] = "5"
        return response

    def _answer(
        self, request: Request, session: Session | None, result: Page | Response
    ) -> Response:
        """The handler's result as a response with the console's headers and cookies."""
        if session is not None and admins.needs_touch(session):
            self._touch(session)
        if isinstance(result, Page):
            response = self.renderer.page(request, result, session)
            for name, value, max_age in result.cookies:
                set_cookie(response, request, name, value, max_age, self.settings.public_url)
            return response
        for key, value in SECURITY_HEADERS.items():
            result.headers.setdefault(key, value)
        return result

    def _touch(self, session: Session) -> None:
        """Note when the session was last used, in a write transaction of its own (at most
        once a minute); a failure here only costs that note, never the page."""
        try:
            with storage_edge(), self.engine.connect() as conn:
                conn.execution_options(writes=True)
                with conn.begin():
                    admins.touch(conn, session)
        except (StorageError, ServiceError):
            log.warning("could not note the last use of a console session", exc_info=True)

    def csrf_refusal(
        self, request: Request, form: dict[str, str], session: Session | None
    ) -> str | None:
        """Why a form post is refused: another origin, or not this session's token."""
        if not same_origin(request, self.settings.public_url):
            return "This form was sent from another site, so it was not accepted."
        token = form.get("csrf_token", "")
        if session is None or not hmac.compare_digest(token, session.csrf_token):
            return "This form has expired. Reload the page and try again."
        return None

    def _to_login(self, request: Request) -> Response:
        target = request.url.path
        if request.method == "GET" and request.url.query:
            target += "?" + request.url.query
        return RedirectResponse(f"{PREFIX}/login?{urlencode({'next': target})}", status_code=303)

    def error(
        self, request: Request, session: Session | None, status: int, message: str
    ) -> Response:
        """A page with a message and a way back; never a traceback."""
        return self.renderer.page(
            request, Page("error.html", {"status": status, "message": message}, status), session
        )


@dataclass
class _Visit:
    """One request's form, and what its transaction found: the session, and an early stop."""

    form: dict[str, str]
    lists: dict[str, list[str]]
    session: Session | None = None
    stopped: bool = False


def _refused_values(request: Request, pairs: list[tuple[str, str]]) -> tuple[int, str] | None:
    """The status and message for a path or form value no handler should see."""
    if any(
        "\x00" in str(v) or (isinstance(v, int) and not 0 <= v <= MAX_ID)
        for v in request.path_params.values()
    ):
        return 404, NOT_HERE
    if any("\x00" in k + v for k, v in [*request.query_params.multi_items(), *pairs]):
        # PostgreSQL text cannot hold NUL; no form or filter of ours needs it.
        return 400, "A value contains a NUL character."
    return None


def _split_form(pairs: list[tuple[str, str]]) -> tuple[dict[str, str], dict[str, list[str]]]:
    """The form's first value per name (stripped), and every value per name (checkboxes)."""
    form: dict[str, str] = {}
    lists: dict[str, list[str]] = {}
    for key, value in pairs:
        form.setdefault(key, value.strip())
        lists.setdefault(key, []).append(value)
    return form, lists


class FormTooLarge(Exception):
    """The form body is over MAX_FORM_BYTES."""


async def read_form(request: Request) -> list[tuple[str, str]]:
    """An urlencoded form body (the console posts nothing else), bounded in size."""
    chunks = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_FORM_BYTES:
            raise FormTooLarge
        chunks.append(chunk)
    body = b"".join(chunks).decode("utf-8", "replace")
    return [(k[:64], v[:8192]) for k, v in parse_qsl(body, keep_blank_values=True)[:500]]


def same_origin(request: Request, public_url: str) -> bool:
    """Whether the Origin (or Referer) header, if the browser sent one, is this site.

    This site is the Host the request came to, or the configured public URL's host (a
    proxy may rewrite Host).
    """
    origin = request.headers.get("origin") or request.headers.get("referer")
    if origin is None:
        return True  # not sent by older clients: the CSRF token still has to match
    sent = origin.split("://", 1)[-1].split("/", 1)[0].lower()
    ours = {request.headers.get("host", "").lower(), _host_of(public_url)}
    return bool(sent) and sent in ours


def _host_of(url: str) -> str:
    return url.split("://", 1)[-1].split("/", 1)[0].lower()


def set_cookie(
    response: Response, request: Request, name: str, value: str, max_age: int, public_url: str
) -> None:
    """HttpOnly, SameSite=Lax, scoped to the console, and Secure when the site is https.

    The site is https when the public URL says so (also behind a TLS-terminating proxy
    that talks plain http to us) or when the request itself came over https.
    """
    response.set_cookie(
        name,
        value,
        max_age=max_age,
        path=PREFIX,
        httponly=True,
        samesite="lax",
        secure=is_https(request, public_url),
    )


def is_https(request: Request, public_url: str) -> bool:
    """Whether browsers reach this site over https."""
    return public_url.lower().startswith("https://") or request.url.scheme == "https"


def delete_cookie(response: Response, request: Request, name: str, public_url: str) -> None:
    """Forget a cookie set by set_cookie (same path and attributes)."""
    response.delete_cookie(
        name,
        path=PREFIX,
        httponly=True,
        samesite="lax",
        secure=is_https(request, public_url),
    )


def new_secret() -> str:
    """A random value for a cookie."""
    return secrets.token_urlsafe(24)
