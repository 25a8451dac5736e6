"""X-Forwarded-For and X-Forwarded-Proto are believed on connections from a trusted proxy only.

`scimgate serve` builds its uvicorn config in one place (web/server.py build_config); this
serves that config, on a real socket, with an app that echoes what it was told (scheme and
client address), and connects from a trusted and from an untrusted loopback address. In the
served topology (test_nginx.py) the scheme is not observable from outside once the public
URL is https; the client address is, and is checked there too.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import uvicorn

from scimgate.settings import Settings
from scimgate.web.server import build_config
from tests.helpers.ports import free_port
from tests.helpers.waits import STARTUP_SECONDS

SPOOF = {"X-Forwarded-Proto": "https", "X-Forwarded-For": "203.0.113.9"}


async def echo(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] == "lifespan":
        while True:
            message = await receive()
            kind = message["type"].rsplit(".", 1)[-1]  # startup | shutdown
            await send({"type": f"lifespan.{kind}.complete"})
            if kind == "shutdown":
                return
    body = json.dumps({"scheme": scope["scheme"], "client": scope["client"][0]}).encode()
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": body})


@pytest.fixture
def echo_server() -> Iterator[str]:
    port = free_port()
    settings = Settings(forwarded_allow_ips="127.0.0.1")  # the default, spelled out
    server = uvicorn.Server(build_config(settings, app=echo, port=port))
    thread = threading.Thread(target=server.run, name="echo-server", daemon=True)
    thread.start()
    deadline = time.monotonic() + STARTUP_SECONDS
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "the echo server did not start"
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}/"
    finally:
        server.should_exit = True
        thread.join(10)


def told(url: str, source: str) -> dict[str, str]:
    transport = httpx.HTTPTransport(local_address=source)
    with httpx.Client(transport=transport, timeout=30, trust_env=False) as client:
        r = client.get(url, headers=SPOOF)
        assert r.status_code == 200, r.text
        return r.json()


def test_forwarded_headers_from_an_untrusted_address_are_ignored(echo_server: str) -> None:
    assert told(echo_server, "127.0.0.3") == {"scheme": "http", "client": "127.0.0.3"}


def test_forwarded_headers_from_the_trusted_proxy_are_believed(echo_server: str) -> None:
    assert told(echo_server, "127.0.0.1") == {"scheme": "https", "client": "203.0.113.9"}
