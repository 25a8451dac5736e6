"""PATCH operations on the elements a value filter selects (`emails[type eq "work"].value`).

RFC 7644 §3.5.2: a remove takes the matching elements (or their sub-attribute) away, an
add or replace writes into each of them. Where nothing matches, Entra requires add and
replace on `emails[type eq "work"].value` to create the element the filter describes.
"""

from __future__ import annotations

from typing import Any

from scimgate.scim.errors import (
    InvalidFilterError,
    InvalidPathError,
    InvalidValueError,
    NoTargetError,
)
from scimgate.scim.filter import (
    CompareOperator,
    Comparison,
    FilterNode,
    LogicalExpr,
    LogicalOperator,
    ValuePath,
    value_matches,
)
from scimgate.scim.mutability import empty
from scimgate.scim.schema import AttrDef


def matching(node: ValuePath, items: list[Any], definition: AttrDef) -> list[Any]:
    """The elements the value filter selects; a filter it cannot evaluate is a bad path."""
    try:
        return [item for item in items if value_matches(node.val_filter, item, definition)]
    except InvalidFilterError as exc:
        raise InvalidPathError(exc.detail) from None


def apply_value_path(
    op: str, node: ValuePath, container: dict[str, Any], definition: AttrDef, key: str, value: Any
) -> None:
    """`op` on the elements of the multi-valued `container[key]` that `node` selects."""
    current = container.get(key)
    items: list[Any] = current if isinstance(current, list) else []
    if not definition.sub:
        _apply_to_simple_values(op, node, container, definition, items, value)
        return
    if not all(isinstance(item, dict) for item in items):
        # An earlier operation of this request left a non-object element here.
        raise InvalidValueError(f"Every value of {definition.name!r} must be an object")
    matches = matching(node, items, definition)
    sub_key = _sub_key(node, definition)
    if op == "remove":
        _remove_matches(container, key, items, matches, sub_key)
    elif matches:
        for item in matches:
            _write(item, node, sub_key, value)
        container[key] = items
    else:
        _create_described(node, container, definition, key, items, sub_key, value)


def _sub_key(node: ValuePath, definition: AttrDef) -> str | None:
    """The sub-attribute after the filter (`.value`), in its schema spelling."""
    if not node.sub_attr:
        return None
    sub_def = definition.sub_attr(node.sub_attr)
    if sub_def is None:
        raise InvalidPathError(f"{definition.name!r} has no sub-attribute {node.sub_attr!r}")
    return sub_def.name


def _remove_matches(
    container: dict[str, Any], key: str, items: list[Any], matches: list[Any], sub_key: str | None
) -> None:
    """Remove the matched elements, or only their sub-attribute."""
    if sub_key:
        for item in matches:
            item.pop(sub_key, None)
    else:
        container[key] = [item for item in items if not any(item is m for m in matches)]


def _write(element: dict[str, Any], node: ValuePath, sub_key: str | None, value: Any) -> None:
    """Set the sub-attribute (an empty value clears it), or merge an object into the element."""
    if sub_key:
        if empty(value):
            element.pop(sub_key, None)
        else:
            element[sub_key] = value
    elif isinstance(value, dict):
        element.update(value)
    else:
        raise InvalidValueError(f"The value for {str(node)!r} must be an object")


def _create_described(
    node: ValuePath,
    container: dict[str, Any],
    definition: AttrDef,
    key: str,
    items: list[Any],
    sub_key: str | None,
    value: Any,
) -> None:
    """Entra: add or replace on emails[type eq "work"].value creates the work email."""
    seed = _element_from_filter(node.val_filter, definition)
    if seed is None:
        raise NoTargetError(f"No value of {definition.name!r} matches {str(node)!r}")
    if sub_key and empty(value):
        return
    _write(seed, node, sub_key, value)
    items.append(seed)
    container[key] = items


def _apply_to_simple_values(
    op: str,
    node: ValuePath,
    container: dict[str, Any],
    definition: AttrDef,
    items: list[Any],
    value: Any,
) -> None:
    """`schemas[value eq "x"]`: elements of a simple multi-valued attribute are the values."""
    key = definition.name
    if node.sub_attr:
        raise InvalidPathError(f"{key!r} has no sub-attribute {node.sub_attr!r}")
    matches = matching(node, items, definition)
    chosen = [any(item is m for m in matches) for item in items]
    if op == "remove":
        container[key] = [item for item, hit in zip(items, chosen, strict=True) if not hit]
        return
    if not matches:
        raise NoTargetError(f"No value of {key!r} matches {str(node)!r}")
    if isinstance(value, (dict, list)) or empty(value):
        raise InvalidValueError(f"The value for {str(node)!r} must be a single value")
    container[key] = [value if hit else item for item, hit in zip(items, chosen, strict=True)]


def _element_from_filter(node: FilterNode, definition: AttrDef) -> dict[str, Any] | None:
    """`type eq "work"` (or a conjunction of eq) to the element it describes: `{"type": "work"}`."""
    terms = (
        node.terms if isinstance(node, LogicalExpr) and node.op == LogicalOperator.and_ else (node,)
    )
    seed: dict[str, Any] = {}
    for term in terms:
        if not isinstance(term, Comparison) or term.op != CompareOperator.eq:
            return None
        sub = definition.sub_attr(term.attr_path.attr)
        seed[sub.name if sub else term.attr_path.attr] = term.value
    return seed or None
