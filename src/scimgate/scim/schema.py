"""Schemas of the resources scimgate serves, derived once from scim2-models.

The discovery documents (/Schemas, /ResourceTypes) and the attribute index the filter
and PATCH code resolve names against come from the same scim2-models definitions, so
they cannot drift apart.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cache
from typing import Any

from scim2_models import Context, EnterpriseUser, Group, User

from scimgate.scim import resource_types
from scimgate.scim.constants import (
    ENTERPRISE_USER_SCHEMA,
    GROUP_SCHEMA,
    URN_PREFIX,
    USER_SCHEMA,
)
from scimgate.scim.resource_types import ResourceKind


@dataclass(frozen=True, slots=True)
class AttrDef:
    """One attribute's characteristics (RFC 7643 §2.2), indexed for case-insensitive lookup."""

    name: str
    type: str = "string"
    multi: bool = False
    case_exact: bool = False
    mutability: str = "readWrite"
    returned: str = "default"
    required: bool = False
    uniqueness: str = "none"
    sub: dict[str, AttrDef] = field(default_factory=dict)

    def sub_attr(self, name: str) -> AttrDef | None:
        """A sub-attribute by case-insensitive name."""
        return self.sub.get(name.lower())


@dataclass(frozen=True, slots=True)
class ResourceSchema:
    """A resource type: its core schema's attributes and its known extensions."""

    name: ResourceKind
    endpoint: str
    core_urn: str
    attrs: dict[str, AttrDef]
    extensions: dict[str, tuple[str, dict[str, AttrDef]]]
    # Lowercased URN -> what the request log adds to an unknown attribute of that extension
    # (the account extension: an IdP still sending a deleted Property is told what to fix).
    unknown_notes: dict[str, str] = field(default_factory=dict)

    def ignored_label(self, urn: str | None, label: str) -> str:
        """How an unknown attribute that is left out is listed in `ignored`."""
        note = self.unknown_notes.get(urn.lower()) if urn else None
        return f"{label} {note}" if note else label

    def attr(self, name: str) -> AttrDef | None:
        """A core (or common) attribute by case-insensitive name."""
        return self.attrs.get(name.lower())

    def extension(self, urn: str) -> tuple[str, dict[str, AttrDef]] | None:
        """A known extension's canonical URN and attributes, by case-insensitive URN."""
        return self.extensions.get(urn.lower())

    def schema_urn(self, key: str) -> str | None:
        """The canonical URN if `key` names the core schema or a known extension, else None."""
        if key.lower() == self.core_urn.lower():
            return self.core_urn
        known = self.extension(key)
        return known[0] if known else None

    def whole_object(self, key: str, value: object) -> str | None:
        """The schema a URN key (or PATCH path) addresses as one object, if it does.

        A known schema URN always does. Any other URN whose value is an object, and whose
        prefix up to the last colon is not a known schema, is an IdP's own extension
        (`urn:…:Acme:2.0:User`); `urn:…:enterprise:2.0:User:manager` is an attribute.
        """
        known = self.schema_urn(key)
        if known is not None:
            return known
        if (
            key.lower().startswith(URN_PREFIX)
            and isinstance(value, dict)
            and self.schema_urn(key.rpartition(":")[0]) is None
        ):
            return key
        return None

    def resolve(self, urn: str | None, name: str) -> tuple[str | None, AttrDef] | None:
        """Find attribute `name` under `urn` (None or the core URN: core); None if unknown.

        Attributes of an extension scimgate has no schema for (an IdP's custom
        extension) resolve to a free-form string attribute, since they are stored as sent.
        """
        if urn is None or urn.lower() == self.core_urn.lower():
            found = self.attr(name)
            if found is not None:
                return (None, found)
            if urn is None:
                # Entra filters on `manager` without its extension URN.
                for canonical, attrs in self.extensions.values():
                    if name.lower() in attrs:
                        return (canonical, attrs[name.lower()])
            return None
        known = self.extension(urn)
        if known is not None:
            canonical, attrs = known
            found = attrs.get(name.lower())
            return (canonical, found) if found else None
        if urn.lower().startswith(URN_PREFIX):
            return (urn, AttrDef(name=name))
        return None


def _attr_from_schema(raw: dict[str, Any]) -> AttrDef:
    subs = {s["name"].lower(): _attr_from_schema(s) for s in raw.get("subAttributes") or []}
    return AttrDef(
        name=raw["name"],
        type=raw.get("type", "string"),
        multi=bool(raw.get("multiValued")),
        case_exact=bool(raw.get("caseExact")),
        mutability=raw.get("mutability", "readWrite"),
        returned=raw.get("returned", "default"),
        required=bool(raw.get("required")),
        uniqueness=raw.get("uniqueness", "none"),
        sub=subs,
    )


_META = AttrDef(
    name="meta",
    type="complex",
    mutability="readOnly",
    sub={
        "resourcetype": AttrDef("resourceType", mutability="readOnly", case_exact=True),
        "created": AttrDef("created", type="dateTime", mutability="readOnly"),
        "lastmodified": AttrDef("lastModified", type="dateTime", mutability="readOnly"),
        "location": AttrDef("location", type="reference", mutability="readOnly", case_exact=True),
        "version": AttrDef("version", mutability="readOnly", case_exact=True),
    },
)

COMMON_ATTRS = {
    "id": AttrDef(
        "id", case_exact=True, mutability="readOnly", returned="always", uniqueness="server"
    ),
    "externalid": AttrDef("externalId", case_exact=True),
    "meta": _META,
    "schemas": AttrDef("schemas", type="reference", multi=True, case_exact=True, returned="always"),
}


_DESCRIPTIONS = {
    resource_types.USER.schema: resource_types.USER.description,
    resource_types.GROUP.schema: resource_types.GROUP.description,
    ENTERPRISE_USER_SCHEMA: "Enterprise User",
}


@cache
def schema_documents() -> dict[str, dict[str, Any]]:
    """The /Schemas resources, keyed by schema URN, as scim2-models describes them."""
    docs: dict[str, dict[str, Any]] = {}
    for model in (User, EnterpriseUser, Group):
        doc = model.to_schema().model_dump(scim_ctx=Context.RESOURCE_QUERY_RESPONSE)
        docs[doc["id"]] = doc
    # RFC 7643 §8.7.1/§8.7.2 name them so (scim2-models uses the class names).
    for urn, description in _DESCRIPTIONS.items():
        docs[urn]["description"] = description
    # Entra requires unique group names and so do we: say so.
    for attr in docs[GROUP_SCHEMA]["attributes"]:
        if attr["name"] == "displayName":
            attr["uniqueness"] = "server"
    for urn, doc in docs.items():
        doc["meta"] = {"resourceType": "Schema", "location": f"/Schemas/{urn}"}
    return docs


def _attrs(urn: str) -> dict[str, AttrDef]:
    return {a["name"].lower(): _attr_from_schema(a) for a in schema_documents()[urn]["attributes"]}


@cache
def user_schema() -> ResourceSchema:
    """The User resource type: core User plus the enterprise extension."""
    return ResourceSchema(
        name=resource_types.USER.kind,
        endpoint=resource_types.USER.endpoint,
        core_urn=resource_types.USER.schema,
        attrs={**_attrs(USER_SCHEMA), **COMMON_ATTRS},
        extensions={
            ENTERPRISE_USER_SCHEMA.lower(): (ENTERPRISE_USER_SCHEMA, _attrs(ENTERPRISE_USER_SCHEMA))
        },
    )


@cache
def group_schema() -> ResourceSchema:
    """The Group resource type (no extension)."""
    return ResourceSchema(
        name=resource_types.GROUP.kind,
        endpoint=resource_types.GROUP.endpoint,
        core_urn=resource_types.GROUP.schema,
        attrs={**_attrs(GROUP_SCHEMA), **COMMON_ATTRS},
        extensions={},
    )


def schema_for(kind: str) -> ResourceSchema:
    """`User` or `Group` to its schema."""
    return user_schema() if kind == ResourceKind.USER else group_schema()
