"""/scim/v2 resource handlers (Users, Groups): thin, over provisioning.directory.

Every handler is a plain function of a `Call`, run inside `ScimEndpoint`
(web/scim_endpoint.py), which owns limits, the transaction, errors and the request log.
Parsing a list or search request is scim/search.py's (pure); this module runs it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from starlette.responses import Response

from scimgate.provisioning import directory
from scimgate.scim.client_profile import PatchAnswer, patch_answer
from scimgate.scim.render import (
    Projection,
    etag,
    list_response,
    parse_attribute_list,
    render_resource,
)
from scimgate.scim.schema import schema_for
from scimgate.scim.search import body_params, query_params, search_request
from scimgate.timestamps import utcnow
from scimgate.web.scim_endpoint import Call, scim_response
from scimgate.web.scim_stream import StreamedMembers

Handler = Callable[[Call], Response]


@dataclass(frozen=True, slots=True)
class ResourceHandlers:
    """The handlers of one resource endpoint (`/Users` or `/Groups`), by operation."""

    list: Handler
    search: Handler
    create: Handler
    get: Handler
    replace: Handler
    patch: Handler
    delete: Handler


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


def search_kinds(call: Call, kinds: list[str], params: dict[str, Any]) -> Response:
    """GET list and POST /.search share this: filter, sort, page, project."""
    settings = call.settings
    request = search_request(
        params,
        default_count=settings.default_page_size,
        max_count=settings.max_page_size,
        filter_budget=settings.filter_budget,
    )
    count = request.count
    resources: list[dict[str, Any]] = []
    total = 0
    offset = request.start - 1
    remaining = count
    for kind in kinds:
        schema = schema_for(kind)
        projection = Projection(schema, request.attributes, request.excluded_attributes)
        kind_total, rows = directory.search(
            call.conn,
            call.account_id,
            kind,
            request.filter,
            sort_by=request.sort_by,
            descending=request.descending,
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
    return scim_response(list_response(resources, total=total, start_index=request.start))


def make_handlers(kind: str) -> ResourceHandlers:
    """The handlers of one resource endpoint (`/Users` or `/Groups`)."""

    def list_(call: Call) -> Response:
        params = query_params(call.param, call.request.scope["query_string"])
        return search_kinds(call, [kind], params)

    def search(call: Call) -> Response:
        return search_kinds(call, [kind], body_params(call.body))

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
        projected = (
            call.param("attributes") is not None or call.param("excludedAttributes") is not None
        )
        if kind == "User":  # 200 and the user, for every client: no profile to ask
            return _single(call, kind, written.row)
        answer = patch_answer(kind, call.client(), projected=projected)
        return _patched_group(call, written.row, answer)

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

    return ResourceHandlers(
        list=list_,
        search=search,
        create=create,
        get=get,
        replace=replace,
        patch=patch,
        delete=delete,
    )


def _patched_group(call: Call, row: dict[str, Any], answer: PatchAnswer) -> Response:
    """A patched Group as its client expects it (scim/client_profile.patch_answer).

    The members are read a page at most: a group with `group_member_page` members or more
    is answered 204 with its ETag (RFC 7644 §3.5.2 allows it), never read whole.
    """
    if answer is PatchAnswer.NO_CONTENT:
        return Response(status_code=204, headers={"ETag": etag(row["version"])})
    if answer is PatchAnswer.WITHOUT_MEMBERS:
        projection = Projection(schema_for("Group"), None, ["members"])
    else:
        projection = _projection(call, "Group")
    if not projection.wants("members"):
        return _single(call, "Group", row, projection=projection)
    page_size = call.settings.group_member_page
    first = directory.member_page(
        call.conn, call.account_id, row["id"], after=None, limit=page_size
    )
    if len(first) >= page_size:
        return Response(status_code=204, headers={"ETag": etag(row["version"])})
    return _single(call, "Group", row, projection=projection, members=first)


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
