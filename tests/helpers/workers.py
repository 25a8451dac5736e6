"""Served topologies: real `scimgate serve --workers N` processes, and nginx in front of them.

    with serve_workers(url, workdir, public_url=..., workers=2) as backend:
        backend.base        # http://127.0.0.1:PORT, straight to scimgate
        backend.worker_pids()

Every process is started in a session of its own and stopped by its id (SIGTERM, then
SIGKILL to the whole group), also when a test fails half-way.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import httpx
from sqlalchemy import Engine

from scimgate.accounts import service as accounts
from scimgate.store.database import make_engine
from tests.helpers.ports import free_port
from tests.helpers.waits import STARTUP_SECONDS

SCIMGATE = str(Path(sys.executable).with_name("scimgate"))


def serve_env(database_url: str, public_url: str, **extra: str) -> dict[str, str]:
    """A served process's environment: the test database and SCIMGATE_* knobs, nothing else's."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("SCIMGATE_")}
    env.update(
        SCIMGATE_DATABASE_URL=database_url,
        SCIMGATE_PUBLIC_URL=public_url,
        SCIMGATE_SCHEDULER="false",
        SCIMGATE_WEBHOOKS="false",
        SCIMGATE_LOG_LEVEL="warning",
        SCIMGATE_REQUEST_LOG_FLUSH_SECONDS="0.2",
        # A loaded CI machine must not turn a slow answer into a deadline's 503 here
        # (tests/hardening tests the deadlines); a lock wait still has a bound.
        SCIMGATE_DB_QUEUE_SECONDS="30",
        SCIMGATE_REQUEST_TIMEOUT_SECONDS="30",
        SCIMGATE_DB_STATEMENT_TIMEOUT_MS="30000",
    )
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    env.update(extra)
    return env


def stop(proc: subprocess.Popen[bytes], timeout: float = 20) -> None:
    """SIGTERM to the process; SIGKILL to its whole session if it does not end in time."""
    if proc.poll() is None:
        proc.terminate()
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout)
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)  # the workers too, whatever became of the supervisor
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(5)


def wait_for(
    check: Callable[[], bool], what: str, proc: subprocess.Popen[bytes], log: Path
) -> None:
    """Poll `check` until it is true; fail with the process's log if it exits or time runs out."""
    deadline = time.monotonic() + STARTUP_SECONDS
    while True:
        with contextlib.suppress(httpx.HTTPError, OSError):
            if check():
                return
        if proc.poll() is not None or time.monotonic() > deadline:
            state = "exited" if proc.poll() is not None else "is still starting"
            text = log.read_text(errors="replace")[-4000:] if log.exists() else ""
            raise AssertionError(f"{what} {state} after {STARTUP_SECONDS}s:\n{text}")
        time.sleep(0.1)


@dataclass
class Backend:
    """A running `scimgate serve`."""

    base: str
    port: int
    proc: subprocess.Popen[bytes]
    log: Path
    metrics_dir: Path

    def worker_pids(self) -> set[int]:
        """The supervisor's worker processes (multiprocessing spawns them; its resource
        tracker is a child too, and not a worker), from /proc."""
        pids = set()
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            with contextlib.suppress(OSError, IndexError, ValueError):
                stat = (entry / "stat").read_text()
                ppid = int(stat.rsplit(")", 1)[1].split()[1])
                if ppid == self.proc.pid and b"spawn_main" in (entry / "cmdline").read_bytes():
                    pids.add(int(entry.name))
        return pids

    def pids_that_counted_requests(self) -> set[int]:
        """Workers that have counted a request in /metrics (prometheus-client's multiprocess
        files are named `counter_<pid>.db` and made at a process's first count)."""
        return {int(p.stem.split("_", 1)[1]) for p in self.metrics_dir.glob("counter_*.db")}

    def until_every_worker_served(self) -> set[int]:
        """Send bursts of new connections until every worker has answered one, and return
        the workers that have. A worker listens only once it has imported everything, and
        until then the kernel gives every connection to the others: on a loaded machine that
        takes seconds, so this waits on the clock (STARTUP_SECONDS), not a number of rounds."""
        workers = self.worker_pids()
        deadline = time.monotonic() + STARTUP_SECONDS
        while not self.pids_that_counted_requests() >= workers and time.monotonic() < deadline:
            with ThreadPoolExecutor(8) as pool:
                codes = set(pool.map(self._livez, range(8)))
            assert codes == {200}, codes
            time.sleep(0.1)
        return self.pids_that_counted_requests()

    def _livez(self, _: int) -> int:
        """One request on a new connection."""
        return httpx.get(self.base + "/livez", timeout=30, trust_env=False).status_code


@contextlib.contextmanager
def serve_workers(
    database_url: str, workdir: Path, *, public_url: str, workers: int = 2, **extra: str
) -> Iterator[Backend]:
    """`scimgate serve --workers N` on a free port, ready (/readyz) when yielded."""
    port = free_port()
    metrics_dir = workdir / "metrics"
    metrics_dir.mkdir()
    env = serve_env(database_url, public_url, PROMETHEUS_MULTIPROC_DIR=str(metrics_dir), **extra)
    log = workdir / "serve.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [
                SCIMGATE,
                "serve",
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
                "--workers",
                str(workers),
            ],
            env=env,
            cwd=workdir,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    base = f"http://127.0.0.1:{port}"
    backend = Backend(base, port, proc, log, metrics_dir)
    try:
        wait_for(
            lambda: httpx.get(base + "/readyz", timeout=5, trust_env=False).status_code == 200,
            "scimgate serve",
            proc,
            log,
        )
        yield backend
    finally:
        stop(proc)


def new_account(database_url: str, prefix: str) -> tuple[str, str]:
    """An entitled account with provisioning active: (slug, token). Unique slugs: on
    PostgreSQL the database is shared with other tests."""
    engine: Engine = make_engine(database_url, pool=False)
    slug = f"{prefix}-{uuid.uuid4().hex[:10]}"
    try:
        with engine.begin() as conn:
            row = accounts.create_account(conn, slug, name=f"{prefix.title()} Inc", entitled=True)
            token = accounts.activate_provisioning(conn, row["id"]).token
    finally:
        engine.dispose()
    return slug, token


def served_database(tmp_dir: Path, template: Path | None, pg_url: str | None) -> str:
    """The suite's database for a module of served tests: its PostgreSQL (already migrated),
    or a copy of the migrated SQLite template."""
    if pg_url:
        return pg_url
    assert template is not None
    target = tmp_dir / "scimgate.db"
    target.write_bytes(template.read_bytes())
    return f"sqlite:///{target}"
