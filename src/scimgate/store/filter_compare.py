"""SCIM comparison operators on one SQL expression, as the attribute's type compares them.

Strings (case-exact or not, LIKE or GLOB), numbers, booleans, dates and null; the filter
compiler (filter_sql.py) picks the expression, this module writes the comparison.
"""

from __future__ import annotations

import operator
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import ColumnElement, func, not_, or_

from scimgate.scim.errors import InvalidFilterError
from scimgate.scim.filter import CompareOperator
from scimgate.scim.schema import AttrDef

STRING_OPS = {CompareOperator.co, CompareOperator.sw, CompareOperator.ew}

# Operators that are plain SQL comparisons (`ne` also matches a missing value).
_ORDERED: dict[CompareOperator, Callable[[Any, Any], Any]] = {
    CompareOperator.eq: operator.eq,
    CompareOperator.gt: operator.gt,
    CompareOperator.ge: operator.ge,
    CompareOperator.lt: operator.lt,
    CompareOperator.le: operator.le,
}

_LIKE_PATTERNS: dict[CompareOperator, Callable[[str], str]] = {
    CompareOperator.co: lambda text: f"%{text}%",
    CompareOperator.sw: lambda text: f"{text}%",
    CompareOperator.ew: lambda text: f"%{text}",
}


def compare(
    column: Any, attr: AttrDef, op: CompareOperator, value: Any, lowered: bool, dialect: str
) -> ColumnElement[bool]:
    """`column op value` for `attr`'s type (`lowered`: the column holds a lower-cased copy)."""
    if attr.type == "dateTime":
        return compare_datetime_text(column, op, value)
    if attr.type == "boolean":
        return _compare_boolean(column, attr, op, value, dialect)
    if value is None:
        return _compare_null(column, op)
    if attr.type in ("integer", "decimal"):
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise InvalidFilterError(f"{attr.name!r} is a number: compare it with a number")
        return ordered(column, op, value)
    if isinstance(value, bool) or not isinstance(value, (str, int, float)):
        raise InvalidFilterError(f"{attr.name!r} is a string: compare it with a string")
    return _compare_string(column, attr, op, str(value), lowered, dialect)


def _compare_boolean(
    column: Any, attr: AttrDef, op: CompareOperator, value: Any, dialect: str
) -> ColumnElement[bool]:
    """Booleans take eq and ne only; a missing value counts as false."""
    if op not in (CompareOperator.eq, CompareOperator.ne):
        raise InvalidFilterError(f"{attr.name!r} is a boolean: only eq and ne apply")
    wanted = _as_bool(value, attr.name)
    test = column.is_(True) if wanted else or_(column.is_(False), column.is_(None))
    if dialect == "sqlite":
        test = column == (1 if wanted else 0)
        if not wanted:
            test = or_(test, column.is_(None))
    return test if op == CompareOperator.eq else not_(test)


def _compare_null(column: Any, op: CompareOperator) -> ColumnElement[bool]:
    """`eq null` and `ne null`: whether the value is missing."""
    if op == CompareOperator.eq:
        return column.is_(None)
    if op == CompareOperator.ne:
        return column.is_not(None)
    raise InvalidFilterError("null only compares with eq and ne")


def _compare_string(
    column: Any, attr: AttrDef, op: CompareOperator, text: str, lowered: bool, dialect: str
) -> ColumnElement[bool]:
    """Strings: lower-cased unless case-exact; co, sw and ew as LIKE (GLOB when exact on SQLite)."""
    if not attr.case_exact:
        text = text.lower()
        if not lowered:
            column = func.lower(column)
    if op not in STRING_OPS:
        return ordered(column, op, text)
    if attr.case_exact and dialect == "sqlite":
        if op == CompareOperator.co:
            return func.instr(column, text) > 0
        return column.op("GLOB", is_comparison=True)(_glob(text, op))
    return column.like(_LIKE_PATTERNS[op](escape_like(text)), escape="\\")


def ordered(column: Any, op: CompareOperator, value: Any) -> ColumnElement[bool]:
    """eq, ne, gt, ge, lt, le as SQL (other operators do not apply to this value)."""
    if op == CompareOperator.ne:
        return or_(column != value, column.is_(None))
    test = _ORDERED.get(op)
    if test is None:
        raise InvalidFilterError(f"Operator {op.value!r} does not apply here")
    result: ColumnElement[bool] = test(column, value)
    return result


def compare_datetime(column: Any, op: CompareOperator, value: Any) -> ColumnElement[bool]:
    """A timestamp column against an RFC 3339 date-time."""
    if op in STRING_OPS:
        raise InvalidFilterError("Dates compare with eq, ne, gt, ge, lt and le")
    return ordered(column, op, _as_datetime(value))


def compare_datetime_text(column: Any, op: CompareOperator, value: Any) -> ColumnElement[bool]:
    """A date-time stored as text in the document, against a valid RFC 3339 date-time."""
    if op in STRING_OPS:
        raise InvalidFilterError("Dates compare with eq, ne, gt, ge, lt and le")
    _as_datetime(value)
    return ordered(column, op, value)


def escape_like(value: str) -> str:
    """Escape LIKE wildcards so a search for "50%" finds "50%" (with `escape="\\"`)."""
    return value.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _glob(text: str, op: CompareOperator) -> str:
    escaped = "".join(f"[{c}]" if c in "*?[]" else c for c in text)
    return f"{escaped}*" if op == CompareOperator.sw else f"*{escaped}"


def _as_bool(value: Any, name: str) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in ("true", "false"):
        return value.lower() == "true"
    raise InvalidFilterError(f"{name!r} is a boolean: compare it with true or false")


def _as_datetime(value: Any) -> datetime:
    if isinstance(value, str):
        try:
            parsed = datetime.fromisoformat(value)  # Python 3.11 reads a trailing Z
        except ValueError:
            pass
        else:
            if parsed.tzinfo is None:
                parsed = parsed.replace(tzinfo=UTC)
            return parsed.astimezone(UTC)
    raise InvalidFilterError(f"{value!r} is not an RFC 3339 date-time")
