"""A Bulk's operations in the request log and the per-account counts: each entry has its own
operation's start time and duration (read from the run's clocks, controlled here: no sleeps,
no timed assertions), and /metrics and the console's counts count a Bulk as its operations,
as the account's rate limit charges it."""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from itertools import count
from typing import Any

import pytest
from sqlalchemy import select

from scimgate.provisioning import activity
from scimgate.provisioning.bulk import BulkLimits, run_bulk
from scimgate.scim.bulk import read_bulk_request
from scimgate.store.tables.operations import request_log
from scimgate.timestamps import as_utc
from scimgate.web import scim_bulk
from tests.helpers.bulk import bulk, post, run
from tests.helpers.scim import user_body

START = datetime(2026, 12, 7, 12, 0, tzinfo=UTC)


def wall_clock() -> Callable[[], datetime]:
    """A wall clock one second later at each read."""
    ticks = count()
    return lambda: START + timedelta(seconds=next(ticks))


def steady_clock(step: float) -> Callable[[], float]:
    """A monotonic clock `step` seconds later at each read."""
    ticks = count()
    return lambda: next(ticks) * step


@pytest.fixture
def clocked(monkeypatch: pytest.MonkeyPatch) -> None:
    """The /Bulk route runs with the controlled clocks (a quarter second per clock read)."""
    limits = functools.partial(BulkLimits, clock=steady_clock(0.25), now=wall_clock())
    monkeypatch.setattr(scim_bulk, "BulkLimits", limits)


def logged(app: Any, engine: Any) -> list[dict[str, Any]]:
    """The request log, oldest first, its times in UTC (PostgreSQL answers in its zone)."""
    app.state.request_log.flush()
    with engine.begin() as conn:
        rows = conn.execute(select(request_log).order_by(request_log.c.id)).mappings().all()
    return [{**r, "at": as_utc(r["at"]).astimezone(UTC)} for r in rows]


def three_users() -> dict[str, Any]:
    return bulk(*[post("Users", f"u{i}", user_body(f"u{i}@x.com")) for i in range(3)])


def test_each_outcome_has_its_own_start_and_duration(engine, make_account):
    _slug, _token, account_id = make_account()
    request = read_bulk_request(three_users(), max_operations=10)
    limits = BulkLimits(
        max_patch_operations=10, stop_at=1e9, clock=steady_clock(0.5), now=wall_clock()
    )
    outcomes = run_bulk(request, account_id=account_id, transaction=engine.begin, limits=limits)
    starts = [o.started_at for o in outcomes]
    assert starts == sorted(starts) and len(set(starts)) == 3
    assert starts[0] == START
    # Three monotonic reads per operation (the deadline check, its start, its end): one step each.
    assert [o.seconds for o in outcomes] == [0.5, 0.5, 0.5]


def test_each_log_entry_has_its_operations_start_and_duration(scim, app, engine, clocked):
    results = run(scim, three_users())
    assert [r["status"] for r in results] == ["201"] * 3
    rows = logged(app, engine)
    ops, own = rows[:3], rows[3]
    assert [(r["method"], r["path"]) for r in ops] == [("POST", "/scim/v2/Users")] * 3
    starts = [r["at"] for r in ops]
    assert starts == [START + timedelta(seconds=i) for i in range(3)]  # in order, not equal
    assert [r["duration_ms"] for r in ops] == [250, 250, 250]  # each its own, not the Bulk's
    assert own["path"] == "/scim/v2/Bulk" and own["at"] not in starts  # the Bulk's own time


def test_operations_not_processed_are_logged_when_the_run_stopped(scim, app, engine, monkeypatch):
    # The deadline is passed after the first operation: the other two are answered 503.
    reads: Iterator[float] = iter([0.0, 0.0, 1.0, 5.0, 5.0])
    limits = functools.partial(BulkLimits, clock=lambda: next(reads), now=wall_clock())
    monkeypatch.setattr(scim_bulk, "BulkLimits", lambda **kw: limits(**{**kw, "stop_at": 2.0}))
    results = run(scim, three_users())
    assert [r["status"] for r in results] == ["201", "503", "503"]
    ops = logged(app, engine)[:3]
    assert [r["status"] for r in ops] == [201, 503, 503]
    assert [r["duration_ms"] for r in ops] == [1000, 0, 0]
    assert "not processed" in ops[1]["detail"]
    skipped_at = START + timedelta(seconds=1)
    assert [r["at"] for r in ops[1:]] == [skipped_at, skipped_at]


def test_metrics_count_a_bulk_as_its_operations(scim, app):
    def counted() -> float:
        sample = app.state.metrics.registry.get_sample_value(
            "scimgate_account_requests_total",
            {"account_id": str(scim.account_id), "surface": "scim"},
        )
        return float(sample or 0)

    run(scim, three_users())
    assert counted() == 3
    scim.get("/Users")
    assert counted() == 4
    assert scim.post("/Bulk", json={"Operations": []}).status_code == 400  # refused: one
    assert counted() == 5


def test_the_console_counts_a_bulk_as_its_operations(scim, app, engine):
    run(scim, three_users())
    scim.get("/Users/missing")  # refused
    assert scim.post("/Bulk", json={"Operations": []}).status_code == 400  # refused, one
    app.state.request_log.flush()
    assert len(logged(app, engine)) == 6  # 3 operations, the Bulk, the GET, the refused Bulk
    with engine.begin() as conn:
        status = activity.connection_status(conn, scim.account_id)
        hours = activity.requests_per_hour(conn, scim.account_id, hours=24)
    assert (status["requests_24h"], status["errors_24h"]) == (5, 2)
    assert (sum(h.requests for h in hours), sum(h.refused for h in hours)) == (5, 2)
