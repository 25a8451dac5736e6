"""Synchronize one account: staging -> members, Property values and teams.

A run goes in passes, each reading in keyset batches and committing batch by batch:

1. members whose directory user was deleted from staging are deactivated and unlinked;
2. staged users whose member is missing or out of date (directory version or mapping
   revision moved) are compared and written; the rest are counted as unchanged without
   reading their documents;
3. member references (the manager) that pointed at members created later in the run;
4. teams (created, renamed, removed) and team memberships.

Before writing anything the run counts what it would deactivate; above the account's
threshold it stops as `held` until confirmed. One run per account at a time: the
running SyncRun row is a lease (unique index, heartbeat, owner pid) that a later run
takes over only once its owner is gone. A run killed half-way leaves whole batches, and
the next run converges on the same result as an uninterrupted one.
"""

from __future__ import annotations

import logging
import os
import socket
import sqlite3
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, ClassVar

import psycopg
from sqlalchemy import Connection, Engine, select
from sqlalchemy.exc import IntegrityError

from scimgate import audit
from scimgate.errors import ConflictError, InvalidValueError, NotFoundError
from scimgate.mapping.mapper import Mapper
from scimgate.mapping.service import ensure_defaults, load_mapper
from scimgate.settings import Settings
from scimgate.store import bulk, raw
from scimgate.store import events as event_store
from scimgate.store import members as member_store
from scimgate.store import sync as store
from scimgate.store.database import as_utc, bulk_session, utcnow
from scimgate.store.statistics import refresh_statistics
from scimgate.store.tables import account
from scimgate.sync.plan import MemberChange, MemberState, compare
from scimgate.sync.references import Deferred, ReferencePass, person_label
from scimgate.sync.teams import TeamPass

log = logging.getLogger("scimgate.sync")

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
_ACTION_COUNT = {
    "create": "created",
    "update": "updated",
    "deactivate": "deactivated",
    "reactivate": "reactivated",
    "unchanged": "unchanged",
}
_MEMBER_EVENTS = {
    "create": "member.created",
    "update": "member.updated",
    "deactivate": "member.deactivated",
    "reactivate": "member.reactivated",
}
HELD_ITEMS = 5000  # deactivations a held run lists
_INTEGRITY = (IntegrityError, sqlite3.IntegrityError, psycopg.IntegrityError)


class SyncBusyError(ConflictError):
    """Another synchronization of this account is running."""


@dataclass(frozen=True)
class SyncOptions:
    """Knobs of a run (from Settings)."""

    batch_size: int = 1000
    stale_after: float = 120.0  # seconds without a heartbeat before a run counts as dead
    sample_items: int = 200  # items a dry run returns for preview

    @classmethod
    def from_settings(cls, settings: Settings) -> SyncOptions:
        """The knobs as configured (SCIMGATE_SYNC_*)."""
        return cls(batch_size=settings.sync_batch_size, stale_after=settings.sync_stale_seconds)


@dataclass
class RunResult:
    """What a run did (or, dry, would do)."""

    run_id: int | None
    status: str
    counts: dict[str, int]
    detail: str | None = None
    would_hold: bool = False
    items: list[dict[str, Any]] = field(default_factory=list)
    confirmed_by: str | None = None  # a confirmed held run: who confirmed it, and when
    confirmed_at: datetime | None = None

    def as_json(self) -> dict[str, Any]:
        """The `sync --json` document (product.md); a confirmation adds who and when."""
        doc = {
            "run_id": self.run_id,
            "status": self.status,
            **self.counts,
            "detail": self.detail,
            "would_hold": self.would_hold,
        }
        if self.confirmed_by is not None:
            at = as_utc(self.confirmed_at).isoformat() if self.confirmed_at else None
            doc.update(confirmed_by=self.confirmed_by, confirmed_at=at)
        return doc


def owner_tag() -> str:
    """Which process runs a sync: host and pid."""
    return f"{socket.gethostname()}:{os.getpid()}"


def _owner_alive(owner: str | None) -> bool:
    """False when the owner ran on this host and its process is gone."""
    if not owner or ":" not in owner:
        return True
    host, _, pid = owner.rpartition(":")
    if host != socket.gethostname() or not pid.isdigit():
        return True
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def synchronize(
    engine: Engine,
    account_id: int,
    *,
    trigger: str = "cli",
    dry_run: bool = False,
    confirm: int | None = None,
    options: SyncOptions | None = None,
    clock: Callable[[], datetime] = utcnow,
    actor: str | None = None,
) -> RunResult:
    """Plan (dry run) or apply a synchronization of one account.

    Starting a run, or confirming a held one, is audited in the transaction that claims
    it: `actor` is who the audit log names (see scimgate.audit; the scheduler passes
    `daily sync`). A confirmed run keeps its start time and records who confirmed it.
    """
    run = _Run(engine, account_id, trigger, options or SyncOptions(), clock)
    run.actor = actor
    with engine.connect() as conn, bulk_session(conn):
        run.conn = conn  # one connection for the whole run, one transaction per batch
        run.postgres = conn.dialect.name == "postgresql"
        refresh_statistics(conn)  # PostgreSQL: plans for what staging holds now
        if dry_run:
            return run.plan()
        result = run.apply(confirm)
        result.confirmed_by, result.confirmed_at = run.confirmed
        return result


# A batch of staged rows read ahead, and the pool's mapping of them.
_Ahead = tuple[list[Any], Future[list[Any]]]


class _Run(ReferencePass, TeamPass):
    """State of one run: counts, item sequence, the compiled mapping."""

    def __init__(
        self,
        engine: Engine,
        account_id: int,
        trigger: str,
        options: SyncOptions,
        clock: Callable[[], datetime],
    ) -> None:
        self.engine = engine
        self.account_id = account_id
        self.trigger = trigger
        self.options = options
        self.clock = clock
        self.counts = dict.fromkeys(COUNT_KEYS, 0)
        self.dry = False
        self.holding = False
        self.memberless: set[str] = set()  # staged users a conflict keeps from becoming members
        self.run_id: int | None = None
        self.seq = 0
        self.items: list[dict[str, Any]] = []
        self.events: list[tuple[str, str | None, dict[str, Any]]] = []  # team events of the batch
        self.sample: list[dict[str, Any]] = []
        self.sampled: dict[str, dict[str, Any]] = {}  # the last of them per member
        # Member references still to resolve: a dry run keeps them here; a run that
        # writes keeps only the current batch's here and the rest in a temporary table
        # (so memory does not grow with the account: 450,000 of them at 1,000,000 users).
        self.deferred: list[Deferred] = []
        self._spilling = False
        self._deferred_seq = 0
        self._unsettled: set[str] = set()  # holders of a reference left to do: not in sync
        # A dry run writes nothing, so what its earlier batches would have written is kept
        # here for the later ones (memory grows with what it would write): members by
        # directory user, and emails taken (an owner like members_by_email's) or freed (None).
        self.planned: dict[str, tuple[str, str]] = {}
        self.planned_emails: dict[str, tuple[Any, ...] | None] = {}
        self.mapper: Mapper
        self.names: dict[str, str] = {}
        self.rev = 0
        self.settings: dict[str, Any] = {}
        self._analyzed: dict[str, int] = {}

    # ---- transactions ----

    conn: Connection
    postgres = False
    actor: str | None = None  # who the audit log names for this start or confirmation
    confirmed: tuple[str | None, datetime | None] = (None, None)

    @contextmanager
    def _tx(self, *, writes: bool = True) -> Iterator[Connection]:
        """A transaction on the run's connection (BEGIN IMMEDIATE on SQLite when it writes)."""
        self.conn.execution_options(writes=writes and not self.dry)
        with self.conn.begin():
            yield self.conn
        if self.postgres and writes and not self.dry:
            self._refresh_plans()

    # Rows the run wrote per table it reads back (what it wrote at its last ANALYZE).
    _GROWING: ClassVar[dict[str, tuple[str, ...]]] = {
        "member": ("created",),
        "property_value": ("created",),  # about as many per member as mapped Properties
        "team": ("teams_created",),
        "team_member": ("memberships_added",),
    }

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
        for table, keys in self._GROWING.items():
            written = sum(self.counts[k] for k in keys)
            if written >= 2 * self._analyzed.get(table, 0) + 1000:
                stale.append(table)
                self._analyzed[table] = written
        if stale:
            dbapi = self.conn.connection.driver_connection
            dbapi.execute(f"ANALYZE {', '.join(stale)}")
            dbapi.commit()

    def _load(self) -> None:
        with self._tx() as conn:
            if not self.dry:
                ensure_defaults(conn, self.account_id)
            row = conn.execute(
                select(
                    account.c.mapping_rev,
                    account.c.sync_hold_percent,
                    account.c.sync_hold_minimum,
                    account.c.slug,
                ).where(account.c.id == self.account_id)
            ).first()
            if row is None:
                raise NotFoundError(f"No account {self.account_id}")
            self.rev = row.mapping_rev
            self.settings = {
                "percent": row.sync_hold_percent,
                "minimum": row.sync_hold_minimum,
                "slug": row.slug,
            }
            self.mapper = load_mapper(conn, self.account_id)
            self.names = {
                p["id"]: p["name"] for p in member_store.list_properties(conn, self.account_id)
            }

    # ---- entry points ----

    def plan(self) -> RunResult:
        """Everything a run would do, without writing."""
        self.dry = True
        self._load()
        _count, would_hold, _detail = self._hold_check(allowance=None)
        self._passes()
        return RunResult(None, "planned", self.counts, None, would_hold, self.sample)

    def apply(self, confirm: int | None) -> RunResult:
        """Claim the account, check the hold, run every pass, record the outcome."""
        self._refuse_if_busy()
        self._load()
        allowance = self._claim(confirm)
        try:
            _count, held, detail = self._hold_check(allowance)
            if held:
                return self._hold(detail)
            self._passes()
        except Exception as exc:
            self.items = []  # they belonged to the transaction that failed
            self.events = []
            self.deferred = []
            try:
                self._finish("failed", f"{type(exc).__name__}: {exc}"[:2000])
            except Exception:  # the database itself may be what failed
                log.exception("could not record the failure of sync run %s", self.run_id)
            raise
        finally:
            if self._spilling:
                self._drop_deferred()
        self._finish("succeeded", None)
        return RunResult(self.run_id, "succeeded", self.counts)

    def _drop_deferred(self) -> None:
        """The temporary table goes with the run (a pooled connection outlives it)."""
        try:
            with self._tx() as conn:
                store.drop_deferred_table(conn)
        except Exception:  # noqa: BLE001 - the database may be what failed; the session's end drops it
            log.warning("could not drop the deferred-reference table of sync run %s", self.run_id)
        self._spilling = False

    # ---- lease ----

    def _live(self, running: dict[str, Any], now: datetime) -> bool:
        beat = running["heartbeat_at"] or running["created_at"]
        fresh = now - as_utc(beat) < timedelta(seconds=self.options.stale_after)
        return fresh and _owner_alive(running["owner"])

    def _refuse_if_busy(self) -> None:
        """Answer "already running" at once, without waiting for the running one's write lock."""
        with self._tx(writes=False) as conn:
            running = store.running_run(conn, self.account_id)
        if running is not None and self._live(running, self.clock()):
            raise SyncBusyError(
                f"A synchronization of this account is already running (run {running['id']})"
            )

    def _claim(self, confirm: int | None) -> int | None:
        now = self.clock()
        try:
            with self._tx() as conn:
                store.lock_account(conn, self.account_id)
                running = store.running_run(conn, self.account_id)
                if running is not None:
                    if self._live(running, now):
                        raise SyncBusyError(
                            f"A synchronization of this account is already running (run {running['id']})"
                        )
                    store.set_run(
                        conn,
                        self.account_id,
                        running["id"],
                        status="failed",
                        detail="interrupted: its process stopped; the next run continued from where it was",
                        finished_at=now,
                    )
                allowance = None
                actor = (self.actor or audit.local_actor())[:320]
                if confirm is not None:
                    held = store.get_run(conn, self.account_id, confirm)
                    if held is None:
                        raise NotFoundError(f"No sync run {confirm} in this account")
                    if held["status"] != "held":
                        raise InvalidValueError(
                            f"Run {confirm} is {held['status']}, not held: only a held run can be confirmed"
                        )
                    allowance = int((held["counts"] or {}).get("deactivated", 0))
                    # The held run's items were its plan; from now on it records what it does.
                    raw.execute(
                        conn,
                        "DELETE FROM sync_item WHERE account_id = ? AND run_id = ?",
                        (self.account_id, confirm),
                    )
                    # started_at stays the hold's: the confirmation has its own time.
                    store.set_run(
                        conn,
                        self.account_id,
                        confirm,
                        status="running",
                        owner=owner_tag(),
                        confirmed_at=now,
                        confirmed_by=actor,
                        heartbeat_at=now,
                        finished_at=None,
                        allow_deactivations=allowance,
                    )
                    self.run_id = confirm
                    self.confirmed = (actor, now)
                    action, details = "sync_run.confirmed", {"deactivations": allowance}
                else:
                    self.run_id = store.insert_run(
                        conn,
                        self.account_id,
                        trigger=self.trigger,
                        status="running",
                        owner=owner_tag(),
                        now=now,
                    )
                    action, details = "sync_run.started", {"trigger": self.trigger}
                audit.record(
                    conn,
                    self.account_id,
                    actor=actor,
                    action=action,
                    target=f"sync run {self.run_id}",
                    details={"run_id": self.run_id, **details},
                )
                return allowance
        except _INTEGRITY:
            raise SyncBusyError("A synchronization of this account is already running") from None

    def _hold_check(self, allowance: int | None) -> tuple[int, bool, str | None]:
        with self._tx(writes=False) as conn:
            aid = self.account_id
            deactivations = store.count(
                conn, store.DEACTIVATE_INACTIVE, (aid, raw.to_db_bool(conn, False))
            ) + store.count(conn, store.DEACTIVATE_REMOVED, (aid,))
            base = store.count(conn, store.ACTIVE_PROVISIONED, (aid,))
        percent, minimum = self.settings["percent"], self.settings["minimum"]
        over = deactivations >= minimum and deactivations * 100 > base * percent
        if not over or (allowance is not None and deactivations <= allowance):
            return deactivations, False, None
        share = f"{deactivations * 100 / base:.0f}%" if base else "all"
        detail = (
            f"Held: this run would deactivate {deactivations} of {base} active provisioned members "
            f"({share}), above the safety threshold ({percent}% and at least {minimum}). "
            f"Check the identity provider's assignments, then confirm to apply."
        )
        return deactivations, True, detail

    def _hold(self, detail: str | None) -> RunResult:
        """Record the full plan on the held run; nothing else is written."""
        self.dry = self.holding = True
        self._passes()
        self.dry = False
        self._finish("held", detail)
        return RunResult(self.run_id, "held", self.counts, detail)

    def _finish(self, status: str, detail: str | None) -> None:
        if self.run_id is None:
            return
        now = self.clock()
        with self._tx() as conn:
            self._flush(conn)
            store.set_run(
                conn,
                self.account_id,
                self.run_id,
                status=status,
                detail=detail,
                counts=self.counts,
                finished_at=now,
                heartbeat_at=now,
            )
            if status in ("succeeded", "held"):
                # An older held run no longer describes what a confirmation would do.
                raw.execute(
                    conn,
                    "UPDATE sync_run SET status = 'superseded' WHERE account_id = ? AND status = 'held' AND id < ?",
                    (self.account_id, self.run_id),
                )

    # ---- items ----

    def _item(self, **item: Any) -> None:
        self.seq += 1
        item["seq"] = self.seq
        if item.get("error"):
            self.counts["errors"] += 1
        if self.dry:
            if len(self.sample) < self.options.sample_items:
                self.sample.append(item)
                if item.get("subject_id"):
                    self.sampled[item["subject_id"]] = item
            if self.holding and item["action"] == "deactivate" and len(self.items) < HELD_ITEMS:
                # A held run keeps who it would deactivate, for the admin deciding on it.
                self.items.append(item)
        else:
            self.items.append(item)

    def _flush(self, conn: Connection) -> None:
        """Write buffered items, their events and the heartbeat (progress) in the batch's
        transaction."""
        if self.dry or self.run_id is None:
            return
        if self._spilling and self.deferred:
            self._deferred_seq = store.insert_deferred(conn, self._deferred_seq, self.deferred)
            self.deferred = []
        store.insert_items(conn, self.account_id, self.run_id, self.items)
        if not self.holding:  # a held run's items are its plan, not changes
            events = [e for item in self.items if (e := self._member_event(item))] + self.events
            event_store.append(conn, self.account_id, events, self.clock())
        self.items = []
        self.events = []
        store.set_run(
            conn, self.account_id, self.run_id, heartbeat_at=self.clock(), counts=self.counts
        )

    def _event(self, event: tuple[str, str | None, dict[str, Any]]) -> None:
        """Queue a team Event for the batch's transaction (a plan writes none)."""
        if not self.dry:
            self.events.append(event)

    def _member_event(self, item: dict[str, Any]) -> tuple[str, str | None, dict[str, Any]] | None:
        """The Event of a member item: what changed, by field and Property name. An item
        that changed nothing (an error that kept a user from becoming a member, a write
        that failed) has none."""
        if item["kind"] != "member" or item["action"] not in _MEMBER_EVENTS:
            return None
        changes = item.get("changes") or {}
        if not changes or not item.get("subject_id"):
            return None
        data = {
            "member_id": item["subject_id"],
            "email": item.get("email"),
            "changes": changes,
            "sync_run_id": self.run_id,
        }
        return _MEMBER_EVENTS[item["action"]], item.get("subject_id"), data

    # ---- passes ----

    def _passes(self) -> None:
        self._removed_pass()
        self._member_pass()
        self._reference_pass()
        self._team_pass()

    def _batches(
        self, read: Callable[[Connection, str], list[Any]]
    ) -> Iterator[tuple[Connection, list[Any]]]:
        """Keyset batches on the first column, each in its own transaction with its items and heartbeat."""
        after = ""
        while True:
            with self._tx() as conn:
                rows = read(conn, after)
                if not rows:
                    return
                yield conn, rows
                self._flush(conn)
            if len(rows) < self.options.batch_size:
                return
            after = rows[-1][0]

    def _removed_pass(self) -> None:
        """Members whose directory user is gone: deactivated (data kept) and unlinked."""
        aid, size = self.account_id, self.options.batch_size
        now = self.clock()
        for conn, rows in self._batches(lambda c, after: store.removed_batch(c, aid, after, size)):
            updates = []
            for member_id, email, name, status in rows:
                if self.dry and email:  # unlinked: a staged user with its email may take it
                    self.planned_emails[email.lower()] = (
                        member_id,
                        email,
                        name,
                        "deactivated",
                        "scim",
                        None,
                    )
                if status == "active":
                    self.counts["deactivated"] += 1
                    self._item(
                        kind="member",
                        action="deactivate",
                        subject_id=member_id,
                        label=f"{name} ({email})" if email and name != email else name,
                        email=email,
                        changes={
                            "status": ["active", "deactivated"],
                            "reason": [None, "removed from the directory"],
                        },
                    )
                updates.append((raw.to_db_time(conn, now), member_id))
            if not self.dry:
                raw.executemany(
                    conn,
                    "UPDATE member SET status = 'deactivated', directory_user_id = NULL, "
                    "synced_version = NULL, deactivated_at = COALESCE(deactivated_at, ?), "
                    f"updated_at = ? WHERE account_id = {int(aid)} AND id = ?",
                    [(t, t, m) for t, m in updates],
                )

    def _member_pass(self) -> None:
        aid, size = self.account_id, self.options.batch_size
        if not self.dry:
            with self._tx() as conn:
                store.create_deferred_table(conn)
            self._spilling = True
        with self._tx(writes=False) as conn:
            self.counts["unchanged"] += store.count(conn, store.IN_SYNC, (aid, self.rev))
        # Overlap: batch k+1's staged rows are read at the start of batch k's transaction
        # (which rows are out of date does not depend on batch k's writes: those touch only
        # batch k's own directory users) and decoded and mapped in a helper thread while
        # this thread compares batch k and waits for PostgreSQL to write and commit it (the
        # database waits release the GIL). Everything that reads what earlier batches
        # wrote (owners of emails, references, values) stays in the batch's transaction.
        after = ""
        ahead: _Ahead | None = None
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="scimgate-sync-map") as pool:
            while True:
                try:
                    rows, ahead = self._batch_reading_ahead(pool, after, ahead, size)
                    last = len(rows) < size or ahead is None
                except _INTEGRITY:
                    # A concurrent write (a member added by the API) broke a uniqueness
                    # rule: redo the batch one member at a time, reporting the ones that
                    # conflict (the rows read ahead are read again).
                    self._rollback_batch_state()
                    ahead = None
                    with self._tx() as conn:
                        rows = store.staged_batch(conn, aid, self.rev, after, size)
                        self._member_batch(conn, rows, careful=True)
                        self._flush(conn)
                    last = len(rows) < size
                if not rows or last:
                    return
                after = rows[-1][0]

    def _batch_reading_ahead(
        self, pool: ThreadPoolExecutor, after: str, ahead: _Ahead | None, size: int
    ) -> tuple[list[Any], _Ahead | None]:
        """One batch (the one read ahead, or read now) in its transaction, and the batch
        after it read and handed to the pool to map (None: there is none)."""
        nxt: _Ahead | None = None
        try:
            with self._tx() as conn:
                if ahead is not None:
                    rows, mapping = ahead
                else:
                    rows = store.staged_batch(conn, self.account_id, self.rev, after, size)
                    if not rows:
                        return rows, None
                    mapping = pool.submit(self._map_rows, rows)
                if len(rows) == size:
                    following = store.staged_batch(
                        conn, self.account_id, self.rev, rows[-1][0], size
                    )
                    if following:
                        nxt = (following, pool.submit(self._map_rows, following))
                self._member_batch(conn, rows, careful=False, mapping=mapping)
                self._flush(conn)
        except BaseException:  # the batch read ahead is read again (or the run ends)
            if nxt is not None:
                nxt[1].cancel()
            raise
        return rows, nxt

    def _map_rows(self, rows: list[Any]) -> list[Any]:
        """Decode and map staged documents (no database access: runs in the helper thread)."""
        apply = self.mapper.apply
        load = raw.load_json
        return [apply(load(r[1])) for r in rows]

    def _rollback_batch_state(self) -> None:
        self.items = []
        self.events = []
        self.counts = dict(self._counts_at_batch)
        self.seq = self._seq_at_batch
        del self.deferred[self._deferred_at_batch :]

    def _member_batch(
        self,
        conn: Connection,
        rows: list[Any],
        *,
        careful: bool,
        mapping: Future[list[Any]] | None = None,
    ) -> None:
        """Compare one batch of staged users with their members and write what differs."""
        self._counts_at_batch = dict(self.counts)
        self._seq_at_batch = self.seq
        self._deferred_at_batch = len(self.deferred)
        aid, now = self.account_id, self.clock()
        mapped = mapping.result() if mapping is not None else self._map_rows(rows)
        todo = self._claim_emails(conn, rows, mapped)
        ref_ids = self.mapper.reference_ids
        refs = [v for t in todo for pid, v in t[1].values.items() if pid in ref_ids]
        resolved, absent = self._find_references(conn, refs)
        linked = [t[2].id for t in todo if t[2] is not None]
        values = member_store.values_of(conn, aid, linked) if linked else {}
        olds = [v for vals in values.values() for pid, (v, _s) in vals.items() if pid in ref_ids]
        labels = self._reference_labels(conn, [*resolved.values(), *olds])
        changes: list[tuple[Any, MemberChange, bool]] = []
        for row, result, state, link, taken in todo:
            change = compare(
                mapper=self.mapper,
                names=self.names,
                mapped=result,
                active=bool(row[3]),
                fallback_name=row[4],
                member=state,
                new_member_id=member_store.new_id(),
                values=values.get(state.id, {}) if state else {},
                resolved=resolved,
                absent=absent,
                labels=labels,
                email_taken=taken,
            )
            changes.append((row, change, link))
        if careful:
            for row, change, link in changes:
                try:
                    with conn.begin_nested():
                        self._write(conn, [(row, change, link)], now)
                except _INTEGRITY:
                    self._item(
                        kind="member",
                        action=change.action,
                        subject_id=change.member_id,
                        directory_id=row[0],
                        label=person_label(row[10], row[4]),
                        error="conflict with a concurrent change (email already used); retried next run",
                    )
                    continue
                self._record(row, change)
            return
        self._resolve_in_batch(changes, labels)
        if self.dry:
            self._plan_batch(changes)
        else:
            self._write(conn, changes, now)
        for row, change, _link in changes:
            self._record(row, change)

    def _claim_emails(
        self, conn: Connection, rows: list[Any], mapped: list[Any]
    ) -> list[tuple[Any, Any, MemberState | None, bool, str | None]]:
        """Who gets which email in this batch: the users to compare, each with its member
        (or the manual member it links to) and who already uses its email, if someone
        does. A new user whose email is another directory user's gets an error item."""
        people = {r[0]: person_label(r[10], r[4]) for r in rows}
        emails = {m.fields["email"].lower() for m in mapped if m.fields.get("email")}
        owners = store.members_by_email(conn, self.account_id, list(emails)) if emails else {}
        if self.dry:  # what earlier batches would have written
            for key in emails & self.planned_emails.keys():
                owner = self.planned_emails[key]
                if owner is None:
                    owners.pop(key, None)
                else:
                    owners[key] = owner
        claimed: dict[str, str] = {}
        todo: list[tuple[Any, Any, MemberState | None, bool, Any]] = []
        conflicts: list[tuple[Any, str, str]] = []
        for row, result in zip(rows, mapped, strict=True):
            du_id, active, m_id = row[0], bool(row[3]), row[5]
            email = result.fields.get("email")
            key = email.lower() if email else None
            state: MemberState | None = None
            link, taken = False, None
            if m_id is not None:
                state = MemberState(m_id, row[6], row[7], row[8], row[9])
                owner = owners.get(key) if key else None
                if owner is not None and owner[0] != m_id:
                    taken = owner
                elif key and claimed.get(key, du_id) != du_id:
                    taken = claimed[key]
            elif key and (key in claimed or (key in owners and owners[key][5] is not None)):
                conflicts.append((row, email, claimed.get(key) or owners[key][5]))
                continue
            elif key and key in owners:
                state, link = MemberState(*owners[key][:5]), True  # a manual member: linked
            if state is None and not active:
                # Never a member and inactive in the identity provider: nothing to do.
                self.counts["unchanged"] += 1
                continue
            if key and taken is None:
                claimed[key] = du_id
            todo.append((row, result, state, link, taken))
        others = [c[2] for c in conflicts] + [
            t[4] if isinstance(t[4], str) else t[4][5] for t in todo if t[4] is not None
        ]
        unknown = [o for o in others if o and o not in people]
        if unknown:
            for du_id, (user_name, display, _active) in store.staged_users(
                conn, self.account_id, unknown
            ).items():
                people[du_id] = person_label(display, user_name)

        def who(other: Any) -> str:
            du_id = other if isinstance(other, str) else other[5]
            if du_id in people:
                return f"directory user {people[du_id]}"
            if isinstance(other, str):
                return f"directory user {other}"
            return f"the member {other[2]} ({other[1]})"

        for row, email, other in conflicts:
            self.memberless.add(row[0])
            self._item(
                kind="member",
                action="create",
                directory_id=row[0],
                label=people[row[0]],
                error=f"the e-mail {email} is already used by {who(other)}",
            )
        return [(r, m, st, ln, who(tk) if tk is not None else None) for r, m, st, ln, tk in todo]

    def _plan_batch(self, changes: list[tuple[Any, MemberChange, bool]]) -> None:
        """A dry run: remember what this batch would have written, for the batches after it."""
        for row, change, link in changes:
            if change.action == "create" or link:
                self.planned[row[0]] = (change.member_id, change.email or change.name)
            if change.email:
                self.planned_emails[change.email.lower()] = (
                    change.member_id,
                    change.email,
                    change.name,
                    change.status,
                    "scim",
                    row[0],
                )
            old = change.changes.get("email", (None, None))[0]
            if old and old.lower() != (change.email or "").lower():
                self.planned_emails[old.lower()] = None

    def _record(self, row: Any, change: MemberChange) -> None:
        """Count the change, keep its item, remember references still to resolve."""
        self.counts[_ACTION_COUNT[change.action]] += 1
        label = person_label(row[10], row[4])
        self._defer(row, change, label)
        if change.action != "unchanged" or change.errors:
            self._item(
                kind="member",
                action=change.action,
                subject_id=change.member_id,
                directory_id=row[0],
                label=label,
                email=change.email,
                changes=change.changes,
                error="; ".join(f"{k}: {v}" for k, v in change.errors.items()) or None,
                notes=change.notes,
            )

    def _write(
        self, conn: Connection, changes: list[tuple[Any, MemberChange, bool]], now: datetime
    ) -> None:
        aid = self.account_id
        t = raw.to_db_time(conn, now)
        tc = bulk.copy_time(conn, now)  # for the inserted rows
        inserts, updates, markers, upserts, fresh, deletes = [], [], [], [], [], []
        for row, change, _link in changes:
            du_id, version = row[0], row[2]
            synced = None if change.errors or change.deferred or change.dangling else version
            key = change.email.lower() if change.email else None
            if change.action == "create":
                inserts.append(
                    (
                        aid,
                        change.member_id,
                        change.email,
                        key,
                        change.name,
                        change.status,
                        "scim",
                        du_id,
                        synced,
                        self.rev,
                        tc,
                        tc,
                        tc if change.status == "deactivated" else None,
                    )
                )
            elif change.writes_member:
                updates.append(
                    (
                        change.email,
                        key,
                        change.name,
                        change.status,
                        du_id,
                        synced,
                        self.rev,
                        t,
                        change.status,
                        t,
                        aid,
                        change.member_id,
                    )
                )
            else:
                markers.append((change.member_id, synced, self.rev))
            # A member created here has no values yet: plain inserts (COPY on PostgreSQL).
            into = fresh if change.action == "create" else upserts
            for prop_id, value in change.upserts.items():
                into.append((aid, change.member_id, prop_id, value, "scim", now))
            deletes.extend((change.member_id, p) for p in change.deletes)
        bulk.insert_rows(
            conn,
            "member",
            (
                "account_id",
                "id",
                "email",
                "email_key",
                "name",
                "status",
                "source",
                "directory_user_id",
                "synced_version",
                "synced_rev",
                "created_at",
                "updated_at",
                "deactivated_at",
            ),
            inserts,
        )
        raw.executemany(
            conn,
            "UPDATE member SET email = ?, email_key = ?, name = ?, status = ?, source = 'scim', "
            "directory_user_id = ?, synced_version = ?, synced_rev = ?, updated_at = ?, "
            "deactivated_at = CASE WHEN ? = 'deactivated' THEN COALESCE(deactivated_at, ?) END "
            "WHERE account_id = ? AND id = ?",
            updates,
        )
        store.set_sync_markers(conn, aid, markers)
        member_store.delete_values(conn, aid, deletes)
        member_store.insert_new_values(conn, fresh)
        member_store.upsert_values(conn, upserts)
