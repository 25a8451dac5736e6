"""/scim/v2 dispatch: method and path to a ScimEndpoint, as one small ASGI app.

Why not Starlette's Router: on the IdP's hot path its route walk, the request/response
wrapper and its exception middleware cost about a fifth of a lookup, and a SCIM answer
needs none of them (ScimEndpoint turns every error into a SCIM Error body itself).
The semantics are the router's: templates in order, `{name}` is one path segment and
`{name:path}` the rest; a GET route also answers HEAD; a path that exists with another
method is 405 and an unknown path 404, both as SCIM errors after the token check.
The fixed parts of a template match in any case (`/users`, `/USERS/{id}`, `/schemas`:
outside test suites and hand-written clients send them so); parameters (ids) stay exact.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from starlette.requests import Request
from starlette.types import Receive, Scope, Send

from scimgate.scim import errors as scim_errors
from scimgate.web.scim_endpoint import ScimEndpoint, error_response
from scimgate.web.scim_stream import StreamedMembers

_PARAM = re.compile(r"\{(\w+)(?::path)?\}")


@dataclass(frozen=True)
class ScimRoute:
    """One template and the endpoint for each of its methods."""

    template: str
    methods: dict[str, ScimEndpoint]


def _compile(template: str) -> re.Pattern[str]:
    """A path template as a full-match pattern (`{x}` one segment, `{x:path}` the rest)."""
    pattern, last = "", 0
    for match in _PARAM.finditer(template):
        pattern += re.escape(template[last : match.start()])
        wide = match.group(0).endswith(":path}")
        pattern += f"(?P<{match.group(1)}>{'.*' if wide else '[^/]+'})"
        last = match.end()
    # IGNORECASE reaches only the literal parts: a parameter matches any characters as sent.
    return re.compile(pattern + re.escape(template[last:]), re.IGNORECASE)


class ScimDispatch:
    """Finds the endpoint for a request and runs it; 405 and 404 endpoints for the rest."""

    def __init__(
        self,
        prefix: str,
        routes: list[ScimRoute],
        method_not_allowed: ScimEndpoint,
        not_found: ScimEndpoint,
    ) -> None:
        self.prefix = prefix
        self.method_not_allowed = method_not_allowed
        self.not_found = not_found
        self._static: dict[str, dict[str, ScimEndpoint]] = {}
        self._patterns: list[tuple[re.Pattern[str], dict[str, ScimEndpoint]]] = []
        for route in routes:
            methods = dict(route.methods)
            if "GET" in methods:
                methods.setdefault("HEAD", methods["GET"])
            if _PARAM.search(route.template):
                self._patterns.append((_compile(route.template), methods))
            else:
                self._static.setdefault(route.template.lower(), {}).update(methods)

    def resolve(self, path: str, method: str) -> tuple[ScimEndpoint, dict[str, str]]:
        """The endpoint and path parameters for this method and path (below the prefix)."""
        known_path = False
        methods = self._static.get(path.lower())
        if methods is not None:
            endpoint = methods.get(method)
            if endpoint is not None:
                return endpoint, {}
            known_path = True
        for pattern, methods in self._patterns:
            match = pattern.fullmatch(path)
            if match is None:
                continue
            endpoint = methods.get(method)
            if endpoint is not None:
                return endpoint, match.groupdict()
            known_path = True
        return (self.method_not_allowed if known_path else self.not_found), {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope["path"][len(self.prefix) :]
        endpoint, params = self.resolve(path, scope["method"])
        scope["path_params"] = params
        try:
            response = await endpoint(Request(scope, receive))
        except Exception:  # noqa: BLE001 - ScimEndpoint answers every error; a last resort
            endpoint.log_unhandled(scope)
            response = error_response(scim_errors.InternalError())
        if isinstance(response, StreamedMembers):
            await response.stream(send, endpoint.read_member_page)
            return
        await send(
            {
                "type": "http.response.start",
                "status": response.status_code,
                "headers": response.raw_headers,
            }
        )
        await send({"type": "http.response.body", "body": response.body})
