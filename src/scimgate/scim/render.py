"""Stored rows to SCIM JSON: resources, projections (attributes/excludedAttributes) and ListResponses.

Reads render what the database holds into plain dicts for orjson; no model objects are
built per resource.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

from scimgate.scim.constants import LIST_RESPONSE, MAX_ATTRIBUTES_PARAM, URN_PREFIX
from scimgate.scim.errors import InvalidValueError
from scimgate.scim.resource_types import GROUP, USER
from scimgate.scim.schema import ResourceSchema

_ALWAYS = ("schemas", "id")
# The collections in a location ("Users"), read once, and kinds compared as `USER.kind`
# (a plain attribute; `ResourceKind.USER` costs ~0.2 µs on 3.11): rendering is the hot path.
_USERS = USER.collection
_GROUPS = GROUP.collection


def timestamp(value: datetime) -> str:
    """RFC 3339 in UTC with milliseconds, e.g. 2026-11-29T03:44:40.570Z."""
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    elif value.utcoffset():
        value = value.astimezone(UTC)
    return value.replace(tzinfo=None).isoformat(timespec="milliseconds") + "Z"


def etag(version: int) -> str:
    """A weak ETag from the row version (RFC 7644 §3.14)."""
    return f'W/"{version}"'


def render_member(member: dict[str, Any], base_url: str) -> dict[str, Any]:
    """One member of a Group as SCIM shows it (value, $ref, type, display)."""
    endpoint = _USERS if member["type"] == USER.kind else _GROUPS
    out = {
        "value": member["value"],
        "$ref": f"{base_url}/{endpoint}/{member['value']}",
        "type": member["type"],
    }
    if member.get("display") is not None:
        out["display"] = member["display"]
    return out


def render_resource(
    kind: str,
    row: dict[str, Any],
    *,
    base_url: str,
    members: list[dict[str, Any]] | None = None,
    groups: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """A stored User or Group row as its SCIM representation."""
    doc = row["doc"]
    endpoint = _USERS if kind == USER.kind else _GROUPS
    out: dict[str, Any] = {"schemas": doc.get("schemas") or [], "id": row["id"]}
    for key, value in doc.items():
        if key != "schemas":
            out[key] = value
    if kind == USER.kind and groups:
        out["groups"] = [
            {
                "value": g["value"],
                "$ref": f"{base_url}/{_GROUPS}/{g['value']}",
                "display": g["display"],
                "type": "direct",
            }
            for g in groups
        ]
    if members is not None:
        out["members"] = [render_member(m, base_url) for m in members]
    out["meta"] = {
        "resourceType": kind,
        "created": timestamp(row["created_at"]),
        "lastModified": timestamp(row["updated_at"]),
        "location": f"{base_url}/{endpoint}/{row['id']}",
        "version": etag(row["version"]),
    }
    return out


def server_attributes(kind: str, row: dict[str, Any]) -> dict[str, Any]:
    """The attributes the server keeps (`id`, `meta`, a User's `groups`) as a read renders
    them, `meta.location` without the tenant URL: what a PATCH that echoes them is held to."""
    rendered = render_resource(kind, row, base_url="", groups=row.get("groups"))
    return {key: rendered[key] for key in ("id", "meta", "groups") if key in rendered}


def list_response(
    resources: list[dict[str, Any]], *, total: int, start_index: int
) -> dict[str, Any]:
    """RFC 7644 §3.4.2 ListResponse; totalResults counts every match, not the page."""
    return {
        "schemas": [LIST_RESPONSE],
        "totalResults": total,
        "Resources": resources,
        "startIndex": start_index,
        "itemsPerPage": len(resources),
    }


def parse_attribute_list(raw: str | None) -> list[str] | None:
    """`attributes=userName,name.givenName` to a list; None when absent.

    A comma inside a value filter (`emails[value co ","]`) does not split the list.
    """
    if raw is None:
        return None
    names = [part.strip() for part in _split_outside_filters(raw) if part.strip()]
    if len(names) > MAX_ATTRIBUTES_PARAM:
        raise InvalidValueError(f"At most {MAX_ATTRIBUTES_PARAM} attribute names")
    return names


def _split_outside_filters(raw: str) -> list[str]:
    """Split on commas that are outside brackets and quoted strings."""
    parts: list[str] = []
    start = depth = 0
    quoted = escaped = False
    for at, char in enumerate(raw):
        if quoted:
            quoted, escaped = _in_string(char, escaped)
        elif char == '"':
            quoted = True
        elif char == "[":
            depth += 1
        elif char == "]":
            depth = max(0, depth - 1)
        elif char == "," and depth == 0:
            parts.append(raw[start:at])
            start = at + 1
    parts.append(raw[start:])
    return parts


def _in_string(char: str, escaped: bool) -> tuple[bool, bool]:
    """Inside a quoted filter literal: (still inside, next character escaped)."""
    if escaped:
        return True, False
    if char == "\\":
        return True, True
    return char != '"', False


def _without_value_filter(name: str) -> str:
    """`emails[type eq "work"].value` -> `emails.value`.

    RFC 7644 §3.4.2.5 names attributes, not values, but Microsoft's SCIM test collection
    sends `attributes=emails[type eq "work"]`: it is read as the attribute it filters.
    """
    if "[" not in name:
        return name
    out: list[str] = []
    depth = 0
    quoted = escaped = False
    for char in name:
        if quoted:
            quoted, escaped = _in_string(char, escaped)
        elif depth and char == '"':
            quoted = True
        elif char == "[":
            depth += 1
        elif char == "]" and depth:
            depth -= 1
        elif not depth:
            out.append(char)
    return "".join(out).strip()


class Projection:
    """`attributes` / `excludedAttributes` (RFC 7644 §3.4.2.5) resolved against one schema."""

    def __init__(
        self, schema: ResourceSchema, attributes: list[str] | None, excluded: list[str] | None
    ) -> None:
        self.schema = schema
        self.include = self._resolve(attributes) if attributes else None
        self.exclude = self._resolve(excluded) if excluded else []

    def _resolve(self, names: Iterable[str]) -> list[tuple[str | None, str | None, str | None]]:
        """Each name to (extension urn | None, attribute | None for a whole extension, sub-attribute)."""
        out: list[tuple[str | None, str | None, str | None]] = []
        for sent in names:
            name = _without_value_filter(sent)
            urn: str | None = None
            rest = name
            if name.lower().startswith(URN_PREFIX):
                known = self.schema.extension(name)
                if known is not None or name.lower() == self.schema.core_urn.lower():
                    out.append((known[0] if known else None, None, None))
                    continue
                urn, _, rest = name.rpartition(":")
            attr, _, sub = rest.partition(".")
            resolved = self.schema.resolve(urn, attr)
            if resolved is not None:
                canonical, definition = resolved
                out.append((canonical, definition.name, _sub_name(definition, sub)))
            elif urn is not None:
                out.append((name, None, None))  # an unknown extension: match its key literally
        return out

    def wants(self, attribute: str) -> bool:
        """Whether a core attribute (e.g. `members`) will be in the output at all."""
        if any(
            urn is None and attr == attribute and sub is None for urn, attr, sub in self.exclude
        ):
            return False
        if self.include is None:
            return True
        return any(urn is None and attr == attribute for urn, attr, _sub in self.include)

    @property
    def plain(self) -> bool:
        """Neither attributes nor excludedAttributes: the resource as rendered."""
        return self.include is None and not self.exclude

    def apply(self, resource: dict[str, Any]) -> dict[str, Any]:
        """The resource with only the requested attributes (always `schemas` and `id`)."""
        if self.include is None and not self.exclude:
            return resource
        if self.include is not None:
            out: dict[str, Any] = {k: resource[k] for k in _ALWAYS if k in resource}
            for urn, attr, sub in self.include:
                _copy(resource, out, urn, attr, sub)
        else:
            out = dict(resource)
        for urn, attr, sub in self.exclude:
            _remove(out, urn, attr, sub)
        return out


def _sub_name(definition: Any, sub: str) -> str | None:
    if not sub:
        return None
    found = definition.sub_attr(sub)
    return found.name if found else sub


def _copy(
    src: dict[str, Any], dst: dict[str, Any], urn: str | None, attr: str | None, sub: str | None
) -> None:
    if urn is not None:
        if urn not in src:
            return
        if attr is None:
            dst[urn] = src[urn]
            return
        inner_dst = dst.setdefault(urn, {})
        _copy(src[urn], inner_dst, None, attr, sub)
        if not inner_dst:
            del dst[urn]
        return
    if attr is None or attr not in src:
        return
    value = src[attr]
    if sub is None:
        dst[attr] = value
    elif isinstance(value, dict):
        if sub in value:
            dst.setdefault(attr, {})[sub] = value[sub]
    elif isinstance(value, list):
        picked = [{sub: item[sub]} for item in value if isinstance(item, dict) and sub in item]
        if picked:
            dst[attr] = picked


def _remove(out: dict[str, Any], urn: str | None, attr: str | None, sub: str | None) -> None:
    if attr in _ALWAYS and urn is None:
        return
    if urn is not None:
        if urn not in out:
            return
        if attr is None:
            del out[urn]
            return
        inner = dict(out[urn])
        _remove(inner, None, attr, sub)
        if inner:
            out[urn] = inner
        else:
            del out[urn]
        return
    if attr is None or attr not in out:
        return
    if sub is None:
        del out[attr]
        return
    value = out[attr]
    if isinstance(value, dict):
        out[attr] = {k: v for k, v in value.items() if k != sub}
    elif isinstance(value, list):
        out[attr] = [
            {k: v for k, v in item.items() if k != sub} if isinstance(item, dict) else item
            for item in value
        ]
