"""A PatchOp message (RFC 7644 §3.5.2) read into its operations, before any is applied.

"op" is case-insensitive here: Entra sends `Add`, `Replace` and `Remove` (its docs ask
services not to require a case-sensitive match); so are the message's own keys.
"""

from __future__ import annotations

from typing import Any, NamedTuple

from scimgate.scim.constants import PATCH_OP
from scimgate.scim.errors import InvalidPathError, InvalidSyntaxError, TooManyError

_OPS = {"add", "remove", "replace"}


class PatchOperation(NamedTuple):
    """One operation as sent: `op` lower-cased, a blank `path` as None, and whether a value came."""

    op: str
    path: str | None
    value: Any
    has_value: bool


def read_operations(body: Any, *, max_operations: int) -> list[PatchOperation]:
    """Validate a PatchOp message; return its operations in order."""
    if not isinstance(body, dict):
        raise InvalidSyntaxError("The PATCH body must be a JSON object")
    lowered = {str(k).lower(): v for k, v in body.items()}
    _check_schemas(lowered.get("schemas"))
    operations = lowered.get("operations")
    if not isinstance(operations, list) or not operations:
        raise InvalidSyntaxError("A PATCH body needs a non-empty 'Operations' list")
    if len(operations) > max_operations:
        raise TooManyError(f"At most {max_operations} operations per PATCH request")
    return [_read_operation(raw) for raw in operations]


def _check_schemas(schemas: Any) -> None:
    """`schemas` may be left out (IdPs do), but when sent it must name the PatchOp schema."""
    if schemas is not None and (
        not isinstance(schemas, list) or PATCH_OP.lower() not in [str(s).lower() for s in schemas]
    ):
        raise InvalidSyntaxError(f"A PATCH body must declare the schema {PATCH_OP}")


def _read_operation(raw: Any) -> PatchOperation:
    """One element of `Operations`: an object with a known `op` and an optional string path."""
    if not isinstance(raw, dict):
        raise InvalidSyntaxError("Each operation must be an object with 'op'")
    op_fields = {str(k).lower(): v for k, v in raw.items()}
    op = op_fields.get("op")
    if not isinstance(op, str) or op.lower() not in _OPS:
        raise InvalidSyntaxError(f"Unsupported operation {op!r}: use add, remove or replace")
    path = op_fields.get("path")
    if path is not None and not isinstance(path, str):
        raise InvalidPathError("'path' must be a string")
    if isinstance(path, str) and not path.strip():
        path = None
    return PatchOperation(op.lower(), path, op_fields.get("value"), "value" in op_fields)
