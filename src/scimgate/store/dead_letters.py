"""Webhook dead letters: the deliveries that used up their endpoint's retries, while open.

A dead letter is open until its event reaches the endpoint (a later 2xx delivery of the
same event: the worker after a resume, or a redelivery) or dies again (a later dead
letter of the same event stands for it). The partial index ix_webhook_delivery_dead holds
the dead deliveries alone, so reading them does not walk the endpoint's delivery log.
A bulk redelivery holds the endpoint's `redelivering_until` lease while it sends.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, and_, exists, func, or_, select, update
from sqlalchemy.sql.elements import ColumnElement

from scimgate.store.tables.operations import webhook_delivery, webhook_endpoint

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


def claim_redelivery(
    conn: Connection, account_id: int, endpoint_id: int, now: datetime, until: datetime
) -> bool:
    """Hold the endpoint's redelivery lease until `until` if it is free (compare-and-set:
    one caller wins, in any process); False when another holds it."""
    e = webhook_endpoint
    result = conn.execute(
        update(e)
        .where(
            e.c.account_id == account_id,
            e.c.id == endpoint_id,
            or_(e.c.redelivering_until.is_(None), e.c.redelivering_until < now),
        )
        .values(redelivering_until=until)
    )
    return result.rowcount == 1


def release_redelivery(
    conn: Connection, account_id: int, endpoint_id: int, until: datetime
) -> None:
    """Give the lease back, unless it expired and another caller holds it now."""
    e = webhook_endpoint
    conn.execute(
        update(e)
        .where(
            e.c.account_id == account_id,
            e.c.id == endpoint_id,
            e.c.redelivering_until == until,
        )
        .values(redelivering_until=None)
    )
