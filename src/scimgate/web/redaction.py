"""Redaction of what the request log keeps: every credential shape scimgate issues or
accepts, and every password-, secret-, token- or key-named field, in paths, query strings,
bodies and details; JSON nested beyond MAX_DEPTH is cut. Pure functions, no I/O."""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Any
from urllib.parse import quote, unquote

import orjson

REDACTED = "[redacted]"
MAX_BODY_CHARS = 8000
MAX_DEPTH = 64  # JSON nested deeper is cut there: scrubbing is recursive


# Every credential scimgate issues or accepts, as it appears in text: (name, shape).
CREDENTIAL_SHAPES: list[tuple[str, re.Pattern[str]]] = [
    ("api key", re.compile(r"(?i)sgk_[A-Za-z0-9_-]+")),
    ("provisioning token", re.compile(r"(?i)sgp_[A-Za-z0-9_-]+")),
    ("setup link", re.compile(r"(?i)sgs_[A-Za-z0-9_-]+")),
    ("webhook secret", re.compile(r"(?i)whsec_[A-Za-z0-9+/=_-]+")),
    ("bearer credential", re.compile(r"(?i)\bbearer[\s+]+([^\s\"'&,;<>]+)")),
]
# A field name that says its value is a credential: password, client_secret, apiKey, ...
_SECRET_NAME = re.compile(
    r"(?i)passw(?:or)?d|secret|token|credential|authori[sz]ation|(?:key|pwd)s?\W*$"
)
# `name: value` or `name=value` in text (JSON, form, YAML...); the callback checks the name.
_FIELD = re.compile(
    r"""(?P<name>"[^"\\\n]{1,100}"|'[^'\\\n]{1,100}'|[\w.\-\[\]]{1,100})"""
    r"""(?P<sep>\s*[:=]\s*)"""
    r"""(?P<value>"(?:[^"\\]|\\.)*(?:"|$)|'(?:[^'\\]|\\.)*(?:'|$)|[^\s&,;}\]"']+)"""
)
_QUERY_SAFE = "[]/:@!$()*,;'"


@lru_cache(maxsize=4096)
def is_secret_name(name: str) -> bool:
    """Whether a field or parameter of this name holds a credential (its value is redacted);
    remembered, since bodies repeat the same few dozen names."""
    return bool(_SECRET_NAME.search(name))


# The shapes above as one pattern: one pass over each text instead of one per shape (the
# writer redacts every string of every logged body; measured as its largest cost).
_ANY_CREDENTIAL = re.compile(
    "|".join(f"(?:{shape.pattern[4:]})" for _, shape in CREDENTIAL_SHAPES), re.IGNORECASE
)


def redact_credentials(text: str) -> str:
    """Replace every credential shape in free text (a value, a path, a message)."""
    if "_" not in text and "bearer" not in text.lower():
        return text  # no shape can match: every one has `_` or spells "bearer"
    return _ANY_CREDENTIAL.sub(_replacement, text)


def _replacement(match: re.Match[str]) -> str:
    """The credential blanked; a shape with a group (`Bearer xyz`) keeps what precedes it."""
    if match.lastindex:
        return match.group(0)[: match.start(1) - match.start(0)] + REDACTED
    return REDACTED


def redact_fields(text: str) -> str:
    """Blank the value of every `password: …`, `"token": "…"` or `key=…` in free text."""
    if ":" not in text and "=" not in text:
        return text  # no `name: value` or `name=value` to look at (most paths and filters)
    return _FIELD.sub(_redact_field, text)


def _redact_field(match: re.Match[str]) -> str:
    name, sep, value = match.group("name", "sep", "value")
    if not is_secret_name(name.strip("\"'")):
        return match.group(0)
    quote_char = value[:1] if value[:1] in "\"'" else ""
    return f"{name}{sep}{quote_char}{REDACTED}{quote_char}"


def redact_text(text: str) -> str:
    """Free text (a path, a detail, a body that is not JSON): credentials and secret fields."""
    return redact_fields(redact_credentials(text))


def redact_query(query: str) -> str:
    """A raw query string: each parameter checked decoded (a credential may be %-encoded)."""
    return "&".join(_redact_parameter(part) for part in query.split("&"))


def _redact_parameter(part: str) -> str:
    name, eq, value = part.partition("=")
    if eq and is_secret_name(unquote(name)):
        return f"{_redact_encoded(name)}={REDACTED}"
    return _redact_encoded(name) + eq + _redact_encoded(value)


def _redact_encoded(raw: str) -> str:
    """A %-encoded piece, kept as received unless it held a secret (then re-encoded); a
    `+` stays a `+` (it may be part of a webhook secret, or a space before a bearer)."""
    decoded = unquote(raw)
    clean = redact_text(decoded)
    return raw if clean == decoded else quote(clean, safe=_QUERY_SAFE)


def redact_json(value: Any, depth: int = 1) -> Any:
    """A parsed JSON value with secret-named members blanked (and a PATCH on a password);
    nesting beyond MAX_DEPTH is cut, so the recursion is bounded. Credential shapes in
    strings are blanked afterwards, in the text (`_json_text`)."""
    if depth > MAX_DEPTH:
        return f"[cut: nested deeper than {MAX_DEPTH} levels]"
    if isinstance(value, list):
        return [redact_json(item, depth + 1) for item in value]
    if not isinstance(value, dict):
        return value
    secret_op = _is_secret_path(value.get("path"))
    out = {}
    for key, item in value.items():
        if is_secret_name(key) or (secret_op and key.lower() == "value"):
            out[key] = REDACTED
        else:
            out[key] = redact_json(item, depth + 1)
    return out


def _is_secret_path(path: Any) -> bool:
    """A SCIM PATCH path naming a secret attribute (`password`, `urn:…:User:password`)."""
    if not isinstance(path, str):
        return False
    return is_secret_name(re.sub(r"\[.*?\]", "", path).rsplit(":", 1)[-1])


def redact_body(raw: bytes | str | None) -> str | None:
    """A body as text for the log: secrets blanked, cut to MAX_BODY_CHARS."""
    if not raw:
        return None
    if isinstance(raw, bytearray | memoryview):
        raw = bytes(raw)
    text = _json_text(raw)
    if text is None:  # not JSON (or cut): blank what looks like a secret
        cut = raw[: MAX_BODY_CHARS * 4]
        text = redact_text(cut if isinstance(cut, str) else cut.decode("utf-8", "replace"))
    if len(text) > MAX_BODY_CHARS:
        text = text[:MAX_BODY_CHARS] + " … (cut)"
    return text


def _json_text(raw: bytes | str) -> str | None:
    """The body redacted and pretty-printed, or None when it is not JSON."""
    try:
        value = orjson.loads(raw)
    except (ValueError, TypeError):
        return None
    try:
        text = orjson.dumps(redact_json(value), option=orjson.OPT_INDENT_2).decode()
    except (orjson.JSONEncodeError, TypeError):
        return None
    # Credential shapes in keys and values, in one pass over the text: none of them can
    # span a JSON quote, and orjson writes letters, digits, `_` and `-` unescaped.
    return redact_credentials(text)
