"""Incoming User and Group bodies to the canonical document scimgate stores.

Attribute names are matched case-insensitively and written in their schema spelling,
values are checked against the attribute's type (derived from scim2-models' schemas),
Entra's quirks are applied, and what the server does not keep is reported as `ignored`
so the request log can show it. Group members are split off: they live as rows.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import date, datetime
from typing import Any

from scimgate.scim import quirks
from scimgate.scim.constants import MAX_STRING_LENGTH, URN_PREFIX
from scimgate.scim.errors import InvalidSyntaxError, InvalidValueError, MutabilityError
from scimgate.scim.resource_types import ResourceKind
from scimgate.scim.schema import AttrDef, ResourceSchema
from scimgate.scim.text import encodable_value, storable

# Read-only or server-computed attributes a client may echo back; never stored from input.
_SERVER_ATTRS = {"id", "meta", "groups"}
# A member's `type` as sent, kept when it names a resource type (a tuple: `type` may be any JSON).
_MEMBER_KINDS = tuple(ResourceKind)


@dataclass
class Normalised:
    """A canonical document plus what was left out of it and the group members it named."""

    doc: dict[str, Any]
    ignored: list[str] = field(default_factory=list)
    members: list[dict[str, Any]] | None = None


def _coerce_multi(value: Any, attr: AttrDef, where: str, ignored: list[str]) -> list[Any] | None:
    """A multi-valued attribute: a single value becomes a list; empties and repeats go."""
    values = [value] if isinstance(value, dict) or not isinstance(value, list) else value
    out: list[Any] = []
    single = replace(attr, multi=False)
    for item in values:
        coerced = coerce(item, single, where, ignored)
        if coerced not in (None, {}, "") and coerced not in out:
            out.append(coerced)
    return out or None


def _coerce_complex(
    value: Any, attr: AttrDef, where: str, ignored: list[str]
) -> dict[str, Any] | None:
    """An object: known sub-attributes in their schema spelling, unknown ones reported."""
    if not isinstance(value, dict):
        raise InvalidValueError(
            f"Attribute {where!r} must be an object, got {type(value).__name__}"
        )
    out: dict[str, Any] = {}
    for key, sub_value in value.items():
        sub = attr.sub_attr(key)
        if sub is None:
            ignored.append(f"{where}.{key}")
            continue
        coerced = coerce(sub_value, sub, f"{where}.{sub.name}", ignored)
        if coerced is not None:
            out[sub.name] = coerced
    return out or None


def _coerce_boolean(value: Any, attr: AttrDef, where: str, ignored: list[str]) -> bool:
    """A boolean, or Entra's "True"/"False" string."""
    return quirks.entra_string_boolean(value, where)


def _coerce_number(value: Any, attr: AttrDef, where: str, ignored: list[str]) -> int | float:
    """A JSON number; an integer attribute takes a float only when it is whole."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise InvalidValueError(f"Attribute {where!r} must be a number, got {value!r}")
    if attr.type == "integer" and isinstance(value, float):
        if not value.is_integer():
            raise InvalidValueError(f"Attribute {where!r} must be an integer, got {value!r}")
        return int(value)
    return value


def _coerce_string(value: Any, attr: AttrDef, where: str, ignored: list[str]) -> str:
    """string, reference, dateTime, binary: JSON strings a directory can hold."""
    if not isinstance(value, str):
        raise InvalidValueError(f"Attribute {where!r} must be a string, got {type(value).__name__}")
    if len(value) > MAX_STRING_LENGTH:
        raise InvalidValueError(
            f"Attribute {where!r} is longer than {MAX_STRING_LENGTH} characters"
        )
    if not storable(value):
        raise InvalidValueError(f"Attribute {where!r} holds a NUL or a lone surrogate (not text)")
    return value


def _coerce_datetime(value: Any, attr: AttrDef, where: str, ignored: list[str]) -> str:
    """An xsd:dateTime (RFC 3339), or a plain date (`2024-05-01`) as HR sources hold one."""
    text = _coerce_string(value, attr, where, ignored)
    try:
        if len(text) == len("2024-05-01"):
            date.fromisoformat(text)
        else:
            datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        raise InvalidValueError(
            f"Attribute {where!r} must be a date-time (2024-05-01T00:00:00Z), got {text[:40]!r}"
        ) from None
    return text


# A single value's check by attribute type; any other type is a JSON string.
_Coercer = Callable[[Any, AttrDef, str, list[str]], Any]
_COERCERS: dict[str, _Coercer] = {
    "complex": _coerce_complex,
    "boolean": _coerce_boolean,
    "integer": _coerce_number,
    "decimal": _coerce_number,
    "dateTime": _coerce_datetime,
}


def coerce(value: Any, attr: AttrDef, where: str, ignored: list[str]) -> Any:
    """Check and convert one value for `attr`; None means "unassigned"."""
    if value is None:
        return None
    if attr.multi:
        return _coerce_multi(value, attr, where, ignored)
    check: _Coercer = _COERCERS.get(attr.type, _coerce_string)
    return check(value, attr, where, ignored)


def split_urn_attr(key: str) -> tuple[str, str]:
    """`urn:...:enterprise:2.0:User:department` -> (`urn:...:enterprise:2.0:User`, `department`)."""
    urn, _, name = key.rpartition(":")
    return urn, name


def _set_extension_attr(
    doc: dict[str, Any], schema: ResourceSchema, urn: str, name: str, value: Any, ignored: list[str]
) -> None:
    resolved = schema.resolve(urn, name.partition(".")[0])
    if resolved is None:
        ignored.append(schema.ignored_label(urn, f"{urn}:{name}"))
        return
    canonical_urn, attr = resolved
    if canonical_urn is None:
        # Only a core URN resolves to no extension; _absorb_urn_key sends those to core.
        ignored.append(f"{urn}:{name}")
        return
    target = doc.setdefault(canonical_urn, {})
    if (
        canonical_urn.lower() == "urn:ietf:params:scim:schemas:extension:enterprise:2.0:user"
        and attr.name == "manager"
    ):
        manager = quirks.entra_manager_reference(value)
        if manager is None:
            target.pop("manager", None)
        else:
            target["manager"] = manager
        return
    if schema.extension(canonical_urn) is None:
        # An IdP's own extension: kept as sent, since we have no schema to check it against.
        coerced = quirks.drop_nulls(value)
    else:
        coerced = coerce(value, attr, f"{canonical_urn}:{attr.name}", ignored)
    if coerced is None or coerced == "":
        target.pop(attr.name, None)
    else:
        target[attr.name] = coerced


def normalise(body: Any, schema: ResourceSchema) -> Normalised:
    """Validate a POST/PUT body and return the document to store (without id and meta)."""
    if not isinstance(body, dict):
        raise InvalidSyntaxError("The request body must be a JSON object")
    ignored: list[str] = []
    doc: dict[str, Any] = {}
    members: list[dict[str, Any]] | None = None
    declared: list[str] = []
    for key, value in body.items():
        if not isinstance(key, str):
            continue
        lowered = key.lower()
        if lowered == "schemas":
            if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
                raise InvalidSyntaxError("'schemas' must be a list of schema URIs")
            declared = value
            continue
        if lowered.startswith(URN_PREFIX):
            sent = _absorb_urn_key(doc, schema, key, value, ignored)
        else:
            sent = _absorb_core_key(doc, schema, key, value, ignored)
        if sent is not None:
            members = sent
    _finish(doc, schema, declared, ignored)
    doc = {"schemas": doc.pop("schemas"), **doc}
    if not encodable_value(doc):
        # An IdP's own extension is kept as sent: its strings are checked here, once.
        raise InvalidValueError("A value holds a NUL or a lone surrogate (not text)")
    return Normalised(doc=doc, ignored=ignored, members=members)


def check_put_id(body: Any, resource_id: str) -> None:
    """A PUT body naming another resource's `id` is 400 mutability, not silently ignored.

    RFC 7644 §3.5.1 ignores readOnly values in a PUT, but `id` also names the resource
    (RFC 7643 §3.1: it never changes): a body with another id is most likely another
    resource's, sent to the wrong URL, and would overwrite this one. The same id, or none,
    passes (IdPs echo it); `meta` and `groups` are ignored as §3.5.1 says.
    """
    if not isinstance(body, dict):
        return
    for key, value in body.items():
        if isinstance(key, str) and key.lower() == "id" and value not in (None, resource_id):
            raise MutabilityError(
                f"The body's id is not this resource's ({resource_id!r}): id cannot change"
            )


def _absorb_core_key(
    doc: dict[str, Any], schema: ResourceSchema, key: str, value: Any, ignored: list[str]
) -> list[dict[str, Any]] | None:
    """One core attribute into `doc`; returns a Group's members, which are kept apart as rows."""
    if value is None or key.lower() in _SERVER_ATTRS or key.lower() == "schemas":
        return None
    attr = schema.attr(key)
    if attr is None:
        ignored.append(key)
        return None
    if schema.name == ResourceKind.GROUP and attr.name == "members":
        return coerce_members(value)
    if attr.name == "password":
        ignored.append("password (never stored)")
        return None
    coerced = coerce(value, attr, attr.name, ignored)
    if coerced is not None:
        doc[attr.name] = coerced
    return None


def _absorb_urn_key(
    doc: dict[str, Any], schema: ResourceSchema, key: str, value: Any, ignored: list[str]
) -> list[dict[str, Any]] | None:
    """A URN key is an extension object, the core schema object, or one URN-qualified attribute.

    Returns a Group's members when the key named them (`urn:…:core:2.0:Group:members`).
    """
    core = schema.core_urn.lower()
    if key.lower() == core:
        if not isinstance(value, dict):
            if value is not None:
                ignored.append(key)
            return None
        members = None
        for sub_key, sub_value in value.items():
            sent = _absorb_core_key(doc, schema, sub_key, sub_value, ignored)
            members = sent if sent is not None else members
        return members
    urn, name = split_urn_attr(key)
    if urn.lower() == core:
        # RFC 7644 §3.10: "urn:…:core:2.0:User:title" is the fully qualified name of `title`.
        return _absorb_core_key(doc, schema, name, value, ignored)
    _absorb_extension_key(doc, schema, key, value, ignored)
    return None


def _absorb_extension_key(
    doc: dict[str, Any], schema: ResourceSchema, key: str, value: Any, ignored: list[str]
) -> None:
    """An extension object (known or an IdP's own), or one extension attribute by its URN."""
    known = schema.extension(key)
    if known is not None or schema.whole_object(key, value) is not None:
        if value is None:
            return
        if not isinstance(value, dict):
            raise InvalidValueError(f"Extension {key!r} must be an object")
        canonical = known[0] if known else key
        for sub_key, sub_value in value.items():
            if sub_value is None:
                continue
            _set_extension_attr(doc, schema, canonical, sub_key, sub_value, ignored)
        if canonical in doc and not doc[canonical]:
            del doc[canonical]
        return
    urn, name = split_urn_attr(key)
    if urn and name and value is not None:
        _set_extension_attr(doc, schema, urn, name, value, ignored)
        if urn in doc and not doc[urn]:
            del doc[urn]
    elif value is not None:
        ignored.append(key)


def _finish(
    doc: dict[str, Any], schema: ResourceSchema, declared: list[str], ignored: list[str]
) -> None:
    """Check required attributes and rebuild `schemas` from what the document holds."""
    for attr in schema.attrs.values():
        if attr.required and attr.name not in doc:
            raise InvalidValueError(f"Attribute {attr.name!r} is required")
        if attr.required and isinstance(doc.get(attr.name), str) and not doc[attr.name].strip():
            raise InvalidValueError(f"Attribute {attr.name!r} must not be empty")
    known = {schema.core_urn.lower()} | set(schema.extensions)
    for urn in declared:
        if urn.lower() not in known and urn not in doc:
            ignored.append(f"schemas: {urn}")
    doc["schemas"] = schema_list(doc, schema)


def schema_list(doc: dict[str, Any], schema: ResourceSchema) -> list[str]:
    """`schemas` names the core schema and every extension the document carries."""
    urns = [schema.core_urn]
    for canonical, _attrs in schema.extensions.values():
        if canonical in doc:
            urns.append(canonical)
    for key in doc:
        if key.startswith(URN_PREFIX) and key not in urns and schema.extension(key) is None:
            urns.append(key)
    return urns


def coerce_members(value: Any) -> list[dict[str, Any]]:
    """Group members as sent (`[{"value": id, "$ref": null, "type": "User"}]`) to `[{"value", "type"}]`."""
    if value is None:
        return []
    if isinstance(value, dict):
        value = [value]
    if not isinstance(value, list):
        raise InvalidValueError("'members' must be a list of objects with a 'value'")
    out: list[dict[str, Any]] = []
    seen: set[str] = set()
    for sent in value:
        item = {"value": sent} if isinstance(sent, str) else sent
        if not isinstance(item, dict):
            raise InvalidValueError("Each member must be an object with a 'value'")
        lowered = {str(k).lower(): v for k, v in item.items()}
        member_id = lowered.get("value")
        if not isinstance(member_id, str) or not member_id:
            raise InvalidValueError("Each member needs a 'value': the id of a User or Group")
        if len(member_id) > 255:
            raise InvalidValueError("A member 'value' is longer than 255 characters")
        kind = lowered.get("type")
        display = lowered.get("display")
        if not storable(member_id) or (isinstance(display, str) and not storable(display)):
            raise InvalidValueError("A member holds a NUL or a lone surrogate (not text)")
        if member_id in seen:
            continue
        seen.add(member_id)
        member: dict[str, Any] = {
            "value": member_id,
            "type": kind if kind in _MEMBER_KINDS else None,
        }
        if isinstance(display, str):
            member["display"] = display[:512]
        out.append(member)
    return out
