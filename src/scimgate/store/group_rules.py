"""Group rules of an account ("members of group G get Property P = V") and the reads a
sync makes for them: the ruled groups of a batch's users, and the values rules set.

Every statement names the account. One rule per (group, Property) comes from a unique
constraint: a second one is a ConflictError.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, delete, func, insert, select, update
from sqlalchemy.exc import IntegrityError

from scimgate.errors import ConflictError, NotFoundError
from scimgate.states import ValueSource
from scimgate.store import driver
from scimgate.store.sync_batches import select_in
from scimgate.store.tables.members import group_rule, member_property
from scimgate.store.tables.staging import directory_group

_COLUMNS = (
    group_rule.c.id,
    group_rule.c.group_id,
    func.coalesce(directory_group.c.display_name, group_rule.c.group_name).label("group_name"),
    (directory_group.c.id.is_not(None)).label("group_present"),
    group_rule.c.property_id,
    member_property.c.name.label("property_name"),
    member_property.c.type.label("property_type"),
    group_rule.c.value,
    group_rule.c.priority,
    group_rule.c.created_at,
)


def _select(account_id: int) -> Any:
    """Rules with their group's current name (the last seen once it is gone) and Property."""
    return (
        select(*_COLUMNS)
        .select_from(
            group_rule.join(
                member_property,
                (member_property.c.account_id == group_rule.c.account_id)
                & (member_property.c.id == group_rule.c.property_id),
            ).outerjoin(
                directory_group,
                (directory_group.c.account_id == group_rule.c.account_id)
                & (directory_group.c.id == group_rule.c.group_id),
            )
        )
        .where(group_rule.c.account_id == account_id)
    )


def list_rules(conn: Connection, account_id: int) -> list[dict[str, Any]]:
    """Every rule, by Property name, then in precedence order (priority, then age)."""
    query = _select(account_id).order_by(
        member_property.c.name_key, group_rule.c.priority, group_rule.c.id
    )
    return [_row(r) for r in conn.execute(query).mappings()]


def rules_of_property(conn: Connection, account_id: int, property_id: str) -> list[dict[str, Any]]:
    """The rules that set one Property, in precedence order (priority, then age)."""
    query = (
        _select(account_id)
        .where(group_rule.c.property_id == property_id)
        .order_by(group_rule.c.priority, group_rule.c.id)
    )
    return [_row(r) for r in conn.execute(query).mappings()]


def get_rule(conn: Connection, account_id: int, rule_id: int) -> dict[str, Any]:
    """One rule, or NotFoundError."""
    row = conn.execute(_select(account_id).where(group_rule.c.id == rule_id)).mappings().first()
    if row is None:
        raise NotFoundError(f"No group rule {rule_id}")
    return _row(row)


def _row(row: Any) -> dict[str, Any]:
    out = dict(row)
    out["group_present"] = bool(out["group_present"])
    return out


def count_rules(conn: Connection, account_id: int) -> int:
    """How many rules the account has."""
    query = select(func.count()).where(group_rule.c.account_id == account_id)
    return int(conn.execute(query).scalar_one())


def insert_rule(
    conn: Connection,
    account_id: int,
    *,
    group_id: str,
    group_name: str,
    property_id: str,
    value: Any,
    priority: int,
    now: datetime,
) -> int:
    """A new rule's id; a rule for the same group and Property is a ConflictError."""
    try:
        with conn.begin_nested():
            result = conn.execute(
                insert(group_rule).values(
                    account_id=account_id,
                    group_id=group_id,
                    group_name=group_name,
                    property_id=property_id,
                    value=value,
                    priority=priority,
                    created_at=now,
                )
            )
    except IntegrityError:
        raise ConflictError(
            f"Group {group_name!r} already has a rule for this Property: change that one",
            "group",
        ) from None
    return int(result.inserted_primary_key[0])


def update_rule(conn: Connection, account_id: int, rule_id: int, **values: Any) -> None:
    """Set the value and/or priority of one rule."""
    conn.execute(
        update(group_rule)
        .where(group_rule.c.account_id == account_id, group_rule.c.id == rule_id)
        .values(**values)
    )


def delete_rule(conn: Connection, account_id: int, rule_id: int) -> bool:
    """Remove one rule; False if there was none."""
    result = conn.execute(
        delete(group_rule).where(group_rule.c.account_id == account_id, group_rule.c.id == rule_id)
    )
    return bool(result.rowcount == 1)


def delete_for_property(conn: Connection, account_id: int, property_id: str) -> int:
    """Remove the rules of a Property being deleted; how many went."""
    result = conn.execute(
        delete(group_rule).where(
            group_rule.c.account_id == account_id, group_rule.c.property_id == property_id
        )
    )
    return int(result.rowcount)


def values_of_property(conn: Connection, account_id: int, property_id: str) -> list[Any]:
    """The values the rules of one Property set (a select: which options they use)."""
    query = select(group_rule.c.value).where(
        group_rule.c.account_id == account_id, group_rule.c.property_id == property_id
    )
    return list(conn.execute(query).scalars())


def rename_value(conn: Connection, account_id: int, property_id: str, old: str, new: str) -> None:
    """Rules setting a renamed select option set its new spelling."""
    for rule_id, value in conn.execute(
        select(group_rule.c.id, group_rule.c.value).where(
            group_rule.c.account_id == account_id, group_rule.c.property_id == property_id
        )
    ):
        if isinstance(value, str) and value.lower() == old.lower():
            update_rule(conn, account_id, rule_id, value=new)


# ---- what a sync reads ----


def groups_of_users(
    conn: Connection, account_id: int, user_ids: Sequence[str], group_ids: frozenset[str]
) -> dict[str, frozenset[str]]:
    """The groups among `group_ids` each of these directory users is a direct member of."""
    found: dict[str, set[str]] = {}
    rows = select_in(
        conn,
        "SELECT member_id, group_id FROM directory_membership "
        "WHERE account_id = ? AND member_type = 'User' AND member_id IN ({keys})",
        account_id,
        user_ids,
    )
    for user_id, group_id in rows:
        if group_id in group_ids:
            found.setdefault(user_id, set()).add(group_id)
    return {u: frozenset(g) for u, g in found.items()}


def members_in_groups(
    conn: Connection, account_id: int, group_ids: Sequence[str]
) -> dict[str, frozenset[str]]:
    """Directory users that have a member, by their groups among `group_ids`."""
    found: dict[str, set[str]] = {}
    rows = select_in(
        conn,
        "SELECT dm.member_id, dm.group_id FROM directory_membership dm JOIN member m "
        "ON m.account_id = dm.account_id AND m.directory_user_id = dm.member_id "
        "WHERE dm.account_id = ? AND dm.member_type = 'User' AND dm.group_id IN ({keys})",
        account_id,
        group_ids,
    )
    for user_id, group_id in rows:
        found.setdefault(user_id, set()).add(group_id)
    return {u: frozenset(g) for u, g in found.items()}


def values_set_by_rules(
    conn: Connection, account_id: int, property_ids: Sequence[str]
) -> dict[str, dict[str, Any]]:
    """Directory user -> Property id -> value, of the values rules set (source group) on
    these Properties for linked members."""
    out: dict[str, dict[str, Any]] = {}
    rows = select_in(
        conn,
        "SELECT m.directory_user_id, pv.property_id, pv.value FROM property_value pv "
        "JOIN member m ON m.account_id = pv.account_id AND m.id = pv.member_id "
        f"WHERE pv.account_id = ? AND pv.source = '{ValueSource.GROUP}' "
        "AND m.directory_user_id IS NOT NULL AND pv.property_id IN ({keys})",
        account_id,
        property_ids,
    )
    for user_id, prop_id, value in rows:
        out.setdefault(user_id, {})[prop_id] = driver.load_value(conn, value)
    return out


def find_group(conn: Connection, account_id: int, ref: str) -> tuple[str, str] | None:
    """A staged group by id, else by displayName (case-insensitively): (id, displayName)."""
    g = directory_group
    for condition in (g.c.id == ref[:64], g.c.display_name_key == ref.lower()[:512]):
        row = conn.execute(
            select(g.c.id, g.c.display_name).where(g.c.account_id == account_id, condition)
        ).first()
        if row is not None:
            return str(row[0]), str(row[1])
    return None


def staged_groups(conn: Connection, account_id: int, limit: int) -> list[tuple[str, str]]:
    """Staged groups by name, for a picker: (id, displayName)."""
    g = directory_group
    rows = conn.execute(
        select(g.c.id, g.c.display_name)
        .where(g.c.account_id == account_id)
        .order_by(g.c.display_name_key)
        .limit(limit)
    )
    return [(str(i), str(n)) for i, n in rows]


def groups_of_user(conn: Connection, account_id: int, user_id: str) -> frozenset[str]:
    """The groups one directory user is a direct member of."""
    rows = driver.execute(
        conn,
        "SELECT group_id FROM directory_membership "
        "WHERE account_id = ? AND member_type = 'User' AND member_id = ?",
        (account_id, user_id),
    ).fetchall()
    return frozenset(r[0] for r in rows)
