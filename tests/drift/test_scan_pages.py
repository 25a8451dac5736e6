"""Pages bounded by the rows they look at (what the console's Drift pages use): a page of
`edited` stops after `scan` in-sync members even when it found fewer than `limit` hand
edits, and its cursor goes on from there, so paging through reads every member once."""

from __future__ import annotations

from typing import Any

import pytest

from scimgate.drift import report
from scimgate.drift.report import Drift
from scimgate.errors import InvalidValueError
from scimgate.store import drift as drift_store
from tests.drift.test_report import hand_set_value
from tests.helpers.sync import create_user, member_docs, sync


def edited_account(scim: Any, engine: Any, edits: tuple[int, ...]) -> list[str]:
    """Six synced members, those at `edits` (in member id order) hand-edited; their ids."""
    for i in range(6):
        create_user(scim, f"user{i}@example.com", title="Engineer")
    sync(engine, scim.account_id)
    by_id = sorted((d["id"], email) for email, d in member_docs(engine, scim.account_id).items())
    for i in edits:
        hand_set_value(engine, scim.account_id, by_id[i][1], "Job title", "CEO")
    return [member_id for member_id, _email in by_id]


def pages(engine: Any, account_id: int, **kw: Any) -> list[tuple[list[str], str | None]]:
    """Every page of `edited` (member ids shown, cursor), from the first to the end."""
    out: list[tuple[list[str], str | None]] = []
    cursor = None
    with engine.connect() as conn:
        while True:
            data, cursor = Drift(conn, account_id, batch=2).page("edited", cursor=cursor, **kw)
            out.append(([r["member_id"] for r in data], cursor))
            if cursor is None:
                return out


def test_a_page_stops_after_the_rows_it_may_look_at(scim, engine, monkeypatch):
    ids = edited_account(scim, engine, edits=(1, 4))
    looked: list[int] = []
    reads = drift_store.in_sync_batch

    def counting(*args: Any) -> Any:
        rows = reads(*args)
        looked.append(len(rows))
        return rows

    monkeypatch.setattr(drift_store, "in_sync_batch", counting)
    got = pages(engine, scim.account_id, limit=5, scan=2)
    # Two members looked at per page (one batch of two): a page continues after the last.
    assert got == [([ids[1]], ids[1]), ([], ids[3]), ([ids[4]], ids[5]), ([], None)]
    assert looked == [2, 2, 2, 0]


def test_a_full_page_stops_at_its_last_row_before_the_scan_runs_out(scim, engine):
    ids = edited_account(scim, engine, edits=(0, 1, 2))
    got = pages(engine, scim.account_id, limit=2, scan=6)
    assert got == [([ids[0], ids[1]], ids[1]), ([ids[2]], None)]


def test_scanned_pages_show_every_row_the_unbounded_ones_do(scim, engine):
    edited_account(scim, engine, edits=(0, 3, 5))
    shown = [i for data, _c in pages(engine, scim.account_id, limit=2, scan=3) for i in data]
    full = [i for data, _c in pages(engine, scim.account_id, limit=2) for i in data]
    assert shown == full and len(full) == 3
    for name in ("unsynced", "manual", "unfilled"):  # every row looked at is one of them
        with engine.connect() as conn:
            assert report.section_page(
                conn, scim.account_id, name, limit=2, scan=3
            ) == report.section_page(conn, scim.account_id, name, limit=2)


def test_a_scan_smaller_than_the_page_is_refused(scim, engine):
    with engine.connect() as conn, pytest.raises(InvalidValueError, match="scan"):
        report.section_page(conn, scim.account_id, "edited", limit=50, scan=10)
