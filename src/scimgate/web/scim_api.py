"""/scim/v2: the handlers (thin, over provisioning.directory) and the routes.

Every handler is a plain function of a `Call`, run inside `ScimEndpoint`
(web/scim_endpoint.py), which owns limits, the transaction, errors and the request log.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from starlette.responses import Response

from scimgate.provisioning import directory
from scimgate.scim import errors as scim_errors
from scimgate.scim.constants import SEARCH_REQUEST
from scimgate.scim.discovery import resource_types, schemas_list, service_provider_config
from scimgate.scim.filter import parse_filter
from scimgate.scim.filter_cost import check_filter_budget
from scimgate.scim.render import (
    Projection,
    etag,
    list_response,
    parse_attribute_list,
    render_resource,
)
from scimgate.scim.schema import schema_for
from scimgate.scim.text import undecodable_param
from scimgate.timestamps import utcnow
from scimgate.web.scim_endpoint import (
    Call,
    ScimEndpoint,
    ScimRuntime,
    scim_response,
)
from scimgate.web.scim_routes import ScimDispatch, ScimRoute
from scimgate.web.scim_stream import StreamedMembers

# -- handlers ----------------------------------------------------------------------------------------


def _projection(call: Call, kind: str) -> Projection:
    """attributes/excludedAttributes from the query string (single-resource responses)."""
    return Projection(
        schema_for(kind),
        parse_attribute_list(call.param("attributes")),
        parse_attribute_list(call.param("excludedAttributes")),
    )


def _render_rows(
    call: Call,
    kind: str,
    rows: list[dict[str, Any]],
    projection: Projection,
    members: dict[str, list[dict[str, Any]]] | None = None,
) -> list[dict[str, Any]]:
    ids = [r["id"] for r in rows]
    with_members = kind == "Group" and projection.wants("members")
    with_groups = kind == "User" and projection.wants("groups")
    if members is None:
        members = (
            directory.members_of(call.conn, call.account_id, ids) if with_members and ids else {}
        )
    missing = [r["id"] for r in rows if "groups" not in r] if with_groups else []
    groups = directory.groups_of(call.conn, call.account_id, missing) if missing else {}
    return [
        projection.apply(
            render_resource(
                kind,
                row,
                base_url=call.base_url,
                members=members.get(row["id"], []) if with_members else None,
                groups=row["groups"] if "groups" in row else groups.get(row["id"]),
            )
        )
        for row in rows
    ]


def _single(
    call: Call,
    kind: str,
    row: dict[str, Any],
    status: int = 200,
    projection: Projection | None = None,
    members: list[dict[str, Any]] | None = None,
) -> Response:
    projection = projection or _projection(call, kind)
    known = {row["id"]: members} if members is not None else None
    resource = _render_rows(call, kind, [row], projection, known)[0]
    headers = {"ETag": etag(row["version"])}
    if status == 201:
        headers["Location"] = (
            f"{call.base_url}/{'Users' if kind == 'User' else 'Groups'}/{row['id']}"
        )
    return scim_response(resource, status, headers)


# startIndex beyond this addresses no row: SQLite and PostgreSQL take OFFSET as a signed
# 64-bit integer (a larger one overflows) and neither can hold 2^63 - 1 rows. A larger
# startIndex is clamped here, so the answer is what RFC 7644 §3.4.2.4 asks for past the
# last result (an empty page with the exact totalResults), and the startIndex echoed in
# the ListResponse is this clamped value: one that fits the 64-bit integers JSON encoders
# (orjson included) and most clients can read, never the unbounded number sent.
_MAX_START_INDEX = 2**63 - 1


def _int_param(raw: Any, name: str) -> int | None:
    """A paging integer from the query string or a SearchRequest; anything else is invalidValue."""
    if raw is None or raw == "":
        return None
    if isinstance(raw, bool):
        raise scim_errors.InvalidValueError(f"{name} must be an integer")
    if isinstance(raw, int):
        return raw
    if isinstance(raw, float):
        # orjson reads an integer beyond 64 bits (and 5.0) as a float: whole ones are integers.
        if raw.is_integer():
            return int(raw)
        raise scim_errors.InvalidValueError(f"{name} must be an integer, got {raw!r}")
    try:
        return int(str(raw).strip())
    except ValueError:
        raise scim_errors.InvalidValueError(f"{name} must be an integer, got {raw!r}") from None


def _search(call: Call, kinds: list[str], params: dict[str, Any]) -> Response:
    """GET list and POST /.search share this: filter, sort, page, project."""
    start = _int_param(params.get("startIndex"), "startIndex")
    count = _int_param(params.get("count"), "count")
    start = 1 if start is None or start < 1 else min(start, _MAX_START_INDEX)
    count = (
        call.settings.default_page_size
        if count is None
        else max(0, min(count, call.settings.max_page_size))
    )
    raw_filter = params.get("filter")
    if raw_filter is not None and not isinstance(raw_filter, str):
        raise scim_errors.InvalidFilterError("filter must be a string")
    ast = parse_filter(raw_filter) if raw_filter is not None and raw_filter.strip() else None
    if ast is not None:
        check_filter_budget(ast, call.settings.filter_budget)
    sort_by = params.get("sortBy")
    order = str(params.get("sortOrder") or "ascending").lower()
    if order not in ("ascending", "descending"):
        raise scim_errors.InvalidValueError("sortOrder is 'ascending' or 'descending'")
    resources: list[dict[str, Any]] = []
    total = 0
    offset = start - 1
    remaining = count
    for kind in kinds:
        schema = schema_for(kind)
        projection = Projection(schema, params["attributes"], params["excludedAttributes"])
        kind_total, rows = directory.search(
            call.conn,
            call.account_id,
            kind,
            ast,
            sort_by=sort_by,
            descending=order == "descending",
            offset=offset,
            limit=remaining,
            with_groups=kind == "User" and projection.wants("groups"),
            guard=call.guard if len(kinds) == 1 else None,
            unknown_is_false=len(kinds) > 1,
        )
        total += kind_total
        offset = max(0, offset - kind_total)
        resources.extend(_render_rows(call, kind, rows, projection))
        remaining = count - len(resources)
    return scim_response(list_response(resources, total=total, start_index=start))


def _query_params(call: Call) -> dict[str, Any]:
    """A list request's parameters; one that is not UTF-8 is refused rather than searched for."""
    bad = undecodable_param(call.request.scope["query_string"])
    if bad is not None:
        error = (
            scim_errors.InvalidFilterError
            if bad.lower() == "filter"
            else scim_errors.InvalidValueError
        )
        raise error(f"The query parameter {bad!r} is not valid UTF-8")
    return {
        "filter": call.param("filter"),
        "startIndex": call.param("startIndex"),
        "count": call.param("count"),
        "sortBy": call.param("sortBy"),
        "sortOrder": call.param("sortOrder"),
        "attributes": parse_attribute_list(call.param("attributes")),
        "excludedAttributes": parse_attribute_list(call.param("excludedAttributes")),
    }


def _search_body(call: Call) -> dict[str, Any]:
    body = call.body
    if not isinstance(body, dict):
        raise scim_errors.InvalidSyntaxError("A SearchRequest body must be a JSON object")
    fields = {str(k).lower(): v for k, v in body.items()}
    schemas = fields.get("schemas")
    if schemas is not None and (
        not isinstance(schemas, list)
        or SEARCH_REQUEST.lower() not in [str(s).lower() for s in schemas]
    ):
        raise scim_errors.InvalidSyntaxError(
            f"A search body must declare the schema {SEARCH_REQUEST}"
        )

    def names(value: Any, label: str) -> list[str] | None:
        if value is None:
            return None
        if isinstance(value, str):
            return parse_attribute_list(value)
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise scim_errors.InvalidValueError(f"{label} must be a list of attribute names")
        return value

    return {
        "filter": fields.get("filter"),
        "startIndex": fields.get("startindex"),
        "count": fields.get("count"),
        "sortBy": fields.get("sortby"),
        "sortOrder": fields.get("sortorder"),
        "attributes": names(fields.get("attributes"), "attributes"),
        "excludedAttributes": names(fields.get("excludedattributes"), "excludedAttributes"),
    }


def make_handlers(kind: str) -> dict[str, Callable[[Call], Response]]:
    """The handlers of one resource endpoint (`/Users` or `/Groups`)."""

    def list_(call: Call) -> Response:
        return _search(call, [kind], _query_params(call))

    def search(call: Call) -> Response:
        return _search(call, [kind], _search_body(call))

    def create(call: Call) -> Response:
        written = directory.create(call.conn, call.account_id, kind, call.body, now=utcnow())
        call.ignored, call.resource_id = written.ignored, written.row["id"]
        return _single(call, kind, written.row, 201)

    def get(call: Call) -> Response:
        resource_id = call.request.path_params["id"]
        call.resource_id = resource_id
        row = directory.get(
            call.conn,
            call.account_id,
            kind,
            resource_id,
            with_groups=kind == "User",
            guard=call.guard,
        )
        if_none_match = call.request.headers.get("if-none-match")
        if if_none_match and etag(row["version"]) in [t.strip() for t in if_none_match.split(",")]:
            return Response(status_code=304, headers={"ETag": etag(row["version"])})
        return _single(call, kind, row) if kind == "User" else _group(call, row)

    def replace(call: Call) -> Response:
        resource_id = call.request.path_params["id"]
        call.resource_id = resource_id
        written = directory.replace(
            call.conn,
            call.account_id,
            kind,
            resource_id,
            call.body,
            now=utcnow(),
            if_match=call.request.headers.get("if-match"),
            guard=call.guard,
        )
        call.ignored = written.ignored
        return _single(call, kind, written.row)

    def patch(call: Call) -> Response:
        resource_id = call.request.path_params["id"]
        call.resource_id = resource_id
        written = directory.patch(
            call.conn,
            call.account_id,
            kind,
            resource_id,
            call.body,
            now=utcnow(),
            if_match=call.request.headers.get("if-match"),
            max_operations=call.settings.max_patch_operations,
            guard=call.guard,
        )
        call.ignored = written.ignored
        asked = call.param("attributes") is not None or call.param("excludedAttributes") is not None
        if kind == "Group" and not asked:
            # Entra: "Update to the group PATCH request should yield an HTTP 204 No Content".
            return Response(status_code=204, headers={"ETag": etag(written.row["version"])})
        return _single(call, kind, written.row)

    def delete(call: Call) -> Response:
        resource_id = call.request.path_params["id"]
        call.resource_id = resource_id
        directory.delete(
            call.conn,
            call.account_id,
            kind,
            resource_id,
            if_match=call.request.headers.get("if-match"),
            guard=call.guard,
        )
        return Response(status_code=204)

    return {
        "list": list_,
        "search": search,
        "create": create,
        "get": get,
        "replace": replace,
        "patch": patch,
        "delete": delete,
    }


def _group(call: Call, row: dict[str, Any]) -> Response:
    """A Group by id: members read a page at a time, streamed past the first page."""
    projection = _projection(call, "Group")
    if not projection.wants("members"):
        return _single(call, "Group", row, projection=projection)
    page_size = call.settings.group_member_page
    first = directory.member_page(
        call.conn, call.account_id, row["id"], after=None, limit=page_size
    )
    if len(first) < page_size:
        return _single(call, "Group", row, projection=projection, members=first)
    if not projection.plain:
        # attributes/excludedAttributes reshape each member: built whole (not streamed).
        return _single(call, "Group", row, projection=projection)
    resource = render_resource("Group", row, base_url=call.base_url, members=[])
    return StreamedMembers(
        resource,
        first,
        account_id=call.account_id,
        group_id=row["id"],
        page_size=page_size,
        base_url=call.base_url,
        headers={"ETag": etag(row["version"])},
    )


def root_search(call: Call) -> Response:
    """POST /.search across Users and Groups."""
    return _search(call, ["User", "Group"], _search_body(call))


def discovery_spc(call: Call) -> Response:
    return scim_response(service_provider_config(call.base_url, call.settings))


def discovery_resource_types(call: Call) -> Response:
    items = resource_types(call.base_url)
    return scim_response(list_response(items, total=len(items), start_index=1))


def discovery_resource_type(call: Call) -> Response:
    name = call.request.path_params["name"]
    for item in resource_types(call.base_url):
        if item["id"].lower() == name.lower():
            return scim_response(item)
    raise scim_errors.NotFoundError(f"Resource type {name!r} not found")


def discovery_schemas(call: Call) -> Response:
    items = schemas_list(call.base_url)
    return scim_response(list_response(items, total=len(items), start_index=1))


def discovery_schema(call: Call) -> Response:
    urn = call.request.path_params["urn"]
    for item in schemas_list(call.base_url):
        if item["id"].lower() == urn.lower():
            return scim_response(item)
    raise scim_errors.NotFoundError(f"Schema {urn!r} not found")


def not_implemented(call: Call) -> Response:
    raise scim_errors.NotImplementedScimError(
        f"{call.request.url.path.rsplit('/', 1)[-1]} is not supported (see /ServiceProviderConfig)"
    )


def not_found(call: Call) -> Response:
    raise scim_errors.NotFoundError(f"No SCIM endpoint at {call.request.url.path}")


def method_not_allowed(call: Call) -> Response:
    raise scim_errors.MethodNotAllowedError(
        f"{call.request.method} is not supported on {call.request.url.path}"
    )


def scim_router(prefix: str, runtime: ScimRuntime) -> ScimDispatch:
    """The /scim/v2 dispatcher: every route, then 405 for a known path with another method
    and 404 for the rest, both SCIM Error bodies after the token check."""
    return ScimDispatch(
        prefix,
        scim_routes(runtime),
        method_not_allowed=ScimEndpoint(method_not_allowed, runtime, reads_body=False),
        not_found=ScimEndpoint(not_found, runtime, reads_body=False),
    )


def scim_routes(runtime: ScimRuntime) -> list[ScimRoute]:
    """Every /scim/v2 route, each method's handler wrapped in ScimEndpoint."""

    def route(template: str, **methods: Callable[[Call], Response]) -> ScimRoute:
        return ScimRoute(template, {m: ScimEndpoint(h, runtime) for m, h in methods.items()})

    def by_id(template: str, **methods: Callable[[Call], Response]) -> ScimRoute:
        # Each of these reads the resource first: on PostgreSQL the token is checked in
        # that read (a write's too), one round trip fewer (scim_endpoint, fuse_auth).
        return ScimRoute(
            template, {m: ScimEndpoint(h, runtime, fuse_auth=True) for m, h in methods.items()}
        )

    def listing(
        template: str, get: Callable[[Call], Response], post: Callable[[Call], Response]
    ) -> ScimRoute:
        # GET lists and lookups (Entra's most frequent call) check the token in their own
        # statement on PostgreSQL: one round trip (scim_endpoint.ScimEndpoint, fuse_auth).
        return ScimRoute(
            template,
            {
                "GET": ScimEndpoint(get, runtime, fuse_auth=True),
                "POST": ScimEndpoint(post, runtime),
            },
        )

    routes: list[ScimRoute] = []
    for kind, endpoint in (("User", "/Users"), ("Group", "/Groups")):
        h = make_handlers(kind)
        routes += [
            listing(endpoint, h["list"], h["create"]),
            route(endpoint + "/.search", POST=h["search"]),
            by_id(
                endpoint + "/{id}",
                GET=h["get"],
                PUT=h["replace"],
                PATCH=h["patch"],
                DELETE=h["delete"],
            ),
        ]
    me = dict.fromkeys(("GET", "POST", "PUT", "PATCH", "DELETE"), not_implemented)
    routes += [
        route("/.search", POST=root_search),
        route("/ServiceProviderConfig", GET=discovery_spc),
        # The name of drafts before RFC 7644, still sent by Microsoft's SCIM test collection.
        route("/ServiceConfiguration", GET=discovery_spc),
        route("/ResourceTypes", GET=discovery_resource_types),
        route("/ResourceTypes/{name}", GET=discovery_resource_type),
        route("/Schemas", GET=discovery_schemas),
        route("/Schemas/{urn:path}", GET=discovery_schema),
        route("/Bulk", POST=not_implemented),
        route("/Me", **me),
    ]
    return routes
