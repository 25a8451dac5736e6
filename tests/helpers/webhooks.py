"""Webhook helpers: a real HTTP receiver on loopback, an independent Standard Webhooks
verifier, and reading endpoints, deliveries and events back."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from http.server import BaseHTTPRequestHandler
from typing import Any

from sqlalchemy import Engine, update

from scimgate.accounts import api_keys
from scimgate.accounts.lookup import account_by_slug
from scimgate.members import service as members
from scimgate.store import events as event_store
from scimgate.store import webhooks as webhook_store
from scimgate.store.tables.operations import event
from scimgate.timestamps import utcnow
from scimgate.webhooks import service as webhooks
from scimgate.webhooks.delivery import Deliverer


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


RETRY = [0.5, 0.5]  # two retries, then failing


def add_endpoint(
    engine: Engine, slug: str, url: str, events: Sequence[str] = (), *, allow_private: bool = True
) -> dict[str, Any]:
    with engine.begin() as conn:
        return webhooks.add_endpoint(
            conn,
            account_by_slug(conn, slug)["id"],
            url,
            event_types=list(events),
            allow_private=allow_private,
        )


def endpoint(engine: Engine, slug: str, endpoint_id: int) -> dict[str, Any]:
    with engine.connect() as conn:
        account_id = account_by_slug(conn, slug)["id"]
        return next(e for e in webhooks.list_endpoints(conn, account_id) if e["id"] == endpoint_id)


def delivery_log(engine: Engine, slug: str, endpoint_id: int) -> list[dict[str, Any]]:
    """Oldest first."""
    with engine.connect() as conn:
        return list(
            reversed(
                webhooks.deliveries(
                    conn, account_by_slug(conn, slug)["id"], endpoint_id, limit=10_000
                )
            )
        )


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


def backdate(engine: Engine, account_id: int, through_seq: int, days: int) -> None:
    """Make the account's events up to `through_seq` `days` old."""
    with engine.begin() as conn:
        conn.execute(
            update(event)
            .where(event.c.account_id == account_id, event.c.seq <= through_seq)
            .values(created_at=utcnow() - timedelta(days=days))
        )


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
        return api_keys.create_key(conn, account_by_slug(conn, slug)["id"]).key
