"""Drift reports (the console's and /api/v1's), computed on a bounded set of workers and
kept a minute: a page that does not wait for a slow report, a kept one reused, a fresh one
on demand, errors shown; one computation per account, a few workers and a short queue in
all; section pages one at a time per account."""

from __future__ import annotations

import threading
from typing import Any

import pytest

from scimgate.drift import cache, report
from scimgate.drift.cache import DriftGate, ReportCache
from scimgate.errors import BusyError, NotFoundError
from tests.helpers.sync import create_user, create_users


@pytest.fixture
def gate(monkeypatch):
    """Reports wait for `gate.set()`; each call is counted."""
    opened = threading.Event()
    calls: list[int] = []
    real = cache.summary

    def slow(conn: Any, account_id: int, **kw: Any) -> dict[str, Any]:
        calls.append(account_id)
        assert opened.wait(10)
        return real(conn, account_id, **kw)

    monkeypatch.setattr(cache, "summary", slow)
    opened.calls = calls  # type: ignore[attr-defined]
    return opened


def test_a_slow_report_is_none_until_done_then_kept(scim, engine, gate):
    create_user(scim, "ann@example.com")
    reports = ReportCache(engine)
    assert reports.get(scim.account_id, wait=0) is None  # computing: the page says so
    assert reports.get(scim.account_id, wait=0) is None  # one computation, not two
    gate.set()
    first = reports.get(scim.account_id, wait=None)
    assert first is not None and first.report["sections"]["unsynced"]["count"] == 1
    assert reports.get(scim.account_id) is first and gate.calls == [scim.account_id]
    fresh = reports.get(scim.account_id, fresh=True, wait=None)
    assert fresh is not first and len(gate.calls) == 2


def test_a_kept_report_expires(scim, engine):
    reports = ReportCache(engine, ttl=0.0)
    first = reports.get(scim.account_id, wait=None)
    assert reports.get(scim.account_id, wait=None) is not first


def test_a_failed_report_is_raised_to_the_page(engine):
    with pytest.raises(NotFoundError):
        ReportCache(engine).get(999_999, wait=None)


def test_the_console_says_it_is_checking_and_refreshes(make_console, engine, gate, monkeypatch):
    console = make_console()
    monkeypatch.setattr(ReportCache, "wait", 0.0)
    page = console.get("/drift").text
    assert "Comparing your members with the identity provider" in page
    assert '<meta http-equiv="refresh" content="2; url=/console/drift">' in page
    gate.set()
    for _ in range(100):
        page = console.get("/drift").text
        if "Check again" in page:
            break
        threading.Event().wait(0.05)
    assert "Drift by section" in page and "Check again</a>" in page


def test_workers_and_queue_are_bounded_across_accounts(engine, gate, make_account):
    accounts = [make_account()[2] for _ in range(3)]
    reports = ReportCache(engine, workers=1, backlog=1)
    assert reports.get(accounts[0], wait=0) is None
    for _ in range(100):  # the one worker took the first; the second waits in the queue
        if gate.calls:
            break
        threading.Event().wait(0.02)
    assert reports.get(accounts[1], wait=0) is None
    assert reports.get(accounts[1], wait=0) is None  # joins its queued computation
    with pytest.raises(BusyError) as busy:
        reports.get(accounts[2], wait=0)
    assert busy.value.retry_after > 0
    assert gate.calls == [accounts[0]]  # one thread, one report at a time
    gate.set()
    assert reports.get(accounts[1], wait=None) is not None
    assert gate.calls == accounts[:2]
    assert reports.get(accounts[2], wait=None) is not None  # room again


def test_a_cached_report_serves_fewer_rows_with_the_cursor_after_them(scim, engine):
    create_users(scim, 5, prefix="late")
    snapshot = ReportCache(engine).get(scim.account_id, wait=None)
    assert snapshot is not None
    with engine.connect() as conn:
        direct = report.summary(conn, scim.account_id, limit=2)
    assert snapshot.first(2) == direct
    assert snapshot.first(2)["sections"]["unsynced"]["next_cursor"] is not None
    assert snapshot.first(200) == snapshot.report


def test_one_page_per_account_at_a_time_a_few_in_all():
    gate = DriftGate(size=2, wait=0.05)
    with gate.slot(1):
        with pytest.raises(BusyError, match="this account"), gate.slot(1):
            pass
        with gate.slot(2), pytest.raises(BusyError, match="Too many"), gate.slot(3):
            pass
    with gate.slot(1), gate.slot(3):  # released
        pass


def test_a_page_waits_for_the_accounts_slot_within_its_bound():
    gate = DriftGate(size=2, wait=5.0)
    held = threading.Event()
    release = threading.Event()

    def hold() -> None:
        with gate.slot(1):
            held.set()
            release.wait(5)

    worker = threading.Thread(target=hold)
    worker.start()
    assert held.wait(5)
    threading.Timer(0.1, release.set).start()
    with gate.slot(1):  # waited for the first page to end
        pass
    worker.join()
