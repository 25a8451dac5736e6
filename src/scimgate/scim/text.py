"""Text a database and a JSON encoder can take: UTF-8 encodable (no lone surrogates), no NUL.

A JSON escape such as `"\\ud800"` (in a filter literal, or a body read by a lenient
parser) yields a Python string UTF-8 cannot encode; SQLite, psycopg and orjson all
refuse it, so it is refused here first, as the caller's SCIM error rather than a 500.
`whole_number` reads a number from untrusted text the same way: what `int()` would
raise on is None, never an exception.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import unquote_to_bytes


def encodable(text: str) -> bool:
    """Whether `text` encodes as UTF-8 (it holds no lone surrogate)."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def storable(text: str) -> bool:
    """Whether both databases hold `text` as sent: UTF-8 encodable and without NUL.

    PostgreSQL's text and jsonb refuse NUL while SQLite keeps it; refused here on both, a
    NUL is the same 400 whichever database is behind (and a filter for one finds nothing
    to be told apart).
    """
    return "\x00" not in text and encodable(text)


def encodable_value(value: Any) -> bool:
    """Whether every string in a JSON value (keys included) is `storable`; iterative, for deep values."""
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            if not storable(item):
                return False
        elif isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return True


def undecodable_param(query_string: bytes) -> str | None:
    """The name of the first query parameter whose value is not UTF-8 once percent-decoded.

    Starlette decodes such bytes to U+FFFD, so `filter=userName eq "%ED%A0%80"` (a
    surrogate, which UTF-8 forbids) would quietly search for another string.
    """
    for pair in query_string.split(b"&"):
        name, _, value = pair.partition(b"=")
        try:
            unquote_to_bytes(value.replace(b"+", b" ")).decode("utf-8")
        except UnicodeDecodeError:
            return unquote_to_bytes(name).decode("utf-8", "replace")
    return None


MAX_DIGITS = 18  # below 2**63: a count, an id or a length; int() refuses 4300 digits anyway


def whole_number(text: str | None, max_digits: int = MAX_DIGITS) -> int | None:
    """The whole number ASCII decimal text spells (spaces around allowed), else None.

    Not `str.isdigit()`: "²" and "①" are digits to it, and int() raises on them.
    """
    if text is None:
        return None
    text = text.strip()
    if not text or len(text) > max_digits or not text.isascii() or not text.isdecimal():
        return None
    return int(text)
