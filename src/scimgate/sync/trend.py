"""Sync history as numbers to chart: members after each run, and how long each run took.

No run stores the member total, so it is worked back from today's count: each finished
run changed the active provisioned members by created + reactivated - deactivated, and
only runs change them.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection

from scimgate.store import members as member_store
from scimgate.store import sync as store
from scimgate.store.database import as_utc

FINISHED = ("succeeded", "failed")  # runs that applied something (a failed one, part of it)


@dataclass(frozen=True)
class RunPoint:
    """One finished run: when it started, the members it left, and its duration."""

    run_id: int
    started_at: datetime
    members: int
    seconds: float | None


def run_points(conn: Connection, account_id: int, *, limit: int = 30) -> list[RunPoint]:
    """The last `limit` finished runs, oldest first."""
    recent = store.list_runs(conn, account_id, limit=limit * 3)
    runs = [r for r in recent if r["status"] in FINISHED][:limit]
    members = member_store.count_members(conn, account_id, status="active", source="scim")
    points = []
    for run in runs:  # newest first: the count after it, then undo its changes
        points.append(_point(run, members))
        members -= _net(run["counts"] or {})
    return list(reversed(points))


def _net(counts: dict[str, Any]) -> int:
    """How a run changed the active provisioned members."""
    return (
        int(counts.get("created", 0))
        + int(counts.get("reactivated", 0))
        - int(counts.get("deactivated", 0))
    )


def _point(run: dict[str, Any], members: int) -> RunPoint:
    started = as_utc(run["started_at"] or run["created_at"])
    finished = run["finished_at"]
    seconds = (as_utc(finished) - started).total_seconds() if finished else None
    return RunPoint(run_id=run["id"], started_at=started, members=max(members, 0), seconds=seconds)
