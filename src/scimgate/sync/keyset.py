"""Keyset batches: how every pass of a run walks what it has to do.

A pass reads `key > last ORDER BY key LIMIT n` so that a run holds one batch in memory
and each batch commits on its own, with its items, Events and heartbeat: a run killed
half-way leaves whole batches, and the next run picks up from what is there.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Generic, TypeVar

from scimgate.store.database import Connection
from scimgate.sync.context import RunContext

K = TypeVar("K")
R = TypeVar("R")


@dataclass(frozen=True)
class Keyset(Generic[K, R]):
    """Batches of `read(conn, after, size)`, continued from the key of a batch's last row."""

    read: Callable[[Connection, K, int], list[R]]
    key: Callable[[R], K]
    start: K
    size: int

    def batch(self, conn: Connection, after: K) -> list[R]:
        """The batch after key `after`."""
        return self.read(conn, after, self.size)

    def next_key(self, rows: list[R]) -> K:
        """Where the batch after `rows` starts."""
        return self.key(rows[-1])

    def last(self, rows: list[R]) -> bool:
        """Whether no batch follows this one."""
        return len(rows) < self.size

    def batches(
        self, run: RunContext, flush: Callable[[Connection], None]
    ) -> Iterator[tuple[Connection, list[R]]]:
        """Each batch in its own transaction, flushed before it commits."""
        after = self.start
        while True:
            with run.tx() as conn:
                rows = self.batch(conn, after)
                if not rows:
                    return
                yield conn, rows
                flush(conn)
            if self.last(rows):
                return
            after = self.next_key(rows)
