"""The SCIM access log: one line per request on stderr, written in batches.

Why not a `logging` call per request: building a LogRecord, formatting its time and
flushing the stream on every line cost about a tenth of a lookup. The lines look the
same as the process's other log lines (`time LEVEL logger message`), are kept in a list
on the event loop and written with one `write` and `flush` per batch: at the end of the
loop iteration that logged them (call_soon), or at once past `MAX_LINES`. The logger
`scimgate.access` still decides: below INFO (`SCIMGATE_LOG_LEVEL=warning`) nothing is kept.
"""

from __future__ import annotations

import asyncio
import logging
import sys
import time
from typing import TextIO

MAX_LINES = 256


class AccessLog:
    """Batches access lines and writes them to stderr (or `stream`) once per loop iteration."""

    def __init__(self, name: str = "scimgate.access", stream: TextIO | None = None) -> None:
        self.logger = logging.getLogger(name)
        self.name = name
        self._stream = stream
        self._lines: list[str] = []
        self._scheduled = False
        self._second = -1
        self._stamp = ""

    def enabled(self) -> bool:
        return self.logger.isEnabledFor(logging.INFO)

    def add(self, message: str) -> None:
        """Keep one line (the caller checked `enabled`); written before the loop sleeps."""
        now = time.time()
        second = int(now)
        if second != self._second:  # the formatted date changes once a second
            self._second = second
            self._stamp = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(second))
        self._lines.append(f"{self._stamp},{int(now % 1 * 1000):03d} INFO {self.name} {message}\n")
        if len(self._lines) >= MAX_LINES:
            self.flush()
        elif not self._scheduled:
            try:
                asyncio.get_running_loop().call_soon(self.flush)
                self._scheduled = True
            except RuntimeError:  # no loop (a test calling the endpoint directly)
                self.flush()

    def flush(self) -> None:
        """Write what is kept, in one write; a closed or failing stream loses only these lines."""
        self._scheduled = False
        if not self._lines:
            return
        text, self._lines = "".join(self._lines), []
        stream = self._stream or sys.stderr
        try:
            stream.write(text)
            stream.flush()
        except (OSError, ValueError):
            pass
