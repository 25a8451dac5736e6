"""Served processes under test: ports, core pinning, scimgate (migrated, an entitled account,
served) on SQLite or a fresh PostgreSQL database, readiness, the CLI."""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.parse
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness.client import Target, connect, log
from harness.procs import proc_tree
from harness.report import git_describe

REPO = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent  # the venv's bin when run with .venv/bin/python
SCIMGATE = "scimgate"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def pin_prefix(cpu: str | None) -> list[str]:
    if cpu is None or not shutil.which("taskset"):
        return []
    return ["taskset", "-c", cpu]


@dataclass
class Server:
    name: str
    target: Target
    proc: subprocess.Popen
    log_path: Path
    info: dict[str, Any] = field(default_factory=dict)
    cleanup: list[Callable[[], None]] = field(default_factory=list)
    pg: dict[str, Any] | None = None  # host, port, user, dbname of scimgate's PostgreSQL database

    def db_pids_fn(self) -> Callable[[], list[int]] | None:
        if self.pg is None:
            return None
        try:
            import psycopg
        except ImportError:
            return None
        pg = self.pg

        def pids() -> list[int]:
            try:
                with psycopg.connect(
                    host=pg["host"],
                    port=pg["port"],
                    user=pg["user"],
                    dbname="postgres",
                    autocommit=True,
                    connect_timeout=5,
                ) as c:
                    rows = c.execute(
                        "SELECT pid FROM pg_stat_activity WHERE datname = %s", (pg["dbname"],)
                    ).fetchall()
                return [r[0] for r in rows]
            except Exception:  # noqa: BLE001
                return []

        return pids

    @property
    def db_pids(self) -> Callable[[], list[int]] | None:
        return self.db_pids_fn()

    @property
    def pid(self) -> int:
        return self.proc.pid

    def pids(self) -> list[int]:
        return proc_tree(self.proc.pid)

    def alive(self) -> bool:
        return self.proc.poll() is None

    def log_tail(self, n: int = 30) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-n:])
        except OSError:
            return ""

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        for fn in reversed(self.cleanup):
            try:
                fn()
            except Exception as exc:  # noqa: BLE001
                log(f"cleanup of {self.name} failed: {exc}")


async def wait_ready(server: Server, path: str, timeout: float = 60.0) -> None:
    t = server.target
    req = t.req("GET", path)
    end = time.monotonic() + timeout
    last = ""
    while time.monotonic() < end:
        if not server.alive():
            raise RuntimeError(
                f"{server.name} exited with {server.proc.returncode}:\n{server.log_tail()}"
            )
        try:
            c = await connect(t.host, t.port)
            try:
                status, body, _ = await asyncio.wait_for(c.request(req), 10)
            finally:
                c.transport and c.transport.close()
            if status == 200:
                return
            last = f"{status} {body[:300]!r}"
        except (TimeoutError, OSError, ConnectionError) as exc:
            last = repr(exc)
        await asyncio.sleep(0.2)
    raise RuntimeError(f"{server.name} not ready after {timeout}s: {last}\n{server.log_tail()}")


def run_cli(cmd: list[str], env: dict[str, str], what: str) -> str:
    p = subprocess.run(cmd, check=False, env=env, capture_output=True, text=True, timeout=300)
    if p.returncode != 0:
        raise RuntimeError(
            f"{what} failed ({p.returncode}): {shlex.join(cmd)}\nstdout:\n{p.stdout[-3000:]}\nstderr:\n{p.stderr[-3000:]}"
        )
    return p.stdout


def scimgate_executable() -> str:
    exe = shutil.which("scimgate", path=str(BIN)) or shutil.which("scimgate")
    if exe is None:
        raise RuntimeError(
            f"scimgate is not installed in {BIN}: run `{BIN / 'pip'} install -e {REPO}` once pyproject.toml declares it"
        )
    return exe


def fresh_postgres_database(host: str, port: int, user: str) -> tuple[str, Callable[[], None]]:
    """A new database made with createdb: its name, and the function that drops it."""
    dbname = f"scimgate_bench_{os.getpid()}_{uuid.uuid4().hex[:8]}"
    where = ["-h", host, "-p", str(port), "-U", user]
    run_cli(["createdb", *where, dbname], dict(os.environ), "createdb")

    def drop() -> None:
        subprocess.run(
            ["dropdb", "--if-exists", "--force", *where, dbname],
            check=False,
            capture_output=True,
            timeout=120,
        )

    return dbname, drop


def serve_scimgate(
    exe: str, env: dict[str, str], log_path: Path, *, server_cpu: str | None, workers: int = 1
) -> tuple[subprocess.Popen, int, list[str]]:
    """`scimgate serve` on a free loopback port, pinned to `server_cpu`, its output appended
    to `log_path`: the process, its port and its command."""
    port = free_port()
    cmd = [
        *pin_prefix(server_cpu),
        exe,
        "serve",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--workers",
        str(workers),
    ]
    with open(log_path, "ab") as out:
        proc = subprocess.Popen(
            cmd, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
    return proc, port, cmd


def start_scimgate(args: argparse.Namespace, workdir: Path) -> Server:
    workdir.mkdir(parents=True, exist_ok=True)
    exe = scimgate_executable()
    cleanup: list[Callable[[], None]] = []
    if args.database_url:
        url = args.database_url
        if "{db}" in url:
            dbname, drop = fresh_postgres_database(args.pg_host, args.pg_port, args.pg_user)
            url = url.replace("{db}", dbname)
            cleanup.append(drop)
    elif args.db == "postgres":
        dbname, drop = fresh_postgres_database(args.pg_host, args.pg_port, args.pg_user)
        url = f"postgresql+psycopg://{args.pg_user}@{args.pg_host}:{args.pg_port}/{dbname}"
        cleanup.append(drop)
    else:
        url = f"sqlite:///{workdir / 'scimgate.db'}"
    # The request path with its rate limiter in it, set high enough that it never says no:
    # the benchmark measures what one process can answer, not the default policy.
    env = dict(
        os.environ,
        SCIMGATE_DATABASE_URL=url,
        SCIMGATE_SCIM_RATE_PER_SECOND="1000000000",
        SCIMGATE_SCIM_RATE_BURST="1000000000",
    )
    try:
        run_cli([exe, "migrate"], env, "scimgate migrate")
        run_cli([exe, "account", "create", "bench", "--entitled"], env, "scimgate account create")
        out = run_cli(
            [exe, "provisioning", "activate", "bench", "--json"],
            env,
            "scimgate provisioning activate",
        )
        cred = json.loads(out.strip().splitlines()[-1] if not out.strip().startswith("{") else out)
        tenant_url = urllib.parse.urlsplit(cred["tenant_url"])
        token = cred["token"]
        logp = workdir / "scimgate.log"
        proc, port, cmd = serve_scimgate(
            exe, env, logp, server_cpu=args.server_cpu, workers=args.workers
        )
    except BaseException:
        for fn in reversed(cleanup):
            fn()
        raise
    from importlib.metadata import PackageNotFoundError, version

    try:
        ver = version("scimgate")
    except PackageNotFoundError:
        ver = "?"
    redacted = re.sub(r"//([^:@/]+):[^@/]+@", r"//\1:***@", url)
    pg = None
    if url.startswith("postgresql"):
        u = urllib.parse.urlsplit(url)
        pg = {
            "host": u.hostname or args.pg_host,
            "port": u.port or 5432,
            "user": u.username or args.pg_user,
            "dbname": u.path.lstrip("/"),
        }
    return Server(
        SCIMGATE,
        Target(SCIMGATE, "127.0.0.1", port, tenant_url.path.rstrip("/"), token),
        proc,
        logp,
        info={
            "version": ver,
            "git": git_describe(),
            "command": shlex.join(cmd),
            "database_url": redacted,
            "database": "postgresql" if url.startswith("postgresql") else "sqlite",
            "tenant_url_printed": cred["tenant_url"],
        },
        cleanup=cleanup,
        pg=pg,
    )
