"""Properties the IdP can see: each Property as an attribute of the account's SCIM extension.

A Property gets its attribute name once, when it is created (scim.account_extension
derives it from the name); a rename keeps it, so an IdP mapping onto
`urn:…:scimgate:2.0:User:costCenter` keeps working. Changing the name itself is a separate,
deliberate operation (`rename`): the IdP's mapping must follow it by hand. A Property is
filled from its attribute when no mapping names it, and from it as the last fallback when
the hand-written mapping gives a user no value (`MappingEntry`). Member reference
Properties are not advertised (the enterprise `manager` is how an IdP names a person). The
extension's schema is built once per account revision and kept per process: /Schemas and
every SCIM write that names the extension read one integer, not every Property.
"""

from __future__ import annotations

import threading
import weakref
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, Engine

from scimgate.errors import InvalidValueError
from scimgate.mapping.expression import split_alternatives
from scimgate.scim.account_extension import (
    EXTENSION_URN,
    ExtensionAttribute,
    attribute_name,
    attribute_path,
    check_attribute_name,
    rename_in_document,
    rename_in_source,
    schema_document,
    user_schema_with,
)
from scimgate.scim.schema import ResourceSchema
from scimgate.store import members as member_store
from scimgate.store import property_attributes as store
from scimgate.store.database import utcnow

# Property type -> RFC 7643 §2.3 type. A select is a string with its options as
# canonicalValues; a member reference has no SCIM counterpart here.
SCIM_TYPES = {
    "text": "string",
    "number": "decimal",
    "boolean": "boolean",
    "date": "dateTime",
    "select": "string",
}
_CACHED_ACCOUNTS = 4096


@dataclass(frozen=True, slots=True)
class MappingEntry:
    """What fills one target: its source, and the extension attribute tried after it."""

    target: str  # "name", "email" or "property:<id>"
    source: str  # the hand-written source, or (implicit) the extension attribute
    fallback: str | None = None  # tried when the hand-written source gives no value
    implicit: bool = False  # no hand-written mapping: the extension attribute alone

    @property
    def alternatives(self) -> str:
        """Every path tried, in order, as one source (`title || urn:…:jobTitle`)."""
        return f"{self.source} || {self.fallback}" if self.fallback else self.source


@dataclass(frozen=True, slots=True)
class AccountExtension:
    """One account's extension at one revision: its attributes, schema and /Schemas document."""

    revision: int
    attributes: tuple[ExtensionAttribute, ...]
    schema: ResourceSchema
    sources: dict[str, str]  # property id -> its attribute's path (the implicit mapping)

    def document(self, base_url: str) -> dict[str, Any]:
        """The /Schemas resource for this account."""
        return schema_document(self.attributes, base_url)

    def entries(self, written: list[tuple[str, str]]) -> list[MappingEntry]:
        """The mapping Synchronize applies: each hand-written entry, with its Property's
        attribute as the last fallback (a value the IdP sends there is never lost), then
        each advertised Property no one mapped, from its attribute alone."""
        out = []
        for target, source in written:
            path = self.sources.get(target.removeprefix("property:"))
            if not target.startswith("property:") or path is None:
                out.append(MappingEntry(target, source))
                continue
            named = {a.lower() for a in split_alternatives(source)}
            out.append(MappingEntry(target, source, None if path.lower() in named else path))
        mapped = {target for target, _source in written}
        out.extend(
            MappingEntry(f"property:{prop_id}", path, implicit=True)
            for prop_id, path in self.sources.items()
            if f"property:{prop_id}" not in mapped
        )
        return out


def name_new_property(conn: Connection, account_id: int, prop_id: str, name: str) -> str:
    """Give a new Property its attribute name (unique in the account); returns it."""
    scim_name = attribute_name(name, store.taken_names(conn, account_id))
    store.set_attribute_name(conn, account_id, prop_id, scim_name)
    return scim_name


@dataclass(frozen=True, slots=True)
class AttributeRenamed:
    """What renaming an attribute did: the names, and the stored things that follow it."""

    old: str
    new: str
    documents: int  # staged users whose value moved to the new name
    mappings: dict[str, list[str]]  # hand-written mapping target -> [old source, new source]


def rename(
    conn: Connection, account_id: int, prop: dict[str, Any], new_name: str
) -> AttributeRenamed | None:
    """Give an advertised Property (a row with id, name, type) another attribute name; None
    when it already has it. Staged values and mapping sources naming the old path follow;
    the IdP's mapping does not, so what it sends under the old name is left out (and listed
    as ignored, see scim.account_extension.NOT_A_PROPERTY) from now on."""
    try:
        new = check_attribute_name(new_name)
    except ValueError as exc:
        raise InvalidValueError(str(exc)) from None
    old = store.attribute_name(conn, account_id, prop["id"])
    if not advertised({**prop, "scim_name": old}):
        raise InvalidValueError(
            f"{prop['name']!r} is a member reference: it has no SCIM attribute (an IdP sends "
            "a manager as the enterprise manager)"
        )
    assert old is not None
    if new == old:
        return None
    with conn.begin_nested():  # a refusal leaves nothing behind, even in a caller's transaction
        # The account row first: concurrent renames in one account wait here, so the check
        # below sees the other's name (the unique index only compares exact spellings).
        member_store.bump_mapping_rev(conn, account_id)
        _check_free(conn, account_id, old, new)
        store.set_attribute_name(conn, account_id, prop["id"], new)
        documents = store.rewrite_user_documents(
            conn, account_id, [old, new], lambda doc: rename_in_document(doc, old, new), utcnow()
        )
        mappings = _follow_in_mappings(conn, account_id, old, new)
    return AttributeRenamed(old, new, documents, mappings)


def _check_free(conn: Connection, account_id: int, old: str, new: str) -> None:
    """Refuse a name another Property holds in any case (SCIM attribute names ignore case)."""
    for name, holder in store.holders_of(conn, account_id, [new]).items():
        if name != old:
            raise store.name_taken(name, holder)


def _follow_in_mappings(
    conn: Connection, account_id: int, old: str, new: str
) -> dict[str, list[str]]:
    """Point hand-written mapping sources naming the old path at the new one."""
    now = utcnow()
    changed: dict[str, list[str]] = {}
    for target, source in member_store.list_mappings(conn, account_id):
        followed = rename_in_source(source, old, new)
        if followed != source:
            member_store.put_mapping(conn, account_id, target, followed, now)
            changed[target] = [source, followed]
    return changed


def paths(conn: Connection, account_id: int) -> dict[str, str | None]:
    """Each Property's extension path (None: not advertised), by Property id."""
    return {p["id"]: path_of(p) for p in store.attribute_rows(conn, account_id)}


def advertised(prop: dict[str, Any]) -> bool:
    """Whether a Property (a row with type and scim_name) is an attribute of the extension."""
    return prop["type"] in SCIM_TYPES and bool(prop.get("scim_name"))


def path_of(prop: dict[str, Any]) -> str | None:
    """The path an IdP sends a Property's value at, or None if it is not advertised."""
    return attribute_path(prop["scim_name"]) if advertised(prop) else None


def mapping_entries(
    conn: Connection, account_id: int, written: list[tuple[str, str]]
) -> list[MappingEntry]:
    """The account's hand-written mapping with the extension's entries (see `entries`)."""
    return account_extension(conn, account_id).entries(written)


def build(revision: int, rows: list[dict[str, Any]]) -> AccountExtension:
    """The extension of these Property rows (pure: the cache and tests call it)."""
    props = [p for p in rows if advertised(p)]
    attributes = tuple(
        ExtensionAttribute(
            name=p["scim_name"],
            type=SCIM_TYPES[p["type"]],
            description=f"Property {p['name']!r} ({p['type']})",
            canonical_values=tuple(p["options"] or ()) if p["type"] == "select" else (),
        )
        for p in props
    )
    return AccountExtension(
        revision=revision,
        attributes=attributes,
        schema=user_schema_with(attributes),
        sources={p["id"]: attribute_path(p["scim_name"]) for p in props},
    )


class _Cache:
    """The latest extension of recently used accounts, by account id (bounded, thread-safe)."""

    def __init__(self, size: int) -> None:
        self._size = size
        self._items: OrderedDict[int, AccountExtension] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, account_id: int, revision: int) -> AccountExtension | None:
        with self._lock:
            found = self._items.get(account_id)
            if found is None or found.revision != revision:
                return None
            self._items.move_to_end(account_id)
            return found

    def put(self, account_id: int, extension: AccountExtension) -> None:
        with self._lock:
            self._items[account_id] = extension
            self._items.move_to_end(account_id)
            while len(self._items) > self._size:
                self._items.popitem(last=False)


# One cache per engine: account ids and revisions are a database's, not the process's.
_caches: weakref.WeakKeyDictionary[Engine, _Cache] = weakref.WeakKeyDictionary()
_caches_lock = threading.Lock()


def _cache_of(engine: Engine) -> _Cache:
    with _caches_lock:
        cache = _caches.get(engine)
        if cache is None:
            cache = _caches[engine] = _Cache(_CACHED_ACCOUNTS)
        return cache


def account_extension(conn: Connection, account_id: int) -> AccountExtension:
    """The account's extension as of this transaction (read again only when its revision moved)."""
    revision = store.properties_revision(conn, account_id)
    cache = _cache_of(conn.engine)
    found = cache.get(account_id, revision)
    if found is not None:
        return found
    extension = build(revision, store.attribute_rows(conn, account_id))
    cache.put(account_id, extension)
    return extension


__all__ = [
    "EXTENSION_URN",
    "SCIM_TYPES",
    "AccountExtension",
    "AttributeRenamed",
    "MappingEntry",
    "account_extension",
    "advertised",
    "build",
    "mapping_entries",
    "name_new_property",
    "path_of",
    "paths",
    "rename",
]
