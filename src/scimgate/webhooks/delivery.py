"""Deliver events to webhook endpoints: Standard Webhooks signatures, in order, with retries.

Each endpoint is a cursor on its account's event sequence. A worker (a thread inside
`serve`; any number of processes) takes an endpoint's lease with a compare-and-set
UPDATE, sends the events after the cursor one at a time, and moves the cursor in the
transaction that logs each success, so N processes deliver each event once per
endpoint. Every write is a compare-and-set on the cursor the pass read, so a prune that
moved the cursor past pruned events meanwhile is never undone. A process that dies
between the receiver's 2xx and that commit makes the next holder send the event again with the same `webhook-id`: receivers deduplicate on it
(at-least-once, as the Standard Webhooks convention expects).

A failure keeps the cursor where it is (later events wait: order is kept) and schedules
the next attempt after `retry_seconds[attempts - 1]`; when those are used up (about a
day by default) the endpoint is marked failing until someone resumes it.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import contextvars
import hashlib
import hmac
import logging
import ssl
import threading
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import httpcore
import httpx
import orjson
from sqlalchemy import Engine
from sqlalchemy.exc import IntegrityError

from scimgate.errors import InvalidValueError, NotFoundError
from scimgate.events import CHANGE_TYPES
from scimgate.settings import Settings
from scimgate.store import accounts as account_store
from scimgate.store import events as event_store
from scimgate.store import webhooks as store
from scimgate.store.database import as_utc, utcnow
from scimgate.sync.engine import owner_tag
from scimgate.webhooks.service import EndpointStatus, refuse_private

log = logging.getLogger("scimgate.webhooks")

LEASE = timedelta(seconds=60)
BATCH = 100  # events read at a time


def sign(secret: str, msg_id: str, timestamp: int, body: bytes) -> str:
    """The `webhook-signature` header: v1,base64(HMAC-SHA256(key, id.timestamp.body))."""
    key = base64.b64decode(secret.removeprefix("whsec_"))
    content = f"{msg_id}.{timestamp}.".encode() + body
    return "v1," + base64.b64encode(hmac.new(key, content, hashlib.sha256).digest()).decode()


def payload(event: dict[str, Any], account_slug: str) -> bytes:
    """The Standard Webhooks body: type, timestamp, data (with the sequence number)."""
    created = as_utc(event["created_at"]).isoformat().replace("+00:00", "Z")
    data = {
        **event["data"],
        "seq": event["seq"],
        "subject_id": event["subject_id"],
        "account": account_slug,
    }
    return orjson.dumps({"type": event["type"], "timestamp": created, "data": data})


@dataclass
class Outcome:
    """What one attempt got."""

    status_code: int | None
    error: str | None
    duration_ms: int

    @property
    def ok(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300


# The addresses checked for the delivery in progress: (host, port, addresses).
_PINNED: contextvars.ContextVar[tuple[str, int, tuple[str, ...]]] = contextvars.ContextVar(
    "webhook_pinned_addresses"
)


class PinnedBackend(httpcore.AsyncNetworkBackend):
    """Connects only to the addresses checked for the delivery in progress, never resolving
    the name again: no DNS-rebinding window between the check and the connection. TLS still
    names the host (httpcore sends the URL's host as SNI and verifies the certificate for it),
    and so does the Host header."""

    def __init__(self) -> None:
        self._backend = httpcore.AnyIOBackend()

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Any = None,
    ) -> httpcore.AsyncNetworkStream:
        pinned = _PINNED.get(None)
        if pinned is None or (pinned[0], pinned[1]) != (host.lower(), port):
            raise httpcore.ConnectError(f"{host}:{port} was not checked: not connecting")
        error: Exception = httpcore.ConnectError(f"{host} has no address")
        for address in pinned[2]:
            try:
                return await self._backend.connect_tcp(
                    address, port, timeout, local_address, socket_options
                )
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as exc:
                error = exc  # the next checked address, if there is one
        raise error

    async def connect_unix_socket(
        self, path: str, timeout: float | None = None, socket_options: Any = None
    ) -> httpcore.AsyncNetworkStream:
        raise httpcore.ConnectError("webhooks are delivered over TCP only")

    async def sleep(self, seconds: float) -> None:
        await self._backend.sleep(seconds)


class PinnedTransport(httpx.AsyncHTTPTransport):
    """httpx's transport (its pool keeps connections alive) on a PinnedBackend: httpx takes
    no network backend, so its pool is replaced by one with the same defaults."""

    def __init__(self, verify: ssl.SSLContext | bool = True) -> None:
        context = httpx.create_ssl_context(verify=verify, trust_env=False)
        super().__init__(verify=context, trust_env=False)
        self._pool = httpcore.AsyncConnectionPool(
            ssl_context=context,
            max_connections=100,
            max_keepalive_connections=20,
            keepalive_expiry=5.0,
            network_backend=PinnedBackend(),
        )


def _target(url: str) -> tuple[str, int]:
    """The host and port a URL connects to, as httpcore names them (IDNA-encoded host)."""
    parsed = httpx.URL(url)
    if parsed.scheme not in ("http", "https") or not parsed.raw_host:
        raise InvalidValueError(f"{url!r} is not an http(s) URL")
    port = parsed.port or (443 if parsed.scheme == "https" else 80)
    return parsed.raw_host.decode("ascii").lower(), port


class Sender:
    """POSTs deliveries with one kept-alive client on an event loop of its own thread (a
    new client per delivery cost ~20 ms: TLS context and connection set-up). The caller's
    thread may be anything, even one that runs an event loop of its own."""

    def __init__(self, timeout: float, *, verify: ssl.SSLContext | bool = True) -> None:
        self.timeout = timeout
        self.verify = verify
        self.loop = asyncio.new_event_loop()
        self.client: httpx.AsyncClient | None = None
        self._thread = threading.Thread(
            target=self.loop.run_forever, name="webhook-sender", daemon=True
        )
        self._thread.start()

    def close(self) -> None:
        if self.loop.is_closed():
            return
        if self.client is not None:
            with contextlib.suppress(Exception):
                asyncio.run_coroutine_threadsafe(self.client.aclose(), self.loop).result(5)
            self.client = None
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(5)
        if not self._thread.is_alive():
            self.loop.close()

    def send(
        self, url: str, secret: str, event: dict[str, Any], slug: str, *, allow_private: bool
    ) -> Outcome:
        """POST one event with a hard deadline for the whole exchange (connect, send, a
        receiver trickling its answer); never raises."""
        body = payload(event, slug)
        now = int(time.time())
        headers = {
            "content-type": "application/json",
            "user-agent": "scimgate-webhooks",
            "webhook-id": event["id"],
            "webhook-timestamp": str(now),
            "webhook-signature": sign(secret, event["id"], now, body),
        }
        started = time.perf_counter()
        try:
            # Checked again at each delivery: a name can start resolving to a private address.
            # The connection goes to the addresses checked here (see PinnedBackend).
            host, port = _target(url)
            addresses = refuse_private(host, port, allow_private=allow_private)
            pinned = (host, port, tuple(addresses))
            future = asyncio.run_coroutine_threadsafe(
                self._post(url, body, headers, pinned), self.loop
            )
            response = future.result(self.timeout + 5)
            code, error = response.status_code, None
            if not 200 <= code < 300:
                error = f"HTTP {code}: {response.text[:300]}"
        except InvalidValueError as exc:
            code, error = None, exc.detail
        except TimeoutError:
            code, error = None, f"no complete answer within {self.timeout:g} s"
        except (httpx.HTTPError, httpx.InvalidURL, ValueError, OSError) as exc:
            code, error = None, f"{type(exc).__name__}: {exc}"[:500]
        return Outcome(code, error, int((time.perf_counter() - started) * 1000))

    async def _post(
        self,
        url: str,
        body: bytes,
        headers: dict[str, str],
        pinned: tuple[str, int, tuple[str, ...]],
    ) -> httpx.Response:
        _PINNED.set(pinned)  # this task's context: PinnedBackend connects only there
        if self.client is None:
            self.client = httpx.AsyncClient(
                timeout=self.timeout,
                follow_redirects=False,
                trust_env=False,
                transport=PinnedTransport(self.verify),
            )
        try:
            return await asyncio.wait_for(
                self.client.post(url, content=body, headers=headers), self.timeout
            )
        except BaseException:
            # A cancelled exchange may leave a half-read connection: start afresh.
            client, self.client = self.client, None
            await client.aclose()
            raise


def send(
    url: str,
    secret: str,
    event: dict[str, Any],
    slug: str,
    *,
    allow_private: bool,
    timeout: float,
) -> Outcome:
    """Deliver one event with a Sender of its own (a redelivery asked for by a person)."""
    sender = Sender(timeout)
    try:
        return sender.send(url, secret, event, slug, allow_private=allow_private)
    finally:
        sender.close()


class Deliverer:
    """Works through due endpoints; `tick()` is one pass (the worker calls it in a loop)."""

    def __init__(self, engine: Engine, settings: Settings, *, owner: str | None = None) -> None:
        self.engine = engine
        self.retry = list(settings.webhook_retry_seconds)
        self.allow_private = settings.webhooks_allow_private
        self.owner = owner or f"{owner_tag()}:{threading.get_ident()}"
        self.timeout = settings.webhook_timeout_seconds
        # A delivery never outlives its lease: it stops sending with this much left.
        self.reserve = timedelta(seconds=self.timeout + 5)
        self.lease = max(LEASE, timedelta(seconds=4 * self.timeout + 20))
        self.stopping = threading.Event()
        self.sender = Sender(self.timeout)

    def close(self) -> None:
        self.stopping.set()
        self.sender.close()

    def tick(self) -> int:
        """Deliver what is due on every endpoint this process can lease; returns attempts made."""
        with self.engine.connect() as conn:
            due = store.due_endpoints(conn, utcnow())
        attempts = 0
        for account_id, endpoint_id in due:
            now = utcnow()
            with self.engine.connect() as conn:
                conn.execution_options(writes=True)
                with conn.begin():
                    if not store.claim(conn, endpoint_id, self.owner, now, now + self.lease):
                        continue
            try:
                attempts += self._work(account_id, endpoint_id, now + self.lease)
            except Exception:  # one endpoint's trouble must not stop the others
                log.exception("delivery to webhook endpoint %s failed", endpoint_id)
            finally:
                with self.engine.begin() as conn:
                    store.release(conn, endpoint_id, self.owner)
            if self.stopping.is_set():
                break
        return attempts

    def _work(self, account_id: int, endpoint_id: int, lease_until: datetime) -> int:
        """Send events past the cursor, in order, until none is left, one fails, or the
        lease is about to run out."""
        with self.engine.connect() as conn:
            endpoint = store.get_endpoint(conn, account_id, endpoint_id)
            if endpoint is None or endpoint["status"] != EndpointStatus.ACTIVE:
                return 0
            slug = account_store.get_account_by_id(conn, account_id)["slug"]
        wanted = set(endpoint["event_types"] or CHANGE_TYPES)
        attempts = 0
        while True:
            with self.engine.connect() as conn:
                events = event_store.read(conn, account_id, after=endpoint["cursor"], limit=BATCH)
            if not events:
                return attempts
            for event in events:
                if lease_until - utcnow() < self.reserve or self.stopping.is_set():
                    return attempts  # the lease runs out (or we stop): the next holder goes on
                if event["type"] not in wanted:
                    with self.engine.begin() as conn:
                        seq, cursor = event["seq"], endpoint["cursor"]
                        if not store.advance_endpoint(conn, endpoint_id, cursor, cursor=seq):
                            return attempts  # a prune moved it on: the next pass reads it again
                    endpoint["cursor"] = event["seq"]
                    continue
                outcome = self.sender.send(
                    endpoint["url"],
                    endpoint["secret"],
                    event,
                    slug,
                    allow_private=self.allow_private,
                )
                attempts += 1
                if not self._record(account_id, endpoint, event, outcome):
                    return attempts
                endpoint["cursor"] = event["seq"]

    def _record(
        self, account_id: int, endpoint: dict[str, Any], event: dict[str, Any], outcome: Outcome
    ) -> bool:
        """Log the attempt and move the cursor (success) or schedule a retry (failure)."""
        now = utcnow()
        attempt = endpoint["attempts"] + 1
        try:
            return self._write_outcome(account_id, endpoint, event, outcome, now, attempt)
        except IntegrityError:  # the endpoint was removed while its delivery was in flight
            return False

    def _write_outcome(
        self,
        account_id: int,
        endpoint: dict[str, Any],
        event: dict[str, Any],
        outcome: Outcome,
        now: datetime,
        attempt: int,
    ) -> bool:
        """Log the attempt and set the endpoint only if its cursor is still the one this pass
        read: a prune that moved it past the event meanwhile wins (nothing is logged)."""
        dead = not outcome.ok and attempt > len(self.retry)  # retries used up: a dead letter
        values: dict[str, Any] = {"next_attempt_at": now, "first_failure_at": None}
        if outcome.ok:
            values.update(cursor=event["seq"], attempts=0, last_error=None)
        else:
            values.update(attempts=attempt, last_error=outcome.error)
            values["first_failure_at"] = endpoint["first_failure_at"] or now
            if dead:
                values["status"] = EndpointStatus.FAILING  # wait for a resume
            else:
                values["next_attempt_at"] = now + timedelta(seconds=self.retry[attempt - 1])
        with self.engine.connect() as conn:
            conn.execution_options(writes=True)
            with conn.begin():
                # The endpoint row first: on PostgreSQL its lock orders this write against
                # a prune's (store.event_retention.prune_through).
                if not store.advance_endpoint(conn, endpoint["id"], endpoint["cursor"], **values):
                    return False
                store.insert_delivery(
                    conn,
                    account_id,
                    endpoint["id"],
                    event_seq=event["seq"],
                    event_id=event["id"],
                    event_type=event["type"],
                    attempt=attempt,
                    status_code=outcome.status_code,
                    error=outcome.error,
                    duration_ms=outcome.duration_ms,
                    at=now,
                    dead=dead,
                )
        if dead:
            log.warning("webhook endpoint %s is failing: %s", endpoint["id"], outcome.error)
        if outcome.ok:
            endpoint["attempts"] = 0
        return outcome.ok


def redeliver(
    engine: Engine, settings: Settings, account_id: int, endpoint_id: int, seq: int
) -> Outcome:
    """Send one past event again, now and out of order (asked for by a person); logged."""
    with engine.connect() as conn:
        endpoint = store.get_endpoint(conn, account_id, endpoint_id)
        if endpoint is None:
            raise NotFoundError(f"No webhook endpoint {endpoint_id}")
        found = event_store.read(conn, account_id, after=seq - 1, limit=1)
        if not found or found[0]["seq"] != seq:
            raise NotFoundError(f"No event {seq}")
        slug = account_store.get_account_by_id(conn, account_id)["slug"]
    sender = Sender(settings.webhook_timeout_seconds)
    try:
        return send_and_log(engine, settings, sender, endpoint, slug, found[0])
    finally:
        sender.close()


def send_and_log(
    engine: Engine,
    settings: Settings,
    sender: Sender,
    endpoint: dict[str, Any],
    slug: str,
    event: dict[str, Any],
) -> Outcome:
    """Send one past event now, out of order, and log it as attempt 0 (a person asked)."""
    outcome = sender.send(
        endpoint["url"],
        endpoint["secret"],
        event,
        slug,
        allow_private=settings.webhooks_allow_private,
    )
    with engine.connect() as conn:
        conn.execution_options(writes=True)
        with conn.begin():
            store.insert_delivery(
                conn,
                endpoint["account_id"],
                endpoint["id"],
                event_seq=event["seq"],
                event_id=event["id"],
                event_type=event["type"],
                attempt=0,
                status_code=outcome.status_code,
                error=outcome.error,
                duration_ms=outcome.duration_ms,
                at=utcnow(),
            )
    return outcome


class WebhookWorker:
    """The delivery loop on a daemon thread of `serve`."""

    def __init__(self, engine: Engine, settings: Settings) -> None:
        self.deliverer = Deliverer(engine, settings)
        self.interval = settings.webhook_interval_seconds
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="webhooks", daemon=True)
        self._thread.start()

    @property
    def alive(self) -> bool:
        """Whether the delivery thread is running (for /readyz)."""
        return self._thread is not None and self._thread.is_alive()

    def _run(self) -> None:
        failing = False
        while not self._stop.is_set():
            try:
                self.deliverer.tick()
            except Exception:  # the database may be away: try again next tick
                if not failing:  # one traceback per outage, not one a second
                    log.exception("webhook delivery tick failed; retrying every tick quietly")
                failing = True
            else:
                if failing:
                    log.warning("webhook delivery ticks succeed again")
                failing = False
            self._stop.wait(self.interval)

    def stop(self, timeout: float = 15.0) -> None:
        self._stop.set()
        self.deliverer.stopping.set()  # the current pass ends after its current delivery
        if self._thread is not None:
            self._thread.join(timeout)
            if self._thread.is_alive():
                return  # still inside a delivery: the daemon thread ends with the process
        self.deliverer.close()
