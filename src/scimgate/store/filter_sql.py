"""SCIM filter syntax tree (scim2-models) to a SQLAlchemy WHERE clause, run in the database.

Attributes IdPs look up by (id, userName, externalId, displayName, emails.value, group
members) map to indexed columns and side tables; everything else is read from the
stored JSON document, single-valued by path and multi-valued through json_each (SQLite)
or jsonb_array_elements (PostgreSQL). The caller always ANDs the result with the account.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Float,
    String,
    and_,
    case,
    cast,
    exists,
    false,
    func,
    literal,
    not_,
    or_,
    select,
    true,
    type_coerce,
)
from sqlalchemy.dialects.postgresql import JSONB

from scimgate.scim.errors import InvalidFilterError
from scimgate.scim.filter import (
    Comparison,
    FilterNode,
    LogicalExpr,
    LogicalOperator,
    Not,
    Present,
    ValuePath,
)
from scimgate.scim.resource_types import ResourceKind
from scimgate.scim.schema import AttrDef, ResourceSchema
from scimgate.store.directory import table_for
from scimgate.store.filter_compare import compare, compare_datetime
from scimgate.store.tables.staging import directory_membership, directory_user, directory_user_email


@dataclass(frozen=True)
class _Target:
    """What a filter attribute compiles against: a SQL expression and how to compare it."""

    expr: Any
    attr: AttrDef
    lowered: bool = False  # the column already holds a lower-cased copy


def compile_filter(
    node: FilterNode,
    schema: ResourceSchema,
    dialect: str,
    *,
    account_id: int,
    unknown_is_false: bool = False,
) -> ColumnElement[bool]:
    """Compile a parsed filter for `schema` (User or Group) on `dialect` ("sqlite" or "postgresql").

    On a single resource endpoint an unknown attribute is an invalidFilter; across
    resource types (POST /.search) it "SHALL be evaluated to false" for the types
    that lack it (RFC 7644 §3.4.2.1), which `unknown_is_false` selects.
    """
    return _Compiler(schema, dialect, account_id, unknown_is_false).node(node)


class _Unknown(Exception):
    """An attribute this resource type does not have (only with unknown_is_false)."""


class _Compiler:
    def __init__(
        self, schema: ResourceSchema, dialect: str, account_id: int, unknown_is_false: bool = False
    ) -> None:
        self.schema = schema
        self.dialect = dialect
        self.account_id = account_id
        self.unknown_is_false = unknown_is_false
        self.table = table_for(schema.name)

    # -- boolean structure -------------------------------------------------------------
    def node(self, node: FilterNode) -> ColumnElement[bool]:
        if isinstance(node, LogicalExpr):
            parts = [self.node(term) for term in node.terms]
            return and_(*parts) if node.op == LogicalOperator.and_ else or_(*parts)
        if isinstance(node, Not):
            return not_(self.node(node.expr))
        try:
            if isinstance(node, ValuePath):
                return self.value_path(node)
            if isinstance(node, (Comparison, Present)):
                return self.attribute_test(node)
        except _Unknown:
            return false()
        raise InvalidFilterError("Unsupported filter expression")

    def _resolve(self, uri: str | None, name: str) -> tuple[str | None, AttrDef]:
        resolved = self.schema.resolve(uri, name)
        if resolved is None:
            if self.unknown_is_false:
                raise _Unknown(name)
            label = f"{uri}:{name}" if uri else name
            raise InvalidFilterError(f"Unknown attribute {label!r} for {self.schema.name}")
        return resolved

    # -- a single attribute test ----------------------------------------------------------
    def attribute_test(self, node: Comparison | Present) -> ColumnElement[bool]:
        path = node.attr_path
        urn, attr = self._resolve(path.uri, path.attr)
        sub = None
        if path.sub_attr:
            sub = attr.sub_attr(path.sub_attr)
            if (sub is None and urn is None) or (sub is None and self.schema.extension(urn or "")):
                raise InvalidFilterError(f"{attr.name!r} has no sub-attribute {path.sub_attr!r}")
            sub = sub or AttrDef(name=path.sub_attr)
        special = self._special(urn, attr, sub, node)
        if special is not None:
            return special
        if attr.multi:
            return self._json_multi(urn, attr, lambda el: self._element_test(el, attr, sub, node))
        keys = ([urn] if urn else []) + [
            attr.name if self.schema.extension(urn or "") or not urn else path.attr
        ]
        if sub is not None:
            keys.append(sub.name)
        definition = sub or attr
        if definition.type == "complex":
            # `manager eq "id"` and `name pr`: a complex attribute stands for its value.
            value_def = definition.sub_attr("value")
            if isinstance(node, Present):
                return self._json_present(keys)
            if value_def is None:
                raise InvalidFilterError(
                    f"{definition.name!r} is complex: filter on a sub-attribute"
                )
            keys.append("value")
            definition = value_def
        if isinstance(node, Present):
            return self._json_present(keys)
        return compare(
            self._json_scalar(keys, definition),
            definition,
            node.op,
            node.value,
            False,
            self.dialect,
        )

    def _special(
        self, urn: str | None, attr: AttrDef, sub: AttrDef | None, node: Comparison | Present
    ) -> ColumnElement[bool] | None:
        """Indexed columns and side tables for the attributes IdPs look up by."""
        if urn is not None:
            return None
        if attr.name == "meta" and sub is not None:
            return self._meta(sub, node)
        side = self._side_table(attr, sub, node)
        if side is not None or sub is not None:
            return side
        return self._indexed_column(attr, node)

    def _meta(self, sub: AttrDef, node: Comparison | Present) -> ColumnElement[bool]:
        """meta.resourceType is the table's; meta.created and meta.lastModified are columns."""
        t = self.table
        if sub.name == "resourceType":
            if isinstance(node, Present):
                return true()
            return compare(literal(self.schema.name), sub, node.op, node.value, False, self.dialect)
        column = {"created": t.c.created_at, "lastModified": t.c.updated_at}.get(sub.name)
        if column is None:
            raise InvalidFilterError(f"Filtering on meta.{sub.name} is not supported")
        if isinstance(node, Present):
            return true()
        return compare_datetime(column, node.op, node.value)

    def _side_table(
        self, attr: AttrDef, sub: AttrDef | None, node: Comparison | Present
    ) -> ColumnElement[bool] | None:
        """Emails and memberships, by a sub-attribute or (none named) by their value."""
        if self._is_membership(attr.name):
            # `members eq "id"` / `groups pr`: the multi-valued attribute stands for its value.
            member_def = (
                sub
                if sub is not None
                else attr.sub_attr("value") or AttrDef(name="value", case_exact=True)
            )
            return self._membership(lambda m: self._membership_test(m, member_def, node))
        if self.schema.name == ResourceKind.USER and attr.name == "emails":
            email_def = sub if sub is not None else attr.sub_attr("value") or AttrDef(name="value")
            return self._emails(lambda e: self._email_test(e, email_def, node))
        return None

    def _indexed_column(
        self, attr: AttrDef, node: Comparison | Present
    ) -> ColumnElement[bool] | None:
        """id, externalId, userName, displayName and active: the resource table's columns."""
        t = self.table
        columns: dict[str, tuple[Any, bool]] = {
            "id": (t.c.id, False),
            "externalId": (t.c.external_id, False),
        }
        if self.schema.name == ResourceKind.USER:
            columns["userName"] = (t.c.user_name_key, True)
            columns["displayName"] = (t.c.display_name, False)
            columns["active"] = (t.c.active, False)
        else:
            columns["displayName"] = (t.c.display_name_key, True)
        if attr.name not in columns:
            return None
        column, lowered = columns[attr.name]
        if isinstance(node, Present):
            if attr.type == "boolean":
                return true()
            return and_(column.is_not(None), column != "")
        return compare(column, attr, node.op, node.value, lowered, self.dialect)

    def _is_membership(self, name: str) -> bool:
        return (self.schema.name == ResourceKind.GROUP and name == "members") or (
            self.schema.name == ResourceKind.USER and name == "groups"
        )

    # -- value paths ----------------------------------------------------------------------
    def value_path(self, node: ValuePath) -> ColumnElement[bool]:
        path = node.attr_path
        urn, attr = self._resolve(path.uri, path.attr)
        if not attr.multi:
            raise InvalidFilterError(f"{attr.name!r} is not multi-valued: it takes no value filter")
        if urn is None and self._is_membership(attr.name):
            return self._membership(
                lambda m: self._inner(
                    node.val_filter, lambda n: self._membership_test(m, self._sub(attr, n), n)
                )
            )
        if urn is None and self.schema.name == ResourceKind.USER and attr.name == "emails":
            return self._emails(
                lambda e: self._inner(
                    node.val_filter, lambda n: self._email_test(e, self._sub(attr, n), n)
                )
            )
        return self._json_multi(
            urn,
            attr,
            lambda el: self._inner(
                node.val_filter, lambda n: self._element_test(el, attr, self._sub(attr, n), n)
            ),
        )

    def _sub(self, attr: AttrDef, node: Comparison | Present) -> AttrDef:
        if node.attr_path.sub_attr or node.attr_path.uri:
            raise InvalidFilterError("Inside brackets, name a sub-attribute only")
        sub = attr.sub_attr(node.attr_path.attr)
        if sub is None:
            if attr.sub:
                raise InvalidFilterError(
                    f"{attr.name!r} has no sub-attribute {node.attr_path.attr!r}"
                )
            return AttrDef(name=node.attr_path.attr, type=attr.type, case_exact=attr.case_exact)
        return sub

    def _inner(
        self, node: FilterNode, leaf: Callable[[Any], ColumnElement[bool]]
    ) -> ColumnElement[bool]:
        if isinstance(node, LogicalExpr):
            parts = [self._inner(term, leaf) for term in node.terms]
            return and_(*parts) if node.op == LogicalOperator.and_ else or_(*parts)
        if isinstance(node, Not):
            return not_(self._inner(node.expr, leaf))
        if isinstance(node, (Comparison, Present)):
            return leaf(node)
        raise InvalidFilterError("Nested value filters are not allowed")

    # -- side tables -------------------------------------------------------------------------
    # Side tables are matched with `id IN (SELECT … WHERE account_id = :account …)`, not a
    # correlated EXISTS: the subquery runs once on its own index and the outer rows are
    # then fetched by primary key, instead of testing EXISTS on every row of the account.
    def _emails(self, test: Callable[[Any], ColumnElement[bool]]) -> ColumnElement[bool]:
        e = directory_user_email.alias("e")
        matching = select(e.c.user_id).where(e.c.account_id == self.account_id, test(e))
        return directory_user.c.id.in_(matching)

    def _email_test(self, e: Any, sub: AttrDef, node: Comparison | Present) -> ColumnElement[bool]:
        column = {
            "value": (e.c.value_key, True),
            "type": (e.c.type, False),
            "primary": (e.c.is_primary, False),
        }.get(sub.name)
        if column is None:
            raise InvalidFilterError(f"Filtering on emails.{sub.name} is not supported")
        if isinstance(node, Present):
            return column[0].is_not(None) if sub.name != "primary" else e.c.is_primary.is_(True)
        return compare(column[0], sub, node.op, node.value, column[1], self.dialect)

    def _membership(self, test: Callable[[Any], ColumnElement[bool]]) -> ColumnElement[bool]:
        m = directory_membership.alias("m")
        owner = m.c.group_id if self.schema.name == ResourceKind.GROUP else m.c.member_id
        return self.table.c.id.in_(select(owner).where(m.c.account_id == self.account_id, test(m)))

    def _membership_test(
        self, m: Any, sub: AttrDef, node: Comparison | Present
    ) -> ColumnElement[bool]:
        if self.schema.name == ResourceKind.GROUP:
            columns = {"value": m.c.member_id, "type": m.c.member_type}
        else:
            columns = {"value": m.c.group_id}
        column = columns.get(sub.name)
        if column is None:
            raise InvalidFilterError(f"Filtering on {sub.name!r} of a membership is not supported")
        if isinstance(node, Present):
            return true()
        return compare(
            column,
            AttrDef(name=sub.name, case_exact=sub.name == "value"),
            node.op,
            node.value,
            False,
            self.dialect,
        )

    # -- JSON documents --------------------------------------------------------------------------
    def _json_scalar(self, keys: list[str], definition: AttrDef) -> Any:
        element = self.table.c.doc[tuple(keys)]
        if definition.type == "boolean":
            return element.as_boolean()
        if definition.type in ("integer", "decimal"):
            return element.as_float()
        return element.as_string()

    def _json_present(self, keys: list[str]) -> ColumnElement[bool]:
        value = self.table.c.doc[tuple(keys)].as_string()
        if self.dialect == "postgresql":
            raw = self.table.c.doc[tuple(keys)]
            return and_(
                raw.is_not(None),
                cast(raw, String) != '""',
                cast(raw, String) != "[]",
                cast(raw, String) != "{}",
            )
        return and_(
            value.is_not(None),
            value != "",
            func.json_type(self.table.c.doc, _sqlite_path(keys)) != "null",
        )

    def _json_multi(
        self,
        urn: str | None,
        attr: AttrDef,
        test: Callable[[Any], ColumnElement[bool]],
    ) -> ColumnElement[bool]:
        keys = ([urn] if urn else []) + [attr.name]
        if self.dialect == "postgresql":
            array = type_coerce(self.table.c.doc[tuple(keys)], JSONB)
            safe = case(
                (func.jsonb_typeof(array) == "array", array), else_=cast(literal("[]"), JSONB)
            )
            elements = func.jsonb_array_elements(safe).table_valued("value").alias("el")
        else:
            elements = (
                func.json_each(self.table.c.doc, _sqlite_path(keys))
                .table_valued("value", "type")
                .alias("el")
            )
        return exists(select(literal(1)).select_from(elements).where(test(elements)))

    def _element_value(self, el: Any, sub: AttrDef | None) -> Any:
        """One element's sub-attribute (or the element itself for a simple multi-valued attribute)."""
        kind = sub.type if sub else "string"
        if self.dialect == "postgresql":
            node = el.c.value if sub is None else type_coerce(el.c.value, JSONB)[sub.name]
            if kind == "boolean":
                return cast(node.astext if hasattr(node, "astext") else node, String) == "true"
            text = node.astext if hasattr(node, "astext") else cast(node, String)
            if kind in ("integer", "decimal"):
                return cast(text, Float)
            return text
        if sub is None:
            return el.c.value
        return func.json_extract(el.c.value, f'$."{sub.name}"')

    def _element_test(
        self, el: Any, attr: AttrDef, sub: AttrDef | None, node: Comparison | Present
    ) -> ColumnElement[bool]:
        if not attr.sub:
            sub = None  # simple multi-valued: compare the values themselves
        value = self._element_value(el, sub)
        definition = sub or attr
        if isinstance(node, Present):
            return and_(value.is_not(None), cast(value, String) != "")
        if definition.type == "boolean" and self.dialect == "postgresql":
            wanted = node.value in (True, "true", "True")
            return value if wanted else not_(value)
        return compare(value, definition, node.op, node.value, False, self.dialect)


def _sqlite_path(keys: list[str]) -> str:
    return "$" + "".join('."' + k.replace('"', '\\"') + '"' for k in keys)
