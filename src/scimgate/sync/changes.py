"""What one staged user means for its member: the pure comparison at the heart of Synchronize.

No I/O: the engine hands in the mapped values, the member as it is (if any), its current
Property values and the member references it could resolve, and gets back the change.

A member reference (the manager) is stored as the referenced member's id and shown, in
changes, items and Events, as that member's email (its name when it has none): what
/api/v1/members shows. A reference to someone who is not a member and will not become one
in this run (not staged, or inactive in the identity provider) leaves the Property empty,
with a note; the member is compared again next run, when that person may be a member.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from scimgate.mapping.group_rules import GROUP_SOURCE, GroupRule, GroupRules
from scimgate.mapping.mapper import Mapped, Mapper
from scimgate.states import ItemAction, MemberSource, MemberStatus

# Sources of the values a sync owns (it clears them when nothing fills them any more).
_SYNCED = frozenset({MemberSource.SCIM.value, GROUP_SOURCE})
_NO_RULES = GroupRules()


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

    action: ItemAction  # create | update | deactivate | reactivate | unchanged
    member_id: str
    email: str | None
    name: str
    status: str
    changes: dict[str, list[Any]] = field(default_factory=dict)
    upserts: dict[str, Any] = field(default_factory=dict)  # property id -> value (source scim)
    sources: dict[str, str] = field(default_factory=dict)  # of upserts not from the mapping
    deletes: list[str] = field(default_factory=list)  # property ids
    deferred: dict[str, str] = field(default_factory=dict)  # property id -> directory user id
    previous: dict[str, tuple[Any, str | None]] = field(default_factory=dict)  # of deferred ones
    errors: dict[str, str] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)  # what a reader of the plan should know
    dangling: bool = False  # a reference left empty: compare again next run

    @property
    def writes_member(self) -> bool:
        """Whether the member row itself changes (beyond its sync markers)."""
        return self.action != ItemAction.UNCHANGED or any(
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
    absent: dict[str, str],
    labels: dict[str, str],
    email_taken: str | None,
    groups: frozenset[str] = frozenset(),
    rules: GroupRules | None = None,
) -> MemberChange:
    """Compare what staging says with the member (None: a member will be created).

    `resolved`: directory user -> member id for references that are members; `absent`:
    directory user -> why it is not and will not be a member in this run; `labels`: member
    id -> how a reference is shown; `email_taken`: who already uses the mapped email;
    `groups`: the user's staged groups that have rules. A matching rule wins over the
    mapping for its Property.
    """
    rules = rules or _NO_RULES
    won = rules.winners(groups) if rules else {}
    errors = dict(mapped.errors)
    for prop_id in won:  # a mapping's error on a Property a rule sets is moot
        errors.pop(names[prop_id], None)
    email = mapped.fields.get("email")
    if email_taken:
        errors["email"] = f"the e-mail {email} is already used by {email_taken}"
    name = mapped.fields.get("name") or fallback_name
    status = MemberStatus.ACTIVE if active else MemberStatus.DEACTIVATED
    if member is None:
        change = _created(new_member_id, email, name, status, errors)
    else:
        change = _updated(member, email, name, status, errors)
    references = _References(resolved, absent, labels)
    mapped_ids, filled = mapper.mapped_property_ids, mapper.mapped_property_ids
    if rules:
        _apply_rules(change, rules, won, mapped_ids, names, values)
        mapped_ids, filled = mapped_ids - won.keys(), mapped_ids | rules.property_ids
    for prop_id in mapped_ids:
        label = names[prop_id]
        if label in errors:
            continue
        new = mapped.values.get(prop_id)
        old = values.get(prop_id, (None, None))
        shown: dict[str, str] = {}
        if prop_id in mapper.reference_ids:
            shown = labels
            new = _reference_target(change, prop_id, label, new, old, references)
            if prop_id in change.deferred:
                continue
        _compare_value(change, prop_id, label, new, old, shown)
    _drop_unmapped(change, filled, names, values)
    if change.action == ItemAction.UNCHANGED and change.changes:
        change.action = ItemAction.UPDATE
    return change


@dataclass(frozen=True, slots=True)
class _References:
    """What compare knows of the members that references point at (see compare)."""

    resolved: dict[str, str]
    absent: dict[str, str]
    labels: dict[str, str]


def _created(
    member_id: str, email: str | None, name: str, status: MemberStatus, errors: dict[str, str]
) -> MemberChange:
    """A member to create, without the email the mapping could not give it."""
    change = MemberChange(
        ItemAction.CREATE,
        member_id,
        None if "email" in errors else email,
        name,
        status,
        errors=errors,
    )
    change.changes["name"] = [None, name]
    if change.email:
        change.changes["email"] = [None, change.email]
    return change


def _updated(
    member: MemberState,
    email: str | None,
    name: str,
    status: MemberStatus,
    errors: dict[str, str],
) -> MemberChange:
    """An existing member: its fields as staging says, those in error kept as they are."""
    change = MemberChange(
        ItemAction.UNCHANGED,
        member.id,
        member.email if "email" in errors else email,
        member.name if "name" in errors else name,
        status,
        errors=errors,
    )
    changes = change.changes
    if member.source != MemberSource.SCIM:
        changes["source"] = [member.source, MemberSource.SCIM]
    if change.name != member.name:
        changes["name"] = [member.name, change.name]
    if change.email != member.email:
        changes["email"] = [member.email, change.email]
    if status != member.status:
        changes["status"] = [member.status, status]
        change.action = (
            ItemAction.REACTIVATE if status == MemberStatus.ACTIVE else ItemAction.DEACTIVATE
        )
    return change


def _reference_target(
    change: MemberChange,
    prop_id: str,
    label: str,
    new: Any,
    old: tuple[Any, str | None],
    references: _References,
) -> Any:
    """The member id a reference's directory user stands for (None: left empty, noted);
    a user who becomes a member later in this run is deferred on the change."""
    if new is None:
        return None
    if new in references.absent:
        change.notes.append(f"{label} left empty: {references.absent[new]}")
        change.dangling = True
        return None
    target = references.resolved.get(new)
    if target is None:
        change.deferred[prop_id] = new
        change.previous[prop_id] = old
    return target


def _apply_rules(
    change: MemberChange,
    rules: GroupRules,
    won: dict[str, GroupRule],
    mapped_ids: set[str],
    names: dict[str, str],
    values: dict[str, tuple[Any, str]],
) -> None:
    """Properties rules set: the winning rule's value; a Property no rule sets for this
    member and no mapping fills loses the value a rule had set."""
    for prop_id, rule in won.items():
        _compare_rule(change, names[prop_id], rule, values.get(prop_id, (None, None)))
    for prop_id in rules.property_ids - mapped_ids - won.keys():
        if prop_id in values:
            _compare_value(change, prop_id, names[prop_id], None, values[prop_id], {})


def _compare_rule(
    change: MemberChange, label: str, rule: GroupRule, old: tuple[Any, str | None]
) -> None:
    """A Property a group rule sets: upsert its value (source group) unless already held."""
    value, source = old
    if rule.value == value and source == GROUP_SOURCE:
        return
    change.upserts[rule.property_id] = rule.value
    change.sources[rule.property_id] = GROUP_SOURCE
    if rule.value != value:
        change.changes[label] = [value, rule.value]
        change.notes.append(f"{label} = {_text(rule.value)}: from group {rule.group_name}")


def _text(value: Any) -> str:
    """A rule's value as a reader sees it in a note."""
    if isinstance(value, bool):
        return "Yes" if value else "No"
    return str(value)


def _compare_value(
    change: MemberChange,
    prop_id: str,
    label: str,
    new: Any,
    old: tuple[Any, str | None],
    shown: dict[str, str],
) -> None:
    """One mapped Property: delete the sync's value, or upsert what differs or was manual."""
    value, source = old
    if new is None:
        if value is not None and source in _SYNCED:
            change.deletes.append(prop_id)
            change.changes[label] = [_shown(shown, value), None]
    elif new != value or source != MemberSource.SCIM:
        change.upserts[prop_id] = new
        if new != value:
            change.changes[label] = [_shown(shown, value), _shown(shown, new)]


def _shown(labels: dict[str, str], value: Any) -> Any:
    """A value as a reader sees it: a referenced member by its label, anything else as is."""
    return labels.get(value, value) if isinstance(value, str) else value


def _drop_unmapped(
    change: MemberChange,
    filled: set[str] | frozenset[str],
    names: dict[str, str],
    values: dict[str, tuple[Any, str]],
) -> None:
    """Values the sync set on Properties no longer mapped nor ruled go (manual ones stay)."""
    for prop_id, (old, source) in values.items():
        if source in _SYNCED and prop_id not in filled and prop_id in names:
            change.deletes.append(prop_id)
            change.changes[names[prop_id]] = [old, None]


def person_label(display_name: str | None, user_name: str | None) -> str:
    """A staged user as an admin knows them: "Display Name (userName)"."""
    if display_name and user_name and display_name != user_name:
        return f"{display_name} ({user_name})"
    return display_name or user_name or "?"
