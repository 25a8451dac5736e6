"""The console's drift reports, computed on their own thread and kept a minute: a page that
does not wait for a slow report, a kept one reused, a fresh one on demand, errors shown."""

from __future__ import annotations

import threading
from typing import Any

import pytest

from scimgate.drift import cache
from scimgate.drift.cache import ReportCache
from scimgate.errors import NotFoundError
from tests.helpers.sync import create_user


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
    reports = ReportCache(engine, limit=5)
    assert reports.get(scim.account_id, wait=0) is None  # computing: the page says so
    assert reports.get(scim.account_id, wait=0) is None  # one computation, not two
    gate.set()
    first = reports.get(scim.account_id, wait=None)
    assert first is not None and first.report["sections"]["unsynced"]["count"] == 1
    assert reports.get(scim.account_id) is first and gate.calls == [scim.account_id]
    fresh = reports.get(scim.account_id, fresh=True, wait=None)
    assert fresh is not first and len(gate.calls) == 2


def test_a_kept_report_expires(scim, engine):
    reports = ReportCache(engine, limit=5, ttl=0.0)
    first = reports.get(scim.account_id, wait=None)
    assert reports.get(scim.account_id, wait=None) is not first


def test_a_failed_report_is_raised_to_the_page(engine):
    with pytest.raises(NotFoundError):
        ReportCache(engine, limit=5).get(999_999, wait=None)


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
