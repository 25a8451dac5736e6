"""How `scimgate serve` runs uvicorn: timeouts for slow clients, a connection limit, proxies.

uvicorn alone closes an idle keep-alive connection, but any byte resets that timer, so a
client that sends half a request head and then a byte every few seconds holds its socket
(and file descriptor) forever; a thousand of them starve the process. The protocol classes
here add, per connection:

* a header deadline: the whole request head must arrive within `header_timeout` of
  connecting, or of the end of the previous response on a keep-alive connection;
* a body deadline: while a request body is expected, a pause of `body_timeout` without a
  byte (and with reading not paused by us) closes the connection;
* a head size bound for httptools (h11 has its own, `h11_max_incomplete_event_size`);
* a connection limit: above `max_connections` open connections a new one is answered 503
  with Retry-After as soon as its request head is in, and closed.

docs/operations.md ("Slow clients, connections and proxies") describes the settings.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import os
import shutil
import sys
import tempfile
import time
from dataclasses import dataclass
from typing import Any

import orjson
import uvicorn
from h11._connection import DEFAULT_MAX_INCOMPLETE_EVENT_SIZE
from uvicorn.config import STARTUP_FAILURE
from uvicorn.protocols.http.h11_impl import H11Protocol

from scimgate.scim.constants import ERROR as ERROR_URN
from scimgate.scim.constants import MEDIA_TYPE
from scimgate.settings import Settings

try:
    from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
except ImportError:  # pragma: no cover - httptools is installed with uvicorn[standard]
    HttpToolsProtocol = None  # type: ignore[assignment,misc]

log = logging.getLogger("scimgate.serve")

APP_FACTORY = "scimgate.web.app:app_from_env"
FD_SHARE = 0.8  # of the file descriptor limit for client connections; the rest: database, files
REJECT_GRACE_SECONDS = 2.0  # an over-the-limit connection has this long to send its request head
RETRY_AFTER_SECONDS = 5
MAX_HEAD_BYTES = DEFAULT_MAX_INCOMPLETE_EVENT_SIZE  # 16 KiB, h11's default, for both parsers


@dataclass(frozen=True)
class ConnectionLimits:
    """What the protocol classes enforce (carried on the config into worker processes)."""

    header_timeout: float = 10.0
    body_timeout: float = 10.0
    max_connections: int = 1000
    max_head_bytes: int = MAX_HEAD_BYTES


class ServeConfig(uvicorn.Config):
    """A uvicorn.Config that also carries the ConnectionLimits (it is pickled to workers)."""

    def __init__(self, app: Any, *, limits: ConnectionLimits, **kwargs: Any) -> None:
        super().__init__(app, **kwargs)
        self.limits = limits


class _Throttled:
    """One warning per `every` seconds for an event that can happen thousands of times."""

    def __init__(self, message: str, every: float = 10.0) -> None:
        self.message = message
        self.every = every
        self.count = 0
        self.last = 0.0

    def __call__(self, *args: Any) -> None:
        self.count += 1
        now = time.monotonic()
        if now - self.last >= self.every:
            log.warning(self.message + " (%d since the last such message)", *args, self.count)
            self.count = 0
            self.last = now


_rejected = _Throttled("connection limit reached (%d open): answering 503")
_head_cut = _Throttled("closed a connection that did not send a request head within %.3gs")
_body_cut = _Throttled("closed a connection whose request body stalled for %.3gs")
_head_too_big = _Throttled("closed a connection whose request head exceeded %d bytes")


def http_error(status: int, reason: str, detail: str, *, retry_after: int | None = None) -> bytes:
    """A whole response from the HTTP layer, before any route is known: a SCIM Error body
    (IdPs read it; it is plain JSON to anyone else), then the connection closes."""
    body = orjson.dumps({"schemas": [ERROR_URN], "status": str(status), "detail": detail})
    extra = f"retry-after: {retry_after}\r\n" if retry_after is not None else ""
    head = (
        f"HTTP/1.1 {status} {reason}\r\ncontent-type: {MEDIA_TYPE}\r\n"
        f"content-length: {len(body)}\r\n{extra}x-content-type-options: nosniff\r\n"
        "connection: close\r\n\r\n"
    )
    return head.encode("ascii") + body


_TIMEOUT_408 = http_error(408, "Request Timeout", "The request did not arrive in time")
_TOO_LARGE_431 = http_error(
    431, "Request Header Fields Too Large", "The request line and headers are too large"
)
_OVERLOADED = http_error(
    503,
    "Service Unavailable",
    "Too many connections; retry later",
    retry_after=RETRY_AFTER_SECONDS,
)


async def _overloaded(scope: Any, receive: Any, send: Any) -> None:
    """The app of a connection over the limit: 503, Retry-After, close."""
    head, _, body = _OVERLOADED.partition(b"\r\n\r\n")
    headers = [
        tuple(part.strip() for part in line.split(b":", 1)) for line in head.split(b"\r\n")[1:]
    ]
    await send({"type": "http.response.start", "status": 503, "headers": headers})
    await send({"type": "http.response.body", "body": body, "more_body": False})


class _SlowClientGuard:
    """Mixed into uvicorn's H11Protocol / HttpToolsProtocol (both keep `cycle`, `transport`,
    `flow`, `loop`, `connections`; a new `cycle` object means a request head completed)."""

    config: Any
    cycle: Any
    transport: asyncio.Transport
    flow: Any
    loop: asyncio.AbstractEventLoop
    connections: set[Any]
    app: Any

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.limits: ConnectionLimits = getattr(self.config, "limits", None) or ConnectionLimits()
        self._head_timer: asyncio.TimerHandle | None = None
        self._head_bytes = 0  # received while waiting for a request head
        self._body_timer: asyncio.TimerHandle | None = None
        self._last_data = 0.0

    def send_400_response(self, msg: str) -> None:
        """A request the parser refused (unknown method, malformed head): a SCIM Error too."""
        self.transport.write(http_error(400, "Bad Request", msg))
        self.transport.close()

    # Connection events

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)  # type: ignore[misc]
        self._last_data = self.loop.time()
        open_now = len(self.connections)
        if open_now > self.limits.max_connections:
            _rejected(open_now)
            # Not counted from now on; answered 503 once its head is in (answering before
            # reading risks a reset that eats the answer), and given only a short while.
            self.connections.discard(self)
            self.app = _overloaded
            self._await_head(min(self.limits.header_timeout, REJECT_GRACE_SECONDS))
        else:
            self._await_head(self.limits.header_timeout)

    def connection_lost(self, exc: Exception | None) -> None:
        self._cancel_head_timer()
        self._cancel_body_timer()
        super().connection_lost(exc)  # type: ignore[misc]

    def data_received(self, data: bytes) -> None:
        self._last_data = self.loop.time()
        cycle = self.cycle
        super().data_received(data)  # type: ignore[misc]
        self._after_parse(cycle, len(data))

    def on_response_complete(self) -> None:
        cycle = self.cycle
        if not self.transport.is_closing() and not getattr(self, "pipeline", None):
            # The next request head (h11 may find it buffered and start it right away).
            self._await_head(self.limits.header_timeout)
        super().on_response_complete()  # type: ignore[misc]
        self._after_parse(cycle, 0)

    # Deadlines

    def _after_parse(self, before: Any, received: int) -> None:
        if self.transport.is_closing():
            return
        if self.cycle is not before:  # a request head completed
            self._cancel_head_timer()
            if self.cycle.more_body and not self.cycle.response_complete:
                self._watch_body()
        elif self._head_timer is not None:
            self._head_bytes += received
            if self._head_bytes > self.limits.max_head_bytes:
                _head_too_big(self.limits.max_head_bytes)
                # Unread body bytes of an answered request count too: close either way,
                # and say why only when these bytes began a new request.
                if self.cycle is None or not self.cycle.more_body:
                    self.transport.write(_TOO_LARGE_431)
                self._close()

    def _await_head(self, timeout: float) -> None:
        self._cancel_head_timer()
        self._cancel_body_timer()
        self._head_bytes = 0
        self._head_timer = self.loop.call_later(timeout, self._head_timed_out, timeout)

    def _head_timed_out(self, timeout: float) -> None:
        self._head_timer = None
        if self.transport.is_closing():
            return
        if self._head_bytes:  # a half-sent head; an idle keep-alive connection just closes
            _head_cut(timeout)
            self.transport.write(_TIMEOUT_408)
        self._close()

    def _cancel_head_timer(self) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None

    def _watch_body(self) -> None:
        self._cancel_body_timer()
        self._body_timer = self.loop.call_later(self.limits.body_timeout, self._check_body)

    def _check_body(self) -> None:
        self._body_timer = None
        cycle = self.cycle
        if (
            self.transport.is_closing()
            or cycle is None
            or not cycle.more_body
            or cycle.response_complete
            or cycle.disconnected
        ):
            return
        now = self.loop.time()
        if self.flow.read_paused or self._client_waits_for_100(cycle):
            self._last_data = now  # the app has not asked for the body yet: not the client's stall
        idle = now - self._last_data
        if idle < self.limits.body_timeout:
            self._body_timer = self.loop.call_later(
                self.limits.body_timeout - idle, self._check_body
            )
            return
        _body_cut(self.limits.body_timeout)
        if not cycle.response_started:
            self.transport.write(_TIMEOUT_408)
        self._close()

    @staticmethod
    def _client_waits_for_100(cycle: Any) -> bool:
        return bool(getattr(cycle, "waiting_for_100_continue", False))

    def _cancel_body_timer(self) -> None:
        if self._body_timer is not None:
            self._body_timer.cancel()
            self._body_timer = None

    def _close(self) -> None:
        self._cancel_head_timer()
        self._cancel_body_timer()
        cycle = self.cycle
        if cycle is not None and not cycle.response_complete:
            # As connection_lost will: the app's receive() gets http.disconnect and its
            # send() is dropped (not written after our 408 while the transport flushes).
            cycle.disconnected = True
            cycle.message_event.set()
        self.transport.close()


class GuardedH11Protocol(_SlowClientGuard, H11Protocol):
    """uvicorn's h11 protocol with the header/body deadlines and the connection limit."""


if HttpToolsProtocol is not None:

    class GuardedHttpToolsProtocol(_SlowClientGuard, HttpToolsProtocol):
        """uvicorn's httptools protocol with the deadlines, the head bound and the limit."""

    PROTOCOL: type[asyncio.Protocol] = GuardedHttpToolsProtocol
else:  # pragma: no cover - what http="auto" would pick
    PROTOCOL = GuardedH11Protocol


def fd_limit() -> int:
    """Raise the soft RLIMIT_NOFILE to the hard limit; the soft limit now in force."""
    try:
        import resource
    except ImportError:  # pragma: no cover - not POSIX
        return 1024
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    unlimited = resource.RLIM_INFINITY
    if soft != hard:
        target = hard if hard != unlimited else max(soft, 65536)
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
            soft = target
        except (ValueError, OSError):
            log.warning("could not raise the open file limit from %d to %d", soft, target)
    return 65536 if soft == unlimited else int(soft)


def connection_limit(settings: Settings, fds: int) -> int:
    """SCIMGATE_MAX_CONNECTIONS, at most 80% of the descriptors (default: that share)."""
    share = max(1, int(fds * FD_SHARE))
    if settings.max_connections is None:
        return share
    if settings.max_connections > share:
        log.warning(
            "SCIMGATE_MAX_CONNECTIONS=%d is more than %d%% of the open file limit %d: using %d",
            settings.max_connections,
            int(FD_SHARE * 100),
            fds,
            share,
        )
        return share
    return settings.max_connections


def build_config(
    settings: Settings,
    *,
    app: Any = APP_FACTORY,
    host: str = "127.0.0.1",
    port: int = 8000,
    workers: int = 1,
) -> ServeConfig:
    """The uvicorn config of `scimgate serve`: one place for every connection-level setting.

    `app` is an ASGI app for one process, or the factory's import string (needed for workers).
    Raises this process's soft open-file limit (workers inherit it).
    """
    limits = ConnectionLimits(
        header_timeout=settings.header_timeout_seconds,
        body_timeout=settings.body_timeout_seconds,
        max_connections=connection_limit(settings, fd_limit()),
        max_head_bytes=MAX_HEAD_BYTES,
    )
    return ServeConfig(
        app,
        limits=limits,
        factory=isinstance(app, str),
        host=host,
        port=port,
        workers=workers,
        http=PROTOCOL,
        h11_max_incomplete_event_size=MAX_HEAD_BYTES,
        timeout_keep_alive=settings.keepalive_seconds,
        proxy_headers=True,
        forwarded_allow_ips=settings.forwarded_allow_ips,
        limit_concurrency=None,  # counts only at a complete head; the protocol counts instead
        access_log=False,
        log_config=None,
        server_header=False,
    )


def run(config: ServeConfig) -> None:
    """What uvicorn.run does with a ready config: one process, or a supervisor of workers."""
    if config.workers > 1:
        from scimgate.web.workers import SpreadWorkers, reuseport_sockets

        try:
            sockets = reuseport_sockets(config.host, config.port, config.workers)
        except OSError as exc:
            log.error("cannot listen on %s:%s: %s", config.host, config.port, exc)
            sys.exit(STARTUP_FAILURE)
        SpreadWorkers(config, sockets).run()
        return
    server = uvicorn.Server(config)
    with contextlib.suppress(KeyboardInterrupt):
        server.run()
    if not server.started:
        sys.exit(STARTUP_FAILURE)


def serve(settings: Settings, *, host: str, port: int, workers: int) -> None:
    """`scimgate serve`: one process with the app built here, or `workers` processes."""
    os.environ["SCIMGATE_WORKERS"] = str(workers)  # the workers' Settings share out limits
    if workers == 1:
        from scimgate.web.app import create_app

        settings = settings.model_copy(update={"workers": 1})
        app = create_app(settings)
        # What startup built lives as long as the process: older-generation collections
        # stop scanning it (a Synchronize in this process spends about a fifth less CPU).
        gc.collect()
        gc.freeze()
        run(build_config(settings, app=app, host=host, port=port))
        return
    metrics_dir = None
    if not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        metrics_dir = tempfile.mkdtemp(prefix="scimgate-metrics-")
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = metrics_dir
    try:
        run(build_config(settings, host=host, port=port, workers=workers))
    finally:
        if metrics_dir is not None:
            os.environ.pop("PROMETHEUS_MULTIPROC_DIR", None)
            shutil.rmtree(metrics_dir, ignore_errors=True)
