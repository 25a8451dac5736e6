"""Group rules of an account: add, change, remove, list, and what the sync and the member
page need of them.

A rule says "members of directory group G get Property P = V" for a select, boolean or
text Property; V is checked against P when the rule is saved (a select's option must
exist). Lower priority wins among the rules of one Property that match a member; on a tie
the older rule wins. Every change bumps the mapping revision, so the next Synchronize
re-evaluates every member, and is audited.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection

from scimgate import audit
from scimgate.audit.actions import AuditAction
from scimgate.errors import ConflictError, InvalidValueError, NotFoundError
from scimgate.mapping import types
from scimgate.mapping.group_rules import GroupRule, GroupRules
from scimgate.store import group_rules as store
from scimgate.store import members as member_store
from scimgate.store import properties as prop_store
from scimgate.timestamps import utcnow

RULE_TYPES = ("select", "boolean", "text")
DEFAULT_PRIORITY = 100
MAX_PRIORITY = 1_000_000
MAX_RULES = 1000  # per account: the sync evaluates every rule for each member


def list_rules(conn: Connection, account_id: int) -> list[dict[str, Any]]:
    """Every rule with its group's current name, by Property, in precedence order."""
    return store.list_rules(conn, account_id)


def rules_of_property(conn: Connection, account_id: int, prop_id: str) -> list[dict[str, Any]]:
    """The rules that set one Property, in the order they apply: what its page shows and
    what deleting it takes along."""
    return store.rules_of_property(conn, account_id, prop_id)


def get_rule(conn: Connection, account_id: int, rule_id: int) -> dict[str, Any]:
    """One rule, or NotFoundError."""
    return store.get_rule(conn, account_id, rule_id)


def add_rule(
    conn: Connection,
    account_id: int,
    *,
    group: str,
    prop: str,
    value: Any,
    priority: int = DEFAULT_PRIORITY,
    actor: str | None = None,
) -> dict[str, Any]:
    """A new rule: `group` is a staged group's id or displayName, `prop` a Property's id or
    name; the value must fit the Property."""
    found = store.find_group(conn, account_id, (group or "").strip())
    if found is None:
        raise NotFoundError(
            f"No staged group {group!r}: name a group the identity provider has sent "
            "(its id or displayName)"
        )
    group_id, group_name = found
    target = _property(conn, account_id, prop)
    stored = check_value(target, value)
    if store.count_rules(conn, account_id) >= MAX_RULES:
        raise InvalidValueError(f"An account has at most {MAX_RULES} group rules")
    rule_id = store.insert_rule(
        conn,
        account_id,
        group_id=group_id,
        group_name=group_name,
        property_id=target["id"],
        value=stored,
        priority=check_priority(priority),
        now=utcnow(),
    )
    member_store.bump_mapping_rev(conn, account_id)
    rule = store.get_rule(conn, account_id, rule_id)
    _audit(conn, account_id, actor, AuditAction.GROUP_RULE_ADDED, rule, None)
    return rule


def update_rule(
    conn: Connection,
    account_id: int,
    rule_id: int,
    *,
    value: Any = None,
    priority: int | None = None,
    actor: str | None = None,
) -> dict[str, Any]:
    """Change a rule's value and/or priority (None: keep)."""
    before = store.get_rule(conn, account_id, rule_id)
    changes: dict[str, Any] = {}
    if value is not None:
        target = prop_store.get_property(conn, account_id, before["property_id"])
        changes["value"] = check_value(target, value)
    if priority is not None:
        changes["priority"] = check_priority(priority)
    changes = {k: v for k, v in changes.items() if v != before[k]}
    if not changes:
        return before
    store.update_rule(conn, account_id, rule_id, **changes)
    member_store.bump_mapping_rev(conn, account_id)
    after = store.get_rule(conn, account_id, rule_id)
    _audit(conn, account_id, actor, AuditAction.GROUP_RULE_CHANGED, after, before)
    return after


def remove_rule(
    conn: Connection, account_id: int, rule_id: int, *, actor: str | None = None
) -> dict[str, Any]:
    """Remove a rule; the next Synchronize clears (or, from the mapping, replaces) its values."""
    before = store.get_rule(conn, account_id, rule_id)
    store.delete_rule(conn, account_id, rule_id)
    member_store.bump_mapping_rev(conn, account_id)
    _audit(conn, account_id, actor, AuditAction.GROUP_RULE_REMOVED, None, before)
    return before


def _audit(
    conn: Connection,
    account_id: int,
    actor: str | None,
    action: AuditAction,
    after: dict[str, Any] | None,
    before: dict[str, Any] | None,
) -> None:
    """One audit entry naming the rule, with what changed."""
    rule = after or before
    assert rule is not None
    changes = {
        key: [before[key] if before else None, after[key] if after else None]
        for key in ("value", "priority")
        if (before or {}).get(key) != (after or {}).get(key)
    }
    audit.record(
        conn,
        account_id,
        actor=actor,
        action=action,
        target=f"group rule {rule['id']} ({rule['group_name']} -> {rule['property_name']})",
        details={
            "rule_id": rule["id"],
            "group_id": rule["group_id"],
            "group": rule["group_name"],
            "property_id": rule["property_id"],
            "property": rule["property_name"],
            "changes": changes,
        },
    )


def _property(conn: Connection, account_id: int, ref: str) -> dict[str, Any]:
    """A Property by id or case-insensitive name."""
    ref = (ref or "").strip()
    try:
        return prop_store.get_property(conn, account_id, ref[:64])
    except NotFoundError:
        pass
    try:
        return member_store.find_property(conn, account_id, ref)
    except NotFoundError:
        raise NotFoundError(f"No Property {ref!r}") from None


def check_value(prop: dict[str, Any], value: Any) -> Any:
    """The value as the Property stores it; InvalidValueError if it does not fit."""
    kind = prop["type"]
    if kind not in RULE_TYPES:
        raise InvalidValueError(
            f"{prop['name']!r} is a {kind} Property: group rules set select, boolean or text ones"
        )
    try:
        stored = types.converter(kind, list(prop.get("options") or []))(value)
    except ValueError as exc:
        raise InvalidValueError(f"{prop['name']}: {exc}") from None
    if stored is None or stored == "":
        raise InvalidValueError(f"{prop['name']}: a group rule needs a value")
    return stored


def check_priority(priority: Any) -> int:
    """A priority: an integer from 0 to MAX_PRIORITY (lower wins)."""
    if isinstance(priority, bool) or not isinstance(priority, int):
        raise InvalidValueError("priority is an integer")
    if not 0 <= priority <= MAX_PRIORITY:
        raise InvalidValueError(f"priority is 0-{MAX_PRIORITY} (lower wins)")
    return priority


def options_in_use(conn: Connection, account_id: int, prop_id: str, options: list[str]) -> None:
    """Refuse to remove select options a rule sets (ConflictError naming them)."""
    gone = {o.lower() for o in options}
    used = sorted(
        {v for v in store.values_of_property(conn, account_id, prop_id) if str(v).lower() in gone}
    )
    if used:
        listed = ", ".join(repr(v) for v in used)
        raise ConflictError(
            f"options set by group rules: {listed}; remove or change those rules first "
            "(or rename the option instead: the rules follow)",
            "options",
        )


def follow_renamed_options(
    conn: Connection, account_id: int, prop_id: str, renamed: dict[str, str]
) -> None:
    """Rules setting a renamed option set its new name."""
    for old, new in renamed.items():
        store.rename_value(conn, account_id, prop_id, old, new)


def delete_for_property(conn: Connection, account_id: int, prop_id: str) -> int:
    """The rules of a Property being deleted go with it; how many."""
    return store.delete_for_property(conn, account_id, prop_id)


def load_rules(conn: Connection, account_id: int) -> GroupRules:
    """The account's rules compiled for a sync (group names as staging has them now)."""
    return GroupRules(
        GroupRule(
            r["id"], r["group_id"], r["group_name"], r["property_id"], r["value"], r["priority"]
        )
        for r in store.list_rules(conn, account_id)
    )


def member_origins(
    conn: Connection,
    account_id: int,
    directory_user_id: str | None,
    values: dict[str, Any],
) -> dict[str, dict[str, Any]]:
    """For a member's values set by rules ({property id: value}): the rule that gives it
    now, by Property id ({"rule_id", "group_id", "group_name"}), or {"rule_id": None} when
    none does any more (the next Synchronize changes it)."""
    if not values:
        return {}
    groups = (
        store.groups_of_user(conn, account_id, directory_user_id)
        if directory_user_id
        else frozenset()
    )
    won = load_rules(conn, account_id).winners(groups)
    out: dict[str, dict[str, Any]] = {}
    for prop_id, value in values.items():
        rule = won.get(prop_id)
        if rule is not None and rule.value == value:
            out[prop_id] = {
                "rule_id": rule.id,
                "group_id": rule.group_id,
                "group_name": rule.group_name,
            }
        else:
            out[prop_id] = {"rule_id": None, "group_id": None, "group_name": None}
    return out


def group_choices(conn: Connection, account_id: int, limit: int = 500) -> list[tuple[str, str]]:
    """Staged groups a rule can name, by displayName: (id, displayName)."""
    return store.staged_groups(conn, account_id, limit)


def outcomes_moved(conn: Connection, account_id: int, rules: GroupRules) -> list[str]:
    """Directory users whose members hold values rules no longer give them, or lack ones
    they now give (a membership changed since their last sync), in id order. Reads the
    ruled groups' memberships and the values rules set, not every member."""
    if not rules:
        return []
    groups = store.members_in_groups(conn, account_id, sorted(rules.group_ids))
    held = store.values_set_by_rules(conn, account_id, sorted(rules.property_ids))
    return sorted(rules.stale(groups, held))


def groups_of_users(
    conn: Connection, account_id: int, rules: GroupRules, user_ids: list[str]
) -> dict[str, frozenset[str]]:
    """Each directory user's groups that have rules (one read for all of them)."""
    if not rules or not user_ids:
        return {}
    return store.groups_of_users(conn, account_id, user_ids, rules.group_ids)
