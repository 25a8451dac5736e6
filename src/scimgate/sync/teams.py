"""Synchronize's last pass: teams (created, renamed, removed) and their memberships.

Teams mirror directory groups by `directory_group_id`; memberships follow the groups'
user members (nested groups are not flattened). Read in keyset batches, each batch in its
own transaction with its items, Events and heartbeat, like the member passes.
"""

from __future__ import annotations

from typing import Any

from scimgate import events
from scimgate.states import ItemAction
from scimgate.store import members as member_store
from scimgate.store import sync_batches, sync_counts
from scimgate.store import sync_teams as store
from scimgate.store.sync_teams import (
    MembershipToAdd,
    MembershipToRemove,
    TeamToRemove,
    TeamToWrite,
)
from scimgate.sync.context import RunContext
from scimgate.sync.keyset import Keyset
from scimgate.sync.recorder import Recorder


class TeamPass:
    """The team and membership pass of a run."""

    def __init__(self, run: RunContext, rec: Recorder) -> None:
        self.run = run
        self.rec = rec
        # The item per team, written at the end (memberships add to a team's item).
        self.team_items: dict[str, dict[str, Any]] = {}

    def _keyset(self, read: Any, key: Any, start: Any) -> Keyset[Any, Any]:
        aid = self.run.account_id
        return Keyset(
            lambda conn, after, size: read(conn, aid, after, size),
            key,
            start,
            self.run.options.batch_size,
        )

    def __call__(self) -> None:
        run, rec = self.run, self.rec
        with run.phase("team_pass"):
            self._write_teams()
            self._remove_teams()
            with run.phase("membership_pass"):
                self._memberships()
            with run.tx() as conn:
                names = store.team_names(conn, run.account_id)
                for team_id, item in self.team_items.items():
                    item["label"] = item.get("label") or names.get(team_id)
                    rec.item(kind="team", subject_id=team_id, **item)
                rec.flush(conn)

    def _write_teams(self) -> None:
        """Teams to create or rename."""
        run, rec = self.run, self.rec
        aid, now = run.account_id, run.clock()
        keyset: Keyset[str, TeamToWrite] = self._keyset(store.teams_to_write, _group_id, "")
        for conn, rows in keyset.batches(run, rec.flush):
            inserts, renames = [], []
            for g in rows:
                if g.team_id is None:
                    team_id = member_store.new_id()
                    inserts.append((team_id, g.group_name, g.group_id))
                    run.counts["teams_created"] += 1
                    rec.event(
                        events.team_created(
                            team_id, name=g.group_name, directory_group_id=g.group_id
                        )
                    )
                    self.team_items[team_id] = {
                        "action": ItemAction.CREATE,
                        "label": g.group_name,
                        "directory_id": g.group_id,
                        "changes": {"name": [None, g.group_name]},
                    }
                else:
                    renames.append((g.team_id, g.group_name))
                    run.counts["teams_renamed"] += 1
                    rec.event(events.team_renamed(g.team_id, old=g.team_name, new=g.group_name))
                    self.team_items[g.team_id] = {
                        "action": ItemAction.RENAME,
                        "label": g.group_name,
                        "directory_id": g.group_id,
                        "changes": {"name": [g.team_name, g.group_name]},
                    }
            if not run.dry:
                store.insert_teams(conn, aid, inserts, now)
                store.rename_teams(conn, aid, renames, now)

    def _remove_teams(self) -> None:
        """Teams whose group is gone."""
        run, rec = self.run, self.rec
        keyset: Keyset[str, TeamToRemove] = self._keyset(store.teams_to_remove, _team_id, "")
        for conn, rows in keyset.batches(run, rec.flush):
            for t in rows:
                run.counts["teams_removed"] += 1
                rec.event(events.team_removed(t.id, name=t.name))
                rec.item(
                    kind="team",
                    action=ItemAction.REMOVE,
                    subject_id=t.id,
                    directory_id=t.group_id,
                    label=t.name,
                    changes={"name": [t.name, None]},
                )
            if not run.dry:
                store.delete_teams(conn, run.account_id, [t.id for t in rows])

    def _note(self, team_id: str, key: str) -> None:
        """One more membership added or removed on the team's item."""
        item = self.team_items.setdefault(
            team_id, {"action": ItemAction.UPDATE, "label": None, "changes": {}}
        )
        changes = item["changes"]
        changes.setdefault(key, [0, 0])
        changes[key][1] += 1

    def _memberships(self) -> None:
        run, rec = self.run, self.rec
        aid = run.account_id
        if run.dry:
            with run.tx(writes=False) as conn:
                run.counts["memberships_added"] += sync_counts.planned_membership_adds(
                    conn, aid
                ) - sync_batches.memberships_of(conn, aid, run.memberless)
        else:
            keyset = self._keyset(store.memberships_to_add, _group_user, ("", ""))
            for conn, rows in keyset.batches(run, rec.flush):
                store.insert_memberships(conn, aid, [(r.team_id, r.member_id) for r in rows])
                for r in rows:
                    self._note(r.team_id, "members_added")
                    rec.event(events.team_member_added(r.team_id, r.member_id))
                run.counts["memberships_added"] += len(rows)
        keyset = self._keyset(store.memberships_to_remove, _team_member, ("", ""))
        for conn, rows in keyset.batches(run, rec.flush):
            if not run.dry:
                store.delete_memberships(conn, aid, [(r.team_id, r.member_id) for r in rows])
            for r in rows:
                self._note(r.team_id, "members_removed")
                rec.event(events.team_member_removed(r.team_id, r.member_id))
            run.counts["memberships_removed"] += len(rows)


def _group_id(row: TeamToWrite) -> str:
    return row.group_id


def _team_id(row: TeamToRemove) -> str:
    return row.id


def _group_user(row: MembershipToAdd) -> tuple[str, str]:
    return (row.group_id, row.user_id)


def _team_member(row: MembershipToRemove) -> tuple[str, str]:
    return (row.team_id, row.member_id)
