"""Mapping sources: one or more SCIM attribute paths, read from a staged user's document.

A source is a SCIM path as RFC 7644 §3.5.2 writes them (`title`, `name.givenName`,
`emails[type eq "work"].value`, `urn:…:enterprise:2.0:User:department`, any custom
extension URN), or several joined by `||`: the first one that yields a usable value wins
(`emails[type eq "work"].value || userName`). Pure: no I/O.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from scim2_models.path import AttrPath, ValuePath

from scimgate.scim.errors import InvalidFilterError, InvalidPathError
from scimgate.scim.filter import FilterNode, get_ci, parse_path, value_matches
from scimgate.scim.schema import AttrDef, ResourceSchema, user_schema

MAX_ALTERNATIVES = 5


class MappingPathError(ValueError):
    """A mapping source that does not parse or names no User attribute."""


@dataclass(frozen=True, slots=True)
class SourcePath:
    """One parsed path: where to look in a stored User document."""

    text: str
    urn: str | None  # the extension holding the attribute; None for core attributes
    attr: str
    sub: str | None
    value_filter: FilterNode | None
    definition: AttrDef
    custom: bool  # an extension scimgate has no schema for: checked against staging instead

    def read(self, doc: dict[str, Any]) -> Any:
        """The value at this path, or None; a filter picks the first matching element."""
        container: Any = doc if self.urn is None else get_ci(doc, self.urn)
        if not isinstance(container, dict):
            return None
        value = get_ci(container, self.attr)
        if value is None:
            return None
        if self.value_filter is not None or (self.definition.multi and isinstance(value, list)):
            value = self._pick(value)
        if self.sub is not None:
            value = get_ci(value, self.sub) if isinstance(value, dict) else None
        return value

    def _pick(self, value: Any) -> Any:
        items = value if isinstance(value, list) else [value]
        if self.value_filter is not None:
            for item in items:
                if value_matches(self.value_filter, item, self.definition):
                    return item
            return None
        # No filter on a multi-valued attribute: the primary element, else the first.
        for item in items:
            if isinstance(item, dict) and item.get("primary") is True:
                return item
        return items[0] if items else None


def split_alternatives(source: str) -> list[str]:
    """Split on `||` outside double-quoted filter literals."""
    parts: list[str] = []
    current: list[str] = []
    quoted = False
    i = 0
    while i < len(source):
        ch = source[i]
        if ch == '"' and (i == 0 or source[i - 1] != "\\"):
            quoted = not quoted
        if not quoted and source.startswith("||", i):
            parts.append("".join(current).strip())
            current = []
            i += 2
            continue
        current.append(ch)
        i += 1
    parts.append("".join(current).strip())
    return parts


def parse_source(source: str, schema: ResourceSchema | None = None) -> list[SourcePath]:
    """Parse a mapping source into its alternatives; MappingPathError explains a bad one."""
    schema = schema or user_schema()
    if not isinstance(source, str) or not source.strip():
        raise MappingPathError(
            'A SCIM path is required, e.g. title or emails[type eq "work"].value'
        )
    parts = split_alternatives(source)
    if len(parts) > MAX_ALTERNATIVES:
        raise MappingPathError(f"At most {MAX_ALTERNATIVES} alternatives joined by ||")
    return [_parse_one(part, schema) for part in parts]


def _parse_one(text: str, schema: ResourceSchema) -> SourcePath:
    if not text:
        raise MappingPathError("An empty alternative around ||")
    attr_path, sub, value_filter = _path_parts(text)
    resolved = schema.resolve(attr_path.uri, attr_path.attr)
    if resolved is None:
        raise MappingPathError(f"{text!r}: the User schema has no attribute {attr_path.attr!r}")
    urn, definition = resolved
    custom = urn is not None and schema.extension(urn) is None
    if custom:
        # Unknown extension: the attribute is whatever the IdP sends, single or multi.
        definition = AttrDef(name=attr_path.attr, type="complex" if sub else "string")
    elif sub is not None:
        sub = _sub_attribute(text, definition, sub)
    if value_filter is not None and not definition.multi and not custom:
        raise MappingPathError(f"{text!r}: {definition.name!r} is not multi-valued")
    if definition.name == "password":
        raise MappingPathError("password is never stored")
    return SourcePath(
        text=text,
        urn=urn,
        attr=definition.name if not custom else attr_path.attr,
        sub=sub,
        value_filter=value_filter,
        definition=definition,
        custom=custom,
    )


def _path_parts(text: str) -> tuple[AttrPath, str | None, FilterNode | None]:
    """The attribute path, sub-attribute and value filter of one alternative."""
    try:
        node = parse_path(text)
    except (InvalidPathError, InvalidFilterError) as exc:
        raise MappingPathError(f"{text!r} is not a SCIM path: {exc.detail}") from None
    if isinstance(node, ValuePath):
        if node.attr_path.sub_attr:
            raise MappingPathError(f"{text!r}: a filter applies to a multi-valued attribute")
        return node.attr_path, node.sub_attr, node.val_filter
    if isinstance(node, AttrPath):
        return node, node.sub_attr, None
    raise MappingPathError(f"{text!r} is not an attribute path")  # pragma: no cover


def _sub_attribute(text: str, definition: AttrDef, sub: str) -> str:
    """A sub-attribute's name as the schema spells it (the path may differ in case)."""
    if definition.type != "complex":
        raise MappingPathError(f"{text!r}: {definition.name!r} has no sub-attributes")
    sub_def = definition.sub_attr(sub)
    if sub_def is None:
        raise MappingPathError(f"{text!r}: {definition.name!r} has no sub-attribute {sub!r}")
    return sub_def.name


def evaluate(
    paths: list[SourcePath], doc: dict[str, Any], convert: Callable[[Any], Any]
) -> tuple[Any, str | None, str | None]:
    """The first alternative whose value is present and converts: (value, path text, error).

    A value of the first path that does not convert is an error (returned with value None)
    unless a fallback converts; fallbacks that do not convert are passed over quietly, so
    `emails[type eq "work"].value || userName` means "else the userName if it is an email".
    When nothing was present: (None, None, None).
    """
    first_error: str | None = None
    for index, path in enumerate(paths):
        raw = path.read(doc)
        if raw is None or raw in ("", [], {}):
            continue
        try:
            return convert(raw), path.text, None
        except ValueError as exc:
            if index == 0:
                first_error = f"{path.text}: {exc}"
    return None, None, first_error
