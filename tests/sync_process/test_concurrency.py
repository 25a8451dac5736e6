"""One Synchronize per account at a time, across real `scimgate sync` processes.

The tests run the installed console script against the test database. Where two processes
must overlap, the test makes them overlap on purpose instead of hoping for it: `gate`
watches the running sync's committed rows and stops it (SIGSTOP) half-way, so that what is
committed is known and the test decides what happens next (another process, SIGCONT,
SIGKILL). Left to themselves, two syncs on SQLite rarely overlap at all (the second used
to wait for the first one's write lock), which is what the race test accepts too.

The helpers (seeding, the console-script runner, the gate) are in tests/helpers/processes.py,
shared with test_crash.py and test_scheduler.py.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import time
from datetime import timedelta

import pytest

from scimgate.members import service as members
from scimgate.store import sync_runs
from scimgate.store.database import utcnow
from tests.helpers.processes import (
    all_runs,
    cli_env,
    count_rows,
    finish,
    gate,
    one_line_error,
    plain_users,
    reap,
    run,
    seed,
    start,
    sync_json,
)

pytestmark = pytest.mark.process

N_USERS = 3000
BATCH = 100


# ---- tests ----


@pytest.fixture
def spawned():
    """Processes a test starts; any still running at the end (a failed test) are killed."""
    procs: list[subprocess.Popen[str]] = []
    yield procs
    reap(*procs)


@pytest.fixture
def account(make_account):
    slug, _token, account_id = make_account("race")
    return slug, account_id


@pytest.mark.slow
def test_a_held_lease_makes_the_cli_exit_1_already_running(account, engine, database_url, tmp_path):
    """A live lease (this test's own pid on this host, fresh heartbeat): refused, nothing written."""
    slug, account_id = account
    seed(engine, account_id, plain_users(20))
    with engine.begin() as conn:
        lease = sync_runs.insert_run(
            conn,
            account_id,
            trigger="manual",
            status="running",
            owner=f"{socket.gethostname()}:{os.getpid()}",
            now=utcnow(),
        )
    env = cli_env(database_url)
    code, out, err = run(["sync", slug, "--json"], env, tmp_path)
    assert code == 1 and out == ""
    line = one_line_error(err)
    assert "already running" in line and f"run {lease}" in line
    assert count_rows(engine, "member", account_id) == 0
    assert [(r["id"], r["status"]) for r in all_runs(engine, account_id)] == [(lease, "running")]
    # A dry run only reads: the lease does not stop it.
    code, out, err = run(["sync", slug, "--dry-run", "--json"], env, tmp_path)
    assert code == 0, err
    assert json.loads(out)["created"] == 20
    # Once the lease is released (its run finished), the next sync goes through.
    with engine.begin() as conn:
        sync_runs.set_run(conn, account_id, lease, status="succeeded", finished_at=utcnow())
    assert sync_json(env, tmp_path, slug)["created"] == 20


@pytest.mark.slow
def test_a_stale_lease_of_a_live_process_is_taken_over_after_sync_stale_seconds(
    account, engine, database_url, tmp_path
):
    """SCIMGATE_SYNC_STALE_SECONDS reaches the CLI: a live owner that stopped beating is stale."""
    slug, account_id = account
    seed(engine, account_id, plain_users(5))
    with engine.begin() as conn:
        lease = sync_runs.insert_run(
            conn,
            account_id,
            trigger="daily",
            status="running",
            owner=f"{socket.gethostname()}:{os.getpid()}",  # alive: this very process
            now=utcnow() - timedelta(seconds=30),
        )
    code, _out, err = run(
        ["sync", slug, "--json"], cli_env(database_url, SCIMGATE_SYNC_STALE_SECONDS="60"), tmp_path
    )
    assert code == 1 and "already running" in one_line_error(err)
    env = cli_env(database_url, SCIMGATE_SYNC_STALE_SECONDS="10")
    doc = sync_json(env, tmp_path, slug)
    assert doc["status"] == "succeeded" and doc["created"] == 5 and doc["run_id"] != lease
    old = {r["id"]: r for r in all_runs(engine, account_id)}[lease]
    assert old["status"] == "failed" and "interrupted" in old["detail"]


@pytest.mark.slow
def test_two_processes_started_together_never_sync_at_the_same_time(
    account, engine, database_url, tmp_path, spawned
):
    """The real race, left to the scheduler of the OS: either one of them is refused, or they
    ran one after the other and the second found nothing to do. Never two writers."""
    slug, account_id = account
    seed(engine, account_id, plain_users(N_USERS))
    env = cli_env(database_url, SCIMGATE_SYNC_BATCH_SIZE=str(BATCH))
    procs = [start(["sync", slug, "--json"], env, tmp_path) for _ in range(2)]
    spawned.extend(procs)
    results = [finish(p) for p in procs]
    ok = [json.loads(out) for code, out, _err in results if code == 0]
    refused = [err for code, _out, err in results if code != 0]
    for err in refused:
        assert "already running" in one_line_error(err)
    runs = all_runs(engine, account_id)
    assert all(r["status"] == "succeeded" for r in runs), runs
    if refused:
        assert len(ok) == 1 and len(runs) == 1
        assert ok[0]["created"] == N_USERS
    else:
        assert len(runs) == 2
        first, second = sorted(ok, key=lambda d: d["run_id"])
        assert first["created"] == N_USERS and first["unchanged"] == 0
        assert second["created"] == 0 and second["unchanged"] == N_USERS
    assert count_rows(engine, "member", account_id) == N_USERS
    assert count_rows(engine, "sync_item", account_id) == N_USERS


@pytest.mark.slow
def test_a_second_process_finds_the_first_one_running_and_exits_1(
    account, engine, database_url, tmp_path, spawned
):
    """Deterministic overlap: the first sync is stopped half-way (SIGSTOP, on SQLite in the
    middle of a batch: it holds the write lock, as a running sync nearly always does) while
    a second one starts. docs/sync.md: the second gets "already running" and exit 1 at once;
    the first then finishes alone. Regression: on SQLite the second one waited for the write
    lock (up to the 30 s busy timeout, then a traceback) before looking at the lease."""
    slug, account_id = account
    seed(engine, account_id, plain_users(N_USERS))
    env = cli_env(database_url, SCIMGATE_SYNC_BATCH_SIZE=str(BATCH))
    first = start(["sync", slug, "--json"], env, tmp_path)
    spawned.append(first)
    try:
        with gate(database_url, "member", account_id, first) as committed:
            # Whole batches of SCIMGATE_SYNC_BATCH_SIZE, and not all of them.
            assert 0 < committed < N_USERS and committed % BATCH == 0, committed
        (lease,) = all_runs(engine, account_id)
        assert lease["status"] == "running"
        assert lease["owner"] == f"{socket.gethostname()}:{first.pid}"
        second = start(["sync", slug, "--json"], env, tmp_path)
        spawned.append(second)
        started = time.monotonic()
        code, out, err = finish(second, timeout=30)
        assert time.monotonic() - started < 15  # refused, not after a wait for the lock
        assert code == 1 and out == "", err
        line = one_line_error(err)
        assert "already running" in line and f"(run {lease['id']})" in line
    finally:
        first.send_signal(signal.SIGCONT)
    code, out, err = finish(first)
    assert code == 0, err
    doc = json.loads(out)
    assert doc["status"] == "succeeded" and doc["created"] == N_USERS and doc["errors"] == 0
    (only,) = all_runs(engine, account_id)  # the refused run left no row
    assert only["id"] == lease["id"] and only["status"] == "succeeded"
    with engine.connect() as conn:
        docs = members.member_documents(conn, account_id)
    assert len(docs) == N_USERS == len({d["email"] for d in docs})
    assert len({d["directory_user_id"] for d in docs}) == N_USERS
