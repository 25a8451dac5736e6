"""Attribute mappings of an account: defaults, set, list, remove and preview.

Paths are checked when they are set: they must parse, name a User attribute, and, for
an extension scimgate has no schema for, be something this account's staging has
actually received. Every change bumps the account's mapping revision so the next
Synchronize recomputes all members.
"""

from __future__ import annotations

import re
from typing import Any

from sqlalchemy import Connection

from scimgate import audit
from scimgate.audit.actions import AuditAction
from scimgate.errors import InvalidValueError, NotFoundError
from scimgate.mapping.expression import MappingPathError, SourcePath, parse_source
from scimgate.mapping.mapper import Mapper, PropertyDef
from scimgate.mapping.types import MEMBER_FIELDS
from scimgate.members import scim_attributes
from scimgate.scim.constants import ENTERPRISE_USER_SCHEMA
from scimgate.store import members as store
from scimgate.store import properties as prop_store
from scimgate.store import staged_documents
from scimgate.timestamps import utcnow

DEFAULT_FIELDS = {
    "name": "displayName || name.formatted || userName",
    "email": 'emails[type eq "work"].value || emails.value || userName',
}
_UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
# Offered as Properties when provisioning is first activated.
DEFAULT_PROPERTIES = (
    ("Job title", "text", "title"),
    ("Department", "text", f"{ENTERPRISE_USER_SCHEMA}:department"),
    ("Manager", "member", f"{ENTERPRISE_USER_SCHEMA}:manager"),
)


def install_defaults(conn: Connection, account_id: int) -> None:
    """Install the default mapping when provisioning is activated; nothing if it has been.

    Installed means both member fields are mapped (they can be remapped, never removed). A
    target the account mapped itself before its first activation keeps that mapping, as it
    did when the defaults were installed first and the account's change applied after.
    """
    mapped = dict(store.list_mappings(conn, account_id))
    if all(field in mapped for field in DEFAULT_FIELDS):
        return
    now = utcnow()
    existing = {p["name"].lower(): p for p in store.list_properties(conn, account_id)}
    for target, source in DEFAULT_FIELDS.items():
        if target not in mapped:
            store.put_mapping(conn, account_id, target, source, now)
    for name, kind, source in DEFAULT_PROPERTIES:
        prop = existing.get(name.lower())
        if prop is None:
            prop_id = store.insert_property(
                conn, account_id, name=name, kind=kind, options=[], now=now
            )
            scim_attributes.name_new_property(conn, account_id, prop_id, name)
        elif prop["type"] == kind:
            prop_id = prop["id"]
        else:
            continue
        if f"property:{prop_id}" not in mapped:
            store.put_mapping(conn, account_id, f"property:{prop_id}", source, now)
    store.bump_mapping_rev(conn, account_id)


def _target(conn: Connection, account_id: int, target: str) -> tuple[str, dict[str, Any] | None]:
    """A member field name or a Property name to the stored target key."""
    key = (target or "").strip()
    if key.lower() in MEMBER_FIELDS:
        return key.lower(), None
    try:
        prop = _property(conn, account_id, key)
    except NotFoundError:
        raise NotFoundError(
            f"No member field or Property named {key!r}: member fields are "
            f"{', '.join(MEMBER_FIELDS)}; create a Property with 'scimgate property create'"
        ) from None
    return f"property:{prop['id']}", prop


def _property(conn: Connection, account_id: int, ref: str) -> dict[str, Any]:
    """A Property by id (the API's way) or by case-insensitive name."""
    if _UUID.match(ref):
        try:
            return prop_store.get_property(conn, account_id, ref)
        except NotFoundError:
            pass
    return store.find_property(conn, account_id, ref)


def _checked(
    conn: Connection, account_id: int, target: str, source: str
) -> tuple[str, dict[str, Any] | None, str]:
    """A target and source as they would be stored: (key, Property or None, source)."""
    key, prop = _target(conn, account_id, target)
    try:
        paths = parse_source(source)
    except MappingPathError as exc:
        raise InvalidValueError(str(exc)) from None
    for path in paths:
        if path.custom and not staging_has(conn, account_id, path):
            raise InvalidValueError(
                f"{path.text!r}: no staged user has this attribute; the identity provider has "
                "not sent it yet (map it once it has, or check the spelling)"
            )
    return key, prop, " || ".join(p.text for p in paths)


def set_mapping(
    conn: Connection, account_id: int, target: str, source: str, *, actor: str | None = None
) -> dict[str, Any]:
    """Map a SCIM path (or `a || b` alternatives) onto a member field or Property (`actor`:
    who the audit log names, see scimgate.audit)."""
    key, prop, normalised = _checked(conn, account_id, target, source)
    before = dict(store.list_mappings(conn, account_id)).get(key)
    store.put_mapping(conn, account_id, key, normalised, utcnow())
    store.bump_mapping_rev(conn, account_id)
    name = prop["name"] if prop else key
    if before != normalised:
        audit.record(
            conn,
            account_id,
            actor=actor,
            action=AuditAction.MAPPING_SET,
            target=f"mapping {name}",
            details={"target": name, "changes": {"source": [before, normalised]}},
        )
    return {"target": name, "source": normalised}


def remove_mapping(
    conn: Connection, account_id: int, target: str, *, actor: str | None = None
) -> None:
    """Stop filling a target from SCIM; values already synced stay until the next sync clears them."""
    key, prop = _target(conn, account_id, target)
    before = dict(store.list_mappings(conn, account_id)).get(key)
    if key in MEMBER_FIELDS:
        raise InvalidValueError(
            f"{key} is always mapped (every member needs one): map it from another path instead"
        )
    if not store.delete_mapping(conn, account_id, key):
        implicit = dict(implicit_mappings(conn, account_id, [])).get(key)
        if implicit is not None:
            raise NotFoundError(
                f"{target!r} is not mapped: it is filled from the IdP extension ({implicit}); "
                "a mapping you set is tried first, with the extension as its fallback"
            )
        raise NotFoundError(f"{target!r} is not mapped")
    store.bump_mapping_rev(conn, account_id)
    name = prop["name"] if prop else key
    audit.record(
        conn,
        account_id,
        actor=actor,
        action=AuditAction.MAPPING_REMOVED,
        target=f"mapping {name}",
        details={"target": name, "changes": {"source": [before, None]}},
    )


def update_mappings(
    conn: Connection,
    account_id: int,
    changes: dict[str, str | None],
    *,
    actor: str | None = None,
) -> list[dict[str, Any]]:
    """Set (a path) or remove (None) several mappings at once, all or none (a merge patch).

    Removing a target that is not mapped is no change. An error names its target.
    """
    for target, source in changes.items():
        try:
            if source is None:
                try:
                    remove_mapping(conn, account_id, target, actor=actor)
                except NotFoundError as exc:
                    if "is not mapped" not in exc.detail:
                        raise
            else:
                set_mapping(conn, account_id, target, source, actor=actor)
        except (NotFoundError, InvalidValueError) as exc:
            raise type(exc)(f"{target}: {exc.detail}") from None
    return list_mappings(conn, account_id)


def implicit_mappings(
    conn: Connection, account_id: int, written: list[tuple[str, str]]
) -> list[tuple[str, str]]:
    """Each advertised Property not mapped by hand is filled from its extension attribute."""
    entries = scim_attributes.mapping_entries(conn, account_id, written)
    return [(e.target, e.source) for e in entries if e.implicit]


def list_mappings(conn: Connection, account_id: int) -> list[dict[str, Any]]:
    """Every mapping with its target's name and type; `implicit` ones come from the IdP
    extension (scimgate's own SCIM schema) because no hand-written mapping fills the Property,
    and a hand-written one's `fallback` is that attribute, tried when its source gives none."""
    props = {p["id"]: p for p in store.list_properties(conn, account_id)}
    out = []
    written = store.list_mappings(conn, account_id)
    for entry in scim_attributes.mapping_entries(conn, account_id, written):
        row = {"source": entry.source, "fallback": entry.fallback, "implicit": entry.implicit}
        if entry.target.startswith("property:"):
            prop = props.get(entry.target.removeprefix("property:"))
            if prop is None:
                continue
            row |= {"target": prop["name"], "kind": "property", "type": prop["type"]}
            out.append({**row, "property_id": prop["id"]})
        else:
            row |= {"target": entry.target, "kind": "field", "type": entry.target}
            out.append({**row, "property_id": None})
    return out


def load_mapper(
    conn: Connection, account_id: int, *, override: tuple[str, str] | None = None
) -> Mapper:
    """The account's mapping, compiled."""
    props = {
        row.id: PropertyDef(row.id, row.name, row.type, tuple(row.options or ()))
        for row in staged_documents.property_rows(conn, account_id)
    }
    mappings = store.list_mappings(conn, account_id)
    if override is not None:
        mappings = [(t, s) for t, s in mappings if t != override[0]] + [override]
    # The one place the extension joins the mapping: Synchronize, the dry-run plan, the
    # preview and the drift report all read a Property's value through this Mapper.
    entries = scim_attributes.mapping_entries(conn, account_id, mappings)
    fallbacks = {e.target: e.fallback for e in entries if e.fallback}
    return Mapper([(e.target, e.source) for e in entries], props, fallbacks)


def preview(
    conn: Connection,
    account_id: int,
    *,
    limit: int = 5,
    candidate: tuple[str, str] | None = None,
) -> list[dict[str, Any]]:
    """What the mapping (with an unsaved `candidate` target/source, if given) produces for
    the first staged users; references are shown as directory ids. Writes nothing."""
    if not 1 <= limit <= 100:
        raise InvalidValueError("limit is 1-100")
    if candidate is None:
        mapper = load_mapper(conn, account_id)
    else:
        key, _prop, source = _checked(conn, account_id, *candidate)
        mapper = load_mapper(conn, account_id, override=(key, source))
    out = []
    for user_id, user_name, doc in staged_documents.first_users(conn, account_id, limit):
        mapped = mapper.apply(doc)
        values: dict[str, Any] = {}
        for rule in mapper.rules:
            if rule.prop is None:
                values[rule.label] = mapped.fields.get(rule.target)
            else:
                values[rule.label] = mapped.values.get(rule.prop.id)
        out.append(
            {"id": user_id, "userName": user_name, "values": values, "errors": mapped.errors}
        )
    return out


def staging_has(conn: Connection, account_id: int, path: SourcePath) -> bool:
    """Whether any staged user carries a value at this path."""
    return any(
        path.read(doc) not in (None, "", [], {})
        for doc in staged_documents.every_document(conn, account_id)
    )


def received_attributes(conn: Connection, account_id: int, *, sample: int = 2000) -> list[str]:
    """Attribute paths seen in the most recently updated staged users (for a picker)."""
    seen: set[str] = set()
    for doc in staged_documents.recent_documents(conn, account_id, sample):
        _collect(doc, "", seen)
    return sorted(seen)


def _collect(value: Any, prefix: str, seen: set[str]) -> None:
    """The attribute paths of one (part of a) SCIM document, into `seen`."""
    if not isinstance(value, dict):
        return
    for key, item in value.items():
        if key in ("schemas", "id", "meta"):
            continue
        if key.startswith("urn:"):
            _collect(item, key + ":", seen)
        elif isinstance(item, list):
            for element in item:
                _collect_element(element, f"{prefix}{key}", seen)
        elif isinstance(item, dict):
            seen.update(f"{prefix}{key}.{sub}" for sub in item if sub != "$ref")
        else:
            seen.add(f"{prefix}{key}")


def _collect_element(element: Any, path: str, seen: set[str]) -> None:
    """One value of a multi-valued attribute: its sub-attributes, by type when it has one."""
    if not isinstance(element, dict):
        seen.add(path)
        return
    kind = element.get("type")
    for sub in element:
        if sub in ("type", "primary", "display", "$ref"):
            continue
        if isinstance(kind, str):
            seen.add(f'{path}[type eq "{kind}"].{sub}')
        else:
            seen.add(f"{path}.{sub}")
