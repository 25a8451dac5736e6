"""Synchronize's last pass: teams (created, renamed, removed) and their memberships.

Teams mirror directory groups by `directory_group_id`; memberships follow the groups'
user members (nested groups are not flattened). Read in keyset batches, each batch in its
own transaction with its items, Events and heartbeat, like the member passes.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager
from datetime import datetime
from typing import Any

from sqlalchemy import Connection

from scimgate.store import bulk, raw
from scimgate.store import members as member_store
from scimgate.store import sync as store


class TeamPass:
    """The team and membership pass of a run (mixed into the engine's run)."""

    account_id: int
    counts: dict[str, int]
    dry: bool
    memberless: set[str]
    options: Any
    clock: Callable[[], datetime]
    _tx: Callable[..., AbstractContextManager[Connection]]
    _item: Callable[..., None]
    _event: Callable[[tuple[str, str | None, dict[str, Any]]], None]
    _flush: Callable[[Connection], None]

    def _team_pass(self) -> None:
        aid, size, now = self.account_id, self.options.batch_size, self.clock()
        team_items: dict[str, dict[str, Any]] = {}
        # Teams to create or rename.
        after = ""
        while True:
            with self._tx() as conn:
                rows = raw.execute(conn, store.TEAMS_TO_WRITE, (aid, after, size)).fetchall()
                t, tc = raw.to_db_time(conn, now), bulk.copy_time(conn, now)
                inserts, renames = [], []
                for group_id, group_name, team_id, team_name in rows:
                    if team_id is None:
                        team_id = member_store.new_id()
                        inserts.append((aid, team_id, group_name, group_id, tc, tc))
                        self.counts["teams_created"] += 1
                        self._event(
                            (
                                "team.created",
                                team_id,
                                {
                                    "team_id": team_id,
                                    "name": group_name,
                                    "directory_group_id": group_id,
                                },
                            )
                        )
                        team_items[team_id] = {
                            "action": "create",
                            "label": group_name,
                            "directory_id": group_id,
                            "changes": {"name": [None, group_name]},
                        }
                    else:
                        renames.append((group_name, t, aid, team_id))
                        self.counts["teams_renamed"] += 1
                        self._event(
                            (
                                "team.renamed",
                                team_id,
                                {"team_id": team_id, "name": [team_name, group_name]},
                            )
                        )
                        team_items[team_id] = {
                            "action": "rename",
                            "label": group_name,
                            "directory_id": group_id,
                            "changes": {"name": [team_name, group_name]},
                        }
                if not self.dry:
                    bulk.insert_rows(
                        conn,
                        "team",
                        (
                            "account_id",
                            "id",
                            "name",
                            "directory_group_id",
                            "created_at",
                            "updated_at",
                        ),
                        inserts,
                    )
                    raw.executemany(
                        conn,
                        "UPDATE team SET name = ?, updated_at = ? WHERE account_id = ? AND id = ?",
                        renames,
                    )
                self._flush(conn)
            if len(rows) < size:
                break
            after = rows[-1][0]
        # Teams whose group is gone.
        after = ""
        while True:
            with self._tx() as conn:
                rows = raw.execute(conn, store.TEAMS_TO_REMOVE, (aid, after, size)).fetchall()
                for team_id, name, group_id in rows:
                    self.counts["teams_removed"] += 1
                    self._event(("team.removed", team_id, {"team_id": team_id, "name": name}))
                    self._item(
                        kind="team",
                        action="remove",
                        subject_id=team_id,
                        directory_id=group_id,
                        label=name,
                        changes={"name": [name, None]},
                    )
                if not self.dry:
                    raw.executemany(
                        conn,
                        "DELETE FROM team WHERE account_id = ? AND id = ?",
                        [(aid, r[0]) for r in rows],
                    )
                self._flush(conn)
            if len(rows) < size:
                break
            after = rows[-1][0]
        self._membership_pass(team_items)
        with self._tx() as conn:
            names = dict(
                raw.execute(
                    conn, "SELECT id, name FROM team WHERE account_id = ?", (aid,)
                ).fetchall()
            )
            for team_id, item in team_items.items():
                item["label"] = item.get("label") or names.get(team_id)
                self._item(kind="team", subject_id=team_id, **item)
            self._flush(conn)

    def _membership_pass(self, team_items: dict[str, dict[str, Any]]) -> None:
        aid, size = self.account_id, self.options.batch_size

        def note(team_id: str, key: str) -> None:
            item = team_items.setdefault(
                team_id, {"action": "update", "label": None, "changes": {}}
            )
            changes = item["changes"]
            changes.setdefault(key, [0, 0])
            changes[key][1] += 1

        if self.dry:
            with self._tx(writes=False) as conn:
                self.counts["memberships_added"] += store.count(
                    conn, store.PLANNED_MEMBERSHIP_ADDS, (aid, raw.to_db_bool(conn, True))
                ) - store.memberships_of(conn, aid, self.memberless)
        else:
            group, user = "", ""
            while True:
                with self._tx() as conn:
                    rows = raw.execute(
                        conn, store.MEMBERSHIPS_TO_ADD, (aid, group, user, size)
                    ).fetchall()
                    bulk.insert_rows(
                        conn,
                        "team_member",
                        ("account_id", "team_id", "member_id"),
                        [(aid, r[2], r[3]) for r in rows],
                    )
                    for r in rows:
                        note(r[2], "members_added")
                        self._event(
                            ("team.member_added", r[2], {"team_id": r[2], "member_id": r[3]})
                        )
                    self.counts["memberships_added"] += len(rows)
                    self._flush(conn)
                if len(rows) < size:
                    break
                group, user = rows[-1][0], rows[-1][1]
        team, member_id = "", ""
        while True:
            with self._tx() as conn:
                rows = raw.execute(
                    conn, store.MEMBERSHIPS_TO_REMOVE, (aid, team, member_id, size)
                ).fetchall()
                if not self.dry:
                    raw.executemany(
                        conn,
                        "DELETE FROM team_member WHERE account_id = ? AND team_id = ? AND member_id = ?",
                        [(aid, r[0], r[1]) for r in rows],
                    )
                for r in rows:
                    note(r[0], "members_removed")
                    self._event(("team.member_removed", r[0], {"team_id": r[0], "member_id": r[1]}))
                self.counts["memberships_removed"] += len(rows)
                self._flush(conn)
            if len(rows) < size:
                break
            team, member_id = rows[-1][0], rows[-1][1]
