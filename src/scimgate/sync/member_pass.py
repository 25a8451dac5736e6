"""The member pass: staged users whose member is missing or out of date, compared and
written batch by batch; the rest are counted as unchanged without reading their documents.

Overlap: batch k+1's staged rows are read at the start of batch k's transaction (which
rows are out of date does not depend on batch k's writes: those touch only batch k's own
directory users) and decoded and mapped in a helper thread while this thread compares
batch k and waits for PostgreSQL to write and commit it (the database waits release the
GIL). Everything that reads what earlier batches wrote (owners of emails, references,
values) stays in the batch's transaction.
"""

from __future__ import annotations

from concurrent.futures import Future, ThreadPoolExecutor
from datetime import datetime
from typing import NamedTuple

from scimgate.errors import ConflictError
from scimgate.group_rules import service as group_rules
from scimgate.mapping.mapper import Mapped, Mapper
from scimgate.states import ItemAction, MemberSource
from scimgate.store import driver, sync_counts, sync_members
from scimgate.store import members as member_store
from scimgate.store import property_values as value_store
from scimgate.store import sync_batches as batches
from scimgate.store.database import Connection
from scimgate.store.sync_batches import MemberOwner, StagedRow
from scimgate.store.sync_members import MemberWrite
from scimgate.sync.changes import MemberChange, compare, person_label
from scimgate.sync.context import PlannedMember, RunContext
from scimgate.sync.emails import ToCompare, claim_emails, who, with_planned
from scimgate.sync.keyset import Keyset
from scimgate.sync.recorder import Mark, Recorder
from scimgate.sync.references import References

# A member's action to the count it adds to (counts are JSON: plain str keys).
_ACTION_COUNT = {
    ItemAction.CREATE: "created",
    ItemAction.UPDATE: "updated",
    ItemAction.DEACTIVATE: "deactivated",
    ItemAction.REACTIVATE: "reactivated",
    ItemAction.UNCHANGED: "unchanged",
}


class _Ahead(NamedTuple):
    """A batch of staged rows read ahead, and the pool's mapping of them."""

    rows: list[StagedRow]
    mapping: Future[list[Mapped]]


# A staged user, what it means for its member, and whether a manual member is linked.
_Change = tuple[StagedRow, MemberChange, bool]


class MemberPass:
    """Compare staged users with their members and write what differs."""

    def __init__(self, run: RunContext, rec: Recorder, refs: References) -> None:
        self.run = run
        self.rec = rec
        self.refs = refs
        assert run.mapper is not None  # loaded before any pass
        self.mapper: Mapper = run.mapper
        self._mark: Mark | None = None
        self.rules = run.rules
        self.moved: list[str] = []  # users a group rule's outcome moved for (see __call__)
        aid, rev = run.account_id, run.rev
        self.keyset: Keyset[str, StagedRow] = Keyset(
            lambda conn, after, size: batches.staged_batch(conn, aid, rev, after, size, self.moved),
            _row_id,
            "",
            run.options.batch_size,
        )

    def __call__(self) -> None:
        run, keyset = self.run, self.keyset
        if not run.dry:
            self.refs.deferrals.start_spilling(run)
        with run.tx(writes=False) as conn:
            # Members a group membership change moved: recomputed although their
            # document and the mapping did not move.
            self.moved = group_rules.outcomes_moved(conn, run.account_id, self.rules)
            run.counts["unchanged"] += sync_counts.in_sync(
                conn, run.account_id, run.rev, self.moved
            )
        after = keyset.start
        ahead: _Ahead | None = None
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="scimgate-sync-map") as pool:
            while True:
                try:
                    rows, ahead = self._batch_reading_ahead(pool, after, ahead)
                    last = keyset.last(rows) or ahead is None
                except ConflictError:
                    # A concurrent write (a member added by the API) broke a uniqueness
                    # rule: redo the batch one member at a time, reporting the ones that
                    # conflict (the rows read ahead are read again).
                    if self._mark is not None:
                        self.rec.rollback(self._mark)
                    ahead = None
                    with run.tx() as conn:
                        rows = keyset.batch(conn, after)
                        self._batch(conn, rows, careful=True)
                        self.rec.flush(conn)
                    last = keyset.last(rows)
                if not rows or last:
                    return
                after = keyset.next_key(rows)

    def _batch_reading_ahead(
        self, pool: ThreadPoolExecutor, after: str, ahead: _Ahead | None
    ) -> tuple[list[StagedRow], _Ahead | None]:
        """One batch (the one read ahead, or read now) in its transaction, and the batch
        after it read and handed to the pool to map (None: there is none)."""
        keyset = self.keyset
        nxt: _Ahead | None = None
        try:
            with self.run.tx() as conn:
                if ahead is not None:
                    rows, mapping = ahead.rows, ahead.mapping
                else:
                    rows = keyset.batch(conn, after)
                    if not rows:
                        return rows, None
                    mapping = pool.submit(self._map_rows, rows)
                if len(rows) == keyset.size:
                    following = keyset.batch(conn, keyset.next_key(rows))
                    if following:
                        nxt = _Ahead(following, pool.submit(self._map_rows, following))
                self._batch(conn, rows, careful=False, mapping=mapping)
                self.rec.flush(conn)
        except BaseException:  # the batch read ahead is read again (or the run ends)
            if nxt is not None:
                nxt.mapping.cancel()
            raise
        return rows, nxt

    def _map_rows(self, rows: list[StagedRow]) -> list[Mapped]:
        """Decode and map staged documents (no database access: runs in the helper thread)."""
        apply = self.mapper.apply
        load = driver.load_json
        return [apply(load(r.doc)) for r in rows]

    def _batch(
        self,
        conn: Connection,
        rows: list[StagedRow],
        *,
        careful: bool,
        mapping: Future[list[Mapped]] | None = None,
    ) -> None:
        """Compare one batch of staged users with their members and write what differs."""
        run, refs = self.run, self.refs
        self._mark = self.rec.mark()
        aid, now = run.account_id, run.clock()
        mapped = mapping.result() if mapping is not None else self._map_rows(rows)
        todo = self._claim_emails(conn, rows, mapped)
        ref_ids = self.mapper.reference_ids
        wanted = [v for t in todo for pid, v in t.mapped.values.items() if pid in ref_ids]
        resolved, absent = refs.find(conn, wanted)
        linked = [t.member.id for t in todo if t.member is not None]
        values = value_store.values_of(conn, aid, linked) if linked else {}
        olds = [v for vals in values.values() for pid, (v, _s) in vals.items() if pid in ref_ids]
        labels = refs.labels(conn, [*resolved.values(), *olds])
        groups = group_rules.groups_of_users(conn, aid, self.rules, [t.row.id for t in todo])
        changes: list[_Change] = []
        for t in todo:
            change = compare(
                mapper=self.mapper,
                names=run.names,
                mapped=t.mapped,
                active=bool(t.row.active),
                fallback_name=t.row.user_name,
                member=t.member,
                new_member_id=member_store.new_id(),
                values=values.get(t.member.id, {}) if t.member else {},
                resolved=resolved,
                absent=absent,
                labels=labels,
                email_taken=t.taken,
                groups=groups.get(t.row.id, frozenset()),
                rules=self.rules,
            )
            changes.append((t.row, change, t.link))
        if careful:
            self._write_one_by_one(conn, changes, now)
            return
        refs.resolve_in_batch(changes, labels)
        if run.dry:
            self._plan_batch(changes)
        else:
            self._write(conn, changes, now)
        for row, change, _link in changes:
            self._record(row, change)

    def _write_one_by_one(self, conn: Connection, changes: list[_Change], now: datetime) -> None:
        """Each change in its own savepoint: one that conflicts is reported, not written."""
        for row, change, link in changes:
            try:
                with conn.begin_nested():
                    self._write(conn, [(row, change, link)], now)
            except ConflictError:
                self.rec.item(
                    kind="member",
                    action=change.action,
                    subject_id=change.member_id,
                    directory_id=row.id,
                    label=person_label(row.display_name, row.user_name),
                    error="conflict with a concurrent change (email already used); retried next run",
                )
                continue
            self._record(row, change)

    def _claim_emails(
        self, conn: Connection, rows: list[StagedRow], mapped: list[Mapped]
    ) -> list[ToCompare]:
        """Who gets which email in this batch (see sync.emails): the users to compare,
        each with its member (or the manual member it links to) and who already uses its
        email (named for its error), if someone does. A new user whose email is another
        directory user's gets an error item."""
        run = self.run
        people = {r.id: person_label(r.display_name, r.user_name) for r in rows}
        emails = {m.fields["email"].lower() for m in mapped if m.fields.get("email")}
        owners = batches.members_by_email(conn, run.account_id, list(emails)) if emails else {}
        if run.dry:  # what earlier batches would have written
            owners = with_planned(owners, run.planned_emails, emails)
        claims = claim_emails(rows, mapped, owners)
        run.counts["unchanged"] += claims.unchanged
        unknown = [o for o in claims.others() if o not in people]
        if unknown:
            for du_id, user in batches.staged_users(conn, run.account_id, unknown).items():
                people[du_id] = person_label(user.display_name, user.user_name)
        for c in claims.conflicts:
            run.memberless.add(c.row.id)
            self.rec.item(
                kind="member",
                action=ItemAction.CREATE,
                directory_id=c.row.id,
                label=people[c.row.id],
                error=f"the e-mail {c.email} is already used by {who(c.other, people)}",
            )
        for t in claims.compare:
            if t.taken is not None:
                t.taken = who(t.taken, people)
        return claims.compare

    def _plan_batch(self, changes: list[_Change]) -> None:
        """A dry run: remember what this batch would have written, for the batches after it."""
        run = self.run
        for row, change, link in changes:
            if change.action == ItemAction.CREATE or link:
                label = change.email or change.name
                run.planned[row.id] = PlannedMember(change.member_id, label)
                run.planned_labels[change.member_id] = label
            if change.email:
                run.planned_emails[change.email.lower()] = MemberOwner(
                    change.member_id,
                    change.email,
                    change.name,
                    change.status,
                    MemberSource.SCIM,
                    row.id,
                )
            old = change.changes.get("email", (None, None))[0]
            if old and old.lower() != (change.email or "").lower():
                run.planned_emails[old.lower()] = None

    def _record(self, row: StagedRow, change: MemberChange) -> None:
        """Count the change, keep its item, remember references still to resolve."""
        self.run.counts[_ACTION_COUNT[change.action]] += 1
        label = person_label(row.display_name, row.user_name)
        self.refs.defer(row, change, label)
        if change.action != ItemAction.UNCHANGED or change.errors:
            self.rec.item(
                kind="member",
                action=change.action,
                subject_id=change.member_id,
                directory_id=row.id,
                label=label,
                email=change.email,
                changes=change.changes,
                error="; ".join(f"{k}: {v}" for k, v in change.errors.items()) or None,
                notes=change.notes,
            )

    def _write(self, conn: Connection, changes: list[_Change], now: datetime) -> None:
        """Write one batch's changes (a ConflictError if a concurrent write broke a rule)."""
        aid = self.run.account_id
        created, changed, in_sync, values, fresh, removed = [], [], [], [], [], []
        for row, change, _link in changes:
            synced = None if change.errors or change.deferred or change.dangling else row.version
            if change.action == ItemAction.CREATE or change.writes_member:
                written = MemberWrite(
                    change.member_id, change.email, change.name, change.status, row.id, synced
                )
                (created if change.action == ItemAction.CREATE else changed).append(written)
            else:
                in_sync.append((change.member_id, synced))
            # A member created here has no values yet: plain inserts (COPY on PostgreSQL).
            into = fresh if change.action == ItemAction.CREATE else values
            for prop_id, value in change.upserts.items():
                source = change.sources.get(prop_id, MemberSource.SCIM)
                into.append((aid, change.member_id, prop_id, value, source, now))
            removed.extend((change.member_id, p) for p in change.deletes)
        sync_members.write_members(
            conn,
            aid,
            self.run.rev,
            now,
            created=created,
            changed=changed,
            in_sync=in_sync,
            new_values=fresh,
            values=values,
            removed_values=removed,
        )


def _row_id(row: StagedRow) -> str:
    return row.id
