"""Filter parsing (RFC 7644 §3.4.2.2) on top of the scim2-models grammar, plus in-memory evaluation.

The grammar and syntax tree are scim2-models'. What we add: the bounded length, the
Entra tolerance for unquoted values, and an evaluator for value filters on stored JSON
(PATCH paths such as `emails[type eq "work"]`, and the in-memory twin of the SQL compiler).
"""

from __future__ import annotations

import json
import operator
import re
from collections.abc import Callable
from datetime import datetime
from typing import Any, TypeVar

from scim2_models import InvalidFilterException, InvalidPathException, Path, ScimFilter
from scim2_models.path import (
    AttrPath,
    CompareOperator,
    Comparison,
    FilterNode,
    LogicalExpr,
    LogicalOperator,
    Not,
    PathNode,
    Present,
    ValuePath,
)

from scimgate.scim.constants import MAX_FILTER_LENGTH
from scimgate.scim.errors import InvalidFilterError, InvalidPathError
from scimgate.scim.schema import AttrDef
from scimgate.scim.text import storable

__all__ = [
    "AttrPath",
    "CompareOperator",
    "Comparison",
    "FilterNode",
    "LogicalExpr",
    "LogicalOperator",
    "Not",
    "PathNode",
    "Present",
    "ValuePath",
    "get_ci",
    "parse_filter",
    "parse_path",
    "value_matches",
]

_BAREWORD = re.compile(r"""(?i)\b(eq|ne|co|sw|ew|gt|ge|lt|le)(\s+)([^\s"()\[\]]+)""")
_JSON_LITERAL = re.compile(
    r"(?i)^(true|false|null|-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?)$"
)


def _quote_barewords(expression: str) -> str:
    """Entra's documented lookup `externalId eq jyoung` carries an unquoted string: quote it."""

    def repl(match: re.Match[str]) -> str:
        word = match.group(3)
        if _JSON_LITERAL.match(word):
            return match.group(0)
        return f"{match.group(1)}{match.group(2)}{json.dumps(word)}"

    return _BAREWORD.sub(repl, expression)


# The lookup every IdP makes, `attr eq "plain text"` (no escapes, no sub-attribute or URN):
# read without the grammar. scim2-models' parser costs ~50 µs for a filter it has not seen
# (it caches the ones it has), a tenth of a PostgreSQL lookup's CPU; this costs ~1 µs and
# builds the same node (tests/unit/test_filter.py checks them against each other).
_SIMPLE_EQ = re.compile(r' *([A-Za-z][A-Za-z0-9_-]*) +(?i:eq) +"([^"\\\x00-\x1f\x7f]*)" *')


def parse_filter(expression: str) -> FilterNode:
    """Parse a filter into scim2-models' syntax tree; raise InvalidFilterError on bad input."""
    if len(expression) > MAX_FILTER_LENGTH:
        raise InvalidFilterError(f"The filter is longer than {MAX_FILTER_LENGTH} characters")
    if not expression.strip():
        raise InvalidFilterError("The filter is empty")
    if not storable(expression):
        raise InvalidFilterError(_SURROGATE)
    simple = _SIMPLE_EQ.fullmatch(expression)
    if simple is not None and simple.group(1).lower() != "not":  # `not eq …` is a syntax error
        return Comparison(
            AttrPath(simple.group(1), None, None), CompareOperator.eq, simple.group(2)
        )
    try:
        return _checked(ScimFilter(expression).ast, InvalidFilterError)
    except InvalidFilterException as first:
        quoted = _quote_barewords(expression)
        if quoted != expression:
            try:
                return _checked(ScimFilter(quoted).ast, InvalidFilterError)
            except InvalidFilterException:
                pass
        raise InvalidFilterError(f"Invalid filter {expression!r}: {first.detail}") from None
    except (ValueError, RecursionError) as exc:
        raise InvalidFilterError(f"Invalid filter {expression!r}: {exc}") from None


def parse_path(path: str) -> PathNode | None:
    """Parse a PATCH path: AttrPath, or ValuePath (optionally with a sub-attribute)."""
    if len(path) > MAX_FILTER_LENGTH:
        raise InvalidPathError("The path is too long")
    if not storable(path):
        raise InvalidPathError(_SURROGATE)
    try:
        return _checked(Path(path).ast, InvalidPathError)
    except InvalidPathException as first:
        quoted = _quote_barewords(path)
        if quoted != path:
            try:
                return _checked(Path(quoted).ast, InvalidPathError)
            except InvalidPathException:
                pass
        raise InvalidPathError(f"Invalid path {path!r}: {first.detail}") from None
    except (ValueError, RecursionError) as exc:
        raise InvalidPathError(f"Invalid path {path!r}: {exc}") from None


_Tree = TypeVar("_Tree")
_SURROGATE = "A NUL or a lone surrogate (such as \\ud800) is not text a directory holds"


def _checked(ast: _Tree, error: type[InvalidFilterError | InvalidPathError]) -> _Tree:
    """The tree, once no literal in it is a string UTF-8 cannot encode (a `\\ud800` escape)."""
    stack: list[object] = [ast]
    while stack:
        node = stack.pop()
        if isinstance(node, LogicalExpr):
            stack.extend(node.terms)
        elif isinstance(node, Not):
            stack.append(node.expr)
        elif isinstance(node, ValuePath):
            stack.append(node.val_filter)
        elif (
            isinstance(node, Comparison)
            and isinstance(node.value, str)
            and not storable(node.value)
        ):
            raise error(_SURROGATE)
    return ast


def _parse_datetime(value: Any) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        return datetime.fromisoformat(value)  # Python 3.11 reads a trailing Z
    except ValueError:
        return None


def _as_boolean(value: Any, attr: AttrDef | None) -> bool:
    """Entra sends booleans as "True"/"False" strings: read those as their meaning."""
    if isinstance(value, str):
        return value.strip().lower() == "true"
    return bool(value)


def _as_datetime(value: Any, attr: AttrDef | None) -> datetime | None:
    """Instants compare as instants, whatever their spelling."""
    return _parse_datetime(value)


def _as_number(value: Any, attr: AttrDef | None) -> int | float | None:
    """A number stays itself; anything else (booleans too) compares as unassigned."""
    return value if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def _as_text(value: Any, attr: AttrDef | None) -> Any:
    """Strings compare case-insensitively unless the attribute is caseExact."""
    if isinstance(value, str):
        return value if attr is not None and attr.case_exact else value.lower()
    return value


_NORMALISERS: dict[str, Callable[[Any, AttrDef | None], Any]] = {
    "boolean": _as_boolean,
    "dateTime": _as_datetime,
    "integer": _as_number,
    "decimal": _as_number,
}


def _normalise(value: Any, attr: AttrDef | None) -> Any:
    """Bring a stored or filter value to a comparable form for this attribute."""
    if value is None:
        return None
    kind = attr.type if attr else "string"
    return _NORMALISERS.get(kind, _as_text)(value, attr)


def _on_text(test: Callable[[str, str], bool]) -> Callable[[Any, Any], bool]:
    """co/sw/ew hold only between two strings."""

    def run(left: Any, right: Any) -> bool:
        return isinstance(left, str) and isinstance(right, str) and test(left, right)

    return run


def _ordered(test: Callable[[Any, Any], Any]) -> Callable[[Any, Any], bool]:
    """gt/ge/lt/le between values that have no order (a date and a number) are false."""

    def run(left: Any, right: Any) -> bool:
        try:
            return bool(test(left, right))
        except TypeError:
            return False

    return run


# The operators that need both sides assigned (eq and ne compare unassigned values too).
_ASSIGNED_TESTS: dict[CompareOperator, Callable[[Any, Any], bool]] = {
    CompareOperator.co: _on_text(lambda left, right: right in left),
    CompareOperator.sw: _on_text(str.startswith),
    CompareOperator.ew: _on_text(str.endswith),
    CompareOperator.gt: _ordered(operator.gt),
    CompareOperator.ge: _ordered(operator.ge),
    CompareOperator.lt: _ordered(operator.lt),
    CompareOperator.le: _ordered(operator.le),
}


def compare(op: CompareOperator, stored: Any, wanted: Any, attr: AttrDef | None) -> bool:
    """RFC 7644 §3.4.2.2 comparison of one stored value with a filter value."""
    left = _normalise(stored, attr)
    right = _normalise(wanted, attr)
    if op == CompareOperator.eq:
        return bool(left == right)
    if op == CompareOperator.ne:
        return bool(left != right)
    if left is None or right is None:
        return False
    test = _ASSIGNED_TESTS.get(op)
    return test is not None and test(left, right)


def _present(value: Any) -> bool:
    return value not in (None, "", [], {})


def value_matches(node: FilterNode, element: Any, attr: AttrDef) -> bool:
    """Whether one element of multi-valued attribute `attr` matches a value filter.

    Inside brackets attribute names are sub-attributes of `attr`; a simple
    multi-valued attribute (no sub-attributes) compares its values as `value`.
    """
    if isinstance(node, LogicalExpr):
        if node.op == LogicalOperator.and_:
            return all(value_matches(t, element, attr) for t in node.terms)
        return any(value_matches(t, element, attr) for t in node.terms)
    if isinstance(node, Not):
        return not value_matches(node.expr, element, attr)
    if isinstance(node, (Comparison, Present)):
        name = node.attr_path.attr
        if isinstance(element, dict):
            sub = attr.sub_attr(name)
            stored = get_ci(element, name)
        else:
            sub = AttrDef(name="value", type=attr.type, case_exact=attr.case_exact)
            stored = element if name.lower() == "value" else None
        if isinstance(node, Present):
            return _present(stored)
        return compare(node.op, stored, node.value, sub)
    raise InvalidFilterError("Nested value filters are not supported")


def get_ci(obj: Any, name: str) -> Any:
    """Case-insensitive key lookup: attribute names are case-insensitive (RFC 7643 §2.1)."""
    if not isinstance(obj, dict):
        return None
    if name in obj:
        return obj[name]
    lowered = name.lower()
    for key, value in obj.items():
        if key.lower() == lowered:
            return value
    return None
