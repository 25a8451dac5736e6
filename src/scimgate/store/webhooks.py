"""Webhook endpoints (a cursor and a lease each) and their delivery log."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Connection, delete, func, or_, select, update

from scimgate.store.tables.accounts import account
from scimgate.store.tables.operations import webhook_delivery, webhook_endpoint

_PUBLIC = (
    webhook_endpoint.c.id,
    webhook_endpoint.c.url,
    webhook_endpoint.c.event_types,
    webhook_endpoint.c.status,
    webhook_endpoint.c.cursor,
    webhook_endpoint.c.attempts,
    webhook_endpoint.c.next_attempt_at,
    webhook_endpoint.c.first_failure_at,
    webhook_endpoint.c.last_error,
    webhook_endpoint.c.created_at,
)


def insert_endpoint(
    conn: Connection,
    account_id: int,
    *,
    url: str,
    secret: str,
    event_types: list[str],
    cursor: int,
    now: datetime,
) -> int:
    """A new active endpoint that starts after `cursor` (events before it are not sent)."""
    result = conn.execute(
        webhook_endpoint.insert().values(
            account_id=account_id,
            url=url,
            secret=secret,
            event_types=event_types,
            status="active",
            cursor=cursor,
            attempts=0,
            next_attempt_at=now,
            created_at=now,
        )
    )
    return int(result.inserted_primary_key[0])


def list_endpoints(conn: Connection, account_id: int) -> list[dict[str, Any]]:
    """An account's endpoints (secrets left out)."""
    rows = conn.execute(
        select(*_PUBLIC)
        .where(webhook_endpoint.c.account_id == account_id)
        .order_by(webhook_endpoint.c.id)
    ).mappings()
    return [dict(r) for r in rows]


def get_endpoint(conn: Connection, account_id: int, endpoint_id: int) -> dict[str, Any] | None:
    """One endpoint of this account, secret included (for delivery)."""
    row = (
        conn.execute(
            select(webhook_endpoint).where(
                webhook_endpoint.c.account_id == account_id, webhook_endpoint.c.id == endpoint_id
            )
        )
        .mappings()
        .first()
    )
    return dict(row) if row else None


def delete_endpoint(conn: Connection, account_id: int, endpoint_id: int) -> bool:
    """Remove an endpoint and its delivery log."""
    result = conn.execute(
        delete(webhook_endpoint).where(
            webhook_endpoint.c.account_id == account_id, webhook_endpoint.c.id == endpoint_id
        )
    )
    return result.rowcount == 1


def set_endpoint(conn: Connection, endpoint_id: int, **values: Any) -> None:
    """Set columns of one endpoint."""
    conn.execute(
        update(webhook_endpoint).where(webhook_endpoint.c.id == endpoint_id).values(**values)
    )


def advance_endpoint(conn: Connection, endpoint_id: int, cursor_was: int, **values: Any) -> bool:
    """Set columns if the cursor is still `cursor_was`: a stale write never undoes a prune."""
    e = webhook_endpoint
    result = conn.execute(
        update(e).where(e.c.id == endpoint_id, e.c.cursor == cursor_was).values(**values)
    )
    return result.rowcount == 1


def due_endpoints(conn: Connection, now: datetime, limit: int = 100) -> list[tuple[int, int]]:
    """(account_id, id) of active endpoints with events past their cursor, due, and free."""
    e = webhook_endpoint
    rows = conn.execute(
        select(e.c.account_id, e.c.id)
        .join(account, account.c.id == e.c.account_id)
        .where(
            e.c.status == "active",
            account.c.event_seq > e.c.cursor,  # idle endpoints are not even claimed
            e.c.next_attempt_at <= now,
            or_(e.c.lease_until.is_(None), e.c.lease_until < now),
        )
        .order_by(e.c.next_attempt_at)
        .limit(limit)
    )
    return [(r[0], r[1]) for r in rows]


def claim(conn: Connection, endpoint_id: int, owner: str, now: datetime, until: datetime) -> bool:
    """Take the endpoint's lease if it is free (compare-and-set: one process wins)."""
    e = webhook_endpoint
    result = conn.execute(
        update(e)
        .where(
            e.c.id == endpoint_id,
            e.c.status == "active",
            e.c.next_attempt_at <= now,  # another process may have just scheduled a retry
            or_(e.c.lease_until.is_(None), e.c.lease_until < now),
        )
        .values(lease_owner=owner, lease_until=until)
    )
    return result.rowcount == 1


def release(conn: Connection, endpoint_id: int, owner: str) -> None:
    """Give the lease back."""
    e = webhook_endpoint
    conn.execute(
        update(e)
        .where(e.c.id == endpoint_id, e.c.lease_owner == owner)
        .values(lease_owner=None, lease_until=None)
    )


def insert_delivery(conn: Connection, account_id: int, endpoint_id: int, **values: Any) -> None:
    """One attempt in the delivery log."""
    conn.execute(
        webhook_delivery.insert().values(account_id=account_id, endpoint_id=endpoint_id, **values)
    )


def list_deliveries(
    conn: Connection, account_id: int, endpoint_id: int, *, limit: int = 50
) -> list[dict[str, Any]]:
    """The newest attempts first."""
    d = webhook_delivery
    rows = conn.execute(
        select(d)
        .where(d.c.account_id == account_id, d.c.endpoint_id == endpoint_id)
        .order_by(d.c.id.desc())
        .limit(limit)
    ).mappings()
    return [dict(r) for r in rows]


def count_endpoints(conn: Connection, account_id: int) -> int:
    """How many endpoints an account has."""
    return int(
        conn.execute(
            select(func.count()).where(webhook_endpoint.c.account_id == account_id)
        ).scalar_one()
    )
