"""Running real `scimgate` console-script processes on the test database: seeding, starting,
reaping, and `gate`, which stops a running sync half-way (shared by tests/sync_process)."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, make_url, text

from scimgate.provisioning import directory
from scimgate.scim.resource import normalise
from scimgate.scim.schema import schema_for
from scimgate.store import directory as directory_store
from scimgate.store import sync_runs
from scimgate.store.database import make_engine, utcnow

SCIMGATE = str(Path(sys.executable).with_name("scimgate"))
CORE = "urn:ietf:params:scim:schemas:core:2.0:User"
ENT = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"


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
