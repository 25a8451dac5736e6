"""A Group PATCH's member operations, as changes to membership rows rather than to the document.

Group members never enter the stored document: a PATCH naming `members` becomes a list of
`MemberOp`s that the store applies as row inserts and deletes, so a PATCH costs the size
of its batch, never the size of the group.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from scimgate.scim.errors import InvalidFilterError, InvalidPathError
from scimgate.scim.filter import (
    CompareOperator,
    Comparison,
    FilterNode,
    LogicalExpr,
    LogicalOperator,
    ValuePath,
)
from scimgate.scim.resource import coerce_members

MemberChange = Literal["add", "remove", "replace"]


@dataclass(frozen=True, slots=True)
class MemberOp:
    """One change to a group's membership: add these, remove these ids, or replace all."""

    kind: MemberChange
    members: tuple[dict[str, Any], ...] = ()
    ids: tuple[str, ...] = ()
    all: bool = False


def member_op(op: str, value: Any, has_value: bool) -> MemberOp:
    """`members` as a path (or a path-less key): add or replace these, remove these or all."""
    if op == "remove":
        if has_value and value not in (None, [], {}):
            ids = [m["value"] for m in coerce_members(value)]
            return MemberOp("remove", ids=tuple(ids))
        return MemberOp("remove", all=True)
    members = tuple(coerce_members(value))
    return MemberOp("add" if op == "add" else "replace", members=members)


def member_removal(op: str, node: ValuePath) -> MemberOp:
    """`members[value eq "id"]`: only a remove, of the ids the filter names."""
    if op != "remove" or node.sub_attr:
        raise InvalidPathError("Members are added or replaced with path 'members' and a value list")
    return MemberOp("remove", ids=tuple(_member_ids_from_filter(node.val_filter)))


def _member_ids_from_filter(node: FilterNode) -> list[str]:
    """`members[value eq "a"]` (or `value eq "a" or value eq "b"`) to the ids it names."""
    terms = (
        node.terms if isinstance(node, LogicalExpr) and node.op == LogicalOperator.or_ else (node,)
    )
    ids = []
    for term in terms:
        if (
            not isinstance(term, Comparison)
            or term.op != CompareOperator.eq
            or term.attr_path.attr.lower() != "value"
            or not isinstance(term.value, str)
        ):
            raise InvalidFilterError('Members are removed by id: members[value eq "<id>"]')
        ids.append(term.value)
    return ids
