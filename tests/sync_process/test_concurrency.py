"""One Synchronize per account at a time, across real `scimgate sync` processes.

The tests run the installed console script against the test database. Where two processes
must overlap, the test makes them overlap on purpose instead of hoping for it: `gate`
watches the running sync's committed rows and stops it (SIGSTOP) half-way, so that what is
committed is known and the test decides what happens next (another process, SIGCONT,
SIGKILL). Left to themselves, two syncs on SQLite rarely overlap at all (the second used
to wait for the first one's write lock), which is what the race test accepts too.

The helpers here (seeding, the console-script runner, the gate) are shared with
test_crash.py and test_scheduler.py.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, make_url, text

from scimgate.members import service as members
from scimgate.provisioning import directory
from scimgate.scim.resource import normalise
from scimgate.scim.schema import schema_for
from scimgate.store import directory as directory_store
from scimgate.store import sync_runs
from scimgate.store.database import make_engine, utcnow

SCIMGATE = str(Path(sys.executable).with_name("scimgate"))
CORE = "urn:ietf:params:scim:schemas:core:2.0:User"
ENT = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
N_USERS = 3000
BATCH = 100


# ---- helpers (also used by test_crash.py) ----


def cli_env(database_url: str, **extra: str) -> dict[str, str]:
    """The environment of a `scimgate` process: the test database and SCIMGATE_* knobs."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("SCIMGATE_")}
    env["SCIMGATE_DATABASE_URL"] = database_url
    env.update(extra)
    return env


def start(args: Sequence[str], env: dict[str, str], cwd: Path) -> subprocess.Popen[str]:
    """Start the real console script (cwd without a .env file)."""
    return subprocess.Popen(
        [SCIMGATE, *args],
        env=env,
        cwd=cwd,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def finish(proc: subprocess.Popen[str], timeout: float = 120) -> tuple[int, str, str]:
    """Wait for a started process: (exit status, stdout, stderr)."""
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, err = proc.communicate()
        raise AssertionError(f"scimgate did not finish in {timeout}s: {out}\n{err}") from None
    return proc.returncode, out, err


def reap(*procs: subprocess.Popen[str] | None) -> None:
    """Kill what a failed test left running, so it cannot write into the next test's data."""
    for proc in procs:
        if proc is not None and proc.poll() is None:
            proc.send_signal(signal.SIGCONT)
            proc.kill()
            proc.communicate()


def run(args: Sequence[str], env: dict[str, str], cwd: Path) -> tuple[int, str, str]:
    return finish(start(args, env, cwd))


def sync_json(env: dict[str, str], cwd: Path, slug: str) -> dict[str, Any]:
    """`scimgate sync SLUG --json` that must succeed; its one JSON document."""
    code, out, err = run(["sync", slug, "--json"], env, cwd)
    assert code == 0, (out, err)
    assert "Traceback" not in err
    return json.loads(out)


def one_line_error(err: str) -> str:
    """stderr of a failed command: exactly one line, no traceback."""
    assert "Traceback" not in err, err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    return lines[0]


def user_doc(i: int, *, manager: str | None = None, active: bool = True) -> dict[str, Any]:
    """An Entra-shaped user body, numbered."""
    email = f"user{i:05d}@example.com"
    ent: dict[str, Any] = {"department": f"Dept {i % 11}", "employeeNumber": str(100000 + i)}
    if manager is not None:
        ent["manager"] = {"value": manager}
    return {
        "schemas": [CORE, ENT],
        "externalId": f"ext-{i}",
        "userName": email,
        "active": active,
        "displayName": f"User {i:05d}",
        "title": f"Title {i % 7}",
        "emails": [{"primary": True, "type": "work", "value": email}],
        "name": {"givenName": "User", "familyName": f"{i:05d}"},
        ENT: ent,
    }


def seed(
    engine: Engine,
    account_id: int,
    users: Sequence[tuple[str, dict[str, Any]]],
    groups: Sequence[dict[str, Any]] = (),
) -> None:
    """Stage users (with pre-made ids, so a manager may be a user staged later) and groups.

    Same writes as POST /Users and POST /Groups (normalise + the directory store), in one
    transaction; on PostgreSQL in psycopg's pipeline mode, which saves a round trip per
    statement (5,000 users: about 2 s instead of 5).
    """
    schema = schema_for("User")
    now = utcnow()
    with engine.begin() as conn:
        pipeline = (
            conn.connection.driver_connection.pipeline()
            if conn.dialect.name == "postgresql"
            else contextlib.nullcontext()
        )
        with pipeline:
            for user_id, body in users:
                doc = normalise(body, schema).doc
                directory_store.insert_resource(
                    conn, account_id, "User", doc=doc, now=now, resource_id=user_id
                )
        for body in groups:
            directory.create(conn, account_id, "Group", body, now=now)


def plain_users(n: int) -> list[tuple[str, dict[str, Any]]]:
    return [(str(uuid.uuid4()), user_doc(i)) for i in range(n)]


def count_rows(engine: Engine, table: str, account_id: int) -> int:
    with engine.connect() as conn:
        return conn.execute(
            text(f"SELECT COUNT(*) FROM {table} WHERE account_id = :a"), {"a": account_id}
        ).scalar_one()


def all_runs(engine: Engine, account_id: int) -> list[dict[str, Any]]:
    """Runs, oldest first."""
    with engine.connect() as conn:
        return sync_runs.list_runs(conn, account_id, limit=1000)[::-1]


@contextlib.contextmanager
def gate(
    database_url: str,
    table: str,
    account_id: int,
    proc: subprocess.Popen[str],
    until: Callable[[int], bool] = lambda n: n > 0,
    timeout: float = 90,
) -> Iterator[int]:
    """Wait until the account's row count of `table` satisfies `until`, then stop `proc` there
    (SIGSTOP) and yield the count, which no longer moves: whole batches, as committed.

    The caller kills the process, or sends SIGCONT, before leaving the block.

    PostgreSQL: each poll holds LOCK TABLE ... IN EXCLUSIVE MODE, so the sync waits at its
    next write to the table and the count is exact. SQLite: polled by plain reads (a reader
    never waits in WAL mode; a waiting writer would: SQLite's busy handler sleeps while a
    sync re-takes the lock microseconds after each commit), and the process is stopped as
    soon as the count is seen, possibly in the middle of a batch that is then not committed.
    """
    deadline = time.monotonic() + timeout
    engine = make_engine(database_url, pool=False)
    sql = text(f"SELECT COUNT(*) FROM {table} WHERE account_id = :a")
    try:
        with engine.connect() as conn:
            postgres = conn.dialect.name == "postgresql"
            while True:
                tx = conn.begin()
                if postgres:
                    conn.exec_driver_sql(f"LOCK TABLE {table} IN EXCLUSIVE MODE")
                n = conn.execute(sql, {"a": account_id}).scalar_one()
                if until(n):
                    proc.send_signal(signal.SIGSTOP)
                    if not postgres:  # a commit may have landed since
                        tx.rollback()
                        tx = conn.begin()
                        n = conn.execute(sql, {"a": account_id}).scalar_one()
                    try:
                        yield n
                    finally:
                        tx.rollback()
                    return
                tx.rollback()
                if proc.poll() is not None:
                    out, err = proc.communicate()
                    raise AssertionError(f"the sync ended first ({table}: {n}): {out} {err}")
                assert time.monotonic() < deadline, f"{table} never got there (last {n})"
                time.sleep(0.001)
    finally:
        engine.dispose()


@contextlib.contextmanager
def sqlite_write_lock(database_url: str) -> Iterator[None]:
    """Hold SQLite's write lock (BEGIN IMMEDIATE) on another connection."""
    conn = sqlite3.connect(make_url(database_url).database, isolation_level=None)
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield
    finally:
        conn.execute("ROLLBACK")
        conn.close()


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
