"""SQL for the daily sync schedule and the safety threshold, kept on the account row."""

from __future__ import annotations

from datetime import datetime
from typing import Any, NamedTuple

from sqlalchemy import Connection, Engine, and_, select, update

from scimgate.store.tables.accounts import account


class DueAccount(NamedTuple):
    """An account whose daily sync is due."""

    id: int
    slug: str
    next_at: datetime | None
    at: str
    zone: str


class ScheduleSettings(NamedTuple):
    daily_enabled: bool
    daily_time: str
    timezone: str
    next_at: datetime | None
    hold_percent: int
    hold_minimum: int


def due_accounts(conn: Connection, now: datetime) -> list[DueAccount]:
    """Active accounts with the daily sync on whose next run is due (or not yet set)."""
    a = account
    rows = conn.execute(
        select(a.c.id, a.c.slug, a.c.sync_next_at, a.c.sync_daily_time, a.c.sync_timezone)
        .where(
            a.c.provisioning_active.is_(True),
            a.c.sync_daily_enabled.is_(True),
            (a.c.sync_next_at.is_(None)) | (a.c.sync_next_at <= now),
        )
        .order_by(a.c.id)
    ).all()
    return [DueAccount(*r) for r in rows]


def move_next_run(
    engine: Engine, account_id: int, seen: datetime | None, following: datetime
) -> bool:
    """Move the account's next run forward if nobody else did (a compare-and-set in its
    own transaction): True means it is ours."""
    a = account
    with engine.begin() as conn:
        condition = a.c.sync_next_at.is_(None) if seen is None else a.c.sync_next_at == seen
        result = conn.execute(
            update(a).where(and_(a.c.id == account_id, condition)).values(sync_next_at=following)
        )
        return result.rowcount == 1


def schedule_settings(conn: Connection, account_id: int) -> ScheduleSettings:
    """The account's daily schedule and safety threshold as stored."""
    a = account
    row = conn.execute(
        select(
            a.c.sync_daily_enabled,
            a.c.sync_daily_time,
            a.c.sync_timezone,
            a.c.sync_next_at,
            a.c.sync_hold_percent,
            a.c.sync_hold_minimum,
        ).where(a.c.id == account_id)
    ).one()
    return ScheduleSettings(bool(row[0]), *row[1:])


def set_schedule(conn: Connection, account_id: int, values: dict[str, Any]) -> None:
    """Set columns of the account's schedule (`sync_*` column names)."""
    conn.execute(update(account).where(account.c.id == account_id).values(**values))
