"""Property types and the coercion of SCIM values onto them. Pure: no I/O.

A value that does not fit raises ValueError with a message for the sync item; member
references are resolved by the caller (they need the database).
"""

from __future__ import annotations

import math
import re
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

TYPES = ("text", "number", "date", "boolean", "select", "member")
MEMBER_FIELDS = ("name", "email")
MAX_TEXT = 2048
MAX_OPTIONS = 200
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_BOOLEAN = {"true": True, "false": False, "1": True, "0": False, "yes": True, "no": False}


def _scalar(value: Any) -> Any:
    """A complex value with `value` (Entra's manager, a picked email) stands for that value."""
    if isinstance(value, dict):
        lowered = {k.lower(): v for k, v in value.items()}
        if "value" in lowered:
            return lowered["value"]
        raise ValueError("is an object, not a single value (map one of its sub-attributes)")
    if isinstance(value, list):
        raise ValueError("is a list, not a single value (pick an element with a filter)")
    return value


def to_text(value: Any) -> str:
    """Strings as they are; numbers and booleans written out."""
    value = _scalar(value)
    if isinstance(value, bool):
        return "true" if value else "false"
    text = str(value).strip()
    if len(text) > MAX_TEXT:
        raise ValueError(f"is longer than {MAX_TEXT} characters")
    return text


def to_email(value: Any) -> str:
    """An address with one @ and a dot in its domain."""
    text = to_text(value)
    if not _EMAIL.match(text) or len(text) > 320:
        raise ValueError(f"{text!r} is not an email address")
    return text


def to_number(value: Any) -> int | float:
    """JSON numbers, or strings that spell one; integers stay integers."""
    value = _scalar(value)
    if isinstance(value, bool):
        raise ValueError(f"{value!r} is not a number")
    if isinstance(value, (int, float)):
        number = Decimal(str(value))
    else:
        try:
            number = Decimal(str(value).strip().replace(",", ""))
        except InvalidOperation:
            raise ValueError(f"{value!r} is not a number") from None
    if not number.is_finite():
        raise ValueError(f"{value!r} is not a finite number")
    if abs(number.adjusted()) > 400:  # 1e999999999 would overflow the arithmetic below
        raise ValueError(f"{str(value)[:40]!r} is out of range")
    try:
        if number == number.to_integral_value() and abs(number) < 2**53:
            return int(number)
        result = float(number)
    except ArithmeticError:
        raise ValueError(f"{str(value)[:40]!r} is out of range") from None
    if math.isinf(result):
        raise ValueError(f"{value!r} is out of range")
    return result


def to_date(value: Any) -> str:
    """An ISO date (`2024-05-01`) or date-time, kept as the date."""
    text = to_text(value)
    try:
        if len(text) == 10:
            return date.fromisoformat(text).isoformat()
        return datetime.fromisoformat(text.replace("Z", "+00:00")).date().isoformat()
    except ValueError:
        raise ValueError(f"{text!r} is not a date (YYYY-MM-DD)") from None


def to_boolean(value: Any) -> bool:
    """true/false in any case (Entra sends "False"), 1/0, yes/no."""
    value = _scalar(value)
    if isinstance(value, bool):
        return value
    key = str(value).strip().lower()
    if key not in _BOOLEAN:
        raise ValueError(f"{value!r} is not a boolean")
    return _BOOLEAN[key]


def to_option(value: Any, options: list[str]) -> str:
    """One of the Property's options, matched case-insensitively, in its own spelling."""
    text = to_text(value)
    for option in options:
        if option.lower() == text.lower():
            return option
    raise ValueError(f"{text!r} is not one of the options ({', '.join(options)})")


def to_reference(value: Any) -> str:
    """A member reference arrives as the referenced directory user's id."""
    text = to_text(value)
    if not text:
        raise ValueError("is empty")
    return text


def converter(kind: str, options: list[str] | None = None) -> Any:
    """The coercion function for a Property type or member field."""
    if kind == "select":
        opts = list(options or [])
        return lambda v: to_option(v, opts)
    return {
        "text": to_text,
        "name": to_text,
        "email": to_email,
        "number": to_number,
        "date": to_date,
        "boolean": to_boolean,
        "member": to_reference,
    }[kind]


def check_options(kind: str, options: list[str]) -> list[str]:
    """Options are for select Properties only: non-empty, unique case-insensitively."""
    cleaned = [o.strip() for o in options]
    if kind != "select":
        if cleaned:
            raise ValueError("only select Properties have options")
        return []
    if not cleaned:
        raise ValueError("a select Property needs at least one --option")
    if len(cleaned) > MAX_OPTIONS:
        raise ValueError(f"at most {MAX_OPTIONS} options")
    seen: set[str] = set()
    for option in cleaned:
        if not option or len(option) > 255:
            raise ValueError("an option is 1-255 characters")
        if option.lower() in seen:
            raise ValueError(f"option {option!r} is given twice")
        seen.add(option.lower())
    return cleaned
