"""Who gets which email in a batch of staged users: the decision, with no I/O.

An email belongs to one member. A staged user keeps its member and compares it (an email
someone else already uses is an error on that field); a new user whose email a manual
member has is linked to that member; a new user whose email another directory user's
member has, or that an earlier user of the batch claimed, gets an error item and no
member. A user that never was a member and is inactive needs nothing.

Rows are the member pass's staged rows (`id`, `active` and the `member_*` columns);
owners are members by email key (`id`, `email`, `name`, `status`, `source`,
`directory_user_id`), as the store reads them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from scimgate.mapping.mapper import Mapped
from scimgate.sync.changes import MemberState


@dataclass(slots=True)
class ToCompare:
    """A staged user to compare with its member."""

    row: Any
    mapped: Mapped
    member: MemberState | None  # its member, or the manual member it links to (None: create)
    link: bool  # a manual member linked by its email
    # Who already uses its email: a directory user id or an owner (the pass then names
    # it for the error, see `who`).
    taken: Any = None


@dataclass(slots=True)
class Conflict:
    """A new staged user whose email is another directory user's."""

    row: Any
    email: str
    other: str  # that directory user


@dataclass
class EmailClaims:
    """The batch's users to compare, the ones refused, and how many need nothing."""

    compare: list[ToCompare] = field(default_factory=list)
    conflicts: list[Conflict] = field(default_factory=list)
    unchanged: int = 0

    def others(self) -> list[str]:
        """The directory users named as already using an email (to name them in errors)."""
        named = [c.other for c in self.conflicts]
        for t in self.compare:
            if t.taken is not None:
                named.append(t.taken if isinstance(t.taken, str) else t.taken.directory_user_id)
        return [o for o in named if o]


def with_planned(
    owners: dict[str, Any], planned: Mapping[str, Any], keys: set[str]
) -> dict[str, Any]:
    """A dry run: the owners as earlier batches would have left them (None: freed)."""
    for key in keys & planned.keys():
        owner = planned[key]
        if owner is None:
            owners.pop(key, None)
        else:
            owners[key] = owner
    return owners


def claim_emails(
    rows: Sequence[Any], mapped: Sequence[Mapped], owners: Mapping[str, Any]
) -> EmailClaims:
    """Who gets which email in this batch (rows and their mapped values, in order)."""
    claims = EmailClaims()
    claimed: dict[str, str] = {}
    for row, result in zip(rows, mapped, strict=True):
        du_id, m_id = row.id, row.member_id
        email = result.fields.get("email")
        key = email.lower() if email else None
        state: MemberState | None = None
        link, taken = False, None
        if m_id is not None:
            state = MemberState(
                m_id, row.member_email, row.member_name, row.member_status, row.member_source
            )
            owner = owners.get(key) if key else None
            if owner is not None and owner.id != m_id:
                taken = owner
            elif key and claimed.get(key, du_id) != du_id:
                taken = claimed[key]
        elif key and (
            key in claimed or (key in owners and owners[key].directory_user_id is not None)
        ):
            claims.conflicts.append(
                Conflict(row, email, claimed.get(key) or owners[key].directory_user_id)
            )
            continue
        elif key and key in owners:
            o = owners[key]
            state, link = MemberState(o.id, o.email, o.name, o.status, o.source), True
        if state is None and not row.active:
            # Never a member and inactive in the identity provider: nothing to do.
            claims.unchanged += 1
            continue
        if key and taken is None:
            claimed[key] = du_id
        claims.compare.append(ToCompare(row, result, state, link, taken))
    return claims


def who(other: Any, people: Mapping[str, str]) -> str:
    """Who already uses an email, for an error: a directory user (by label, if known) or
    a member no directory user has."""
    du_id = other if isinstance(other, str) else other.directory_user_id
    if du_id in people:
        return f"directory user {people[du_id]}"
    if isinstance(other, str):
        return f"directory user {other}"
    return f"the member {other.name} ({other.email})"
