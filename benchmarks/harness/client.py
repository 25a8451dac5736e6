"""A raw asyncio HTTP/1.1 client: keep-alive connections, pre-encoded requests, responses
framed by Content-Length or chunked encoding (httpx cannot push the rates needed from one
core), and the checks a phase makes on each answer."""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import socket
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

perf_ns = time.perf_counter_ns

try:
    import orjson

    def jdumps(obj: Any) -> bytes:
        return orjson.dumps(obj)

    jloads = orjson.loads
except ImportError:  # pragma: no cover - orjson is a scimgate dependency

    def jdumps(obj: Any) -> bytes:
        return json.dumps(obj, separators=(",", ":")).encode()

    jloads = json.loads

try:
    import uvloop
except ImportError:  # pragma: no cover
    uvloop = None


def log(*args: Any) -> None:
    print(time.strftime("%H:%M:%S"), *args, file=sys.stderr, flush=True)


class HTTPError(Exception):
    pass


class Conn(asyncio.Protocol):
    """One keep-alive HTTP/1.1 connection, one request in flight at a time.

    The response is framed by Content-Length, by chunked transfer encoding, or
    has no body (1xx/204/304).  The completion time is taken in
    ``data_received``, before the event loop wakes the waiting coroutine.
    """

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.buf = bytearray()
        self.fut: asyncio.Future | None = None
        self.closed = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        sock = transport.get_extra_info("socket")
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self.transport = None
        if self.fut is not None and not self.fut.done():
            self.fut.set_exception(ConnectionError(f"connection lost: {exc}"))

    def data_received(self, data: bytes) -> None:
        self.buf += data
        if self.fut is not None:
            self._parse()

    def _parse(self) -> None:
        buf = self.buf
        he = buf.find(b"\r\n\r\n")
        if he < 0:
            return
        try:
            status = int(buf[9:12])
        except ValueError:
            self._fail(HTTPError(f"bad status line: {bytes(buf[:40])!r}"))
            return
        head = bytes(buf[:he]).lower()
        start = he + 4
        i = head.find(b"\r\ncontent-length:")
        if i >= 0:
            j = head.find(b"\r\n", i + 17)
            n = int(head[i + 17 : j if j >= 0 else len(head)])
            end = start + n
            if len(buf) < end:
                return
            body = bytes(buf[start:end])
        elif b"\r\ntransfer-encoding: chunked" in head:
            pos = start
            parts = []
            while True:
                k = buf.find(b"\r\n", pos)
                if k < 0:
                    return
                size = int(bytes(buf[pos:k]).split(b";", 1)[0], 16)
                if size == 0:
                    # assume no trailers: "0\r\n\r\n"
                    if len(buf) < k + 4:
                        return
                    end = k + 4
                    break
                if len(buf) < k + 2 + size + 2:
                    return
                parts.append(bytes(buf[k + 2 : k + 2 + size]))
                pos = k + 2 + size + 2
            body = b"".join(parts)
        elif status in (204, 304) or 100 <= status < 200:
            body = b""
            end = start
        else:
            self._fail(HTTPError(f"response without framing: {head[:200]!r}"))
            return
        del buf[:end]
        fut, self.fut = self.fut, None
        if b"\r\nconnection: close" in head and self.transport is not None:
            self.transport.close()
        fut.set_result((status, body, perf_ns()))  # type: ignore[union-attr]

    def _fail(self, exc: Exception) -> None:
        fut, self.fut = self.fut, None
        if fut is not None and not fut.done():
            fut.set_exception(exc)
        if self.transport is not None:
            self.transport.close()

    def request(self, data: bytes) -> asyncio.Future:
        if self.transport is None or self.closed:
            raise ConnectionError("connection closed")
        self.fut = asyncio.get_running_loop().create_future()
        self.transport.write(data)
        return self.fut


async def connect(host: str, port: int) -> Conn:
    loop = asyncio.get_running_loop()
    _, proto = await loop.create_connection(Conn, host, port)
    return proto  # type: ignore[return-value]


TOTAL_RE = re.compile(rb'"totalResults"\s*:\s*(\d+)')


ITEMS_RE = re.compile(rb'"itemsPerPage"\s*:\s*(\d+)')


@dataclass
class Target:
    """Where a server listens and how to address it."""

    name: str
    host: str
    port: int
    base_path: str  # e.g. /scim/v2 or /v2
    token: str

    def req(self, method: str, path: str, body: bytes | None = None) -> bytes:
        head = (
            f"{method} {self.base_path}{path} HTTP/1.1\r\n"
            f"Host: {self.host}:{self.port}\r\n"
            f"Authorization: Bearer {self.token}\r\n"
            "Accept: application/scim+json\r\n"
        )
        if body is None:
            return (head + "\r\n").encode()
        head += f"Content-Type: application/scim+json\r\nContent-Length: {len(body)}\r\n\r\n"
        return head.encode() + body


def total_is(n: int) -> Callable[[int, int, bytes], str | None]:
    def check(_i: int, _status: int, body: bytes) -> str | None:
        m = TOTAL_RE.search(body)
        if m is None:
            return "no totalResults"
        if int(m.group(1)) != n:
            return f"totalResults {int(m.group(1))} != {n}"
        return None

    return check


def check_page(_i: int, _status: int, body: bytes) -> str | None:
    m = ITEMS_RE.search(body)
    if m is None or int(m.group(1)) == 0:
        return "empty page"
    return None
