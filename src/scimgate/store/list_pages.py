"""List pages of the staging directory: lookups by pre-written SQL, general filters, plain lists.

Every statement names the account. A plain list continues from remembered positions in
id order (page_marks.py) instead of skipping rows; everything else pays its OFFSET.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import ColumnElement, Connection, and_, func, select

from scimgate.store import driver, page_marks
from scimgate.store.accounts import TokenGuard, guarded_rows
from scimgate.store.directory import TABLE_NAME, columns_sql, count_resources, row_of, table_for


def lookup_resources(
    conn: Connection,
    account_id: int,
    kind: str,
    *,
    where: str | None,
    params: Sequence[Any],
    offset: int,
    limit: int,
    with_groups: bool = False,
    guard: TokenGuard | None = None,
) -> tuple[int, list[dict[str, Any]]]:
    """A page for a pre-written condition (lookups.py) or none, counting only when the page is full.

    The page's ids are picked from the index first (`id IN (SELECT id … OFFSET n)`), so
    skipping n rows walks index entries, not n documents. Users come with their groups
    when `with_groups`. With a `guard` (PostgreSQL), the bearer token is checked in the
    page's own statement (accounts.TokenGuard).
    """
    table = TABLE_NAME[kind]
    columns = columns_sql(conn, kind, with_groups)
    if where is None and limit > 0:
        return _listed_page(conn, account_id, kind, columns, offset, limit, guard)
    condition = f"account_id = ? AND {where}" if where else "account_id = ?"
    bound = (account_id, *params)
    rows: list[dict[str, Any]] = []
    if limit > 0:
        sql, page_params = _page_sql(table, columns, condition, bound, offset, limit)
        rows = [row_of(r) for r in _fetch_page(conn, sql, page_params, guard)]
    if len(rows) < limit and (rows or offset == 0):
        return offset + len(rows), rows  # the page holds the last match: no need to count
    if not where:
        return count_resources(conn, account_id, kind), rows
    counted = driver.execute(conn, f"SELECT count(*) FROM {table} WHERE {condition}", bound)
    return counted.fetchone()[0], rows


def _page_sql(
    table: str,
    columns: str,
    condition: str,
    bound: tuple[Any, ...],
    offset: int,
    limit: int,
) -> tuple[str, tuple[Any, ...]]:
    """The page statement: ids picked from the index first when rows are skipped."""
    if not offset:
        sql = f"SELECT {columns} FROM {table} WHERE {condition} ORDER BY id LIMIT ?"
        return sql, (*bound, limit)
    sql = (
        f"SELECT {columns} FROM {table} WHERE account_id = ? AND id IN "
        f"(SELECT id FROM {table} WHERE {condition} ORDER BY id LIMIT ? OFFSET ?) ORDER BY id"
    )
    return sql, (bound[0], *bound, limit, offset)


def _fetch_page(
    conn: Connection, sql: str, params: tuple[Any, ...], guard: TokenGuard | None
) -> list[tuple[Any, ...]]:
    """The page's rows, with the token check in the same statement when there is a guard."""
    if guard is not None and driver.is_pg(conn):
        return guarded_rows(conn, guard, sql, params)
    return [tuple(r) for r in driver.execute(conn, sql, params).fetchall()]


# Read with the page, in its snapshot: how many rows, how many inserts and deletes so far,
# and whether the mark's id is still a row (page_marks.py).
_STATE_COLUMNS = (
    "(SELECT n FROM directory_count WHERE account_id = ? AND kind = ?), "
    "(SELECT changes FROM directory_count WHERE account_id = ? AND kind = ?), "
    "EXISTS (SELECT 1 FROM {table} WHERE account_id = ? AND id = ?)"
)


def _listed_page(
    conn: Connection,
    account_id: int,
    kind: str,
    columns: str,
    offset: int,
    limit: int,
    guard: TokenGuard | None,
) -> tuple[int, list[dict[str, Any]]]:
    """A page of the plain list, continuing from the nearest remembered id (page_marks.py).

    The statement reads the account's count row with the page: if no insert or delete
    came since the mark was taken (and its id is still there), the page is exact;
    otherwise, or when it comes back empty, it is read again from the start of the order.
    Every page leaves a mark at its last row for the next one.
    """
    marks = page_marks.marks_for(conn.engine)
    mark = marks.nearest(account_id, kind, offset) if offset else None
    if mark is not None:
        found = _stated_page(conn, account_id, kind, columns, offset, limit, guard, mark)
        if guard is not None and guard.checked and not guard.live:
            return 0, []  # a refused token: answered 401 by the caller, marks untouched
        if found and found[0][-2] == mark[0] and found[0][-1]:
            return _remembered(marks, account_id, kind, offset, limit, found)
        marks.forget(account_id, kind)
    found = _stated_page(conn, account_id, kind, columns, offset, limit, guard, None)
    if not found:
        return (count_resources(conn, account_id, kind) if offset else 0), []
    return _remembered(marks, account_id, kind, offset, limit, found)


def _stated_page(
    conn: Connection,
    account_id: int,
    kind: str,
    columns: str,
    offset: int,
    limit: int,
    guard: TokenGuard | None,
    mark: tuple[int, int, str] | None,
) -> list[tuple[Any, ...]]:
    """Rows of a plain list page (after the mark's id, if any) with the count row's state."""
    table = TABLE_NAME[kind]
    mark_id = mark[2] if mark else ""
    state = (account_id, kind, account_id, kind, account_id, mark_id)
    stated = f"{columns}, {_STATE_COLUMNS.format(table=table)}"
    if mark is None:
        sql, params = _page_sql(table, stated, "account_id = ?", (account_id,), offset, limit)
    else:
        bound = (account_id, mark_id)
        sql, params = _page_sql(
            table, stated, "account_id = ? AND id > ?", bound, offset - mark[1], limit
        )
    return _fetch_page(conn, sql, (*state, *params), guard)


def _remembered(
    marks: page_marks.PageMarks,
    account_id: int,
    kind: str,
    offset: int,
    limit: int,
    found: list[tuple[Any, ...]],
) -> tuple[int, list[dict[str, Any]]]:
    """The page and its total, leaving a mark at its last row."""
    total, changes = int(found[0][-3] or 0), int(found[0][-2] or 0)
    marks.remember(account_id, kind, changes, offset + len(found), found[-1][0])
    rows = [row_of(r[:-3]) for r in found]
    return (total if len(rows) == limit else offset + len(rows)), rows


def query_resources(
    conn: Connection,
    account_id: int,
    kind: str,
    *,
    where: ColumnElement[bool] | None,
    order_by: Sequence[Any],
    offset: int,
    limit: int,
) -> tuple[int, list[dict[str, Any]]]:
    """One page of a general (SQLAlchemy) filter and the total count of the same query."""
    table = table_for(kind)
    condition = table.c.account_id == account_id
    if where is not None:
        condition = and_(condition, where)
    rows: list[dict[str, Any]] = []
    if limit > 0:
        columns = (table.c.id, table.c.doc, table.c.version, table.c.created_at, table.c.updated_at)
        result = conn.execute(
            select(*columns)
            .where(condition)
            .order_by(*order_by, table.c.id)
            .offset(offset)
            .limit(limit)
        )
        rows = [row_of(r) for r in result]
    if len(rows) < limit and (rows or offset == 0):
        return offset + len(rows), rows  # the page holds the last match: no need to count
    total = conn.execute(select(func.count()).select_from(table).where(condition)).scalar_one()
    return total, rows
