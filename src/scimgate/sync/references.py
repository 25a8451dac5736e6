"""Member references (the manager) in a run: found, left empty, or resolved at its end.

One set of rules for the plan and the run. A reference to a directory user is:

- the member linked to that user, when there is one (a member created or linked earlier
  in the run included; a dry run remembers those it would have written);
- the member created or linked for that user in the same batch;
- empty, with a note, when that user is not a member and will not become one in this run:
  not staged, inactive in the identity provider, or kept out by an error of its own
  (reported once, on its own row). The holder is compared again next run, when the
  person may be a member;
- otherwise (a user created in a later batch) resolved in the reference pass at the end
  of the run, which records its own `update` item and `member.updated` Event.

Changes show a reference as the referenced member's email (or name), as /api/v1/members
does; the stored value is the member id.
"""

from __future__ import annotations

from typing import Any

from scimgate.states import ItemAction, MemberSource
from scimgate.store import members as member_store
from scimgate.store import property_values as value_store
from scimgate.store import sync_batches as batches
from scimgate.store.database import Connection
from scimgate.store.sync_batches import StagedUser
from scimgate.store.sync_members import set_sync_markers
from scimgate.sync.changes import MemberChange, person_label
from scimgate.sync.context import RunContext
from scimgate.sync.deferrals import Deferrals, Deferred
from scimgate.sync.recorder import Recorder

__all__ = ["Deferred", "References", "person_label", "staged_people"]


def staged_people(conn: Connection, account_id: int, user_ids: list[str]) -> dict[str, str]:
    """Staged users as an admin knows them ("Display Name (userName)"), by directory id."""
    found = batches.staged_users(conn, account_id, user_ids) if user_ids else {}
    return {uid: person_label(u.display_name, u.user_name) for uid, u in found.items()}


class References:
    """Finding references during the member pass, and resolving the rest at the end."""

    def __init__(self, run: RunContext, rec: Recorder, deferrals: Deferrals) -> None:
        self.run = run
        self.rec = rec
        self.deferrals = deferrals
        self._unsettled: set[str] = set()  # holders of a reference left to do: not in sync

    def _absence(self, target: str, state: StagedUser | None) -> str | None:
        """Why `target` is not and will not be a member in this run (None: it may be)."""
        if state is None:
            return f"directory user {target} is not in the staging directory"
        person = person_label(state.display_name, state.user_name)
        if target in self.run.memberless:
            return f"{person} could not become a member (see the error on their row)"
        if not state.active:
            return f"{person} is not a member (inactive in the identity provider)"
        return None

    def find(self, conn: Connection, refs: list[str]) -> tuple[dict[str, str], dict[str, str]]:
        """For the member pass: directory user -> member id for those that are members,
        and -> why not for those that will not be members in this run."""
        aid = self.run.account_id
        resolved = batches.members_of_directory_users(conn, aid, refs) if refs else {}
        resolved = self.run.planned_or(resolved, refs)
        unresolved = [r for r in dict.fromkeys(refs) if r not in resolved]
        states = batches.staged_users(conn, aid, unresolved) if unresolved else {}
        absent = {}
        for r in unresolved:
            why = self._absence(r, states.get(r))
            if why is not None:
                absent[r] = why
        return resolved, absent

    def labels(self, conn: Connection, member_ids: list[str]) -> dict[str, str]:
        """How references to these members are shown: email, else name."""
        ids = [m for m in dict.fromkeys(member_ids) if isinstance(m, str)]
        labels = member_store.member_labels(conn, self.run.account_id, ids) if ids else {}
        if self.run.dry:
            # The members earlier batches would have made, only those asked for (copying
            # them all, batch after batch, made a plan quadratic in the account's size).
            planned = self.run.planned_labels
            labels.update((m, planned[m]) for m in ids if m in planned)
        return labels

    def resolve_in_batch(
        self, changes: list[tuple[Any, MemberChange, bool]], labels: dict[str, str]
    ) -> None:
        """References to members created or linked in the same batch, written with it."""
        here = {row.id: change for row, change, _link in changes}
        for _row, change, _link in changes:
            for prop_id, target in list(change.deferred.items()):
                other = here.get(target)
                if other is None:
                    continue
                del change.deferred[prop_id]
                old, source = change.previous.pop(prop_id)
                new = other.member_id
                if new == old and source == MemberSource.SCIM:
                    continue
                change.upserts[prop_id] = new
                if new != old:
                    shown = other.email or other.name
                    change.changes[self.run.names[prop_id]] = [labels.get(old, old), shown]
                    if change.action == ItemAction.UNCHANGED:
                        change.action = ItemAction.UPDATE

    def defer(self, row: Any, change: MemberChange, label: str) -> None:
        """Keep the change's references still to resolve for the end of the run."""
        for prop_id, target in change.deferred.items():
            old, source = change.previous.get(prop_id, (None, None))
            self.deferrals.add(
                Deferred(
                    member_id=change.member_id,
                    prop_id=prop_id,
                    target=target,
                    label=label,
                    email=change.email,
                    directory_id=row.id,
                    action=change.action,
                    clean=not change.errors,
                    old=old,
                    source=source,
                    version=row.version,
                )
            )

    def resolve_rest(self) -> None:
        """The reference pass: references to members that did not exist yet when their
        holder was written."""
        counted: set[str] = set()
        keyset = self.deferrals.keyset(self.run.options.batch_size)
        for conn, rows in keyset.batches(self.run, self.rec.flush):
            self._resolve_chunk(conn, [d for _seq, d in rows], counted)

    def _resolve_chunk(self, conn: Connection, chunk: list[Deferred], counted: set[str]) -> None:
        run, rec = self.run, self.rec
        aid, now = run.account_id, run.clock()
        targets = [d.target for d in chunk]
        found = run.planned_or(batches.members_of_directory_users(conn, aid, targets), targets)
        missing = [t for t in targets if t not in found]
        states = batches.staged_users(conn, aid, missing) if missing else {}
        labels = self.labels(conn, [*found.values(), *(d.old for d in chunk)])
        upserts: list[tuple[Any, ...]] = []
        deletes: list[tuple[str, str]] = []
        self._unsettled.update(d.member_id for d in chunk if not d.clean)
        for d in chunk:
            name = run.names.get(d.prop_id, d.prop_id)
            new = found.get(d.target)
            notes = []
            if new is None:
                self._unsettled.add(d.member_id)
                why = self._absence(d.target, states.get(d.target))
                notes.append(f"{name} left empty: {why or 'not a member after this run'}")
                if d.old is None or d.source != MemberSource.SCIM:
                    rec.note(d.member_id, notes)
                    continue
                deletes.append((d.member_id, d.prop_id))
            else:
                if d.old == new and d.source == MemberSource.SCIM:
                    continue
                upserts.append((aid, d.member_id, d.prop_id, new, MemberSource.SCIM, now))
                if d.old == new:
                    continue  # a manual value taken over by the mapping: nothing to see
            if d.action == ItemAction.UNCHANGED and d.member_id not in counted:
                counted.add(d.member_id)
                run.counts["updated"] += 1
                run.counts["unchanged"] -= 1
            rec.item(
                kind="member",
                action=ItemAction.UPDATE,
                subject_id=d.member_id,
                directory_id=d.directory_id,
                label=d.label,
                email=d.email,
                changes={name: [labels.get(d.old, d.old), labels.get(new, new) if new else None]},
                notes=notes,
            )
        if run.dry:
            return
        value_store.upsert_values(conn, upserts)
        value_store.delete_values(conn, aid, deletes)
        # Resolved now: in sync, unless something is left to do (then compared next run).
        marks = {d.member_id: (d.member_id, d.version, run.rev) for d in chunk}
        set_sync_markers(
            conn,
            aid,
            [(m, None if m in self._unsettled else v, r) for m, v, r in marks.values()],
        )
