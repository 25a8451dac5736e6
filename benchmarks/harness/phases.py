"""One measured phase: closed-loop requests over keep-alive connections for a while, with
the client's and the servers' CPU; and the trivial server the client measures itself on."""

from __future__ import annotations

import asyncio
import resource
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness.client import HTTPError, Target, connect, perf_ns, uvloop
from harness.procs import (
    core_busy_seconds,
    percentile,
    proc_cpu_by_pid,
    proc_cpu_seconds,
)
from harness.servers import free_port, pin_prefix


@dataclass
class Phase:
    """A closed-loop phase: `conns` connections each send the next request
    (``items[i]``; cyclic if ``cycle``) until the deadline or the pool is used up."""

    kind: str
    items: list[bytes]
    duration: float
    expect: tuple[int, ...]
    cycle: bool = False
    check: Callable[[int, int, bytes], str | None] | None = None
    on_response: Callable[[int, int, bytes], None] | None = None
    warmup: float = 1.0
    grace: float = 120.0


async def run_phase(
    target: Target,
    phase: Phase,
    conns: int,
    server_pids: list[int] | None,
    db_pids: Callable[[], list[int]] | None = None,
    server_cores: str | None = None,
) -> dict[str, Any]:
    items = phase.items
    n_items = len(items)
    if n_items == 0:
        raise ValueError(f"{phase.kind}: no request to send")
    state = {"next": 0}
    t_start = perf_ns()
    deadline = t_start + int(phase.duration * 1e9)
    records: list[tuple[int, int, int]] = []  # (t0, t1, ok)
    statuses: dict[int, int] = {}
    errors: list[dict[str, Any]] = []
    wrong: dict[str, int] = {}
    conn_errors = [0]
    exhausted = [False]

    def note_error(req: bytes, status: int, body: bytes, why: str) -> None:
        if len(errors) < 3:
            errors.append(
                {
                    "why": why,
                    "status": status,
                    "request": req[:2000].decode("utf-8", "replace"),
                    "response": body[:1500].decode("utf-8", "replace"),
                }
            )

    async def worker() -> None:
        conn = await connect(target.host, target.port)
        try:
            while True:
                if perf_ns() >= deadline:
                    return
                i = state["next"]
                if i >= n_items and not phase.cycle:
                    exhausted[0] = True
                    return
                state["next"] = i + 1
                req = items[i % n_items]
                t0 = perf_ns()
                try:
                    status, body, t1 = await conn.request(req)
                except (ConnectionError, HTTPError) as exc:
                    conn_errors[0] += 1
                    note_error(req, 0, str(exc).encode(), "connection")
                    conn.transport and conn.transport.close()
                    conn = await connect(target.host, target.port)
                    continue
                statuses[status] = statuses.get(status, 0) + 1
                ok = 1
                if status not in phase.expect:
                    ok = 0
                    note_error(req, status, body, f"status {status} not in {phase.expect}")
                elif phase.check is not None:
                    why = phase.check(i % n_items, status, body)
                    if why:
                        ok = 0
                        wrong[why] = wrong.get(why, 0) + 1
                        note_error(req, status, body, why)
                if ok and phase.on_response is not None:
                    phase.on_response(i % n_items, status, body)
                records.append((t0, t1, ok))
        finally:
            if conn.transport is not None:
                conn.transport.close()

    cpu0 = proc_cpu_seconds(server_pids) if server_pids else None
    db0 = proc_cpu_by_pid(db_pids()) if db_pids else None
    core0 = core_busy_seconds(server_cores)
    ru0 = resource.getrusage(resource.RUSAGE_SELF)
    tasks = [asyncio.ensure_future(worker()) for _ in range(conns)]
    done, pending = await asyncio.wait(tasks, timeout=phase.duration + phase.grace)
    timed_out = len(pending)
    for t in pending:
        t.cancel()
    for t in done:
        if t.exception() is not None:
            raise t.exception()  # type: ignore[misc]
    t_end_all = perf_ns()
    ru1 = resource.getrusage(resource.RUSAGE_SELF)
    cpu1 = proc_cpu_seconds(server_pids) if server_pids else None
    core1 = core_busy_seconds(server_cores)
    db1 = proc_cpu_by_pid(db_pids()) if db_pids else None

    # Measurement window: after a warm-up of min(warmup, 10% of the phase),
    # until the deadline (or the last completion if the pool ran out first).
    last = max((r[1] for r in records), default=t_start)
    stop = min(deadline, last) if exhausted[0] or last < deadline else deadline
    warm_end = t_start + int(min(phase.warmup * 1e9, 0.1 * (stop - t_start)))
    window = max(stop - warm_end, 1)
    completed = sum(1 for r in records if warm_end <= r[1] <= stop)
    lat = sorted((r[1] - r[0]) / 1e6 for r in records if r[0] >= warm_end)
    bad = sum(1 for r in records if not r[2])
    wall = (t_end_all - t_start) / 1e9
    client_cpu = (ru1.ru_utime - ru0.ru_utime) + (ru1.ru_stime - ru0.ru_stime)
    res: dict[str, Any] = {
        "requests": len(records),
        "measured": len(lat),
        "rps": completed / (window / 1e9),
        "p50_ms": percentile(lat, 50),
        "p90_ms": percentile(lat, 90),
        "p99_ms": percentile(lat, 99),
        "p999_ms": percentile(lat, 99.9),
        "max_ms": lat[-1] if lat else float("nan"),
        "mean_ms": sum(lat) / len(lat) if lat else float("nan"),
        "window_s": window / 1e9,
        "wall_s": wall,
        "pool_exhausted": exhausted[0],
        "statuses": {str(k): v for k, v in sorted(statuses.items())},
        "failed": bad,
        "connection_errors": conn_errors[0],
        "timed_out_connections": timed_out,
        "client_cpu_util": client_cpu / wall if wall else float("nan"),
    }
    if wrong:
        res["wrong_results"] = wrong
    if errors:
        res["error_samples"] = errors
    if cpu0 is not None and cpu1 is not None:
        res["server_cpu_s"] = cpu1 - cpu0
        res["server_cpu_util"] = (cpu1 - cpu0) / wall if wall else float("nan")
        res["server_cpu_ms_per_req"] = (
            1000 * (cpu1 - cpu0) / len(records) if records else float("nan")
        )
        if core0 is not None and core1 is not None and wall:
            # what else ran on the server's core meanwhile (other processes,
            # PostgreSQL backends, the machine's noise): a fraction of the wall time
            res["other_load_on_server_core"] = max(0.0, (core1 - core0) - (cpu1 - cpu0)) / wall
    if db0 is not None and db1 is not None:
        db_s = sum(v - db0.get(p, 0.0) for p, v in db1.items())
        res["db_cpu_s"] = db_s
        res["db_cpu_ms_per_req"] = 1000 * db_s / len(records) if records else float("nan")
        res["db_backends"] = len(db1)
    return res


_TRIVIAL_BODY = (
    b'{"schemas":["urn:ietf:params:scim:api:messages:2.0:ListResponse"],"totalResults":1,'
    + b'"x":"'
    + b"a" * 900
    + b'"}'
)


TRIVIAL_RESPONSE = (
    b"HTTP/1.1 200 OK\r\ncontent-type: application/scim+json\r\ntransfer-encoding: chunked\r\n\r\n"
    + f"{len(_TRIVIAL_BODY):x}\r\n".encode()
    + _TRIVIAL_BODY
    + b"\r\n0\r\n\r\n"
)


class _Trivial(asyncio.Protocol):
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.t = transport
        self.buf = b""

    def data_received(self, data: bytes) -> None:
        self.buf += data
        n = self.buf.count(b"\r\n\r\n")  # GET requests, no body
        if n:
            self.buf = self.buf[self.buf.rfind(b"\r\n\r\n") + 4 :]
            self.t.write(TRIVIAL_RESPONSE * n)  # type: ignore[attr-defined]


def trivial_server_main(port: int) -> None:
    async def main() -> None:
        loop = asyncio.get_running_loop()
        srv = await loop.create_server(_Trivial, "127.0.0.1", port)
        async with srv:
            await srv.serve_forever()

    (uvloop.run if uvloop else asyncio.run)(main())


def start_trivial_server(cpu: str | None) -> tuple[subprocess.Popen, int]:
    port = free_port()
    cmd = [*pin_prefix(cpu), sys.executable, "-m", "harness.phases", str(port)]
    proc = subprocess.Popen(
        cmd,
        cwd=Path(__file__).resolve().parents[1],  # benchmarks/, where `harness` is
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    return proc, port


if __name__ == "__main__":  # the trivial server's own process (start_trivial_server)
    trivial_server_main(int(sys.argv[1]))
