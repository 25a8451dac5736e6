"""Figures for operators (/metrics, /readyz) read from the database, shared by every process."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, and_, func, inspect, select, text

from scimgate.store.database import as_utc, utcnow
from scimgate.store.tables.accounts import account
from scimgate.store.tables.operations import event, webhook_endpoint
from scimgate.store.tables.sync import sync_run


@dataclass
class Figures:
    """What the database says about work in progress, across every process and host."""

    sync_runs: dict[tuple[str, str], int] = field(default_factory=dict)  # (trigger, status) -> n
    sync_seconds_sum: float = 0.0
    sync_seconds_count: int = 0
    webhook_backlog: int = 0  # events not yet delivered to active or failing endpoints
    webhook_lag_seconds: float = 0.0  # age of the oldest event waiting for delivery
    webhook_failing: int = 0  # endpoints waiting for someone to resume them


def read_figures(conn: Connection) -> Figures:
    """Sync run counts and durations, webhook backlog and lag."""
    figures = Figures()
    for trigger, status, count in conn.execute(
        select(sync_run.c.trigger, sync_run.c.status, func.count()).group_by(
            sync_run.c.trigger, sync_run.c.status
        )
    ):
        figures.sync_runs[(trigger, status)] = count
    total, count = conn.execute(
        select(func.coalesce(func.sum(_seconds(conn)), 0.0), func.count()).where(
            sync_run.c.finished_at.is_not(None), sync_run.c.started_at.is_not(None)
        )
    ).one()
    figures.sync_seconds_sum, figures.sync_seconds_count = float(total or 0.0), int(count)
    backlog, failing = conn.execute(
        select(
            func.coalesce(func.sum(account.c.event_seq - webhook_endpoint.c.cursor), 0),
            func.count().filter(webhook_endpoint.c.status == "failing"),
        ).join(account, account.c.id == webhook_endpoint.c.account_id)
    ).one()
    figures.webhook_backlog, figures.webhook_failing = int(backlog or 0), int(failing or 0)
    oldest = conn.execute(
        select(func.min(event.c.created_at)).select_from(
            webhook_endpoint.join(
                event,
                and_(
                    event.c.account_id == webhook_endpoint.c.account_id,
                    event.c.seq == webhook_endpoint.c.cursor + 1,
                ),
            )
        )
    ).scalar()
    figures.webhook_lag_seconds = _age(oldest)
    return figures


def _seconds(conn: Connection) -> Any:
    """finished_at - started_at in seconds, in this dialect's date arithmetic (a confirmed
    held run from its confirmation: the wait for an admin is not work)."""
    began = func.coalesce(sync_run.c.confirmed_at, sync_run.c.started_at)
    if conn.dialect.name == "postgresql":
        return func.extract("epoch", sync_run.c.finished_at - began)
    return (func.julianday(sync_run.c.finished_at) - func.julianday(began)) * 86400


def _age(moment: datetime | None) -> float:
    if moment is None:
        return 0.0
    return max(0.0, (utcnow() - as_utc(moment)).total_seconds())


def ping(conn: Connection) -> None:
    """The cheapest statement that proves the database answers."""
    conn.execute(text("SELECT 1"))


def schema_revision(conn: Connection) -> str | None:
    """The Alembic revision the database is at (None before the first migration)."""
    if not inspect(conn).has_table("alembic_version"):
        return None
    return conn.execute(text("SELECT version_num FROM alembic_version")).scalar()
