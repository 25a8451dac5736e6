"""Webhook test helpers: a real HTTP receiver on loopback, an independent Standard Webhooks
verifier, drained Deliverers, the CLI (in process) and real `scimgate serve` processes.

    hook = receiver.url("/a")              # http://127.0.0.1:PORT/a
    receiver.fail("/a", 2, mode="close")   # the next 2 requests to /a: connection closed
    receiver.always_fail("/a", "500")      # every request to /a answers 500 (None: stop)
    receiver.hold("/a")                    # requests to /a wait until receiver.release("/a")
    receiver.ok("/a")                      # the requests to /a that got a 2xx, in arrival order
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import hmac
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import Engine
from typer.testing import CliRunner

from scimgate.accounts import api_keys
from scimgate.cli import app as cli_app
from scimgate.members import service as members
from scimgate.settings import Settings
from scimgate.store import events as event_store
from scimgate.store import webhooks as webhook_store
from scimgate.webhooks import service as webhooks
from scimgate.webhooks.delivery import Deliverer
from tests.helpers.ports import free_port
from tests.helpers.waits import STARTUP_SECONDS

# ---- the receiver --------------------------------------------------------------------------


@dataclass
class Received:
    """One request the receiver got."""

    path: str
    headers: dict[str, str]  # lower-cased names
    body: bytes
    at: float  # time.time() on arrival
    outcome: str  # "ok" | "500" | "close" | "302"

    @property
    def doc(self) -> dict[str, Any]:
        return json.loads(self.body)

    @property
    def seq(self) -> int:
        return int(self.doc["data"]["seq"])

    @property
    def id(self) -> str:
        return self.headers["webhook-id"]


@dataclass
class Rule:
    fail_next: int = 0
    fail_mode: str = "500"
    always: str | None = None  # "500" | "close" | "302" (to /redirected)
    delay: float = 0.0
    trickle: float = 0.0  # seconds between the bytes of a 200 answer
    gate: threading.Event | None = None


@dataclass
class Receiver:
    """Records every request; answers 200 unless told to fail, to be slow or to wait."""

    port: int = 0
    requests: list[Received] = field(default_factory=list)
    rules: dict[str, Rule] = field(default_factory=dict)
    lock: threading.Condition = field(default_factory=threading.Condition)

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def _rule(self, path: str) -> Rule:
        return self.rules.setdefault(path, Rule())

    def fail(self, path: str, n: int, mode: str = "500") -> None:
        with self.lock:
            rule = self._rule(path)
            rule.fail_next, rule.fail_mode = n, mode

    def always_fail(self, path: str, mode: str | None = "500") -> None:
        with self.lock:
            self._rule(path).always = mode

    def slow(self, path: str, seconds: float) -> None:
        with self.lock:
            self._rule(path).delay = seconds

    def trickle(self, path: str, seconds_per_byte: float) -> None:
        with self.lock:
            self._rule(path).trickle = seconds_per_byte

    def hold(self, path: str) -> None:
        with self.lock:
            self._rule(path).gate = threading.Event()

    def release(self, path: str) -> None:
        with self.lock:
            gate = self._rule(path).gate
            self._rule(path).gate = None
        if gate is not None:
            gate.set()

    def _arrive(self, path: str, headers: dict[str, str], body: bytes) -> tuple[Rule, str]:
        with self.lock:
            rule = self._rule(path)
            if rule.always:
                outcome = rule.always
            elif rule.fail_next > 0:
                rule.fail_next -= 1
                outcome = rule.fail_mode
            else:
                outcome = "ok"
            self.requests.append(Received(path, headers, body, time.time(), outcome))
            self.lock.notify_all()
            return Rule(delay=rule.delay, trickle=rule.trickle, gate=rule.gate), outcome

    def on(self, path: str) -> list[Received]:
        with self.lock:
            return [r for r in self.requests if r.path == path]

    def ok(self, path: str) -> list[Received]:
        return [r for r in self.on(path) if r.outcome == "ok"]

    def wait(self, predicate: Callable[[], bool], timeout: float = 15.0) -> None:
        """Until predicate() (called under the lock on each arrival) holds, or fail."""
        deadline = time.monotonic() + timeout
        with self.lock:
            while not predicate():
                left = deadline - time.monotonic()
                if left <= 0:
                    summary = [(r.path, r.outcome, r.body[:80]) for r in self.requests[-10:]]
                    raise AssertionError(f"receiver: condition not met in {timeout} s: {summary}")
                self.lock.wait(min(left, 0.1))


def _handler(receiver: Receiver) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:
            pass

        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("content-length") or 0))
            headers = {k.lower(): v for k, v in self.headers.items()}
            rule, outcome = receiver._arrive(self.path, headers, body)
            if rule.gate is not None:
                rule.gate.wait(30)
            if rule.delay:
                time.sleep(rule.delay)
            if outcome == "close":
                self.close_connection = True  # no answer at all
                return
            if outcome == "500":
                self._answer(500, b"receiver says no")
                return
            if outcome == "302":
                self.send_response(302)
                self.send_header("Location", "/redirected")
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            if rule.trickle:
                raw = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok"
                self.close_connection = True
                for i in range(len(raw)):
                    self.wfile.write(raw[i : i + 1])
                    self.wfile.flush()
                    time.sleep(rule.trickle)
                return
            self._answer(200, b"ok")

        def _answer(self, status: int, body: bytes) -> None:
            self.send_response(status)
            self.send_header("Content-Type", "text/plain")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    return Handler


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


def verify(secret: str, headers: dict[str, str], body: bytes) -> bool:
    """The Standard Webhooks check: any `v1,<base64 HMAC-SHA256>` in the signature header
    over `id.timestamp.body`, keyed with the base64-decoded secret after `whsec_`."""
    assert secret.startswith("whsec_")
    key = base64.b64decode(secret[len("whsec_") :])
    signed = b".".join(
        [headers["webhook-id"].encode(), headers["webhook-timestamp"].encode(), body]
    )
    expected = base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()
    for part in headers["webhook-signature"].split(" "):
        version, _, signature = part.partition(",")
        if version == "v1" and hmac.compare_digest(signature, expected):
            return True
    return False


# ---- settings, deliverers, events ----------------------------------------------------------


RETRY = [0.5, 0.5]  # two retries, then failing


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


def add_endpoint(
    engine: Engine, slug: str, url: str, events: Sequence[str] = (), *, allow_private: bool = True
) -> dict[str, Any]:
    with engine.begin() as conn:
        return webhooks.add_endpoint(
            conn, slug, url, event_types=list(events), allow_private=allow_private
        )


def endpoint(engine: Engine, slug: str, endpoint_id: int) -> dict[str, Any]:
    with engine.connect() as conn:
        return next(e for e in webhooks.list_endpoints(conn, slug) if e["id"] == endpoint_id)


def delivery_log(engine: Engine, slug: str, endpoint_id: int) -> list[dict[str, Any]]:
    """Oldest first."""
    with engine.connect() as conn:
        return list(reversed(webhooks.deliveries(conn, slug, endpoint_id, limit=10_000)))


def all_events(engine: Engine, account_id: int, after: int = 0) -> list[dict[str, Any]]:
    with engine.connect() as conn:
        return event_store.read(conn, account_id, after=after, limit=100_000)


def last_seq(engine: Engine, account_id: int) -> int:
    with engine.connect() as conn:
        return event_store.last_seq(conn, account_id)


def add_members(engine: Engine, account_id: int, prefix: str, n: int) -> None:
    """n manual members, one transaction (one member.created event) each."""
    for i in range(n):
        with engine.connect() as conn:
            conn.execution_options(writes=True)
            with conn.begin():
                members.create_member(conn, account_id, f"{prefix}{i:02d}@example.com")


def drain(deliverer: Deliverer, engine: Engine, account_id: int, max_ticks: int = 100) -> None:
    """Tick until every active endpoint of the account is at the last event."""
    last = last_seq(engine, account_id)
    for _ in range(max_ticks):
        made = deliverer.tick()
        with engine.connect() as conn:
            rows = [
                r
                for r in webhook_store.list_endpoints(conn, account_id)
                if r["status"] == "active" and r["cursor"] < last
            ]
        if made == 0 and not rows:
            return
    raise AssertionError(f"endpoints not caught up after {max_ticks} ticks: {rows}")


def api_key(engine: Engine, slug: str) -> str:
    with engine.begin() as conn:
        return api_keys.create_key(conn, slug).key


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


def serve_env(database_url: str, **extra: str) -> dict[str, str]:
    """A serve process with the webhook worker on, loopback receivers allowed, fast ticks."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("SCIMGATE_")}
    env.update(
        SCIMGATE_DATABASE_URL=database_url,
        SCIMGATE_SCHEDULER="false",
        SCIMGATE_REQUEST_LOG_FLUSH_SECONDS="0.2",
        SCIMGATE_WEBHOOKS="true",
        SCIMGATE_WEBHOOKS_ALLOW_PRIVATE="true",
        SCIMGATE_WEBHOOK_INTERVAL_SECONDS="0.2",
        SCIMGATE_WEBHOOK_TIMEOUT_SECONDS="5",
    )
    env.update(extra)
    return env


class Serve:
    """One `scimgate serve` process (SIGTERM to stop), and the CLI with the same env."""

    def __init__(self, database_url: str, workdir: Path, name: str = "serve") -> None:
        self.env = serve_env(database_url)
        self.workdir = workdir
        self.log_path = workdir / f"{name}.log"
        self.port = 0
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.port = free_port()
        self.env["SCIMGATE_PUBLIC_URL"] = f"http://127.0.0.1:{self.port}"
        with self.log_path.open("ab") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "scimgate", "serve", "--port", str(self.port)],
                env=self.env,
                cwd=self.workdir,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + STARTUP_SECONDS
        with httpx.Client(timeout=2, trust_env=False) as client:
            while True:
                if self.proc.poll() is not None:
                    raise RuntimeError(f"serve exited {self.proc.returncode}:\n{self.log()}")
                with contextlib.suppress(httpx.HTTPError):
                    if client.get(f"http://127.0.0.1:{self.port}/healthz").status_code == 200:
                        return
                if time.monotonic() > deadline:
                    # Not left running for the rest of the session (a fixture that calls
                    # start() before its yield never gets to stop it).
                    self.proc.kill()
                    self.proc.wait(10)
                    raise RuntimeError(f"serve did not answer /healthz:\n{self.log()}")
                time.sleep(0.05)

    def stop(self) -> bool:
        """SIGTERM and wait; True when it shut down cleanly (uvicorn re-raises the signal
        after its graceful shutdown, so the status is -SIGTERM)."""
        if self.proc is None or self.proc.poll() is not None:
            return False
        self.proc.terminate()
        try:
            code = self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=10)
            raise
        return code in (0, -signal.SIGTERM) and self.log().rstrip().endswith(
            f"Finished server process [{self.proc.pid}]"
        )

    def log(self) -> str:
        try:
            return self.log_path.read_text("utf-8", "replace")
        except FileNotFoundError:
            return ""

    def cli(self, *args: str) -> str:
        result = subprocess.run(
            [sys.executable, "-m", "scimgate", *args],
            env=self.env,
            cwd=self.workdir,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert result.returncode == 0, f"scimgate {args}: {result.stdout}{result.stderr}"
        return result.stdout


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
