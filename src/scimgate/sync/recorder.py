"""What a run records: its items (per member and team), their Events, its progress.

Items and Events are buffered per batch and written in the batch's transaction with the
heartbeat and counts, so a batch and its record commit, or fail, together. A dry run
keeps a sample of its items for the preview instead; a held run also keeps who it would
deactivate, for the admin deciding on it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from scimgate import events
from scimgate.events import Event
from scimgate.states import ItemAction
from scimgate.store import events as event_store
from scimgate.store import sync_items, sync_runs
from scimgate.store.database import Connection
from scimgate.sync.context import RunContext
from scimgate.sync.deferrals import Deferrals

HELD_ITEMS = 5000  # deactivations a held run lists


@dataclass(frozen=True)
class Mark:
    """Where a batch started, to take back what it recorded if it is redone."""

    counts: dict[str, int]
    seq: int
    deferred: int


class Recorder:
    """The run's items, Events and heartbeat."""

    def __init__(self, run: RunContext, deferrals: Deferrals) -> None:
        self.run = run
        self.deferrals = deferrals
        self.run_id: int | None = None
        self.seq = 0
        self.items: list[dict[str, Any]] = []
        self.events: list[Event] = []  # team events of the batch
        self.sample: list[dict[str, Any]] = []  # a plan's items shown
        self.sampled: dict[str, dict[str, Any]] = {}  # the last of them per member

    def item(self, **item: Any) -> None:
        """Keep one item (numbered in the order things happened)."""
        run = self.run
        self.seq += 1
        item["seq"] = self.seq
        if item.get("error"):
            run.counts["errors"] += 1
        if run.dry:
            if len(self.sample) < run.options.sample_items:
                self.sample.append(item)
                if item.get("subject_id"):
                    self.sampled[item["subject_id"]] = item
            if (
                run.holding
                and item["action"] == ItemAction.DEACTIVATE
                and len(self.items) < HELD_ITEMS
            ):
                # A held run keeps who it would deactivate, for the admin deciding on it.
                self.items.append(item)
        else:
            self.items.append(item)

    def note(self, member_id: str, notes: list[str]) -> None:
        """A plan: add notes to the member's item it already shows (if any)."""
        shown = self.sampled.get(member_id) if self.run.dry else None
        if shown is not None:
            shown["notes"] = [*(shown.get("notes") or []), *notes]

    def event(self, event: Event) -> None:
        """Queue a team Event for the batch's transaction (a plan writes none)."""
        if not self.run.dry:
            self.events.append(event)

    def flush(self, conn: Connection) -> None:
        """Write buffered items, their events and the heartbeat (progress) in the batch's
        transaction."""
        run = self.run
        if run.dry or self.run_id is None:
            return
        self.deferrals.spill(conn)
        sync_items.insert_items(conn, run.account_id, self.run_id, self.items)
        if not run.holding:  # a held run's items are its plan, not changes
            events = [e for item in self.items if (e := self._member_event(item))] + self.events
            event_store.append(conn, run.account_id, events, run.clock())
        self.items = []
        self.events = []
        sync_runs.set_run(
            conn, run.account_id, self.run_id, heartbeat_at=run.clock(), counts=run.counts
        )

    def _member_event(self, item: dict[str, Any]) -> Event | None:
        """The Event of a member item: what changed, by field and Property name. An item
        that changed nothing (an error that kept a user from becoming a member, a write
        that failed) has none."""
        event_type = events.MEMBER_EVENT_FOR_ACTION.get(item["action"])
        if item["kind"] != "member" or event_type is None:
            return None
        changes = item.get("changes") or {}
        if not changes or not item.get("subject_id"):
            return None
        return events.member_event(
            event_type,
            item["subject_id"],
            email=item.get("email"),
            changes=changes,
            sync_run_id=self.run_id,
        )

    def mark(self) -> Mark:
        """Where the batch starting now begins."""
        return Mark(dict(self.run.counts), self.seq, self.deferrals.mark())

    def rollback(self, mark: Mark) -> None:
        """Forget what the batch since `mark` recorded: its transaction was rolled back."""
        self.items = []
        self.events = []
        self.run.counts.clear()
        self.run.counts.update(mark.counts)
        self.seq = mark.seq
        self.deferrals.truncate(mark.deferred)

    def discard(self) -> None:
        """Forget the buffered batch: it belonged to the transaction that failed."""
        self.items = []
        self.events = []
        self.deferrals.pending = []
