"""`serve --workers 2`: long-lived connections opened at once are spread over both workers,
a dead worker is replaced on its own socket, and a taken port is an error.

Each worker accepts on a socket of its own (web/workers.py, SO_REUSEPORT); with one
shared socket, the first worker to wake took every connection waiting.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
from pathlib import Path

import httpx
import pytest

from scimgate.store.database import migrate
from tests.helpers.waits import STARTUP_SECONDS
from tests.helpers.workers import SCIMGATE, serve_env, serve_workers

pytestmark = pytest.mark.process

CONNECTIONS = 16  # all on one worker by chance: 2 x (1/2)^16


def _server_socket_inodes(port: int, client_ports: set[int]) -> set[str]:
    """Inodes of the server ends of these client connections (from /proc/net/tcp)."""
    inodes = set()
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        local, remote, inode = fields[1], fields[2], fields[9]
        if int(local.split(":")[1], 16) == port and int(remote.split(":")[1], 16) in client_ports:
            inodes.add(inode)
    return inodes


def _owners(pids: set[int], inodes: set[str]) -> dict[int, int]:
    """How many of these sockets each process holds."""
    held: dict[int, int] = {}
    for pid in pids:
        for fd in Path(f"/proc/{pid}/fd").iterdir():
            try:
                target = os.readlink(fd)
            except OSError:
                continue
            if target.startswith("socket:[") and target[8:-1] in inodes:
                held[pid] = held.get(pid, 0) + 1
    return held


@pytest.mark.slow
def test_connections_opened_at_once_land_on_both_workers(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'scimgate.db'}"
    migrate(url)
    with serve_workers(url, tmp_path, public_url="http://127.0.0.1:8000") as backend:
        workers = backend.worker_pids()
        assert len(workers) == 2
        # Both listening: /readyz answered from one worker while the other may be importing.
        assert backend.until_every_worker_served() == workers
        # All connected before any is accepted, as a client opening its pool does.
        conns = [socket.create_connection(("127.0.0.1", backend.port)) for _ in range(CONNECTIONS)]
        try:
            for conn in conns:
                conn.sendall(b"GET /livez HTTP/1.1\r\nHost: x\r\n\r\n")
            for conn in conns:
                conn.settimeout(30)
                assert conn.recv(65536).startswith(b"HTTP/1.1 200")
            ports = {conn.getsockname()[1] for conn in conns}
            owners = _owners(workers, _server_socket_inodes(backend.port, ports))
            assert sum(owners.values()) == CONNECTIONS
            assert set(owners) == workers, owners  # both workers hold some
        finally:
            for conn in conns:
                conn.close()

        # A worker killed: its replacement takes over its socket, and every new
        # connection is answered (none waits on a socket nobody accepts on).
        victim = min(workers)
        os.kill(victim, signal.SIGKILL)
        deadline = time.monotonic() + STARTUP_SECONDS
        while time.monotonic() < deadline:
            now = backend.worker_pids()
            if len(now) == 2 and victim not in now:
                break
            time.sleep(0.2)
        assert len(backend.worker_pids()) == 2 and victim not in backend.worker_pids()
        for _ in range(CONNECTIONS):
            assert (
                httpx.get(backend.base + "/livez", timeout=10, trust_env=False).status_code == 200
            )


def test_a_taken_port_is_an_error_not_a_shared_socket(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'scimgate.db'}"
    migrate(url)
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        done = subprocess.run(
            [SCIMGATE, "serve", "--host", "127.0.0.1", "--port", str(port), "--workers", "2"],
            env=serve_env(url, "http://127.0.0.1:8000"),
            cwd=tmp_path,
            capture_output=True,
            check=False,
            text=True,
            timeout=60,
        )
    assert done.returncode != 0
    assert "Traceback" not in done.stderr
    assert "cannot listen" in done.stderr, done.stderr
