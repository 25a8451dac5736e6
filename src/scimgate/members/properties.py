"""Managing Properties after they exist: rename, change the SCIM attribute name, change a
select's options, delete.

Each change says what it does before it is made (`options_impact`, `delete_impact`), so
every surface can show it and ask for confirmation. Members whose values a change
rewrites or clears get a member.updated Event in the same transaction, as for any other
change to a member's values. A removed option still held by members is refused unless
the caller explicitly asks to clear those values.
"""

from __future__ import annotations

import re
from typing import Any

from sqlalchemy import Connection

from scimgate import audit
from scimgate.audit.actions import AuditAction
from scimgate.errors import ConflictError, InvalidValueError, NotFoundError
from scimgate.events import member_updated
from scimgate.group_rules import service as group_rules
from scimgate.mapping import types
from scimgate.members import scim_attributes
from scimgate.store import events
from scimgate.store import members as store
from scimgate.store import properties as prop_store
from scimgate.store import property_values as value_store
from scimgate.store.database import utcnow

_NAME = re.compile(r"^[^\x00-\x1f\x7f]{1,64}$")
RESERVED_NAMES = {"name", "email", "status", "source", "id"}
_UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")


class OptionsInUseError(ConflictError):
    """Options to remove are still held by members: `held` is {option: member count}."""

    def __init__(self, prop_name: str, held: dict[str, int]) -> None:
        listed = ", ".join(f"{o!r} ({n} member{'' if n == 1 else 's'})" for o, n in held.items())
        super().__init__(
            f"Property {prop_name!r}: options still held by members: {listed}; clear their "
            "values explicitly, or rename the option instead",
            "options",
        )
        self.held = held


def check_name(name: str) -> str:
    """A Property name as stored: trimmed, 1-64 printable characters, not a member field."""
    name = (name or "").strip()
    if not _NAME.match(name):
        raise InvalidValueError("A Property name is 1-64 printable characters")
    if name.lower() in RESERVED_NAMES:
        raise InvalidValueError(f"{name!r} is a built-in member field, not a Property name")
    return name


def find(conn: Connection, account_id: int, ref: str) -> dict[str, Any]:
    """A Property by id, or else by case-insensitive name (the CLI names, the API uses ids)."""
    ref = (ref or "").strip()
    if _UUID.match(ref):
        try:
            return prop_store.get_property(conn, account_id, ref)
        except NotFoundError:
            pass
    try:
        return store.find_property(conn, account_id, ref)
    except NotFoundError:
        raise NotFoundError(f"No Property {ref!r}") from None


def detail(conn: Connection, account_id: int, prop_id: str) -> dict[str, Any]:
    """One Property with what fills it and how many members hold each value."""
    prop = prop_store.get_property(conn, account_id, prop_id)
    mapped = dict(store.list_mappings(conn, account_id))
    counts = prop_store.option_counts(conn, account_id, prop_id)
    usage: dict[str, Any] = {"members": sum(counts.values())}
    if prop["type"] == "select":
        usage["options"] = {o: _held(counts, o) for o in prop["options"]}
    return {
        **prop,
        "options": list(prop["options"] or []),
        "mapped_from": mapped.get(f"property:{prop_id}"),
        "scim_path": scim_attributes.paths(conn, account_id).get(prop_id),
        "usage": usage,
        "group_rules": group_rules.rules_of_property(conn, account_id, prop_id),
    }


def _held(counts: dict[str, int], option: str) -> int:
    """Members holding an option (stored in its spelling; compared as the sync compares)."""
    return sum(n for value, n in counts.items() if value.lower() == option.lower())


def rename(
    conn: Connection, account_id: int, prop_id: str, name: str, *, actor: str | None = None
) -> dict[str, Any]:
    """A new name; the mapping onto the Property follows it (mappings name Properties by id)."""
    prop = prop_store.get_property(conn, account_id, prop_id)
    name = check_name(name)
    if name != prop["name"]:
        prop_store.rename_property(conn, account_id, prop_id, name)
        # The SCIM attribute keeps its name (IdP mappings stay valid); its description moves.
        store.bump_mapping_rev(conn, account_id)
        audit.record(
            conn,
            account_id,
            actor=actor,
            action=AuditAction.PROPERTY_RENAMED,
            target=f"Property {name}",
            details={"property_id": prop_id, "changes": {"name": [prop["name"], name]}},
        )
    return detail(conn, account_id, prop_id)


def rename_attribute(
    conn: Connection, account_id: int, prop_id: str, scim_name: str, *, actor: str | None = None
) -> dict[str, Any]:
    """A new SCIM attribute name, asked for on purpose (a rename keeps it): values stay, and
    what an IdP mapping still sends under the old name is left out until it is updated there."""
    prop = prop_store.get_property(conn, account_id, prop_id)
    renamed = scim_attributes.rename(conn, account_id, prop, scim_name)
    if renamed is not None:
        audit.record(
            conn,
            account_id,
            actor=actor,
            action=AuditAction.PROPERTY_ATTRIBUTE_RENAMED,
            target=f"Property {prop['name']}",
            details={
                "property_id": prop_id,
                "changes": {"scim_attribute": [renamed.old, renamed.new]},
                "staged_users_rewritten": renamed.documents,
                "mappings_followed": _mapping_names(conn, account_id, renamed.mappings),
            },
        )
    return detail(conn, account_id, prop_id)


def _mapping_names(
    conn: Connection, account_id: int, changed: dict[str, list[str]]
) -> dict[str, list[str]]:
    """Mapping changes keyed by their target's name (Property targets are stored by id)."""
    if not changed:
        return {}
    names = {f"property:{p['id']}": p["name"] for p in store.list_properties(conn, account_id)}
    return {names.get(target, target): sources for target, sources in changed.items()}


def edit_options(
    current: list[str], *, add: list[str], rename: dict[str, str], remove: list[str]
) -> tuple[list[str], dict[str, str]]:
    """The option list after adding, renaming and removing: (options, {old: new})."""
    by_key = {o.lower(): o for o in current}
    renamed: dict[str, str] = {}
    for old, new in rename.items():
        if old.strip().lower() not in by_key:
            raise InvalidValueError(f"{old!r} is not an option")
        renamed[by_key[old.strip().lower()]] = new.strip()
    gone = set()
    for option in remove:
        if option.strip().lower() not in by_key:
            raise InvalidValueError(f"{option!r} is not an option")
        gone.add(by_key[option.strip().lower()])
    if gone & set(renamed):
        raise InvalidValueError("an option cannot be renamed and removed at once")
    options = [renamed.get(o, o) for o in current if o not in gone]
    return options + [a.strip() for a in add], renamed


def options_impact(
    conn: Connection,
    account_id: int,
    prop_id: str,
    options: list[str],
    renamed: dict[str, str] | None = None,
) -> dict[str, Any]:
    """What setting these options does: added, renamed {old: [new, members]}, removed {option: members}."""
    prop = prop_store.get_property(conn, account_id, prop_id)
    if prop["type"] != "select":
        raise InvalidValueError(
            f"{prop['name']!r} is a {prop['type']} Property: only select has options"
        )
    try:
        options = types.check_options("select", list(options))
    except ValueError as exc:
        raise InvalidValueError(str(exc)) from None
    current = list(prop["options"] or [])
    new_keys = {o.lower(): o for o in options}
    renamed = dict(renamed or {})
    for old, new in renamed.items():
        if old not in current:
            raise InvalidValueError(f"{old!r} is not an option of {prop['name']!r}")
        if new.strip().lower() not in new_keys:
            raise InvalidValueError(f"{old!r} is renamed to {new!r}, which is not in the options")
    for old in current:  # the same option in another spelling is a rename
        if old not in renamed and old.lower() in new_keys and new_keys[old.lower()] != old:
            renamed[old] = new_keys[old.lower()]
    counts = prop_store.option_counts(conn, account_id, prop_id)
    known = {c.lower() for c in current} | {new.strip().lower() for new in renamed.values()}
    return {
        "property": prop,
        "options": options,
        "added": [o for o in options if o.lower() not in known],
        "renamed": {
            old: [new_keys[new.strip().lower()], _held(counts, old)] for old, new in renamed.items()
        },
        "removed": {
            o: _held(counts, o) for o in current if o not in renamed and o.lower() not in new_keys
        },
    }


def update_options(
    conn: Connection,
    account_id: int,
    prop_id: str,
    options: list[str],
    *,
    renamed: dict[str, str] | None = None,
    clear_removed: bool = False,
    actor: str | None = None,
) -> dict[str, Any]:
    """Set a select Property's options; members holding a renamed option follow it, and
    members holding a removed one are cleared only with `clear_removed`.

    Raises:
        OptionsInUseError: a removed option is held and `clear_removed` is false.
    """
    impact = options_impact(conn, account_id, prop_id, options, renamed)
    prop = impact["property"]
    if impact["options"] == list(prop["options"] or []) and not impact["renamed"]:
        return detail(conn, account_id, prop_id)  # nothing changes: no revision, no audit entry
    held = {o: n for o, n in impact["removed"].items() if n}
    if held and not clear_removed:
        raise OptionsInUseError(prop["name"], held)
    group_rules.options_in_use(conn, account_id, prop_id, list(impact["removed"]))
    renames = {old: new for old, (new, _n) in impact["renamed"].items()}
    group_rules.follow_renamed_options(conn, account_id, prop_id, renames)
    rewrite: dict[str, str | None] = {o.lower(): None for o in impact["removed"]}
    rewrite.update({old.lower(): new for old, (new, _n) in impact["renamed"].items()})
    _rewrite_values(conn, account_id, prop, rewrite)
    prop_store.set_options(conn, account_id, prop_id, impact["options"])
    store.bump_mapping_rev(conn, account_id)  # values the IdP sent may fit the options now
    audit.record(
        conn,
        account_id,
        actor=actor,
        action=AuditAction.PROPERTY_OPTIONS_CHANGED,
        target=f"Property {prop['name']}",
        details={
            "property_id": prop_id,
            "changes": {"options": [list(prop["options"] or []), impact["options"]]},
            "added": impact["added"],
            "renamed": {old: new for old, (new, _n) in impact["renamed"].items()},
            "removed": impact["removed"],
            "values_rewritten": sum(n for _new, n in impact["renamed"].values()),
            "values_cleared": sum(impact["removed"].values()),
        },
    )
    return detail(conn, account_id, prop_id)


def _rewrite_values(
    conn: Connection, account_id: int, prop: dict[str, Any], rewrite: dict[str, str | None]
) -> None:
    """Give members holding an old value its new one (None clears it), with their Events."""
    now = utcnow()
    for batch in prop_store.values_by_property(conn, account_id, prop["id"]):
        changed = [
            (m, v, s, rewrite[str(v).lower()])
            for m, v, s in batch
            if str(v).lower() in rewrite and rewrite[str(v).lower()] != v
        ]
        if not changed:
            continue
        value_store.delete_values(
            conn, account_id, [(m, prop["id"]) for m, _v, _s, new in changed if new is None]
        )
        value_store.upsert_values(
            conn,
            [
                (account_id, m, prop["id"], new, s, now)
                for m, _v, s, new in changed
                if new is not None
            ],
        )
        _events(conn, account_id, prop["name"], [(m, v, new) for m, v, _s, new in changed], now)


def _events(
    conn: Connection,
    account_id: int,
    name: str,
    changes: list[tuple[str, Any, Any]],
    now: Any,
) -> None:
    """member.updated for each (member_id, old, new) change of one Property's value."""
    emails = prop_store.emails_of(conn, account_id, [m for m, _o, _n in changes])
    events.append(
        conn,
        account_id,
        [
            member_updated(m, email=emails.get(m), changes={name: [old, new]})
            for m, old, new in changes
        ],
        now,
    )


def delete_impact(conn: Connection, account_id: int, prop_id: str) -> dict[str, Any]:
    """What deleting a Property does: the mapping and the group rules it takes along, and
    how many members lose a value."""
    prop = prop_store.get_property(conn, account_id, prop_id)
    mapped = dict(store.list_mappings(conn, account_id))
    return {
        "property": prop,
        "mapped_from": mapped.get(f"property:{prop_id}"),
        "members": prop_store.count_values(conn, account_id, prop_id),
        "group_rules": group_rules.rules_of_property(conn, account_id, prop_id),
    }


def delete(
    conn: Connection, account_id: int, prop_id: str, *, actor: str | None = None
) -> dict[str, Any]:
    """Delete a Property, the mapping onto it, the group rules that set it and every
    member's value of it (with Events); the audit entry names the rules."""
    impact = delete_impact(conn, account_id, prop_id)
    prop = impact["property"]
    now = utcnow()
    for batch in prop_store.values_by_property(conn, account_id, prop_id):
        olds = [(m, v) for m, v, _s in batch]
        if prop["type"] == "member":
            labels = store.member_labels(conn, account_id, [v for _m, v in olds])
            olds = [(m, labels.get(v, v)) for m, v in olds]
        _events(conn, account_id, prop["name"], [(m, v, None) for m, v in olds], now)
    rules_removed = group_rules.delete_for_property(conn, account_id, prop_id)
    prop_store.delete_property(conn, account_id, prop_id)
    store.bump_mapping_rev(conn, account_id)
    audit.record(
        conn,
        account_id,
        actor=actor,
        action=AuditAction.PROPERTY_DELETED,
        target=f"Property {prop['name']}",
        details={
            "property_id": prop_id,
            "type": prop["type"],
            "mapped_from": impact["mapped_from"],
            "values_cleared": impact["members"],
            "group_rules_removed": rules_removed,
            "group_rules": [
                {
                    "rule_id": r["id"],
                    "group_id": r["group_id"],
                    "group": r["group_name"],
                    "value": r["value"],
                    "priority": r["priority"],
                }
                for r in impact["group_rules"]
            ],
        },
    )
    return impact
