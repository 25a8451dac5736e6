"""/scim/v2: the routes, the discovery endpoints and the answers for what is not served.

The resource handlers are web/scim_resources.py's, one `ResourceHandlers` per resource
type (scim/resource_types.py); every handler runs inside `ScimEndpoint` (web/scim_endpoint.py).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from starlette.responses import Response

from scimgate.members import scim_attributes
from scimgate.scim import errors as scim_errors
from scimgate.scim.account_extension import EXTENSION_URN
from scimgate.scim.discovery import resource_types, schemas_list, service_provider_config
from scimgate.scim.render import list_response
from scimgate.scim.resource_types import RESOURCE_TYPES
from scimgate.scim.search import body_params
from scimgate.web.scim_bulk import bulk_endpoint, max_operations
from scimgate.web.scim_endpoint import Call, ScimEndpoint, ScimRuntime, scim_response
from scimgate.web.scim_resources import make_handlers, search_kinds
from scimgate.web.scim_routes import ScimDispatch, ScimRoute

_EVERY_KIND = tuple(t.kind.value for t in RESOURCE_TYPES.values())


def root_search(call: Call) -> Response:
    """POST /.search across Users and Groups."""
    return search_kinds(call, list(_EVERY_KIND), body_params(call.body))


def discovery_spc(runtime: ScimRuntime) -> Callable[[Call], Response]:
    """/ServiceProviderConfig, with the `maxOperations` a Bulk here can pay (scim_bulk)."""
    most = max_operations(runtime)

    def spc(call: Call) -> Response:
        body = service_provider_config(call.base_url, call.settings, bulk_max_operations=most)
        return scim_response(body)

    return spc


def discovery_resource_types(call: Call) -> Response:
    items = resource_types(call.base_url, (EXTENSION_URN,))
    return scim_response(list_response(items, total=len(items), start_index=1))


def discovery_resource_type(call: Call) -> Response:
    name = call.request.path_params["name"]
    for item in resource_types(call.base_url, (EXTENSION_URN,)):
        if item["id"].lower() == name.lower():
            return scim_response(item)
    raise scim_errors.NotFoundError(f"Resource type {name!r} not found")


def _schemas(call: Call) -> list[dict[str, Any]]:
    """The standard schemas and this account's extension (its Properties)."""
    extension = scim_attributes.account_extension(call.conn, call.account_id)
    return schemas_list(call.base_url, (extension.document(call.base_url),))


def discovery_schemas(call: Call) -> Response:
    items = _schemas(call)
    return scim_response(list_response(items, total=len(items), start_index=1))


def discovery_schema(call: Call) -> Response:
    urn = call.request.path_params["urn"]
    for item in _schemas(call):
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
    for resource_type in RESOURCE_TYPES.values():
        endpoint, h = resource_type.endpoint, make_handlers(resource_type.kind.value)
        routes += [
            listing(endpoint, h.list, h.create),
            route(endpoint + "/.search", POST=h.search),
            by_id(endpoint + "/{id}", GET=h.get, PUT=h.replace, PATCH=h.patch, DELETE=h.delete),
        ]
    me = dict.fromkeys(("GET", "POST", "PUT", "PATCH", "DELETE"), not_implemented)
    routes += [
        route("/.search", POST=root_search),
        route("/ServiceProviderConfig", GET=discovery_spc(runtime)),
        # The name of drafts before RFC 7644, still sent by Microsoft's SCIM test collection.
        route("/ServiceConfiguration", GET=discovery_spc(runtime)),
        route("/ResourceTypes", GET=discovery_resource_types),
        route("/ResourceTypes/{name}", GET=discovery_resource_type),
        route("/Schemas", GET=discovery_schemas),
        route("/Schemas/{urn:path}", GET=discovery_schema),
        ScimRoute("/Bulk", {"POST": bulk_endpoint(runtime)}),
        route("/Me", **me),
    ]
    return routes
