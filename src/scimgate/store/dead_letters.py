"""Webhook dead letters: the deliveries that used up their endpoint's retries, while open.

A dead letter is open until its event reaches the endpoint (a later 2xx delivery of the
same event: the worker after a resume, or a redelivery) or dies again (a later dead
letter of the same event stands for it).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Connection, and_, exists, func, or_, select
from sqlalchemy.sql.elements import ColumnElement

from scimgate.store.tables.operations import webhook_delivery

_COLUMNS = ("id", "endpoint_id", "event_seq", "event_id", "event_type", "attempt")
_COLUMNS += ("status_code", "error", "at")


def _open(account_id: int, endpoint_id: int) -> list[ColumnElement[bool]]:
    """The conditions of an open dead letter of one endpoint."""
    d, later = webhook_delivery, webhook_delivery.alias("later")
    settled = exists().where(
        later.c.account_id == d.c.account_id,
        later.c.endpoint_id == d.c.endpoint_id,
        later.c.event_seq == d.c.event_seq,
        later.c.id > d.c.id,
        or_(later.c.dead, and_(later.c.status_code >= 200, later.c.status_code < 300)),
    )
    return [d.c.account_id == account_id, d.c.endpoint_id == endpoint_id, d.c.dead, ~settled]


def list_open(
    conn: Connection, account_id: int, endpoint_id: int, *, after_id: int, limit: int
) -> list[dict[str, Any]]:
    """Open dead letters of an endpoint after `after_id`, oldest first."""
    d = webhook_delivery
    rows = conn.execute(
        select(*(d.c[name] for name in _COLUMNS))
        .where(*_open(account_id, endpoint_id), d.c.id > after_id)
        .order_by(d.c.id)
        .limit(limit)
    ).mappings()
    return [dict(r) for r in rows]


def count_open(conn: Connection, account_id: int, endpoint_id: int) -> int:
    """How many dead letters of an endpoint are open."""
    query = select(func.count()).select_from(webhook_delivery)
    return int(conn.execute(query.where(*_open(account_id, endpoint_id))).scalar_one())


def find_open(
    conn: Connection, account_id: int, endpoint_id: int, ids: Sequence[int]
) -> list[dict[str, Any]]:
    """The open dead letters of an endpoint among `ids` (others are left out)."""
    d = webhook_delivery
    rows = conn.execute(
        select(*(d.c[name] for name in _COLUMNS))
        .where(*_open(account_id, endpoint_id), d.c.id.in_(list(ids)))
        .order_by(d.c.id)
    ).mappings()
    return [dict(r) for r in rows]
