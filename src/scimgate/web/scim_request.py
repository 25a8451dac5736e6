"""What a SCIM request carries before anyone is asked about it: its Bearer token and its
JSON body, checked for emptiness, syntax and nesting."""

from __future__ import annotations

from typing import Any

import orjson
from starlette.requests import Request

from scimgate.scim import errors as scim_errors
from scimgate.scim.constants import MAX_JSON_DEPTH


def parse_body(raw: bytes) -> Any:
    """A SCIM request body: JSON, not empty, not nested beyond MAX_JSON_DEPTH."""
    if not raw.strip():
        raise scim_errors.InvalidSyntaxError("The request body is empty")
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise scim_errors.InvalidSyntaxError(
            f"The request body is not valid JSON: {exc.msg}"
        ) from None
    if json_depth(body) > MAX_JSON_DEPTH:
        raise scim_errors.InvalidSyntaxError(
            f"The request body nests deeper than {MAX_JSON_DEPTH} levels"
        )
    return body


def bearer_token(request: Request) -> str | None:
    """The Bearer token of the Authorization header, or None (any other scheme too)."""
    header = request.headers.get("authorization")
    if not header:
        return None
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    return token.strip()


def json_depth(value: Any) -> int:
    """Nesting depth of a JSON value, iteratively (a hostile body must not blow the stack)."""
    deepest = 0
    stack = [(value, 1)]
    while stack:
        item, level = stack.pop()
        if isinstance(item, dict):
            deepest = max(deepest, level)
            stack.extend((v, level + 1) for v in item.values())
        elif isinstance(item, list):
            deepest = max(deepest, level)
            stack.extend((v, level + 1) for v in item)
    return deepest
