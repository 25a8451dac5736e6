"""The account extension: an account's member Properties as a SCIM User extension schema.

IdPs read /Schemas when an app is set up (Okta's attribute import, Entra's attribute list
takes `urn:…:extension:<name>:2.0:User:<attr>`), so each account's Properties are
advertised under one URN, typed per RFC 7643 §2.3. The URN is the same for every
account (an IdP app talks to one account); the attributes differ. Pure: the attributes
arrive as plain values from the service that read them.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass, replace
from typing import Any

from scimgate.scim.constants import SCHEMA_SCHEMA
from scimgate.scim.filter import Comparison, FilterNode, LogicalExpr, Not, Present, ValuePath
from scimgate.scim.schema import AttrDef, ResourceSchema, user_schema

EXTENSION_URN = "urn:ietf:params:scim:schemas:extension:scimgate:2.0:User"
_URN_KEY = EXTENSION_URN.lower()
_MAX_NAME = 60  # ATTRNAME has no limit; the stored column holds 64, a suffix needs a few
MAX_CHOSEN_NAME = 64  # a name an admin chooses needs no suffix: the column's width
_WORD = re.compile(r"[A-Za-z0-9]+")
_ATTRNAME = re.compile(r"[A-Za-z][A-Za-z0-9_-]*")  # RFC 7643 §2.1: ALPHA *(nameChar)
_NAME_CHAR = "A-Za-z0-9_-"
# Added to an unknown attribute of the extension in the request log's `ignored`: the IdP
# maps onto a Property that was deleted or whose attribute was renamed. Left out, not
# refused, since Entra quarantines the whole app after repeated 400s.
NOT_A_PROPERTY = (
    "is not a Property of this account (deleted or renamed?); update the IdP's attribute mapping"
)


@dataclass(frozen=True, slots=True)
class ExtensionAttribute:
    """One advertised attribute: its ATTRNAME, SCIM type, description and a select's options."""

    name: str
    type: str  # string | decimal | boolean | dateTime
    description: str
    canonical_values: tuple[str, ...] = ()


def attribute_name(label: str, taken: Collection[str]) -> str:
    """A stable RFC 7643 ATTRNAME for a Property name, unique case-insensitively in `taken`.

    "Cost center" -> costCenter, "Date d'entrée" -> dateDEntree, "2nd phone" ->
    property2ndPhone; a name with no Latin letters or digits becomes `property`. A taken
    name gets a number (costCenter2).
    """
    folded = unicodedata.normalize("NFKD", label).encode("ascii", "ignore").decode()
    words = [w.lower() for w in _WORD.findall(folded)]
    base = "".join(w if i == 0 else w[:1].upper() + w[1:] for i, w in enumerate(words))
    if not base[:1].isalpha():
        base = "property" + base[:1].upper() + base[1:]
    base = base[:_MAX_NAME]
    used = {t.lower() for t in taken}
    name, number = base, 1
    while name.lower() in used:
        number += 1
        name = f"{base}{number}"
    return name


def check_attribute_name(text: str) -> str:
    """An attribute name an admin chose, as stored (the full path an IdP shows works too).

    Raises:
        ValueError: not an RFC 7643 ATTRNAME of 1-64 characters.
    """
    name = (text or "").strip()
    if name.lower().startswith(_URN_KEY + ":"):
        name = name[len(_URN_KEY) + 1 :]
    if not 1 <= len(name) <= MAX_CHOSEN_NAME:
        raise ValueError(f"A SCIM attribute name is 1-{MAX_CHOSEN_NAME} characters")
    if not _ATTRNAME.fullmatch(name):
        raise ValueError(
            f"{name!r} is not a SCIM attribute name: a letter, then letters, digits, "
            "'-' or '_' (RFC 7643 ATTRNAME)"
        )
    return name


def rename_in_document(doc: dict[str, Any], old: str, new: str) -> dict[str, Any] | None:
    """A stored User with the extension's `old` attribute under `new` (None: no change).

    A value already under `new` belongs to no Property (the name was free: a deleted
    Property's leftover) and is dropped, so it cannot pass for this Property's value.
    """
    key = next((k for k in doc if k.lower() == _URN_KEY), None)
    if key is None or not isinstance(doc[key], dict):
        return None
    extension: dict[str, Any] = doc[key]
    old_key, new_key = old.lower(), new.lower()
    moved = {
        (new if k.lower() == old_key else k): v
        for k, v in extension.items()
        if k.lower() == old_key or k.lower() != new_key
    }
    if list(moved.items()) == list(extension.items()):
        return None
    out = dict(doc)
    if moved:
        out[key] = moved
    else:
        del out[key]
        schemas = doc.get("schemas")
        if isinstance(schemas, list):
            out["schemas"] = [s for s in schemas if str(s).lower() != _URN_KEY]
    return out


def rename_in_source(source: str, old: str, new: str) -> str:
    """A mapping source with the extension's `old` attribute path naming `new` instead."""
    pattern = re.compile(
        rf"{re.escape(EXTENSION_URN)}:{re.escape(old)}(?![{_NAME_CHAR}])", re.IGNORECASE
    )
    return pattern.sub(lambda _m: attribute_path(new), source)


def attribute_path(name: str) -> str:
    """The URN-qualified path an IdP maps onto (`urn:…:scimgate:2.0:User:costCenter`)."""
    return f"{EXTENSION_URN}:{name}"


def user_schema_with(attributes: Iterable[ExtensionAttribute]) -> ResourceSchema:
    """The User schema plus the account extension, whose unknown attributes are left out
    with a note saying what to fix (a filter on one is still an invalidFilter)."""
    base = user_schema()
    attrs = {a.name.lower(): AttrDef(name=a.name, type=a.type) for a in attributes}
    return replace(
        base,
        extensions={**base.extensions, _URN_KEY: (EXTENSION_URN, attrs)},
        unknown_notes={_URN_KEY: NOT_A_PROPERTY},
    )


def schema_document(attributes: Sequence[ExtensionAttribute], base_url: str) -> dict[str, Any]:
    """The /Schemas resource of the account extension (RFC 7643 §7)."""
    return {
        "schemas": [SCHEMA_SCHEMA],
        "id": EXTENSION_URN,
        "name": "MemberProperties",
        "description": "This account's member Properties",
        "attributes": [_attribute_document(a) for a in attributes],
        "meta": {"resourceType": "Schema", "location": f"{base_url}/Schemas/{EXTENSION_URN}"},
    }


def _attribute_document(attribute: ExtensionAttribute) -> dict[str, Any]:
    """One attribute's characteristics: single-valued, optional, read-write, as Entra requires."""
    doc: dict[str, Any] = {
        "name": attribute.name,
        "type": attribute.type,
        "multiValued": False,
        "description": attribute.description,
        "required": False,
        "caseExact": False,
        "mutability": "readWrite",
        "returned": "default",
        "uniqueness": "none",
    }
    if attribute.canonical_values:
        doc["canonicalValues"] = list(attribute.canonical_values)
    return doc


def body_mentions(body: Any) -> bool:
    """Whether a POST/PUT/PATCH body names the extension: as a key, or as a PATCH `path`."""
    stack: list[tuple[Any, int]] = [(body, 0)]
    while stack:
        value, depth = stack.pop()
        if depth > 4:  # the extension sits at most at Operations[i].value[key]
            continue
        if isinstance(value, list):
            stack.extend((item, depth + 1) for item in value)
        elif isinstance(value, dict):
            for key, item in value.items():
                if not isinstance(key, str):
                    continue
                if key.lower().startswith(_URN_KEY):
                    return True
                if key.lower() == "path" and isinstance(item, str):
                    if item.lower().startswith(_URN_KEY):
                        return True
                elif isinstance(item, (dict, list)):
                    stack.append((item, depth + 1))
    return False


def filter_mentions(node: FilterNode | None) -> bool:
    """Whether a filter names an attribute of the extension (by its URN)."""
    stack: list[object] = [node]
    while stack:
        item = stack.pop()
        if isinstance(item, LogicalExpr):
            stack.extend(item.terms)
        elif isinstance(item, Not):
            stack.append(item.expr)
        elif isinstance(item, (Comparison, Present, ValuePath)):
            uri = item.attr_path.uri
            if isinstance(uri, str) and uri.lower() == _URN_KEY:
                return True
    return False
