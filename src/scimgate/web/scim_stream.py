"""A large Group's GET, streamed: its members are read and sent a page at a time.

Why: a group of 100,000 members rendered at once is ~100 MB of Python objects in the
server for one request. Above one page (`group_member_page` members, 5,000), the handler answers with
a `StreamedMembers` response: the group without its members is rendered once and split
where the `members` array goes; the first page (read in the handler's transaction)
follows, then each further page is read in its own short database call on a request
thread (keyset on member id, so a page costs its size) and sent before the next is read.
Memory stays at one page whatever the group's size.

Pages are separate reads: a member added or removed while the response streams may or
may not appear in it (each member at most once). If a later page cannot be read, the
status line has gone already: the response is cut off (the connection closes), never
completed with wrong content.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import orjson
from starlette.responses import Response
from starlette.types import Send

from scimgate.scim.constants import MEDIA_TYPE
from scimgate.scim.render import render_member

# (account_id, group_id, after member id) -> the next page, read on a request thread
PageReader = Callable[[int, str, str], Awaitable[list[dict[str, Any]]]]
_HOLE = "\x00members\x00"  # stands where the members array goes while the group is rendered


class StreamedMembers(Response):
    """A Group resource whose `members` array is sent page by page."""

    def __init__(
        self,
        resource: dict[str, Any],
        first: list[dict[str, Any]],
        *,
        account_id: int,
        group_id: str,
        page_size: int,
        base_url: str,
        headers: dict[str, str],
    ) -> None:
        super().__init__(status_code=200, media_type=MEDIA_TYPE, headers=headers)
        self.prefix, self.suffix = _split(resource)
        self.first = first
        self.account_id = account_id
        self.group_id = group_id
        self.page_size = page_size
        self.base_url = base_url

    async def stream(self, send: Send, read_page: PageReader) -> None:
        """Send the status, the head of the group, every page of members, and the tail."""
        headers = [(k, v) for k, v in self.raw_headers if k != b"content-length"]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await self._send(send, self.prefix + self._members(self.first, first=True))
        page = self.first
        while len(page) == self.page_size:
            page = await read_page(self.account_id, self.group_id, page[-1]["value"])
            if page:
                await self._send(send, self._members(page, first=False))
        await send({"type": "http.response.body", "body": self.suffix, "more_body": False})

    def _members(self, page: list[dict[str, Any]], *, first: bool) -> bytes:
        body = orjson.dumps([render_member(m, self.base_url) for m in page])[1:-1]
        return body if first or not body else b"," + body

    @staticmethod
    async def _send(send: Send, chunk: bytes) -> None:
        await send({"type": "http.response.body", "body": chunk, "more_body": True})


def _split(resource: dict[str, Any]) -> tuple[bytes, bytes]:
    """The rendered group before and after its members array (the brackets included)."""
    encoded = orjson.dumps({**resource, "members": _HOLE})
    hole = orjson.dumps(_HOLE)
    at = encoded.index(hole)
    return encoded[:at] + b"[", b"]" + encoded[at + len(hole) :]
