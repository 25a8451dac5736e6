"""What the identity provider has been doing: connection status and requests per hour.

A GET answered 404 for a path the provider deleted before is the provider checking that
the resource is gone (Entra does it after each DELETE): it is not counted as refused.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection

from scimgate.store import request_logs
from scimgate.store.database import utcnow

RANGES = {"24h": 24, "7d": 7 * 24}  # the chart's spans, in hours


@dataclass(frozen=True)
class HourCount:
    """Requests that arrived in one hour (UTC), and how many of them were refused."""

    hour: datetime
    requests: int
    refused: int


def connection_status(
    conn: Connection, account_id: int, *, now: datetime | None = None
) -> dict[str, Any]:
    """Last request, last real error, and the last 24 hours' requests and refusals."""
    since = (now or utcnow()) - timedelta(hours=24)
    return request_logs.connection_status(conn, account_id, since=since)


def requests_per_hour(
    conn: Connection, account_id: int, *, hours: int, now: datetime | None = None
) -> list[HourCount]:
    """One entry per hour of the last `hours` (the current one last), empty hours included."""
    end = (now or utcnow()).replace(minute=0, second=0, microsecond=0)
    start = end - timedelta(hours=hours - 1)
    found = {
        hour: (requests, refused)
        for hour, requests, refused in request_logs.hourly_counts(conn, account_id, start)
    }
    series = []
    for i in range(hours):
        hour = start + timedelta(hours=i)
        requests, refused = found.get(hour, (0, 0))
        series.append(HourCount(hour=hour, requests=requests, refused=refused))
    return series


def first_request_at(conn: Connection, account_id: int) -> datetime | None:
    """When the identity provider's first request (the oldest the log keeps) arrived."""
    return request_logs.first_request_at(conn, account_id)
