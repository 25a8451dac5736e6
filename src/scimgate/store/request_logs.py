"""The provisioning request log: read by the console, written and pruned for web.request_log's
buffer (through provisioning/request_log.py)."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, Engine, String, and_, case, delete, func, insert, not_, select

from scimgate.store.errors import storage_edge
from scimgate.store.tables.accounts import account
from scimgate.store.tables.operations import request_log

_LIST_COLUMNS = (
    request_log.c.id,
    request_log.c.at,
    request_log.c.method,
    request_log.c.path,
    request_log.c.query,
    request_log.c.status,
    request_log.c.duration_ms,
    request_log.c.scim_type,
    request_log.c.detail,
    request_log.c.ignored,
)


def _deleted(account_id: int) -> Any:
    """Paths the identity provider deleted (a 2xx DELETE), with the first delete's id."""
    d = request_log
    return (
        select(d.c.path, func.min(d.c.id).label("deleted_id"))
        .where(d.c.account_id == account_id, d.c.method == "DELETE", d.c.status < 300)
        .group_by(d.c.path)
        .subquery("deleted")
    )


def _expected(deleted: Any) -> Any:
    """A GET answered 404 after the same path was deleted: the identity provider checking
    that what it deleted is gone (Entra does), not a problem."""
    t = request_log
    # Never NULL (outer join, no delete): NOT of a NULL would drop the row from both sides.
    return and_(
        t.c.method == "GET",
        t.c.status == 404,
        func.coalesce(deleted.c.deleted_id, t.c.id) < t.c.id,
    )


def _counted() -> Any:
    """Entries the request counts count: all but the own entry of a Bulk that ran (answered
    200), whose operations each have theirs: a Bulk counts as its operations, as the
    account's rate limit charges it (docs/scim.md, *Bulk*)."""
    t = request_log
    return not_(and_(t.c.method == "POST", t.c.status == 200, func.lower(t.c.path).like("%/bulk")))


def _with_expected(account_id: int, *columns: Any) -> tuple[Any, Any]:
    """A select of `columns` plus `expected`, and the condition itself."""
    deleted = _deleted(account_id)
    expected = _expected(deleted)
    query = select(*columns, case((expected, True), else_=False).label("expected")).select_from(
        request_log.outerjoin(deleted, deleted.c.path == request_log.c.path)
    )
    return query, expected


def list_entries(
    conn: Connection,
    account_id: int,
    *,
    status_class: int | None = None,
    method: str | None = None,
    path: str | None = None,
    before: int | None = None,
    limit: int = 50,
) -> list[dict[str, Any]]:
    """Newest first, filtered by status class (2 for 2xx...), method and path fragment."""
    t = request_log
    query, _ = _with_expected(account_id, *_LIST_COLUMNS)
    query = query.where(t.c.account_id == account_id)
    if status_class is not None:
        query = query.where(t.c.status >= status_class * 100, t.c.status < status_class * 100 + 100)
    if method:
        query = query.where(t.c.method == method)
    if path:
        escaped = path.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        query = query.where(t.c.path.like(f"%{escaped}%", escape="\\"))
    if before is not None:
        query = query.where(t.c.id < before)
    rows = conn.execute(query.order_by(t.c.id.desc()).limit(limit)).mappings()
    return [_flagged(r) for r in rows]


def _flagged(row: Any) -> dict[str, Any]:
    found = dict(row)
    found["expected"] = bool(found["expected"])
    return found


def get_entry(conn: Connection, account_id: int, entry_id: int) -> dict[str, Any] | None:
    """One entry with its bodies, only if it belongs to this account."""
    query, _ = _with_expected(account_id, *request_log.columns)
    row = (
        conn.execute(
            query.where(request_log.c.account_id == account_id, request_log.c.id == entry_id)
        )
        .mappings()
        .first()
    )
    return _flagged(row) if row else None


def connection_status(conn: Connection, account_id: int, since: datetime) -> dict[str, Any]:
    """Last request, last error (an expected 404 is none), and how many requests (a Bulk:
    its operations), and how many refused, arrived since `since`."""
    t = request_log
    last = (
        conn.execute(
            select(*_LIST_COLUMNS)
            .where(t.c.account_id == account_id)
            .order_by(t.c.id.desc())
            .limit(1)
        )
        .mappings()
        .first()
    )
    query, expected = _with_expected(account_id, *_LIST_COLUMNS)
    last_error = (
        conn.execute(
            query.where(t.c.account_id == account_id, t.c.status >= 400, not_(expected))
            .order_by(t.c.id.desc())
            .limit(1)
        )
        .mappings()
        .first()
    )
    deleted = _deleted(account_id)
    refused = and_(t.c.status >= 400, not_(_expected(deleted)))
    recent = conn.execute(
        select(func.count(), func.sum(case((refused, 1), else_=0)))
        .select_from(t.outerjoin(deleted, deleted.c.path == t.c.path))
        .where(t.c.account_id == account_id, t.c.at >= since, _counted())
    ).one()
    return {
        "last": dict(last) if last else None,
        "last_error": _flagged(last_error) if last_error else None,
        "requests_24h": int(recent[0] or 0),
        "errors_24h": int(recent[1] or 0),
    }


def hourly_counts(
    conn: Connection, account_id: int, since: datetime
) -> list[tuple[datetime, int, int]]:
    """(hour, requests, refused) for each hour since `since` that had requests, oldest
    first: what the provisioning page charts. An expected 404 is not refused; a Bulk
    counts as its operations."""
    t = request_log
    deleted = _deleted(account_id)
    refused = and_(t.c.status >= 400, not_(_expected(deleted)))
    if conn.dialect.name == "postgresql":
        hour = func.date_trunc("hour", func.timezone("UTC", t.c.at))
    else:  # SQLite keeps UTC text: the first 13 characters are the hour
        hour = func.substr(t.c.at, 1, 13)
    rows = conn.execute(
        select(hour.label("hour"), func.count(), func.sum(case((refused, 1), else_=0)))
        .select_from(t.outerjoin(deleted, deleted.c.path == t.c.path))
        .where(t.c.account_id == account_id, t.c.at >= since, _counted())
        .group_by(hour)
        .order_by(hour)
    ).all()
    return [(_hour(r[0]), int(r[1]), int(r[2] or 0)) for r in rows]


def _hour(value: Any) -> datetime:
    """The bucket as an aware UTC datetime, from either database's spelling."""
    if isinstance(value, datetime):
        return value.replace(tzinfo=UTC)
    return datetime.fromisoformat(str(value).replace(" ", "T") + ":00").replace(tzinfo=UTC)


# ---- writing (the request-log buffer) ----------------------------------------------------


def column_limits() -> dict[str, int]:
    """The length limit of each bounded text column: an entry is fitted to them before insert."""
    return {
        c.name: c.type.length
        for c in request_log.columns
        if isinstance(c.type, String) and c.type.length
    }


def entry_columns() -> list[str]:
    """The columns an entry fills (the id is the database's)."""
    return [c.name for c in request_log.columns if c.name != "id"]


def insert_entries(engine: Engine, rows: list[dict[str, Any]]) -> None:
    """Insert entries in one transaction; a database that is away raises a StorageError."""
    with storage_edge(), engine.begin() as conn:
        conn.execute(insert(request_log), rows)


def account_ids(engine: Engine) -> set[int]:
    """Every account's id (an idle account's entries age too)."""
    with storage_edge(), engine.begin() as conn:
        return set(conn.execute(select(account.c.id)).scalars())


def prune(engine: Engine, accounts: Iterable[int], *, cutoff: datetime, max_rows: int) -> None:
    """Keep at most `max_rows` entries and none older than `cutoff` for each account, in one
    transaction, through the (account_id, id) and (account_id, at) indexes."""
    t = request_log
    with storage_edge(), engine.begin() as conn:
        for account_id in accounts:
            conn.execute(delete(t).where(t.c.account_id == account_id, t.c.at < cutoff))
            boundary = conn.execute(
                select(t.c.id)
                .where(t.c.account_id == account_id)
                .order_by(t.c.id.desc())
                .offset(max_rows)
                .limit(1)
            ).scalar()
            if boundary is not None:
                conn.execute(delete(t).where(t.c.account_id == account_id, t.c.id <= boundary))


def first_request_at(conn: Connection, account_id: int) -> datetime | None:
    """When the oldest request the log still keeps for this account arrived (or None)."""
    t = request_log
    return conn.execute(
        select(t.c.at).where(t.c.account_id == account_id).order_by(t.c.id).limit(1)
    ).scalar_one_or_none()
