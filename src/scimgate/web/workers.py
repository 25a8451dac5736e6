"""`serve --workers N`: each worker accepts on a listening socket of its own (SO_REUSEPORT).

Why: with one shared socket, the worker whose event loop wakes first accepts every
connection waiting (uvloop accepts up to the backlog per wake-up), so the few long-lived
connections an IdP, a proxy's keep-alive pool or a benchmark opens at once often all land
on one worker while the other idles (measured: 8 connections, 2 workers, one of them
serving every request in some phases). With a socket per worker bound with SO_REUSEPORT,
the kernel spreads new connections over the sockets by a hash of their addresses.

A worker that dies is replaced on its own socket (connections the kernel queued there
wait for the replacement, about a second); the supervisor keeps every socket open.
Adding and removing workers by signal (SIGTTIN/SIGTTOU) is not supported: the number of
sockets is fixed at start.
"""

from __future__ import annotations

import logging
import socket
from typing import Any

from uvicorn.config import STARTUP_FAILURE
from uvicorn.supervisors import Multiprocess
from uvicorn.supervisors.multiprocess import Process

log = logging.getLogger("scimgate.serve")


def reuseport_sockets(host: str, port: int, count: int) -> list[socket.socket]:
    """`count` sockets bound to the same address, each with SO_REUSEPORT.

    The address is first bound once without SO_REUSEPORT, so another server already on
    the port (another scimgate included) is an error here rather than a silent sharer.
    """
    family, kind, proto, _name, address = socket.getaddrinfo(
        host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
    )[0]
    with socket.socket(family, kind, proto) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        probe.bind(address)
    sockets: list[socket.socket] = []
    for _ in range(count):
        sock = socket.socket(family, kind, proto)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        try:
            sock.bind(address)
        except OSError:
            sock.close()
            for bound in sockets:
                bound.close()
            raise
        sock.set_inheritable(True)
        sockets.append(sock)
    return sockets


class SpreadWorkers(Multiprocess):
    """uvicorn's supervisor, with worker i always serving socket i."""

    def __init__(self, config: Any, sockets: list[socket.socket]) -> None:
        super().__init__(config, sockets=sockets)
        self.processes_num = len(sockets)

    def _process(self, index: int) -> Process:
        return Process(self.config, [self.sockets[index]])

    def init_processes(self) -> None:
        for index in range(self.processes_num):
            process = self._process(index)
            process.start()
            self.processes.append(process)

    def restart_all(self) -> None:
        """SIGHUP: replace each worker on its socket, the new one ready before the old goes."""
        for index, old in enumerate(self.processes):
            if self.should_exit.is_set():
                return
            new = self._process(index)
            new.start()
            if not new.wait_until_ready(self.config.timeout_worker_healthcheck, self.should_exit):
                new.kill()
                new.join()
                if not self.should_exit.is_set():
                    log.error("worker %s was not ready in time; restart aborted", new.pid)
                return
            old.terminate()
            old.join()
            self.processes[index] = new

    def keep_subprocess_alive(self) -> None:
        """Replace a dead or hung worker on its own socket (uvicorn's rule: a worker that
        fails before serving stops the supervisor, as every restart would fail the same)."""
        if self.should_exit.is_set():
            return
        for index, process in enumerate(self.processes):
            if process.is_alive(timeout=self.config.timeout_worker_healthcheck):
                continue
            process.kill()
            process.join()
            if process.exitcode == STARTUP_FAILURE:
                log.error("worker %s failed to start; stopping", process.pid)
                self.should_exit.set()
                return
            if self.should_exit.is_set():
                return
            log.info("worker %s died; starting another on its socket", process.pid)
            replacement = self._process(index)
            replacement.start()
            self.processes[index] = replacement

    def handle_ttin(self) -> None:
        log.warning("SIGTTIN ignored: the number of workers is fixed at start (--workers)")

    def handle_ttou(self) -> None:
        log.warning("SIGTTOU ignored: the number of workers is fixed at start (--workers)")
