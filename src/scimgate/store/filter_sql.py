"""SCIM filter syntax tree (scim2-models) to a SQLAlchemy WHERE clause, run in the database.

Attributes IdPs look up by (id, userName, externalId, displayName, emails.value, group
members) map to indexed columns and side tables; everything else is read from the
stored JSON document, single-valued by path and multi-valued through json_each (SQLite)
or jsonb_array_elements (PostgreSQL). The caller always ANDs the result with the account.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
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
    CompareOperator,
    Comparison,
    FilterNode,
    LogicalExpr,
    LogicalOperator,
    Not,
    Present,
    ValuePath,
    parse_filter,
)
from scimgate.scim.resource_types import ResourceKind
from scimgate.scim.schema import AttrDef, ResourceSchema
from scimgate.store.directory import table_for
from scimgate.store.tables import (
    directory_membership,
    directory_user,
    directory_user_email,
)

_STRING_OPS = {CompareOperator.co, CompareOperator.sw, CompareOperator.ew}


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


def _escape_like(value: str) -> str:
    return value.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


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
            if sub is None and urn is None or (sub is None and self.schema.extension(urn or "")):
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
        return self._compare(
            self._json_scalar(keys, definition), definition, node.op, node.value, False
        )

    def _special(
        self, urn: str | None, attr: AttrDef, sub: AttrDef | None, node: Comparison | Present
    ) -> ColumnElement[bool] | None:
        """Indexed columns and side tables for the attributes IdPs look up by."""
        t = self.table
        if urn is not None:
            return None
        name = attr.name
        if name == "meta" and sub is not None:
            column = {"created": t.c.created_at, "lastModified": t.c.updated_at}.get(sub.name)
            if sub.name == "resourceType":
                if isinstance(node, Present):
                    return true()
                return self._compare(literal(self.schema.name), sub, node.op, node.value, False)
            if column is None:
                raise InvalidFilterError(f"Filtering on meta.{sub.name} is not supported")
            if isinstance(node, Present):
                return true()
            return self._compare_datetime(column, node.op, node.value)
        if sub is not None:
            if self.schema.name == ResourceKind.USER and name == "emails":
                return self._emails(lambda e: self._email_test(e, sub, node))
            if self._is_membership(name):
                return self._membership(lambda m: self._membership_test(m, sub, node))
            return None
        if self._is_membership(name):
            # `members eq "id"` / `groups pr`: the multi-valued attribute stands for its value.
            value_def = attr.sub_attr("value") or AttrDef(name="value", case_exact=True)
            return self._membership(lambda m: self._membership_test(m, value_def, node))
        if self.schema.name == ResourceKind.USER and name == "emails":
            value_def = attr.sub_attr("value") or AttrDef(name="value")
            return self._emails(lambda e: self._email_test(e, value_def, node))
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
        if name not in columns:
            return None
        column, lowered = columns[name]
        if isinstance(node, Present):
            if attr.type == "boolean":
                return true()
            return and_(column.is_not(None), column != "")
        return self._compare(column, attr, node.op, node.value, lowered)

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
        return self._compare(column[0], sub, node.op, node.value, column[1])

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
        return self._compare(
            column,
            AttrDef(name=sub.name, case_exact=sub.name == "value"),
            node.op,
            node.value,
            False,
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
        return self._compare(value, definition, node.op, node.value, False)

    # -- comparisons ---------------------------------------------------------------------------------
    def _compare(
        self, column: Any, attr: AttrDef, op: CompareOperator, value: Any, lowered: bool
    ) -> ColumnElement[bool]:
        if attr.type == "dateTime":
            return self._compare_datetime_text(column, op, value)
        if attr.type == "boolean":
            if op not in (CompareOperator.eq, CompareOperator.ne):
                raise InvalidFilterError(f"{attr.name!r} is a boolean: only eq and ne apply")
            wanted = _as_bool(value, attr.name)
            test = column.is_(True) if wanted else or_(column.is_(False), column.is_(None))
            if self.dialect == "sqlite":
                test = column == (1 if wanted else 0)
                if not wanted:
                    test = or_(test, column.is_(None))
            return test if op == CompareOperator.eq else not_(test)
        if value is None:
            if op == CompareOperator.eq:
                return column.is_(None)
            if op == CompareOperator.ne:
                return column.is_not(None)
            raise InvalidFilterError("null only compares with eq and ne")
        if attr.type in ("integer", "decimal"):
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise InvalidFilterError(f"{attr.name!r} is a number: compare it with a number")
            return self._ordered(column, op, value)
        if isinstance(value, bool) or not isinstance(value, (str, int, float)):
            raise InvalidFilterError(f"{attr.name!r} is a string: compare it with a string")
        text = str(value)
        if not attr.case_exact:
            text = text.lower()
            if not lowered:
                column = func.lower(column)
        if op in _STRING_OPS:
            pattern = _escape_like(text)
            pattern = {
                CompareOperator.co: f"%{pattern}%",
                CompareOperator.sw: f"{pattern}%",
                CompareOperator.ew: f"%{pattern}",
            }[op]
            if attr.case_exact and self.dialect == "sqlite":
                return (
                    func.instr(column, text) > 0
                    if op == CompareOperator.co
                    else column.op("GLOB", is_comparison=True)(_glob(text, op))
                )
            return column.like(pattern, escape="\\")
        return self._ordered(column, op, text)

    def _ordered(self, column: Any, op: CompareOperator, value: Any) -> ColumnElement[bool]:
        if op == CompareOperator.eq:
            return column == value
        if op == CompareOperator.ne:
            return or_(column != value, column.is_(None))
        if op == CompareOperator.gt:
            return column > value
        if op == CompareOperator.ge:
            return column >= value
        if op == CompareOperator.lt:
            return column < value
        if op == CompareOperator.le:
            return column <= value
        raise InvalidFilterError(f"Operator {op.value!r} does not apply here")

    def _compare_datetime(
        self, column: Any, op: CompareOperator, value: Any
    ) -> ColumnElement[bool]:
        if op in _STRING_OPS:
            raise InvalidFilterError("Dates compare with eq, ne, gt, ge, lt and le")
        return self._ordered(column, op, _as_datetime(value))

    def _compare_datetime_text(
        self, column: Any, op: CompareOperator, value: Any
    ) -> ColumnElement[bool]:
        if op in _STRING_OPS:
            raise InvalidFilterError("Dates compare with eq, ne, gt, ge, lt and le")
        _as_datetime(value)
        return self._ordered(column, op, value)


def _glob(text: str, op: CompareOperator) -> str:
    escaped = "".join(f"[{c}]" if c in "*?[]" else c for c in text)
    return f"{escaped}*" if op == CompareOperator.sw else f"*{escaped}"


def _sqlite_path(keys: list[str]) -> str:
    return "$" + "".join('."' + k.replace('"', '\\"') + '"' for k in keys)


def _as_bool(value: Any, name: str) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in ("true", "false"):
        return value.lower() == "true"
    raise InvalidFilterError(f"{name!r} is a boolean: compare it with true or false")


def _as_datetime(value: Any) -> datetime:
    if isinstance(value, str):
        try:
            parsed = datetime.fromisoformat(value)  # Python 3.11 reads a trailing Z
        except ValueError:
            pass
        else:
            if parsed.tzinfo is None:
                parsed = parsed.replace(tzinfo=UTC)
            return parsed.astimezone(UTC)
    raise InvalidFilterError(f"{value!r} is not an RFC 3339 date-time")


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
