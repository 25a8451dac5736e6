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

from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection

from scimgate.store import members as member_store
from scimgate.store import sync as store
from scimgate.sync.plan import MemberChange


def person_label(display_name: str | None, user_name: str | None) -> str:
    """A staged user as an admin knows them: "Display Name (userName)"."""
    if display_name and user_name and display_name != user_name:
        return f"{display_name} ({user_name})"
    return display_name or user_name or "?"


def staged_people(conn: Connection, account_id: int, user_ids: list[str]) -> dict[str, str]:
    """Staged users as an admin knows them ("Display Name (userName)"), by directory id."""
    found = store.staged_users(conn, account_id, user_ids) if user_ids else {}
    return {
        uid: person_label(display, user_name) for uid, (user_name, display, _a) in found.items()
    }


@dataclass(slots=True)
class Deferred:
    """A member reference to resolve once every member of the run exists."""

    member_id: str
    prop_id: str
    target: str  # the referenced directory user
    label: str | None  # the holder, as an admin knows them
    email: str | None  # the holder's email (for its Event)
    directory_id: str  # the holder's directory user
    action: str  # what the holder's own comparison decided
    clean: bool  # the holder had no other error
    old: Any  # the value before the run, and its source
    source: str | None
    version: int  # the holder's directory version, its sync marker once resolved


class ReferencePass:
    """Finding references during the member pass, and resolving the rest at the end."""

    account_id: int
    counts: dict[str, int]
    dry: bool
    rev: int
    names: dict[str, str]
    memberless: set[str]
    deferred: list[Deferred]
    options: Any
    clock: Callable[[], datetime]
    _spilling: bool
    # A dry run writes nothing: the members it would create or link, by directory user
    # (member id, how a reference to it is shown), for the batches and the pass after.
    planned: dict[str, tuple[str, str]]
    sampled: dict[str, dict[str, Any]]  # a plan's items shown, by member
    _unsettled: set[str]
    _tx: Callable[..., AbstractContextManager[Connection]]
    _item: Callable[..., None]
    _flush: Callable[[Connection], None]

    def _absence(self, target: str, state: tuple[str, str | None, bool] | None) -> str | None:
        """Why `target` is not and will not be a member in this run (None: it may be)."""
        if state is None:
            return f"directory user {target} is not in the staging directory"
        person = person_label(state[1], state[0])
        if target in self.memberless:
            return f"{person} could not become a member (see the error on their row)"
        if not state[2]:
            return f"{person} is not a member (inactive in the identity provider)"
        return None

    def _find_references(
        self, conn: Connection, refs: list[str]
    ) -> tuple[dict[str, str], dict[str, str]]:
        """For the member pass: directory user -> member id for those that are members,
        and -> why not for those that will not be members in this run."""
        aid = self.account_id
        resolved = store.members_of_directory_users(conn, aid, refs) if refs else {}
        if self.dry:
            resolved.update({r: self.planned[r][0] for r in refs if r in self.planned})
        unresolved = [r for r in dict.fromkeys(refs) if r not in resolved]
        states = store.staged_users(conn, aid, unresolved) if unresolved else {}
        absent = {}
        for r in unresolved:
            why = self._absence(r, states.get(r))
            if why is not None:
                absent[r] = why
        return resolved, absent

    def _reference_labels(self, conn: Connection, member_ids: list[str]) -> dict[str, str]:
        """How references to these members are shown: email, else name."""
        ids = [m for m in dict.fromkeys(member_ids) if isinstance(m, str)]
        labels = member_store.member_labels(conn, self.account_id, ids) if ids else {}
        if self.dry:
            labels.update({mid: shown for mid, shown in self.planned.values()})
        return labels

    def _resolve_in_batch(
        self, changes: list[tuple[Any, MemberChange, bool]], labels: dict[str, str]
    ) -> None:
        """References to members created or linked in the same batch, written with it."""
        here = {row[0]: change for row, change, _link in changes}
        for _row, change, _link in changes:
            for prop_id, target in list(change.deferred.items()):
                other = here.get(target)
                if other is None:
                    continue
                del change.deferred[prop_id]
                old, source = change.previous.pop(prop_id)
                new = other.member_id
                if new == old and source == "scim":
                    continue
                change.upserts[prop_id] = new
                if new != old:
                    shown = other.email or other.name
                    change.changes[self.names[prop_id]] = [labels.get(old, old), shown]
                    if change.action == "unchanged":
                        change.action = "update"

    def _defer(self, row: Any, change: MemberChange, label: str) -> None:
        """Keep the change's references still to resolve for the end of the run."""
        for prop_id, target in change.deferred.items():
            old, source = change.previous.get(prop_id, (None, None))
            self.deferred.append(
                Deferred(
                    change.member_id,
                    prop_id,
                    target,
                    label,
                    change.email,
                    row[0],
                    change.action,
                    not change.errors,
                    old,
                    source,
                    row[2],
                )
            )

    def _note(self, member_id: str, notes: list[str]) -> None:
        """A plan: add notes to the member's item it already shows (if any)."""
        shown = self.sampled.get(member_id) if self.dry else None
        if shown is not None:
            shown["notes"] = [*(shown.get("notes") or []), *notes]

    def _reference_pass(self) -> None:
        """References to members that did not exist yet when their holder was written."""
        size = self.options.batch_size
        pending, self.deferred = self.deferred, []
        after = 0
        counted: set[str] = set()
        while True:
            with self._tx() as conn:
                if self._spilling:
                    rows = store.deferred_batch(conn, after, size)
                    chunk = [Deferred(*r[1:]) for r in rows]
                    after = rows[-1][0] if rows else after
                else:
                    chunk, after = pending[after : after + size], after + size
                if not chunk:
                    break
                self._resolve_chunk(conn, chunk, counted)
                self._flush(conn)

    def _resolve_chunk(self, conn: Connection, chunk: list[Deferred], counted: set[str]) -> None:
        aid, now = self.account_id, self.clock()
        targets = [d.target for d in chunk]
        found = store.members_of_directory_users(conn, aid, targets)
        if self.dry:
            found.update({t: self.planned[t][0] for t in targets if t in self.planned})
        missing = [t for t in targets if t not in found]
        states = store.staged_users(conn, aid, missing) if missing else {}
        labels = self._reference_labels(conn, [*found.values(), *(d.old for d in chunk)])
        upserts: list[tuple[Any, ...]] = []
        deletes: list[tuple[str, str]] = []
        self._unsettled.update(d.member_id for d in chunk if not d.clean)
        for d in chunk:
            name = self.names.get(d.prop_id, d.prop_id)
            new = found.get(d.target)
            notes = []
            if new is None:
                self._unsettled.add(d.member_id)
                why = self._absence(d.target, states.get(d.target))
                notes.append(f"{name} left empty: {why or 'not a member after this run'}")
                if d.old is None or d.source != "scim":
                    self._note(d.member_id, notes)
                    continue
                deletes.append((d.member_id, d.prop_id))
            else:
                if d.old == new and d.source == "scim":
                    continue
                upserts.append((aid, d.member_id, d.prop_id, new, "scim", now))
                if d.old == new:
                    continue  # a manual value taken over by the mapping: nothing to see
            if d.action == "unchanged" and d.member_id not in counted:
                counted.add(d.member_id)
                self.counts["updated"] += 1
                self.counts["unchanged"] -= 1
            self._item(
                kind="member",
                action="update",
                subject_id=d.member_id,
                directory_id=d.directory_id,
                label=d.label,
                email=d.email,
                changes={name: [labels.get(d.old, d.old), labels.get(new, new) if new else None]},
                notes=notes,
            )
        if self.dry:
            return
        member_store.upsert_values(conn, upserts)
        member_store.delete_values(conn, aid, deletes)
        # Resolved now: in sync, unless something is left to do (then compared next run).
        marks = {d.member_id: (d.member_id, d.version, self.rev) for d in chunk}
        store.set_sync_markers(
            conn,
            aid,
            [(m, None if m in self._unsettled else v, r) for m, v, r in marks.values()],
        )
