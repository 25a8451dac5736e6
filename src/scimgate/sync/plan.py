"""What one staged user means for its member: the pure comparison at the heart of Synchronize.

No I/O: the engine hands in the mapped values, the member as it is (if any), its current
Property values and the member references it could resolve, and gets back the change.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from scimgate.mapping.mapper import Mapped, Mapper


@dataclass(slots=True)
class MemberState:
    """A member as stored: (id, email, name, status, source)."""

    id: str
    email: str | None
    name: str
    status: str
    source: str


@dataclass(slots=True)
class MemberChange:
    """The outcome for one member: an action, field changes, and the writes they need."""

    action: str  # create | update | deactivate | reactivate | unchanged
    member_id: str
    email: str | None
    name: str
    status: str
    changes: dict[str, list[Any]] = field(default_factory=dict)
    upserts: dict[str, Any] = field(default_factory=dict)  # property id -> value (source scim)
    deletes: list[str] = field(default_factory=list)  # property ids
    deferred: dict[str, str] = field(default_factory=dict)  # property id -> directory user id
    previous: dict[str, tuple[Any, str | None]] = field(default_factory=dict)  # of deferred ones
    errors: dict[str, str] = field(default_factory=dict)

    @property
    def writes_member(self) -> bool:
        """Whether the member row itself changes (beyond its sync markers)."""
        return self.action != "unchanged" or any(
            k in self.changes for k in ("name", "email", "source")
        )


def compare(
    *,
    mapper: Mapper,
    names: dict[str, str],
    mapped: Mapped,
    active: bool,
    fallback_name: str,
    member: MemberState | None,
    new_member_id: str,
    values: dict[str, tuple[Any, str]],
    resolved: dict[str, str],
    email_taken: bool,
) -> MemberChange:
    """Compare what staging says with the member (None: a member will be created)."""
    errors = dict(mapped.errors)
    status = "active" if active else "deactivated"
    email = mapped.fields.get("email")
    if email_taken:
        errors["email"] = f"{email!r} is already the email of another member"
    keep_email = "email" in errors
    keep_name = "name" in errors
    name = mapped.fields.get("name") or fallback_name
    changes: dict[str, list[Any]] = {}
    if member is None:
        change = MemberChange(
            "create", new_member_id, None if keep_email else email, name, status, errors=errors
        )
        changes["name"] = [None, name]
        if change.email:
            changes["email"] = [None, change.email]
    else:
        change = MemberChange(
            "unchanged",
            member.id,
            member.email if keep_email else email,
            member.name if keep_name else name,
            status,
            errors=errors,
        )
        if member.source != "scim":
            changes["source"] = [member.source, "scim"]
        if change.name != member.name:
            changes["name"] = [member.name, change.name]
        if change.email != member.email:
            changes["email"] = [member.email, change.email]
        if status != member.status:
            changes["status"] = [member.status, status]
            change.action = "reactivate" if active else "deactivate"
    for prop_id in mapper.mapped_property_ids:
        label = names[prop_id]
        if label in errors:
            continue
        new = mapped.values.get(prop_id)
        if new is not None and prop_id in mapper.reference_ids:
            target = resolved.get(new)
            if target is None:
                change.deferred[prop_id] = new
                change.previous[prop_id] = values.get(prop_id, (None, None))
                continue
            new = target
        old, source = values.get(prop_id, (None, None))
        if new is None:
            if old is not None and source == "scim":
                change.deletes.append(prop_id)
                changes[label] = [old, None]
        elif new != old or source != "scim":
            change.upserts[prop_id] = new
            if new != old:
                changes[label] = [old, new]
    for prop_id, (old, source) in values.items():
        if source == "scim" and prop_id not in mapper.mapped_property_ids and prop_id in names:
            change.deletes.append(prop_id)
            changes[names[prop_id]] = [old, None]
    change.changes = changes
    if change.action == "unchanged" and changes:
        change.action = "update"
    return change
