"""What every pass of a run shares: its connection and transactions, the account's
mapping, the counts, and (a dry run writes nothing) what earlier batches would have written."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from typing import NamedTuple

from scimgate.mapping.group_rules import GroupRules
from scimgate.mapping.mapper import Mapper
from scimgate.store import driver
from scimgate.store.database import Connection
from scimgate.store.statistics import analyze
from scimgate.store.sync_batches import MemberOwner
from scimgate.sync.options import SyncOptions

COUNT_KEYS = (
    "created",
    "updated",
    "deactivated",
    "reactivated",
    "unchanged",
    "errors",
    "teams_created",
    "teams_renamed",
    "teams_removed",
    "memberships_added",
    "memberships_removed",
)


class PlannedMember(NamedTuple):
    """A member a dry run would create or link, and how a reference to it is shown."""

    member_id: str
    shown: str


# Rows the run wrote per table it reads back (what it wrote at its last ANALYZE).
_GROWING: dict[str, tuple[str, ...]] = {
    "member": ("created",),
    "property_value": ("created",),  # about as many per member as mapped Properties
    "team": ("teams_created",),
    "team_member": ("memberships_added",),
}


@dataclass(eq=False)
class RunContext:
    """State of one run that its passes share."""

    conn: Connection  # one connection for the whole run, one transaction per batch
    account_id: int
    options: SyncOptions
    clock: Callable[[], datetime]
    dry: bool = False
    holding: bool = False  # a held run: a dry run that keeps who it would deactivate
    counts: dict[str, int] = field(default_factory=lambda: dict.fromkeys(COUNT_KEYS, 0))
    rev: int = 0  # the account's mapping revision
    mapper: Mapper | None = None
    rules: GroupRules = field(default_factory=GroupRules)  # group rules (docs/sync.md)
    names: dict[str, str] = field(default_factory=dict)  # Property names by id
    memberless: set[str] = field(
        default_factory=set
    )  # staged users a conflict keeps from becoming members
    # A dry run writes nothing, so what its earlier batches would have written is kept
    # here for the later ones (memory grows with what it would write): the members it
    # would create or link by directory user, and emails taken (an owner like
    # members_by_email's) or freed (None).
    planned: dict[str, PlannedMember] = field(default_factory=dict)
    planned_labels: dict[str, str] = field(default_factory=dict)  # the same, by member id
    planned_emails: dict[str, MemberOwner | None] = field(default_factory=dict)
    _analyzed: dict[str, int] = field(default_factory=dict)

    @property
    def postgres(self) -> bool:
        return driver.is_pg(self.conn)

    @contextmanager
    def tx(self, *, writes: bool = True) -> Iterator[Connection]:
        """A transaction on the run's connection (BEGIN IMMEDIATE on SQLite when it writes)."""
        self.conn.execution_options(writes=writes and not self.dry)
        with self.conn.begin():
            yield self.conn
        if writes and not self.dry and self.postgres:
            self._refresh_plans()

    def _refresh_plans(self) -> None:
        """Keep PostgreSQL's plans in step with tables the run is filling.

        A run fills `member`, `property_value`, `team` and `team_member`, maybe from empty;
        plans made for the empty tables scan them per row (measured: foreign-key checks
        at 55 µs per value row growing to 2 ms by the 28th batch; the memberships to add
        read `team_member` in full per row, 0.5 s a batch, once `team` looked like one row).
        A table is analyzed once the run's own writes have doubled it since the last
        ANALYZE (what autovacuum does, later); new statistics invalidate the cached plans
        that read the table, foreign-key checks included. (Dropping every cached plan after
        every batch, as before, re-planned each statement and check 200 times a run.)
        """
        stale = []
        for table, keys in _GROWING.items():
            written = sum(self.counts[k] for k in keys)
            if written >= 2 * self._analyzed.get(table, 0) + 1000:
                stale.append(table)
                self._analyzed[table] = written
        if stale:
            analyze(self.conn, stale)

    @contextmanager
    def phase(self, name: str) -> Iterator[None]:
        """Tell `options.observe` how long the phase took."""
        observe = self.options.observe
        if observe is None:
            yield
            return
        start = time.perf_counter()
        try:
            yield
        finally:
            observe(name, time.perf_counter() - start)

    def planned_or(self, found: dict[str, str], targets: list[str]) -> dict[str, str]:
        """Directory user -> member id, with (a dry run) the members it would have made."""
        if self.dry:
            found.update({t: self.planned[t].member_id for t in targets if t in self.planned})
        return found
