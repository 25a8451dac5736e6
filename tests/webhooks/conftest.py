"""Webhook test helpers: a real HTTP receiver on loopback, an independent Standard Webhooks
verifier, drained Deliverers, the CLI (in process) and real `scimgate serve` processes.

    hook = receiver.url("/a")              # http://127.0.0.1:PORT/a
    receiver.fail("/a", 2, mode="close")   # the next 2 requests to /a: connection closed
    receiver.always_fail("/a", "500")      # every request to /a answers 500 (None: stop)
    receiver.hold("/a")                    # requests to /a wait until receiver.release("/a")
    receiver.ok("/a")                      # the requests to /a that got a 2xx, in arrival order
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Iterator
from http.server import ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine
from typer.testing import CliRunner

from scimgate.cli import app as cli_app
from scimgate.settings import Settings
from scimgate.webhooks.delivery import Deliverer
from tests.helpers.serve import Serve
from tests.helpers.webhooks import RETRY, Receiver, _handler

# ---- the receiver --------------------------------------------------------------------------


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    rec = Receiver()
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(rec))
    server.daemon_threads = True
    rec.port = int(server.server_address[1])
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.daemon = True
    thread.start()
    try:
        yield rec
    finally:
        with rec.lock:
            gates = [r.gate for r in rec.rules.values() if r.gate is not None]
        for gate in gates:
            gate.set()
        server.shutdown()
        server.server_close()
        thread.join(5)


# ---- Standard Webhooks, checked independently of scimgate's code --------------------------


# ---- settings, deliverers, events ----------------------------------------------------------


@pytest.fixture
def wh_settings(settings: Settings) -> Settings:
    """Loopback receivers allowed, short retries, a short timeout."""
    return settings.model_copy(
        update={
            "webhooks_allow_private": True,
            "webhook_retry_seconds": list(RETRY),
            "webhook_timeout_seconds": 5.0,
        }
    )


@pytest.fixture
def make_deliverer(engine: Engine, wh_settings: Settings) -> Iterator[Callable[..., Deliverer]]:
    made: list[Deliverer] = []

    def factory(owner: str | None = None, settings: Settings | None = None) -> Deliverer:
        deliverer = Deliverer(engine, settings or wh_settings, owner=owner)
        made.append(deliverer)
        return deliverer

    yield factory
    for deliverer in made:
        deliverer.close()


# ---- the CLI, in process -------------------------------------------------------------------


@pytest.fixture
def cli(database_url: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Callable[..., Any]:
    """`scimgate ARGS` in this process (env: the test database; extra SCIMGATE_* per call)."""
    monkeypatch.chdir(tmp_path)  # no .env file
    runner = CliRunner()

    def run(*args: str, env: dict[str, str] | None = None) -> Any:
        full = {"SCIMGATE_DATABASE_URL": database_url, **(env or {})}
        return runner.invoke(cli_app, list(args), env=full)

    return run


# ---- real `scimgate serve` processes -------------------------------------------------------


@pytest.fixture
def make_serve(database_url: str, tmp_path: Path) -> Iterator[Callable[[str], Serve]]:
    started: list[Serve] = []

    def factory(name: str = "serve") -> Serve:
        srv = Serve(database_url, tmp_path, name)
        started.append(srv)
        return srv

    yield factory
    for srv in started:
        with contextlib.suppress(Exception):
            srv.stop()
