"""The outermost ASGI layer: body limits before any auth, security headers, request metrics.

Every surface gets its body limit here, by Content-Length and while the body streams,
before any handler, key check or JSON parser sees a byte. An oversize body is answered
413 in the surface's own shape (SCIM Error, problem+json, a console page), and the
rest of what the client is still sending is read and thrown away (up to a bound) before
the response completes, so the client can read the 413 instead of meeting a reset.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

import orjson
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from scimgate.scim.constants import MEDIA_TYPE
from scimgate.scim.errors import PayloadTooLargeError
from scimgate.scim.text import whole_number
from scimgate.web.metrics import Metrics, surface_of

DRAIN_BYTES = 64 * 1024 * 1024  # read at most this much of an oversize body before closing
DRAIN_SECONDS = 10.0
NOSNIFF = (b"x-content-type-options", b"nosniff")


class Guard:
    """Body limits per surface, `nosniff` on every answer, and one metrics observation each."""

    def __init__(self, app: ASGIApp, limits: Callable[[str], int], metrics: Metrics | None) -> None:
        self.app = app
        self.limit_for = limits
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        path = scope.get("path", "")
        surface = surface_of(path)
        status = {"code": 500}

        async def send_wrapped(message: Message) -> None:
            if message["type"] == "http.response.start":
                status["code"] = message["status"]
                headers = list(message.get("headers", []))
                if not any(name.lower() == NOSNIFF[0] for name, _ in headers):
                    headers.append(NOSNIFF)
                message = {**message, "headers": headers}
            await send(message)

        try:
            limit = self.limit_for(path)
            if not _has_body(scope):
                await self.app(scope, receive, send_wrapped)
                return
            try:
                body, complete = await _read_body(scope, receive, limit)
            except _ClientGone:
                status["code"] = 499  # the client closed the request (counted, not answered)
                return
            if body is None:
                status["code"] = 413
                await _too_large(scope, receive, send, surface, limit, drain=not complete)
                return
            await self.app(scope, _replay(body, receive), send_wrapped)
        finally:
            if self.metrics is not None:
                self.metrics.observe(surface, status["code"], time.perf_counter() - started)


class _ClientGone(Exception):
    """The client disconnected before its body was complete."""


def _header(scope: Scope, name: bytes) -> bytes | None:
    for key, value in scope.get("headers", []):
        if key.lower() == name:
            return value
    return None


def _has_body(scope: Scope) -> bool:
    """Whether the request announces a body (a length above zero, or chunked)."""
    length = _header(scope, b"content-length")
    if length is not None:
        return length.strip() not in (b"0", b"")
    return _header(scope, b"transfer-encoding") is not None


async def _read_body(scope: Scope, receive: Receive, limit: int) -> tuple[bytes | None, bool]:
    """(the whole body, True) if it fits in `limit` bytes; else (None, whether the client has
    sent all of it), as soon as the size is known to be over."""
    declared = _header(scope, b"content-length")
    length = whole_number(declared.decode("latin-1")) if declared is not None else None
    if length is not None and length > limit:  # unreadable: the bytes are counted instead
        return None, False
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] != "http.request":
            raise _ClientGone()  # nobody is left to answer: no handler sees half a body
        chunk = message.get("body", b"")
        more = message.get("more_body", False)
        size += len(chunk)
        if size > limit:
            return None, not more
        chunks.append(chunk)
        if not more:
            return b"".join(chunks), True


def _replay(body: bytes, receive: Receive) -> Receive:
    """A receive that hands the app the body already read, then defers to the server."""
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replay


async def _too_large(
    scope: Scope, receive: Receive, send: Send, surface: str, limit: int, *, drain: bool
) -> None:
    """Answer 413 at once, then drain what the client is still sending, then close."""
    detail = f"The request body is over {limit} bytes"
    if surface == "scim":
        body, media = orjson.dumps(PayloadTooLargeError(detail).to_body()), MEDIA_TYPE
    elif surface == "api":
        problem = {"type": "about:blank", "title": "Payload Too Large", "status": 413}
        body, media = orjson.dumps({**problem, "detail": detail}), "application/problem+json"
    else:
        body = f"<!doctype html><title>Too large</title><p>{detail}.</p>".encode()
        media = "text/html; charset=utf-8"
    await send(
        {
            "type": "http.response.start",
            "status": 413,
            "headers": [
                (b"content-type", media.encode()),
                (b"content-length", str(len(body)).encode()),
                (b"connection", b"close"),
                NOSNIFF,
            ],
        }
    )
    await send({"type": "http.response.body", "body": body, "more_body": True})
    if drain and (_header(scope, b"expect") or b"").lower() != b"100-continue":
        await _drain(receive)
    await send({"type": "http.response.body", "body": b"", "more_body": False})


async def _drain(receive: Receive) -> None:
    """Read and discard the rest of the body, bounded in bytes and time."""
    deadline = time.monotonic() + DRAIN_SECONDS
    drained = 0
    while drained < DRAIN_BYTES and time.monotonic() < deadline:
        try:
            message = await asyncio.wait_for(receive(), deadline - time.monotonic())
        except TimeoutError:
            return
        if message["type"] != "http.request":
            return
        drained += len(message.get("body", b""))
        if not message.get("more_body", False):
            return
