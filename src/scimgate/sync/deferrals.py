"""Member references still to resolve at the end of a run, in memory or spilled.

A dry run keeps them in memory; a run that writes keeps only the current batch's in
memory and the rest in a temporary table, written in the batch's transaction (so memory
does not grow with the account: 450,000 of them at 1,000,000 users).
"""

from __future__ import annotations

import logging

from scimgate.store import sync_deferred as store
from scimgate.store.database import Connection
from scimgate.store.sync_deferred import Deferred
from scimgate.sync.context import RunContext
from scimgate.sync.keyset import Keyset

log = logging.getLogger("scimgate.sync")


class Deferrals:
    """The run's deferred references."""

    def __init__(self) -> None:
        self.pending: list[Deferred] = []
        self.spilling = False
        self._seq = 0  # the last sequence number spilled

    def add(self, deferred: Deferred) -> None:
        self.pending.append(deferred)

    def mark(self) -> int:
        """Where the current batch's references start (see `truncate`)."""
        return len(self.pending)

    def truncate(self, mark: int) -> None:
        """Forget the references added since `mark` (their batch is rolled back)."""
        del self.pending[mark:]

    def spill(self, conn: Connection) -> None:
        """Move the batch's references to the table, in the batch's transaction."""
        if self.spilling and self.pending:
            self._seq = store.insert_deferred(conn, self._seq, self.pending)
            self.pending = []

    def start_spilling(self, run: RunContext) -> None:
        """A run that writes: an empty table for them from now on."""
        with run.tx() as conn:
            store.create_deferred_table(conn)
        self.spilling = True

    def drop(self, run: RunContext, run_id: int | None) -> None:
        """The temporary table goes with the run (a pooled connection outlives it)."""
        if not self.spilling:
            return
        try:
            with run.tx() as conn:
                store.drop_deferred_table(conn)
        except Exception:  # noqa: BLE001 - the database may be what failed; the session's end drops it
            log.warning("could not drop the deferred-reference table of sync run %s", run_id)
        self.spilling = False

    def keyset(self, size: int) -> Keyset[int, tuple[int, Deferred]]:
        """All of them in batches, by sequence number; the pending ones are taken over."""
        pending, self.pending = self.pending, []
        if self.spilling:
            return Keyset(store.deferred_batch, _seq, 0, size)

        def read(_conn: Connection, after: int, limit: int) -> list[tuple[int, Deferred]]:
            return list(enumerate(pending[after : after + limit], start=after + 1))

        return Keyset(read, _seq, 0, size)


def _seq(row: tuple[int, Deferred]) -> int:
    return row[0]
