"""SCIM `sortBy` (RFC 7644 §3.4.2.3) to an ORDER BY term: indexed columns where there are
some, else the stored JSON document's value."""

from __future__ import annotations

from typing import Any

from scimgate.scim.errors import InvalidFilterError
from scimgate.scim.filter import Present, parse_filter
from scimgate.scim.resource_types import ResourceKind
from scimgate.scim.schema import ResourceSchema
from scimgate.store.directory import table_for


def sort_expression(schema: ResourceSchema, sort_by: str, order: str) -> Any:
    """`sortBy` (RFC 7644 §3.4.2.3) to an ORDER BY term; indexed columns where there are some."""
    try:
        node = parse_filter(f"{sort_by} pr")
    except InvalidFilterError:
        raise InvalidFilterError(f"Cannot sort by {sort_by!r}") from None
    if not isinstance(node, Present):
        raise InvalidFilterError(f"Cannot sort by {sort_by!r}")
    path = node.attr_path
    resolved = schema.resolve(path.uri, path.attr)
    if resolved is None:
        raise InvalidFilterError(f"Cannot sort by unknown attribute {sort_by!r}")
    urn, attr = resolved
    table = table_for(schema.name)
    columns = {
        ("id", None): table.c.id,
        ("externalId", None): table.c.external_id,
        ("meta", "created"): table.c.created_at,
        ("meta", "lastModified"): table.c.updated_at,
        ("displayName", None): table.c.display_name_key
        if schema.name == ResourceKind.GROUP
        else table.c.display_name,
        ("userName", None): table.c.user_name_key if schema.name == ResourceKind.USER else None,
    }
    sub = path.sub_attr
    column = columns.get((attr.name, sub)) if urn is None else None
    if column is None:
        if attr.multi:
            raise InvalidFilterError(f"Cannot sort by multi-valued {sort_by!r}")
        keys = ([urn] if urn else []) + [attr.name] + ([sub] if sub else [])
        column = table.c.doc[tuple(keys)].as_string()
    return column.desc() if order == "descending" else column.asc()
