"""ASGI app of the reference server, scim2-server, for the benchmark.

The ``scim2-server`` command serves a WSGI app on wsgiref's threading server,
which is not a production server. scim2-server's README says it ships "WSGI and
ASGI applications with no dependency"; we serve its ASGI application
(``scim2_server.applications.asgi.ASGIApplication`` over an
``AsyncInMemoryStorage``, with the default RFC 7643 schemas and the enterprise
User extension) under uvicorn, exactly like scimgate: one process, one core.

Run with::

    SCIM2_BENCH_TOKEN=secret uvicorn --factory benchmarks.scim2_server_app:create_app

It accepts only ``Authorization: Bearer $SCIM2_BENCH_TOKEN`` (as the
``scim2-server --bearer-token`` command does), so that both servers check a
bearer token on every request. The SCIM base URL is ``http://HOST:PORT/v2``.
"""

from __future__ import annotations

import os

from scim2_models import UnauthorizedException
from scim2_server.applications.asgi import ASGIApplication
from scim2_server.memory import AsyncInMemoryStorage
from scim2_server.requests import ScimRequest
from scim2_server.utils import load_default_provider


class BearerASGIApplication(ASGIApplication):
    """scim2-server's ASGI app with the check of scim2-server's test server."""

    def __init__(self, *args, bearer_tokens=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.bearer_tokens = set(bearer_tokens)

    def check_auth(self, request: ScimRequest) -> None:
        if not self.bearer_tokens:
            return
        scheme, _, token = (request.header("Authorization") or "").partition(" ")
        if scheme.lower() != "bearer" or token not in self.bearer_tokens:
            raise UnauthorizedException


def create_app() -> BearerASGIApplication:
    token = os.environ.get("SCIM2_BENCH_TOKEN", "")
    return BearerASGIApplication(
        AsyncInMemoryStorage(),
        load_default_provider(),
        bearer_tokens=[token] if token else [],
    )
