"""Sync history as the console, the CLI and /api/v1 read it: runs a page at a time and
the items of one run, filtered and paged, always within one account."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from scimgate.errors import InvalidValueError, NotFoundError
from scimgate.states import ItemFilter, RunStatus
from scimgate.store import sync_counts, sync_items, sync_runs
from scimgate.store.database import Connection, as_utc

# What the item filter accepts: the member and team actions as counted, and errors.
ITEM_FILTERS = tuple(f.value for f in ItemFilter)
_CURSOR = re.compile(r"^[1-9][0-9]{0,17}$")
MAX_SEARCH = 200


def run_cursor(cursor: str | None) -> int | None:
    """The run id a `next_cursor` of `run_page` stands for; anything else is refused."""
    if cursor is None:
        return None
    if not _CURSOR.match(cursor):
        raise InvalidValueError(f"cursor: {cursor[:40]!r} is not a cursor this list handed out")
    return int(cursor)


def run_page(
    conn: Connection, account_id: int, *, cursor: str | None = None, limit: int = 20
) -> tuple[list[dict[str, Any]], str | None]:
    """Runs newest first from `cursor` on, and the cursor of the next page (None at the end)."""
    rows = sync_runs.list_runs(conn, account_id, limit=limit + 1, before=run_cursor(cursor))
    if len(rows) > limit:
        return rows[:limit], str(rows[limit - 1]["id"])
    return rows, None


def latest_runs(conn: Connection, account_id: int, *, limit: int = 20) -> list[dict[str, Any]]:
    """The newest runs of the account."""
    return sync_runs.list_runs(conn, account_id, limit=limit)


def get_run(conn: Connection, account_id: int, run_id: int) -> dict[str, Any]:
    """One run of this account, or NotFoundError."""
    found = sync_runs.get_run(conn, account_id, run_id) if 0 < run_id < 2**62 else None
    if found is None:
        raise NotFoundError(f"No sync run {run_id} in this account")
    return found


def _filters(show: str | None, search: str | None) -> dict[str, Any]:
    if show is not None and show not in ITEM_FILTERS:
        raise InvalidValueError(f"show: one of {', '.join(ITEM_FILTERS)}")
    search = (search or "").strip()[:MAX_SEARCH] or None
    if search and "\x00" in search:
        raise InvalidValueError("search: contains a NUL character")
    return {
        "errors_only": show == ItemFilter.ERROR,
        "action": show if show not in (None, ItemFilter.ERROR) else None,
        "search": search,
    }


def run_items(
    conn: Connection,
    account_id: int,
    run_id: int,
    *,
    show: str | None = None,
    search: str | None = None,
    limit: int = 50,
    offset: int = 0,
) -> tuple[list[dict[str, Any]], int]:
    """One page of a run's items in order, and how many match in all: `show` is one of
    ITEM_FILTERS; `search` matches the person or team (name, userName) or an id."""
    filters = _filters(show, search)
    rows = sync_items.list_items(conn, account_id, run_id, limit=limit, offset=offset, **filters)
    if offset == 0 and len(rows) < limit:
        return rows, len(rows)
    return rows, sync_items.count_items(conn, account_id, run_id, **filters)


@dataclass(frozen=True)
class RunPoint:
    """One finished run on the history charts."""

    run_id: int
    started_at: datetime
    members: int  # active provisioned members after it
    seconds: float | None  # how long it worked


def run_points(conn: Connection, account_id: int, *, limit: int = 30) -> list[RunPoint]:
    """The last finished runs, oldest first, with the active provisioned members after
    each: worked back from today's count through each later run's net change."""
    runs = [
        r
        for r in sync_runs.list_runs(conn, account_id, limit=limit * 4)
        if r["finished_at"] is not None and r["status"] in (RunStatus.SUCCEEDED, RunStatus.FAILED)
    ][:limit]
    members = sync_counts.active_provisioned(conn, account_id)
    points = []
    for r in runs:  # newest first
        c = r["counts"] or {}
        began = r.get("confirmed_at") or r["started_at"] or r["created_at"]
        seconds = (as_utc(r["finished_at"]) - as_utc(began)).total_seconds()
        points.append(RunPoint(r["id"], as_utc(began), members, max(seconds, 0.0)))
        members -= int(c.get("created", 0)) + int(c.get("reactivated", 0))
        members += int(c.get("deactivated", 0))
        members = max(members, 0)
    return points[::-1]
