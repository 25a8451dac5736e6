"""Named tolerances for what identity providers really send, each with the request it was seen in.

Every function here is small, pure and tested on its own; callers apply them where
values arrive, so the rest of the code sees one canonical shape.
"""

from __future__ import annotations

from typing import Any

from scimgate.scim.errors import InvalidValueError

_TRUE = {"true": True, "false": False}


def entra_string_boolean(value: Any, attribute: str) -> bool:
    """Entra sends `"active": "False"` and `"primary": "True"`; accept any case of true/false.

    Seen: `{"op":"Replace","path":"active","value":"False"}` (Entra, no aadOptscim062020 flag).
    """
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in _TRUE:
        return _TRUE[value.strip().lower()]
    raise InvalidValueError(f"Attribute {attribute!r} must be a boolean, got {value!r}")


def entra_manager_reference(value: Any) -> dict[str, Any] | None:
    """Entra sends manager as `"id"`, `{"value": id}` or `[{"$ref": ..., "value": id}]`: keep `{"value": id}`.

    Seen: `{"op":"Add","path":"manager","value":[{"$ref":"http://.../Users/00aa","value":"00aa"}]}`
    and `{"op":"add","path":"urn:...:enterprise:2.0:User:manager","value":"2c2f6fb8-..."}`.
    An empty value (`""`, `{}`, `[]`, `{"value": ""}`) clears the manager.
    """
    if isinstance(value, list):
        if not value:
            return None
        if len(value) > 1:
            raise InvalidValueError("A user has at most one manager")
        value = value[0]
    if value is None:
        return None
    if isinstance(value, str):
        return {"value": value} if value.strip() else None
    if isinstance(value, dict):
        lowered = {k.lower(): v for k, v in value.items()}
        manager_id = lowered.get("value")
        if manager_id is None or manager_id == "":
            return None
        if not isinstance(manager_id, str):
            raise InvalidValueError("manager.value must be a string (the manager's id)")
        result: dict[str, Any] = {"value": manager_id}
        if isinstance(lowered.get("$ref"), str) and lowered["$ref"]:
            result["$ref"] = lowered["$ref"]
        return result
    raise InvalidValueError(f"manager must be an id or an object with 'value', got {value!r}")


def drop_nulls(value: Any) -> Any:
    """Entra's tutorial POST carries `"addresses": null`, `"title": null`: null means unassigned (RFC 7643 §2.5)."""
    if isinstance(value, dict):
        return {k: drop_nulls(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [drop_nulls(v) for v in value if v is not None]
    return value
