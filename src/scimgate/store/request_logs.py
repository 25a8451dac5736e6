"""Reading the provisioning request log (written by web.request_log's buffer)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Connection, case, func, select

from scimgate.store.tables import request_log

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
    query = select(*_LIST_COLUMNS).where(t.c.account_id == account_id)
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
    return [dict(r) for r in rows]


def get_entry(conn: Connection, account_id: int, entry_id: int) -> dict[str, Any] | None:
    """One entry with its bodies, only if it belongs to this account."""
    row = (
        conn.execute(
            select(request_log).where(
                request_log.c.account_id == account_id, request_log.c.id == entry_id
            )
        )
        .mappings()
        .first()
    )
    return dict(row) if row else None


def connection_status(conn: Connection, account_id: int, since: datetime) -> dict[str, Any]:
    """Last request, last error, and how many requests arrived since `since`."""
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
    last_error = (
        conn.execute(
            select(*_LIST_COLUMNS)
            .where(t.c.account_id == account_id, t.c.status >= 400)
            .order_by(t.c.id.desc())
            .limit(1)
        )
        .mappings()
        .first()
    )
    recent = conn.execute(
        select(func.count(), func.sum(case((t.c.status >= 400, 1), else_=0))).where(
            t.c.account_id == account_id, t.c.at >= since
        )
    ).one()
    return {
        "last": dict(last) if last else None,
        "last_error": dict(last_error) if last_error else None,
        "requests_24h": int(recent[0] or 0),
        "errors_24h": int(recent[1] or 0),
    }
