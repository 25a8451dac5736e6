"""One-read messages from a form post to the page it redirects to (post-redirect-get).

A secret shown once (a new Secret Token) must not travel in the redirect's URL, where it
would stay in the browser's history and the access logs, and the page must not issue
another one when it is reloaded. So the post keeps the secret here, in this process's
memory, under the session that asked for it; the next GET of that session takes it out
and shows it, and a reload finds nothing. Nothing is written to disk or the database, and
an entry nobody reads is forgotten after `ttl` seconds.
"""

from __future__ import annotations

import threading
import time
from typing import Any

MAX_ENTRIES = 10_000  # sessions with an unread message; the oldest go first


class FlashStore:
    """Per-session messages, each read at most once."""

    def __init__(self, ttl: float = 300.0) -> None:
        self.ttl = ttl
        self._lock = threading.Lock()
        self._entries: dict[str, tuple[float, dict[str, Any]]] = {}

    def put(self, session_id: str, **message: Any) -> None:
        """Keep a message for the session's next read (replacing an unread one)."""
        now = time.monotonic()
        with self._lock:
            self._entries.pop(session_id, None)
            self._entries[session_id] = (now + self.ttl, message)
            while len(self._entries) > MAX_ENTRIES:
                del self._entries[next(iter(self._entries))]

    def pop(self, session_id: str) -> dict[str, Any] | None:
        """The session's message, once; None if there is none or it expired."""
        now = time.monotonic()
        with self._lock:
            while self._entries:  # oldest first, all with the same ttl
                first = next(iter(self._entries))
                if self._entries[first][0] > now:
                    break
                del self._entries[first]
            found = self._entries.pop(session_id, None)
        return found[1] if found else None
