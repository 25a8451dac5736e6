"""Pre-written SQL for the lookups identity providers make on every sync cycle.

Entra and Okta only ever send a handful of filter shapes (entra-provisioning.md §1.2,
§1.6, §1.9): `attr eq value` on userName, externalId, id, the work email, group
displayName and membership, joined by `and`. Those compile here straight to indexed SQL
text; anything else returns None and goes through the general compiler (filter_sql.py).
Both give the same answers: tests run each shape through both.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from scimgate.scim.constants import ENTERPRISE_USER_SCHEMA
from scimgate.scim.filter import (
    CompareOperator,
    Comparison,
    FilterNode,
    LogicalExpr,
    LogicalOperator,
    ValuePath,
)
from scimgate.scim.resource_types import ResourceKind, resource_type

_MAX_TERMS = 4
_ENTERPRISE = ENTERPRISE_USER_SCHEMA.lower()

Condition = tuple[str, list[Any]]  # SQL text with ? placeholders, and its parameters


def compile_lookup(
    node: FilterNode, kind: str, *, account_id: int, postgres: bool
) -> Condition | None:
    """SQL condition and parameters for a lookup-shaped filter, or None for anything else."""
    terms = (
        node.terms if isinstance(node, LogicalExpr) and node.op == LogicalOperator.and_ else (node,)
    )
    if len(terms) > _MAX_TERMS:
        return None
    parts: list[str] = []
    params: list[Any] = []
    for term in terms:
        compiled = _term(term, kind, account_id, postgres)
        if compiled is None:
            return None
        parts.append(compiled[0])
        params.extend(compiled[1])
    return " AND ".join(parts), params


def _text(value: Any) -> str | None:
    """Strings, and numbers as the string an unquoted Entra value spells; nothing else."""
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, (int, float)):
        return str(value)
    return value if isinstance(value, str) else None


def _core(uri: str | None, kind: str) -> bool:
    return uri is None or uri.lower() == resource_type(kind).schema.lower()


def _term(term: Any, kind: str, account_id: int, postgres: bool) -> Condition | None:
    if isinstance(term, ValuePath):
        return _value_path(term, kind, account_id)
    if not isinstance(term, Comparison) or term.op != CompareOperator.eq:
        return None
    value = _text(term.value)
    if value is None:
        return None
    path = term.attr_path
    attr, sub = path.attr.lower(), (path.sub_attr or "").lower()
    if kind == ResourceKind.USER and _is_manager(path.uri, attr, sub):
        return _manager(value, postgres)
    if not _core(path.uri, kind):
        return None
    build = _EQUALITIES.get((kind, attr, sub))
    return build(account_id, value) if build is not None else None


def _is_manager(uri: str | None, attr: str, sub: str) -> bool:
    """The enterprise manager's value (Entra sends it without its schema URN too)."""
    return (
        attr == "manager" and sub in ("", "value") and (uri is None or uri.lower() == _ENTERPRISE)
    )


def _manager(value: str, postgres: bool) -> Condition:
    if postgres:
        return f"doc #>> '{{{ENTERPRISE_USER_SCHEMA},manager,value}}' = ?", [value]
    return f"json_extract(doc, '$.\"{ENTERPRISE_USER_SCHEMA}\".manager.value') = ?", [value]


def _value_path(term: ValuePath, kind: str, account_id: int) -> Condition | None:
    """`emails[type eq "work" and value eq "x"]` (Entra's `emails[type eq "work"].value eq "x"`), `members[value eq "id"]`."""
    path = term.attr_path
    if term.sub_attr or path.sub_attr or not _core(path.uri, kind):
        return None
    inner = term.val_filter
    conditions = (
        inner.terms
        if isinstance(inner, LogicalExpr) and inner.op == LogicalOperator.and_
        else (inner,)
    )
    wanted: dict[str, str] = {}
    for condition in conditions:
        if (
            not isinstance(condition, Comparison)
            or condition.op != CompareOperator.eq
            or condition.attr_path.sub_attr
        ):
            return None
        value = _text(condition.value)
        name = condition.attr_path.attr.lower()
        if value is None or name in wanted:
            return None
        wanted[name] = value
    if (
        kind == ResourceKind.USER
        and path.attr.lower() == "emails"
        and "value" in wanted
        and set(wanted) <= {"value", "type"}
    ):
        return _email(account_id, wanted["value"], wanted.get("type"))
    if kind == ResourceKind.GROUP and path.attr.lower() == "members" and set(wanted) == {"value"}:
        return _member(account_id, wanted["value"])
    return None


def _email(account_id: int, value: str, email_type: str | None = None) -> Condition:
    sql = "id IN (SELECT user_id FROM directory_user_email WHERE account_id = ? AND value_key = ?"
    params: list[Any] = [account_id, value.lower()]
    if email_type is not None:
        sql += " AND lower(type) = ?"
        params.append(email_type.lower())
    return sql + ")", params


def _member(account_id: int, member_id: str) -> Condition:
    return (
        "id IN (SELECT group_id FROM directory_membership WHERE account_id = ? AND member_id = ?)",
        [account_id, member_id],
    )


def _id(_account_id: int, value: str) -> Condition:
    return "id = ?", [value]


def _external_id(_account_id: int, value: str) -> Condition:
    return "external_id = ?", [value]


def _user_name(_account_id: int, value: str) -> Condition:
    return "user_name_key = ?", [value.lower()]


def _display_name(_account_id: int, value: str) -> Condition:
    return "display_name_key = ?", [value.lower()]


# `attr eq value` on a core attribute: (resource type, attribute, sub-attribute) -> SQL.
_EQUALITIES: dict[tuple[str, str, str], Callable[[int, str], Condition]] = {
    (ResourceKind.USER, "id", ""): _id,
    (ResourceKind.USER, "externalid", ""): _external_id,
    (ResourceKind.USER, "username", ""): _user_name,
    (ResourceKind.USER, "emails", ""): _email,
    (ResourceKind.USER, "emails", "value"): _email,
    (ResourceKind.GROUP, "id", ""): _id,
    (ResourceKind.GROUP, "externalid", ""): _external_id,
    (ResourceKind.GROUP, "displayname", ""): _display_name,
    (ResourceKind.GROUP, "members", ""): _member,
    (ResourceKind.GROUP, "members", "value"): _member,
}
