"""Ports for the servers tests start (scimgate serve, nginx), safe under pytest-xdist.

`free_port()` used to bind port 0 and hand back what the kernel chose. That port comes
from the ephemeral range, the same one every outgoing connection (to PostgreSQL, from a
test's HTTP client, from Chromium) takes its local port from, and it is free only until
the server binds it a moment later: with several workers (and their servers) on the
machine, another socket can take it in between.

Here each pytest-xdist worker of a run has a block of its own below the ephemeral range
(net.ipv4.ip_local_port_range starts at 32768), so no two workers of a run, and no
outgoing connection, are ever handed the same port. Which blocks a run takes depends on
its run id (a run without xdist takes one at random), so runs at the same time on one
machine mostly keep apart too. Within its block a process picks at random, never hands
out a port it handed out recently (a server may not have bound it yet), and skips ports
something else holds (a bind without SO_REUSEADDR also skips ports still in TIME_WAIT).
"""

from __future__ import annotations

import hashlib
import os
import random
import socket
import threading
from collections import deque

FIRST = 20_000
BLOCK = 1_000
BLOCKS = 12  # 20000-31999: below the ephemeral range


def _block() -> int:
    """This process's block: the run's first block (from the run id xdist gives every
    worker) plus the worker's number (gw0, gw1, ...), modulo the number of blocks."""
    worker = os.environ.get("PYTEST_XDIST_WORKER", "")
    run = os.environ.get("PYTEST_XDIST_TESTRUNUID")
    if not (worker.startswith("gw") and worker[2:].isdigit() and run):
        return random.randrange(BLOCKS)
    first = int(hashlib.sha256(run.encode()).hexdigest(), 16) % BLOCKS
    return (first + int(worker[2:])) % BLOCKS


_lock = threading.Lock()
_start = FIRST + _block() * BLOCK
_recent: deque[int] = deque(maxlen=BLOCK // 4)


def free_port(host: str = "127.0.0.1") -> int:
    """A port on `host` nothing listens on or is connected from, in this worker's block."""
    with _lock:
        for _ in range(4 * BLOCK):
            port = _start + random.randrange(BLOCK)
            if port in _recent:
                continue
            with socket.socket() as sock:
                try:
                    sock.bind((host, port))
                except OSError:
                    continue
            _recent.append(port)
            return port
    raise RuntimeError(f"no free port in {_start}-{_start + BLOCK - 1} on {host}")
