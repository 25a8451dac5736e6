"""SCIM Bulk at its advertised limit: how long one BulkRequest of N operations takes, against
the request deadline, and against the same N operations sent one request at a time.

    .venv/bin/python benchmarks/bench_bulk.py                 # SQLite, 1,000 operations, 3 rounds
    .venv/bin/python benchmarks/bench_bulk.py --db postgres   # a fresh PostgreSQL database

One `scimgate serve` (one worker, pinned to --server-cpu) on a fresh database. Each round
sends, as one Bulk each: N POST /Users (Entra-shaped, with bulkIds); N PATCH /Users/{id}
(Entra's replace operations); N-1 POST /Users plus one POST /Groups whose members are the
other operations' bulkIds (every reference resolved); N DELETE /Users/{id}. Then the same
N creates and N PATCHes as single requests on one keep-alive connection, so the per-operation
cost of a Bulk can be read beside a single request's. Per phase: wall time, the server's
CPU (and its PostgreSQL backends'), and the statuses. The deadline is the server's
`request_timeout_seconds` (10 s by default): no operation starts after it.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))

import orjson
from harness.client import Conn, Target, connect
from harness.procs import proc_cpu_seconds
from harness.report import cpu_model, fmt, git_describe, write_results
from harness.servers import Server, start_scimgate, wait_ready
from harness.workload import ENT, PATCHOP, Population

BULK = "urn:ietf:params:scim:api:messages:2.0:BulkRequest"
GROUP = "urn:ietf:params:scim:schemas:core:2.0:Group"


def log(*args: Any) -> None:
    print(time.strftime("%H:%M:%S"), *args, file=sys.stderr, flush=True)


def patch_ops(i: int) -> list[dict[str, Any]]:
    """Entra's replace operations on one user (the same as bench_scim's patch_user)."""
    return [
        {"op": "Replace", "path": "displayName", "value": f"Renamed {i}"},
        {"op": "Replace", "path": "name.givenName", "value": f"Given{i}"},
        {"op": "Replace", "path": f"{ENT}:department", "value": "Research"},
    ]


def bulk_body(operations: list[dict[str, Any]]) -> bytes:
    return orjson.dumps({"schemas": [BULK], "Operations": operations})


class Meter:
    """Wall time and server (+ database backend) CPU of one phase."""

    def __init__(self, server: Server) -> None:
        self.server = server
        self.db_pids = server.db_pids

    def cpu(self) -> tuple[float, float]:
        srv = proc_cpu_seconds(self.server.pids())
        db = proc_cpu_seconds(self.db_pids()) if self.db_pids else 0.0
        return srv, db

    async def measure(self, name: str, coro: Any) -> dict[str, Any]:
        srv0, db0 = self.cpu()
        t0 = time.perf_counter()
        out = await coro
        wall = time.perf_counter() - t0
        srv1, db1 = self.cpu()
        row = {"phase": name, "wall_s": wall, "server_cpu_s": srv1 - srv0, "db_cpu_s": db1 - db0}
        row.update(out)
        log(
            f"{name:<22} {wall:7.2f} s  server cpu {row['server_cpu_s']:6.2f} s  "
            f"db cpu {row['db_cpu_s']:6.2f} s  {out.get('statuses')}"
        )
        return row


async def send_bulk(conn: Conn, t: Target, operations: list[dict[str, Any]]) -> dict[str, Any]:
    """One BulkRequest; the statuses of its operations, and what they created."""
    body = bulk_body(operations)
    status, answer, _ = await conn.request(t.req("POST", "/Bulk", body))
    if status != 200:
        raise RuntimeError(f"Bulk answered {status}: {answer[:500]!r}")
    results = orjson.loads(answer)["Operations"]
    statuses: dict[str, int] = {}
    for r in results:
        statuses[r["status"]] = statuses.get(r["status"], 0) + 1
    ids = {r.get("bulkId"): r["location"].rsplit("/", 1)[-1] for r in results if r.get("location")}
    return {"statuses": statuses, "ids": ids, "bytes_sent": len(body), "operations": len(results)}


async def send_singles(conn: Conn, requests: list[bytes]) -> dict[str, Any]:
    """The same operations one request at a time on one keep-alive connection."""
    statuses: dict[str, int] = {}
    for req in requests:
        status, _, _ = await conn.request(req)
        statuses[str(status)] = statuses.get(str(status), 0) + 1
    return {"statuses": statuses, "operations": len(requests)}


async def one_round(
    meter: Meter, t: Target, pop: Population, n: int, base: int, round_no: int
) -> list[dict[str, Any]]:
    """The four Bulk phases, then the single-request comparison, on fresh users."""
    conn = await connect(t.host, t.port)
    rows = []
    try:
        creates = [
            {
                "method": "POST",
                "path": "/Users",
                "bulkId": f"u{i}",
                "data": orjson.loads(pop.user_body(base + i)),
            }
            for i in range(n)
        ]
        row = await meter.measure(f"bulk_create[{round_no}]", send_bulk(conn, t, creates))
        ids = row.pop("ids")
        rows.append(row)
        patches = [
            {
                "method": "PATCH",
                "path": f"/Users/{ids[f'u{i}']}",
                "data": {"schemas": [PATCHOP], "Operations": patch_ops(i)},
            }
            for i in range(n)
        ]
        row = await meter.measure(f"bulk_patch[{round_no}]", send_bulk(conn, t, patches))
        row.pop("ids")
        rows.append(row)
        base2 = base + n
        refs = [
            {
                "method": "POST",
                "path": "/Users",
                "bulkId": f"r{i}",
                "data": orjson.loads(pop.user_body(base2 + i)),
            }
            for i in range(n - 1)
        ]
        group = {
            "method": "POST",
            "path": "/Groups",
            "bulkId": "g",
            "data": {
                "schemas": [GROUP],
                "displayName": f"Bulk group {round_no}",
                "externalId": pop.guid(),
                "members": [{"value": f"bulkId:r{i}"} for i in range(n - 1)],
            },
        }
        row = await meter.measure(
            f"bulk_refs_group[{round_no}]", send_bulk(conn, t, [group, *refs])
        )
        row.pop("ids")
        rows.append(row)
        deletes = [{"method": "DELETE", "path": f"/Users/{ids[f'u{i}']}"} for i in range(n)]
        row = await meter.measure(f"bulk_delete[{round_no}]", send_bulk(conn, t, deletes))
        row.pop("ids")
        rows.append(row)
        base3 = base2 + n - 1
        singles = [t.req("POST", "/Users", pop.user_body(base3 + i)) for i in range(n)]
        rows.append(await meter.measure(f"single_create[{round_no}]", send_singles(conn, singles)))
    finally:
        conn.transport and conn.transport.close()
    return rows


def markdown(doc: dict[str, Any]) -> str:
    lines = [
        "# SCIM Bulk at its limit",
        "",
        f"{doc['when']}, {doc['git']}, {doc['cpu']}, database {doc['database']}, "
        f"{doc['operations']} operations per Bulk, deadline {doc['deadline_s']} s.",
        "",
        "| phase | wall s | ms per op | server CPU s | db CPU s | statuses |",
        "|---|---|---|---|---|---|",
    ]
    for r in doc["rows"]:
        per_op = 1000 * r["wall_s"] / max(1, r["operations"])
        lines.append(
            f"| {r['phase']} | {fmt(r['wall_s'], 2)} | {fmt(per_op, 2)} | "
            f"{fmt(r['server_cpu_s'], 2)} | {fmt(r['db_cpu_s'], 2)} | {r['statuses']} |"
        )
    lines.append("")
    return "\n".join(lines)


async def run(args: argparse.Namespace) -> dict[str, Any]:
    workdir = Path(tempfile.mkdtemp(prefix="bench-bulk-"))
    os.environ["SCIMGATE_REQUEST_TIMEOUT_SECONDS"] = str(args.deadline)
    server = start_scimgate(args, workdir)
    try:
        await wait_ready(server, "/ServiceProviderConfig")
        meter = Meter(server)
        pop = Population(args.seed)
        per_round = 4 * args.operations
        pop.ensure(per_round * args.rounds)
        rows: list[dict[str, Any]] = []
        for r in range(args.rounds):
            rows += await one_round(meter, server.target, pop, args.operations, r * per_round, r)
        return {
            "when": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
            "git": git_describe(),
            "cpu": cpu_model(),
            "database": server.info["database"],
            "operations": args.operations,
            "deadline_s": args.deadline,
            "rows": rows,
        }
    finally:
        server.stop()


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--db", choices=["sqlite", "postgres"], default="sqlite")
    p.add_argument("--database-url", default=None)
    p.add_argument("--operations", type=int, default=1000)
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--deadline", type=float, default=10.0, help="the server's request deadline")
    p.add_argument("--server-cpu", default="1")
    p.add_argument("--workers", type=int, default=1)
    p.add_argument("--pg-host", default="127.0.0.1")
    p.add_argument("--pg-port", type=int, default=5432)
    p.add_argument("--pg-user", default="postgres")
    p.add_argument("--seed", type=int, default=20261207)
    p.add_argument("--out-name", default=None)
    args = p.parse_args()
    doc = asyncio.run(run(args))
    name = args.out_name or f"bulk-{doc['database']}"
    json_path, md_path = write_results(name, doc, markdown(doc))
    log(f"wrote {json_path} and {md_path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
