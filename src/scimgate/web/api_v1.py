"""/api/v1: the host product's REST API (JSON, API keys, RFC 9457 problem+json errors).

A thin shell over the same services as the console and the CLI. Every handler opens its
own transaction scoped by the key's account; the OpenAPI document is served at
/api/v1/openapi.json.
"""

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

import psycopg
from fastapi import Body, Depends, FastAPI, Path, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.utils import get_openapi
from fastapi.routing import APIRoute
from pydantic import AfterValidator, BaseModel, ConfigDict, Field
from sqlalchemy import Connection, Engine
from sqlalchemy.exc import DataError, OperationalError
from sqlalchemy.exc import TimeoutError as SATimeoutError
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import JSONResponse, Response

from scimgate import __version__, audit
from scimgate.accounts import api_keys
from scimgate.accounts.api_keys import ApiPrincipal
from scimgate.errors import (
    ConflictError,
    ForbiddenError,
    InvalidValueError,
    NotFoundError,
    PreconditionFailedError,
    ServiceError,
)
from scimgate.mapping import service as mapping
from scimgate.mapping.types import TYPES
from scimgate.members import listing, properties
from scimgate.members import service as members
from scimgate.settings import Settings
from scimgate.store import events as event_store
from scimgate.store.database import as_utc, deadline
from scimgate.sync import background, history
from scimgate.sync.engine import SyncBusyError, SyncOptions, synchronize
from scimgate.web.db_threads import retry_after
from scimgate.web.metrics import Metrics
from scimgate.web.outage import OutageLog
from scimgate.web.rate_limits import SurfaceLimits

log = logging.getLogger("scimgate.api")

PROBLEM = "application/problem+json"
_STATUS = {
    NotFoundError: (404, "Not Found"),
    ConflictError: (409, "Conflict"),
    InvalidValueError: (400, "Bad Request"),
    ForbiddenError: (403, "Forbidden"),
    PreconditionFailedError: (412, "Precondition Failed"),
}


# ---- schemas (they are the OpenAPI document) ----

# Times are UTC with an offset (SQLite hands them back naive, PostgreSQL in its zone).
Time = Annotated[datetime, AfterValidator(lambda v: as_utc(v).astimezone(UTC))]


class Problem(BaseModel):
    """An RFC 9457 problem document."""

    type: str = "about:blank"
    title: str
    status: int
    detail: str | None = None
    instance: str | None = None
    errors: list[dict[str, Any]] | None = None


class Member(BaseModel):
    id: str
    email: str | None
    name: str
    status: str = Field(description="active or deactivated")
    source: str = Field(description="scim (provisioned) or manual")
    directory_user_id: str | None = Field(description="the staged SCIM user it mirrors")
    properties: dict[str, Any] = Field(description="Property values by Property name")
    property_sources: dict[str, str] = Field(description="scim or manual, by Property name")
    created_at: Time
    updated_at: Time


class MemberPage(BaseModel):
    data: list[Member]
    next_cursor: str | None = Field(
        description="pass as `cursor` for the next page; null at the end"
    )


class MemberCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    email: str = Field(max_length=320)
    name: str = Field(default="", max_length=512)
    properties: dict[str, Any] = Field(default_factory=dict, description="values by Property name")


class MemberUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str | None = Field(default=None, max_length=512, description="manual members only")
    email: str | None = Field(default=None, max_length=320, description="manual members only")
    properties: dict[str, Any] | None = Field(
        default=None, description="manual values by Property name; null clears one"
    )


class Team(BaseModel):
    id: str
    name: str
    directory_group_id: str
    member_count: int
    created_at: Time
    updated_at: Time


class TeamPage(BaseModel):
    data: list[Team]
    next_cursor: str | None


class TeamMember(BaseModel):
    id: str
    email: str | None
    name: str
    status: str
    source: str


class TeamMemberPage(BaseModel):
    data: list[TeamMember]
    next_cursor: str | None


class PropertyOut(BaseModel):
    id: str
    name: str
    type: str = Field(description=", ".join(TYPES))
    options: list[str] = Field(description="a select's options, in order; [] otherwise")
    mapped_from: str | None = Field(description="the SCIM path that fills it, if any")


class PropertyPage(BaseModel):
    data: list[PropertyOut]
    next_cursor: str | None


class PropertyUsage(BaseModel):
    members: int = Field(description="members holding a value")
    options: dict[str, int] | None = Field(
        default=None, description="a select's options: members holding each"
    )


class PropertyDetail(PropertyOut):
    usage: PropertyUsage


class PropertyCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(max_length=64)
    type: Literal["text", "number", "date", "boolean", "select", "member"]
    options: list[Annotated[str, Field(max_length=255)]] = Field(
        default_factory=list, max_length=200, description="select only: at least one"
    )


class PropertyUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str | None = Field(default=None, max_length=64, description="a new name")
    options: list[Annotated[str, Field(max_length=255)]] | None = Field(
        default=None,
        max_length=200,
        description="a select's whole new option list: options left out are removed",
    )
    renamed_options: dict[str, Annotated[str, Field(max_length=255)]] = Field(
        default_factory=dict,
        max_length=200,
        description="{old: new}: members holding old now hold new (new must be in options)",
    )
    clear_removed_options: bool = Field(
        default=False,
        description="clear the value of members holding a removed option; "
        "without it such a removal is a 409 naming the options and member counts",
    )


class PropertyDeleted(BaseModel):
    id: str
    name: str
    mapped_from: str | None = Field(description="the mapping that was removed with it")
    members: int = Field(description="members whose value of it was cleared")


class MappingOut(BaseModel):
    target: str = Field(description="name, email, or a Property's name")
    kind: str = Field(description="field or property")
    type: str
    source: str = Field(description="SCIM path(s), alternatives joined by ||")
    property_id: str | None


class MappingList(BaseModel):
    data: list[MappingOut] = Field(description="the whole mapping (never paged)")


class SyncRun(BaseModel):
    id: int
    trigger: str
    status: str = Field(description="running, succeeded, failed, held or superseded")
    counts: dict[str, int]
    detail: str | None
    created_at: Time
    started_at: Time | None = Field(description="a confirmed held run keeps the hold's")
    finished_at: Time | None
    confirmed_at: Time | None = Field(default=None, description="when a held run was confirmed")
    confirmed_by: str | None = Field(
        default=None, description="who confirmed it: an admin's email, cli:<user>, apikey:<prefix>"
    )
    items: list[dict[str, Any]] | None = None


class SyncRunPage(BaseModel):
    data: list[SyncRun]
    next_cursor: str | None = Field(
        description="pass as `cursor` for the next (older) page; null at the end"
    )


class SyncPlan(BaseModel):
    status: str = "planned"
    counts: dict[str, int]
    would_hold: bool
    items: list[dict[str, Any]]


class Event(BaseModel):
    seq: int = Field(description="per-account sequence number; only grows")
    id: str = Field(description="stable id (webhook-id of its deliveries)")
    type: str = Field(
        description="member.created|updated|deactivated|reactivated, "
        "team.created|renamed|removed|member_added|member_removed, audit.recorded"
    )
    subject_id: str | None
    data: dict[str, Any]
    created_at: Time


class AuditEntry(BaseModel):
    id: int = Field(description="numbered per account; newer entries have higher ids")
    at: Time
    actor: str = Field(
        description="an admin's email, cli:<OS user>, apikey:<prefix> (name), or daily sync"
    )
    action: str = Field(description="e.g. api_key.created, mapping.set, sync_run.confirmed")
    target: str = Field(description="what was changed, for people")
    details: dict[str, Any] = Field(description="ids, names and {field: [old, new]} changes")


class AuditPage(BaseModel):
    data: list[AuditEntry]
    next_cursor: str | None = Field(
        description="pass as `cursor` for the next (older) page; null at the end"
    )


class EventPage(BaseModel):
    data: list[Event]
    next_after: int = Field(description="pass as `after` to read on; the same when nothing is new")


class SyncRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    dry_run: bool = Field(default=False, description="plan only: nothing is written")


# ---- the app ----


class ApiError(Exception):
    """A problem answered as is (401 and friends)."""

    def __init__(self, status: int, title: str, detail: str, headers: dict[str, str] | None = None):
        super().__init__(detail)
        self.status, self.title, self.detail, self.headers = status, title, detail, headers


def problem(
    status: int, title: str, detail: str | None, request: Request, **extra: Any
) -> Response:
    body = Problem(title=title, status=status, detail=detail, instance=request.url.path, **extra)
    return JSONResponse(body.model_dump(exclude_none=True), status_code=status, media_type=PROBLEM)


def create_api(
    engine: Engine,
    settings: Settings,
    *,
    request_engine: Engine | None = None,
    limits: SurfaceLimits | None = None,
    outage: OutageLog | None = None,
    metrics: Metrics | None = None,
) -> FastAPI:
    """The /api/v1 application (mounted by web.app).

    Requests read and write through `request_engine` (its connections carry the request
    deadlines) under rate limits per API key and per account; background work (a
    triggered Synchronize) uses `engine`.
    """
    request_engine = request_engine or engine
    limits = limits or SurfaceLimits(1, 1, workers=1, enabled=False)
    outage = outage or OutageLog()
    api = FastAPI(
        title="scimgate host API",
        version=__version__,
        description="Members, teams, Properties and synchronizations of one account, "
        "for the product that hosts scimgate. Authenticate with `Authorization: Bearer <API key>`.",
        docs_url=None,
        redoc_url=None,
        openapi_url="/openapi.json",
        responses={
            401: {"model": Problem, "description": "Missing, unknown or revoked API key"},
            400: {"model": Problem, "description": "Invalid input"},
        },
    )

    @contextmanager
    def tx(writes: bool = False) -> Iterator[Connection]:
        with deadline(settings.request_timeout_seconds), request_engine.connect() as conn:
            conn.execution_options(writes=writes)
            with conn.begin():
                yield conn
        outage.succeeded()

    def limited(limit: str, wait: float, detail: str) -> ApiError:
        if metrics is not None:
            metrics.rate_limited.labels("api", limit).inc()
        return ApiError(429, "Too Many Requests", detail, retry_after(wait))

    def caller(request: Request) -> ApiPrincipal:
        header = request.headers.get("authorization", "")
        scheme, _, key = header.partition(" ")
        key = key.strip() if scheme.lower() == "bearer" else ""
        client = request.client.host if request.client else "-"
        principal = None
        if hit := limits.before_auth(key, client):
            limit, wait = hit
            if limit == "credential":
                raise limited("key", wait, "Too many requests with this API key")
            raise limited(limit, wait, "Too many refused API keys from this address")
        if key:
            with tx(writes=False) as conn:
                principal = api_keys.authenticate(conn, key)
        if principal is None:
            limits.check_refused(client)
            raise ApiError(
                401,
                "Unauthorized",
                "Send a live API key: Authorization: Bearer sgk_… (scimgate apikey create)",
                {"WWW-Authenticate": 'Bearer realm="scimgate"'},
            )
        if wait := limits.check_account(principal.account_id):
            raise limited("account", wait, "Too many requests for this account")
        if metrics is not None:
            metrics.count_account(principal.account_id, "api")
        if api_keys.needs_touch(principal):
            with tx(writes=True) as conn:
                api_keys.record_use(conn, principal)
        return principal

    Caller = Annotated[ApiPrincipal, Depends(caller)]
    Cursor = Annotated[
        str | None, Query(max_length=64, description="next_cursor of the previous page")
    ]
    Limit = Annotated[int, Query(ge=1, le=200)]

    @api.exception_handler(ApiError)
    async def _api_error(request: Request, exc: ApiError) -> Response:
        response = problem(exc.status, exc.title, exc.detail, request)
        response.headers.update(exc.headers or {})
        return response

    @api.exception_handler(ServiceError)
    async def _service_error(request: Request, exc: ServiceError) -> Response:
        if isinstance(exc, SyncBusyError):
            return problem(409, "Conflict", exc.detail, request)
        for kind, (status, title) in _STATUS.items():
            if isinstance(exc, kind):
                return problem(status, title, exc.detail, request)
        return problem(400, "Bad Request", exc.detail, request)

    @api.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> Response:
        # FastAPI reads the body before the key is checked: a stranger still gets 401.
        try:
            await run_in_threadpool(caller, request)
        except ApiError as denied:
            return await _api_error(request, denied)
        errors = [
            {"loc": [str(p) for p in e.get("loc", ())], "msg": str(e.get("msg", ""))}
            for e in exc.errors()
        ]
        first = errors[0] if errors else {"loc": [], "msg": "invalid"}
        detail = f"{'.'.join(first['loc'][1:]) or 'request'}: {first['msg']}"
        return problem(400, "Bad Request", detail, request, errors=errors)

    @api.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> Response:
        response = problem(exc.status_code, str(exc.detail), None, request)
        response.headers.update(exc.headers or {})
        if exc.status_code == 405:  # Allow lists every route of this path, not just the first
            path = request.scope["path"][len(request.scope.get("root_path", "")) :]
            allowed = sorted(
                {
                    method
                    for route in api.routes
                    if isinstance(route, APIRoute) and route.path_regex.match(path)
                    for method in route.methods
                }
            )
            response.headers["Allow"] = ", ".join(allowed)
        return response

    @api.exception_handler(DataError)
    async def _data(request: Request, exc: Exception) -> Response:
        return problem(400, "Bad Request", "A value cannot be stored or compared", request)

    api.add_exception_handler(psycopg.DataError, _data)

    @api.exception_handler(OperationalError)
    async def _unavailable(request: Request, exc: Exception) -> Response:
        failure = outage.classify(exc)  # an outage is one log line, not a traceback each
        response = problem(503, "Service Unavailable", failure.detail, request)
        response.headers.update(retry_after(failure.retry_seconds))
        return response

    api.add_exception_handler(SATimeoutError, _unavailable)

    @api.exception_handler(Exception)
    async def _unhandled(request: Request, exc: Exception) -> Response:
        log.exception("unhandled error on %s %s", request.method, request.url.path)
        return problem(500, "Internal Server Error", None, request)

    def _nul(*values: Any) -> None:
        if any(isinstance(v, str) and "\x00" in v for v in values):
            raise InvalidValueError("A value contains a NUL character")

    # ---- members ----

    @api.get("/members", response_model=MemberPage, tags=["members"])
    def list_members(
        who: Caller,
        status: Annotated[str | None, Query(pattern="^(active|deactivated)$")] = None,
        source: Annotated[str | None, Query(pattern="^(scim|manual)$")] = None,
        q: Annotated[
            str | None, Query(max_length=200, description="in name or email, any case")
        ] = None,
        sort: Annotated[
            str | None,
            Query(
                pattern="^(-?(name|email|status))?$",
                description="name, email or status (then name); prefix - for descending; "
                "default: id order",
            ),
        ] = None,
        cursor: Annotated[
            str | None, Query(max_length=2048, description="next_cursor of the previous page")
        ] = None,
        limit: Limit = 50,
    ) -> dict[str, Any]:
        """Members in a stable order, a page at a time."""
        _nul(q, cursor)
        with tx() as conn:
            data, next_cursor = listing.member_page(
                conn,
                who.account_id,
                sort=sort,
                cursor=cursor,
                limit=limit,
                status=status,
                source=source,
                search=q or None,
            )
        return {"data": data, "next_cursor": next_cursor}

    @api.get(
        "/members/{member_id}",
        response_model=Member,
        tags=["members"],
        responses={404: {"model": Problem}},
    )
    def get_member(who: Caller, member_id: str) -> dict[str, Any]:
        """One member with its Property values and where each came from."""
        _nul(member_id)
        with tx() as conn:
            return members.get_member(conn, who.account_id, member_id)

    @api.post(
        "/members",
        response_model=Member,
        status_code=201,
        tags=["members"],
        responses={409: {"model": Problem}},
    )
    def create_member(who: Caller, body: MemberCreate) -> dict[str, Any]:
        """A manual member (not provisioned), with optional Property values."""
        _nul(body.email, body.name, *map(str, body.properties.values()), *body.properties)
        with tx(writes=True) as conn:
            return members.create_member(
                conn, who.account_id, body.email, name=body.name, properties=body.properties
            )

    @api.patch(
        "/members/{member_id}",
        response_model=Member,
        tags=["members"],
        responses={404: {"model": Problem}, 409: {"model": Problem}},
    )
    def update_member(who: Caller, member_id: str, body: MemberUpdate) -> dict[str, Any]:
        """Change a manual member's name or email, or any member's manual Property values."""
        props = body.properties or {}
        _nul(member_id, body.name, body.email, *map(str, props.values()), *props)
        with tx(writes=True) as conn:
            return members.update_member(
                conn,
                who.account_id,
                member_id,
                name=body.name,
                email=body.email,
                properties=body.properties,
            )

    # ---- teams and Properties ----

    @api.get("/teams", response_model=TeamPage, tags=["teams"])
    def list_teams(
        who: Caller,
        q: Annotated[str | None, Query(max_length=200)] = None,
        cursor: Cursor = None,
        limit: Limit = 50,
    ) -> dict[str, Any]:
        """Teams (mirrors of directory groups) with member counts."""
        _nul(q, cursor)
        with tx() as conn:
            data, next_cursor = listing.team_page(
                conn, who.account_id, search=q, cursor=cursor, limit=limit
            )
        return {"data": data, "next_cursor": next_cursor}

    def _team(conn: Connection, account_id: int, team_id: str) -> dict[str, Any]:
        _nul(team_id)
        return listing.get_team(conn, account_id, team_id)

    @api.get(
        "/teams/{team_id}", response_model=Team, tags=["teams"], responses={404: {"model": Problem}}
    )
    def get_team(who: Caller, team_id: str) -> dict[str, Any]:
        """One team."""
        with tx() as conn:
            return _team(conn, who.account_id, team_id)

    @api.get(
        "/teams/{team_id}/members",
        response_model=TeamMemberPage,
        tags=["teams"],
        responses={404: {"model": Problem}},
    )
    def team_members(
        who: Caller, team_id: str, cursor: Cursor = None, limit: Limit = 100
    ) -> dict[str, Any]:
        """The members of one team."""
        _nul(team_id, cursor)
        with tx() as conn:
            data, next_cursor = listing.team_member_page(
                conn, who.account_id, team_id, cursor=cursor, limit=limit
            )
        return {"data": data, "next_cursor": next_cursor}

    # ---- Properties and the attribute mapping ----

    PropertyId = Annotated[str, Path(max_length=64)]

    @api.get("/properties", response_model=PropertyPage, tags=["properties"])
    def list_properties(who: Caller, cursor: Cursor = None, limit: Limit = 100) -> dict[str, Any]:
        """The account's Properties and what fills them, in id order."""
        _nul(cursor)
        with tx() as conn:
            data, next_cursor = listing.property_page(
                conn, who.account_id, cursor=cursor, limit=limit
            )
        return {"data": data, "next_cursor": next_cursor}

    @api.get(
        "/properties/{property_id}",
        response_model=PropertyDetail,
        tags=["properties"],
        responses={404: {"model": Problem}},
    )
    def get_property(who: Caller, property_id: PropertyId) -> dict[str, Any]:
        """One Property with how many members hold a value (and each option): what a
        deletion or an option's removal would clear."""
        _nul(property_id)
        with tx() as conn:
            return properties.detail(conn, who.account_id, property_id)

    @api.post(
        "/properties",
        response_model=PropertyDetail,
        status_code=201,
        tags=["properties"],
        responses={409: {"model": Problem, "description": "the name is taken"}},
    )
    def create_property(who: Caller, body: PropertyCreate) -> dict[str, Any]:
        """A new Property (a typed member field); map a SCIM attribute onto it with /mappings."""
        _nul(body.name, *body.options)
        with tx(writes=True) as conn:
            created = members.create_property(
                conn, who.account_id, body.name, body.type, body.options, actor=who.actor
            )
            return properties.detail(conn, who.account_id, created["id"])

    @api.patch(
        "/properties/{property_id}",
        response_model=PropertyDetail,
        tags=["properties"],
        responses={
            404: {"model": Problem},
            409: {
                "model": Problem,
                "description": "the name is taken, or removed options are held",
            },
        },
    )
    def update_property(
        who: Caller, property_id: PropertyId, body: PropertyUpdate, request: Request
    ) -> Any:
        """Rename a Property (its mapping follows it) and/or change a select's options."""
        renamed = body.renamed_options
        _nul(property_id, body.name, *(body.options or []), *renamed, *renamed.values())
        if renamed and body.options is None:
            raise InvalidValueError("renamed_options goes with options (the whole new list)")
        try:
            with tx(writes=True) as conn:
                if body.name is not None:
                    properties.rename(conn, who.account_id, property_id, body.name, actor=who.actor)
                if body.options is not None:
                    properties.update_options(
                        conn,
                        who.account_id,
                        property_id,
                        body.options,
                        renamed=renamed,
                        clear_removed=body.clear_removed_options,
                        actor=who.actor,
                    )
                return properties.detail(conn, who.account_id, property_id)
        except properties.OptionsInUseError as exc:  # nothing was written
            held = [
                {"loc": ["body", "options", option], "msg": f"held by {n} members"}
                for option, n in exc.held.items()
            ]
            detail = f"{exc.detail} (send clear_removed_options: true to clear them)"
            return problem(409, "Conflict", detail, request, errors=held)

    @api.delete(
        "/properties/{property_id}",
        response_model=PropertyDeleted,
        tags=["properties"],
        responses={404: {"model": Problem}},
    )
    def delete_property(who: Caller, property_id: PropertyId) -> dict[str, Any]:
        """Delete a Property, the mapping onto it and every member's value of it (each
        member whose value goes gets a member.updated event). GET it first to see how many."""
        _nul(property_id)
        with tx(writes=True) as conn:
            impact = properties.delete(conn, who.account_id, property_id, actor=who.actor)
        prop = impact["property"]
        return {
            "id": prop["id"],
            "name": prop["name"],
            "mapped_from": impact["mapped_from"],
            "members": impact["members"],
        }

    @api.get("/mappings", response_model=MappingList, tags=["mappings"])
    def list_mappings(who: Caller) -> dict[str, Any]:
        """The attribute mapping: which SCIM path fills each member field and Property."""
        with tx(writes=True) as conn:  # the default mapping is installed on first use
            mapping.ensure_defaults(conn, who.account_id)
            return {"data": mapping.list_mappings(conn, who.account_id)}

    @api.patch(
        "/mappings",
        response_model=MappingList,
        tags=["mappings"],
        responses={404: {"model": Problem, "description": "no such field or Property"}},
    )
    def update_mappings(
        who: Caller,
        body: Annotated[
            dict[str, Annotated[str | None, Field(max_length=1024)]],
            Body(
                max_length=100,
                description="A merge patch: {target: SCIM path} sets a mapping, "
                "{target: null} removes one; a target is name, email, or a Property's "
                "name or id. All or nothing.",
                examples=[
                    {
                        "Department": "urn:ietf:params:scim:schemas:extension:"
                        "enterprise:2.0:User:department",
                        "Job title": None,
                    }
                ],
            ),
        ],
    ) -> dict[str, Any]:
        """Set or remove mappings; the next Synchronize recomputes every member."""
        _nul(*body, *body.values())
        with tx(writes=True) as conn:
            return {"data": mapping.update_mappings(conn, who.account_id, body, actor=who.actor)}

    # ---- events ----

    @api.get("/events", response_model=EventPage, tags=["events"])
    def list_events(
        who: Caller,
        after: Annotated[int, Query(ge=0, le=2**62, description="the last seq you have")] = 0,
        limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    ) -> dict[str, Any]:
        """Events after `after`, in order: remember the last `seq` and never miss or repeat one."""
        with tx() as conn:
            rows = event_store.read(conn, who.account_id, after=after, limit=limit)
        return {"data": rows, "next_after": rows[-1]["seq"] if rows else after}

    # ---- audit log ----

    @api.get("/audit-log", response_model=AuditPage, tags=["audit"])
    def list_audit_log(who: Caller, cursor: Cursor = None, limit: Limit = 50) -> dict[str, Any]:
        """Who changed the account's configuration, newest first (each entry is also an
        `audit.recorded` event). A cursor this list did not hand out is a 400."""
        with tx() as conn:
            rows, next_cursor = audit.list_page(conn, who.account_id, cursor=cursor, limit=limit)
        return {"data": rows, "next_cursor": next_cursor}

    # ---- sync runs ----

    @api.get("/sync-runs", response_model=SyncRunPage, tags=["sync"])
    def list_runs(who: Caller, cursor: Cursor = None, limit: Limit = 20) -> dict[str, Any]:
        """The newest synchronizations first, a page at a time (a cursor this list did not
        hand out is a 400)."""
        with tx() as conn:
            rows, next_cursor = history.run_page(conn, who.account_id, cursor=cursor, limit=limit)
        return {"data": rows, "next_cursor": next_cursor}

    def _run(conn: Connection, account_id: int, run_id: int, items: bool) -> dict[str, Any]:
        found = history.get_run(conn, account_id, run_id)
        if items:
            found["items"] = history.run_items(conn, account_id, run_id, limit=1000)[0]
        return found

    RunId = Annotated[int, Path(ge=1, le=2**62)]

    @api.get(
        "/sync-runs/{run_id}",
        response_model=SyncRun,
        tags=["sync"],
        responses={404: {"model": Problem}},
    )
    def get_run(who: Caller, run_id: RunId) -> dict[str, Any]:
        """One synchronization with its first 1,000 items (for a held run: who it would deactivate)."""
        with tx() as conn:
            return _run(conn, who.account_id, run_id, items=True)

    @api.post(
        "/sync-runs",
        status_code=202,
        tags=["sync"],
        responses={
            200: {"model": SyncPlan, "description": "dry run: the plan"},
            202: {"model": SyncRun, "description": "started (or finished) run"},
            409: {"model": Problem, "description": "a synchronization is running"},
        },
    )
    def trigger(who: Caller, body: SyncRequest | None = None) -> Response:
        """Synchronize now (202 with the run; poll it), or plan only with dry_run (200)."""
        options = SyncOptions.from_settings(settings)
        if body is not None and body.dry_run:
            plan = synchronize(engine, who.account_id, dry_run=True, options=options)
            doc = SyncPlan(counts=plan.counts, would_hold=plan.would_hold, items=plan.items)
            return JSONResponse(doc.model_dump(mode="json"), status_code=200)
        started = background.start(
            engine, who.account_id, trigger="api", actor=who.actor, options=options
        )
        return _started(who, started.run_id)

    @api.post(
        "/sync-runs/{run_id}/confirm",
        status_code=202,
        response_model=SyncRun,
        tags=["sync"],
        responses={404: {"model": Problem}, 400: {"model": Problem}, 409: {"model": Problem}},
    )
    def confirm(who: Caller, run_id: RunId) -> Response:
        """Apply a held run (its deactivations were reviewed)."""
        with tx() as conn:
            _run(conn, who.account_id, run_id, items=False)
        started = background.start(
            engine,
            who.account_id,
            trigger="api",
            actor=who.actor,
            confirm=run_id,
            options=SyncOptions.from_settings(settings),
        )
        return _started(who, started.run_id)

    def _started(who: ApiPrincipal, run_id: int | None) -> Response:
        with tx() as conn:
            runs = history.latest_runs(conn, who.account_id, limit=1) if run_id is None else None
            found = history.get_run(conn, who.account_id, run_id) if run_id else (runs or [None])[0]
        doc = SyncRun.model_validate(found).model_dump(mode="json") if found else {}
        headers = {"Location": f"/api/v1/sync-runs/{found['id']}"} if found else {}
        return JSONResponse(doc, status_code=202, headers=headers)

    api.openapi = lambda: _openapi(api)  # type: ignore[method-assign]
    return api


def _openapi(api: FastAPI) -> dict[str, Any]:
    """FastAPI's document, told the truth: invalid input is a 400 problem (never 422), and
    every error is served as application/problem+json."""
    if api.openapi_schema:
        return api.openapi_schema
    doc = get_openapi(
        title=api.title, version=api.version, description=api.description, routes=api.routes
    )
    problem_ref = {"$ref": "#/components/schemas/Problem"}
    for path in doc.get("paths", {}).values():
        for operation in path.values():
            responses = operation.setdefault("responses", {})
            responses.pop("422", None)
            responses.setdefault(
                "400",
                {"description": "Invalid input", "content": {PROBLEM: {"schema": problem_ref}}},
            )
            responses.setdefault(
                "401",
                {
                    "description": "Missing, unknown or revoked API key",
                    "content": {PROBLEM: {"schema": problem_ref}},
                },
            )
            for status, response in responses.items():
                content = response.get("content") or {}
                if status[:1] in ("4", "5") and "application/json" in content:
                    content[PROBLEM] = content.pop("application/json")
    schemas = doc.setdefault("components", {}).setdefault("schemas", {})
    for name in ("HTTPValidationError", "ValidationError"):
        schemas.pop(name, None)
    api.openapi_schema = doc
    return doc
