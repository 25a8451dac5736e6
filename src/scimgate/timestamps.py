"""Time helpers every layer shares: pure (no storage), so shells and domains need no store import."""

from __future__ import annotations

from datetime import UTC, datetime


def utcnow() -> datetime:
    """The current time in UTC, with microseconds cut to milliseconds as SCIM shows them."""
    now = datetime.now(UTC)
    return now.replace(microsecond=now.microsecond // 1000 * 1000)


def as_utc(value: datetime) -> datetime:
    """SQLite hands datetimes back naive: they were stored in UTC."""
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value


def iso_utc(value: datetime) -> str:
    """ISO 8601 in UTC with a Z: how CLI JSON, /api/v1 and webhooks write every time
    (PostgreSQL answers in its session's zone, SQLite naive)."""
    return as_utc(value).astimezone(UTC).isoformat().replace("+00:00", "Z")
