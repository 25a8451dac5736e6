"""Provisioned members whose values were changed by hand since their last sync.

A member synced from its staged user's current version under the current mapping
revision is skipped by every run (counted unchanged without reading the document), so a
value changed behind the sync's back stays. Here such members are compared again with
the sync's own pure comparison (`sync.changes.compare`): whatever it would change is a
value that differs from what the mapping makes of an unchanged staged user, a hand edit.
Members whose staged user or mapping moved are left out: their difference is a pending
identity-provider change, which "Available to synchronize" shows.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Connection

from scimgate.group_rules import service as group_rules
from scimgate.mapping.group_rules import GroupRules
from scimgate.mapping.mapper import Mapped, Mapper
from scimgate.store import drift as store
from scimgate.store import driver
from scimgate.store import members as member_store
from scimgate.store import sync_batches as batches
from scimgate.store.drift import InSyncRow
from scimgate.sync.changes import MemberState, compare, person_label


@dataclass(frozen=True)
class Edited:
    """The account's mapping, revision and Property names, loaded once per report."""

    account_id: int
    rev: int
    mapper: Mapper
    names: dict[str, str]  # Property names by id
    rules: GroupRules = field(default_factory=GroupRules)  # group rules, as the sync applies them
    moved: frozenset[str] = frozenset()  # users a membership change moved: pending, not edits

    def scan(
        self, conn: Connection, after: str, batch: int
    ) -> Iterator[tuple[str, dict[str, Any] | None]]:
        """(member id, item) for every in-sync provisioned member, in member id order from
        `after` on; the item is None for a member with no hand edit (a page can stop on it)."""
        while True:
            rows = store.in_sync_batch(conn, self.account_id, self.rev, after, batch)
            yield from self._compare(conn, rows)
            if len(rows) < batch:
                return
            after = rows[-1].id

    def _compare(
        self, conn: Connection, rows: list[InSyncRow]
    ) -> Iterator[tuple[str, dict[str, Any] | None]]:
        """Each member of one batch, with its item if its stored values differ from its
        mapped ones."""
        if not rows:
            return
        aid, mapper = self.account_id, self.mapper
        mapped = [mapper.apply(driver.load_json(r.doc)) for r in rows]
        refs = mapper.reference_ids
        wanted = [v for m in mapped for pid, v in m.values.items() if pid in refs]
        resolved = batches.members_of_directory_users(conn, aid, wanted) if wanted else {}
        values = store.values_between(conn, aid, [r.id for r in rows])
        shown = _differing_references(rows, mapped, refs, resolved, values)
        labels = member_store.member_labels(conn, aid, shown) if shown else {}
        users = [r.directory_user_id for r in rows]
        groups = group_rules.groups_of_users(conn, aid, self.rules, users)
        for row, result in zip(rows, mapped, strict=True):
            if row.directory_user_id in self.moved:
                yield row.id, None
                continue
            change = compare(
                mapper=mapper,
                names=self.names,
                mapped=result,
                active=bool(row.active),
                fallback_name=row.user_name,
                member=MemberState(row.id, row.email, row.name, row.status, row.source),
                new_member_id=row.id,
                values=values.get(row.id, {}),
                resolved=resolved,
                absent={},  # a reference it cannot resolve is deferred, never reported
                labels=labels,
                email_taken=None,
                groups=groups.get(row.directory_user_id, frozenset()),
                rules=self.rules,
            )
            fields = [
                {"field": label, "member_value": pair[0], "mapped_value": pair[1]}
                for label, pair in change.changes.items()
                if label != "source"
            ]
            yield row.id, _item(row, fields) if fields else None


def _differing_references(
    rows: list[InSyncRow],
    mapped: list[Mapped],
    refs: frozenset[str] | set[str],
    resolved: dict[str, str],
    values: dict[str, dict[str, tuple[Any, str]]],
) -> list[str]:
    """The members a batch's comparisons may show by label: both sides of each reference
    whose member value is not the one the mapping resolves to (an equal one shows nothing,
    and almost every reference is equal)."""
    out: list[str] = []
    for row, result in zip(rows, mapped, strict=True):
        held = values.get(row.id, {})
        for pid in refs:
            raw = result.values.get(pid)
            target = resolved.get(raw) if isinstance(raw, str) else None
            old = held.get(pid, (None, None))[0]
            if target != old:
                out.extend(v for v in (target, old) if isinstance(v, str))
    return out


def _item(row: InSyncRow, fields: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "member_id": row.id,
        "email": row.email,
        "name": row.name,
        "directory_user_id": row.directory_user_id,
        "person": person_label(row.display_name, row.user_name),
        "fields": fields,
    }
