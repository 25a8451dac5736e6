"""One run per account at a time: the running SyncRun row is a lease with a heartbeat."""

from __future__ import annotations

import socket
import subprocess
from datetime import timedelta

import pytest

from scimgate.store import sync_items, sync_members, sync_runs
from scimgate.store.database import utcnow
from scimgate.sync import engine as sync_engine
from scimgate.sync.engine import SyncBusyError, SyncOptions, owner_tag
from tests.helpers.sync import create_users, get_run, member_docs, runs, sync


def running_row(engine, account_id, *, age: float = 0.0, owner: str | None = None) -> int:
    """A `running` run as another sync of this account would leave it, `age` seconds after its last heartbeat."""
    with engine.begin() as conn:
        return sync_runs.insert_run(
            conn,
            account_id,
            trigger="daily",
            status="running",
            owner=owner or owner_tag(),
            now=utcnow() - timedelta(seconds=age),
        )


def dead_pid() -> int:
    proc = subprocess.Popen(["true"])
    proc.wait()
    return proc.pid


def test_a_live_running_sync_makes_the_next_one_busy(scim, engine):
    create_users(scim, 2)
    lease = running_row(engine, scim.account_id)
    with pytest.raises(SyncBusyError, match="already running"):
        sync(engine, scim.account_id)
    assert member_docs(engine, scim.account_id) == {}
    assert get_run(engine, scim.account_id, lease)["status"] == "running"
    assert [r["id"] for r in runs(engine, scim.account_id)] == [lease]  # no row for the refused run


def test_a_dry_run_is_not_blocked_by_a_running_sync(scim, engine):
    create_users(scim, 2)
    running_row(engine, scim.account_id)
    plan = sync(engine, scim.account_id, dry_run=True)
    assert plan.status == "planned" and plan.counts["created"] == 2


def test_a_stale_lease_is_taken_over_and_marked_failed(scim, engine):
    create_users(scim, 2)
    lease = running_row(engine, scim.account_id, age=120)
    result = sync_engine.synchronize(engine, scim.account_id, options=SyncOptions(stale_after=60))
    assert result.status == "succeeded" and result.counts["created"] == 2
    assert result.run_id != lease
    old = get_run(engine, scim.account_id, lease)
    assert old["status"] == "failed"
    assert "interrupted" in old["detail"]
    assert old["finished_at"] is not None


def test_a_fresh_lease_within_stale_after_is_respected(scim, engine):
    running_row(engine, scim.account_id, age=30)
    with pytest.raises(SyncBusyError):
        sync_engine.synchronize(engine, scim.account_id, options=SyncOptions(stale_after=60))


def test_a_lease_whose_process_is_gone_is_taken_over(scim, engine):
    create_users(scim, 1)
    lease = running_row(engine, scim.account_id, owner=f"{socket.gethostname()}:{dead_pid()}")
    result = sync(engine, scim.account_id)
    assert result.status == "succeeded"
    assert get_run(engine, scim.account_id, lease)["status"] == "failed"


@pytest.mark.parametrize("pid", ["²", "9" * 40, "-1"])  # 40 digits: os.kill overflows
def test_a_lease_whose_pid_is_no_number_is_respected_not_a_crash(scim, engine, pid):
    """An owner we cannot read is treated as alive ("²".isdigit() is True, int() refuses it)."""
    running_row(engine, scim.account_id, owner=f"{socket.gethostname()}:{pid}")
    with pytest.raises(SyncBusyError):
        sync(engine, scim.account_id)


def test_a_fresh_lease_of_another_host_is_respected(scim, engine):
    running_row(engine, scim.account_id, owner=f"some-other-host.invalid:{dead_pid()}")
    with pytest.raises(SyncBusyError):
        sync(engine, scim.account_id)


def test_a_lease_of_another_account_does_not_block(scim, other, engine):
    create_users(scim, 1)
    running_row(engine, other.account_id)
    assert sync(engine, scim.account_id).status == "succeeded"


def test_a_finished_run_releases_the_lease(scim, engine):
    create_users(scim, 1)
    first = sync(engine, scim.account_id)
    second = sync(engine, scim.account_id)
    assert first.run_id != second.run_id
    rows = runs(engine, scim.account_id)
    assert [r["status"] for r in rows] == ["succeeded", "succeeded"]
    assert all(r["owner"] == owner_tag() and r["finished_at"] is not None for r in rows)


def test_a_run_that_fails_writing_its_items_is_recorded_failed_and_releases_the_lease(
    scim, engine, monkeypatch
):
    """Regression: recording the failure re-flushed the very items that failed, so the run
    stayed `running` (fresh heartbeat) and the account was busy for stale_after."""
    create_users(scim, 2)
    real_insert = sync_items.insert_items

    def insert_items(conn, account_id, run_id, items):
        if any("user01@example.com" in (i.get("label") or "") for i in items):
            raise RuntimeError("the database refused an item")
        real_insert(conn, account_id, run_id, items)

    monkeypatch.setattr(sync_items, "insert_items", insert_items)
    with pytest.raises(RuntimeError):
        sync(engine, scim.account_id)
    (row,) = runs(engine, scim.account_id)
    assert row["status"] == "failed" and "refused" in row["detail"]
    monkeypatch.setattr(sync_items, "insert_items", real_insert)
    assert sync(engine, scim.account_id).status == "succeeded"


def test_a_run_that_fails_is_recorded_and_the_next_run_converges(scim, engine, monkeypatch):
    create_users(scim, 25)
    calls = {"n": 0}
    real_write = sync_members.write_members

    def flaky_write(*args, **kw):
        calls["n"] += 1
        if calls["n"] == 2:
            raise RuntimeError("connection lost")
        real_write(*args, **kw)

    monkeypatch.setattr(sync_members, "write_members", flaky_write)
    with pytest.raises(RuntimeError):
        sync(engine, scim.account_id, batch_size=10)
    (failed,) = runs(engine, scim.account_id)
    assert failed["status"] == "failed" and "connection lost" in failed["detail"]
    assert len(member_docs(engine, scim.account_id)) == 10  # the first batch stays
    monkeypatch.setattr(sync_members, "write_members", real_write)
    result = sync(engine, scim.account_id, batch_size=10)
    assert result.status == "succeeded"
    assert result.counts["created"] == 15 and result.counts["unchanged"] == 10
    assert len(member_docs(engine, scim.account_id)) == 25
