#!/usr/bin/env python3
"""scimgate vs scim2-server: one run, same Entra-ID-shaped workload, same machine.

Each server runs as ONE process pinned to ONE core (``taskset -c 1`` by
default); this script is the load generator and pins itself to the other core
(``0``).  It opens 8 keep-alive HTTP/1.1 connections per phase and drives them
closed-loop with a small raw asyncio client (pre-encoded requests, responses
framed by Content-Length or chunked encoding): httpx cannot push the request
rates we need from one core.  Every run starts with a self-test of that client
against a trivial server on the server core, recorded in the results, so that
one can see that the client is not the bottleneck.

See benchmarks/README.md for how to run it and how to read the results.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime as dt
import math
import os
import platform
import random
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness.client import Target, check_page, connect, jdumps, jloads, log, total_is, uvloop
from harness.phases import Phase, run_phase, start_trivial_server, trivial_server_main
from harness.procs import proc_cpu_seconds, proc_mem, proc_tree
from harness.report import RESULTS, cpu_model, fmt, write_results
from harness.servers import SCIMGATE, Server, free_port, pin_prefix, start_scimgate, wait_ready
from harness.workload import (
    DEPTS,
    ENT,
    FIRST,
    GROUP,
    LAST,
    PATCHOP,
    Population,
    patch_members_body,
    q,
)

HERE = Path(__file__).resolve().parent
BIN = Path(sys.executable).parent  # the venv's bin when run with .venv/bin/python
REF = "scim2-server"


# ---------------------------------------------------------------------------
# scim2-server, the reference
# ---------------------------------------------------------------------------


def start_ref(args: argparse.Namespace, workdir: Path) -> Server:
    workdir.mkdir(parents=True, exist_ok=True)
    port = free_port()
    token = "bench-" + uuid.uuid4().hex
    cmd = pin_prefix(args.server_cpu) + [
        str(BIN / "python"),
        "-m",
        "uvicorn",
        "--factory",
        "scim2_server_app:create_app",
        "--app-dir",
        str(HERE),
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--loop",
        "uvloop" if uvloop else "asyncio",
        "--http",
        "httptools",
        "--no-access-log",
        "--log-level",
        "warning",
    ]
    env = dict(os.environ, SCIM2_BENCH_TOKEN=token)
    logp = workdir / "scim2-server.log"
    with open(logp, "wb") as out:
        proc = subprocess.Popen(
            cmd, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
    from importlib.metadata import version

    return Server(
        REF,
        Target(REF, "127.0.0.1", port, "/v2", token),
        proc,
        logp,
        info={
            "version": version("scim2-server"),
            "scim2_models": version("scim2-models"),
            "command": shlex.join(cmd),
            "storage": "AsyncInMemoryStorage (in memory)",
        },
    )


# ---------------------------------------------------------------------------
# The workload (Microsoft Entra ID provisioning shapes)
# ---------------------------------------------------------------------------


@dataclass
class SrvState:
    server: Server
    ids: list[str | None] = field(default_factory=list)  # population index -> SCIM id
    empty_groups: list[str] = field(default_factory=list)
    big_groups: dict[int, list[str]] = field(default_factory=dict)  # size -> group ids
    big_next: dict[int, int] = field(default_factory=dict)  # size -> next add batch
    n_groups: int = 0
    memberships: int = 0  # group memberships created (approximate: counts the 2xx adds)

    @property
    def users(self) -> int:
        return len(self.ids)


def user_patch_body(rng: random.Random, i: int) -> bytes:
    first, last, dept = rng.choice(FIRST), rng.choice(LAST), rng.choice(DEPTS)
    return jdumps(
        {
            "schemas": [PATCHOP],
            "Operations": [
                {"op": "Replace", "path": "name.givenName", "value": first},
                {"op": "Replace", "path": "name.familyName", "value": last},
                {"op": "Replace", "path": "displayName", "value": f"{first} {last}"},
                {"op": "Replace", "path": f"{ENT}:department", "value": dept},
                {
                    "op": "Replace",
                    "path": 'emails[type eq "work"].value',
                    "value": f"{first}.{last}.{i}.{rng.randrange(10**6)}@contoso.com".lower(),
                },
            ],
        }
    )


USER_KINDS = ["lookup_externalId", "lookup_userName", "lookup_miss", "list_page", "patch_user"]


class Bench:
    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.pop = Population(args.seed)
        self.rng = random.Random(args.seed + 1)
        self.states: dict[str, SrvState] = {}
        self.steps: list[dict[str, Any]] = []
        self.server_info: dict[str, dict[str, Any]] = {}
        self.selftest: dict[str, Any] | None = None

    # -- helpers ------------------------------------------------------------

    async def phase(self, st: SrvState, ph: Phase) -> dict[str, Any]:
        srv = st.server
        if not srv.alive():
            raise RuntimeError(f"{srv.name} died:\n{srv.log_tail()}")
        res = await run_phase(
            srv.target, ph, self.args.conns, srv.pids(), srv.db_pids, self.args.server_cpu
        )
        res["users_after"] = st.users
        res.update({"mem_" + k: v for k, v in proc_mem(srv.pid).items()})
        flag = ""
        if res["failed"] or res["connection_errors"]:
            flag = f"  !! {res['failed']} failed, {res['connection_errors']} connection errors, statuses {res['statuses']}"
        log(
            f"  {srv.name:12s} {ph.kind:22s} {res['rps']:9.1f} req/s  p50 {res['p50_ms']:8.2f} ms  "
            f"p99 {res['p99_ms']:8.2f} ms  n={res['measured']}  srv cpu {res.get('server_cpu_util', float('nan')):.2f}  "
            f"client cpu {res['client_cpu_util']:.2f}  other load on srv core {res.get('other_load_on_server_core', float('nan')):.2f}"
            + (
                f"  db cpu {res['db_cpu_ms_per_req']:.2f} ms/req"
                if "db_cpu_ms_per_req" in res
                else ""
            )
            + flag
        )
        return res

    async def create_users(
        self, st: SrvState, upto: int, kind: str, duration: float = 1e9
    ) -> dict[str, Any]:
        start = st.users
        self.pop.ensure(upto)
        t = st.server.target
        items = [t.req("POST", "/Users", self.pop.user_body(i)) for i in range(start, upto)]
        st.ids.extend([None] * (upto - start))

        def on_response(k: int, _status: int, body: bytes) -> None:
            st.ids[start + k] = jloads(body)["id"]

        res = await self.phase(
            st,
            Phase(
                kind,
                items,
                duration,
                (201,),
                on_response=on_response,
                warmup=0 if kind == "preload" else 1.0,
            ),
        )
        if kind == "preload" and res["failed"]:
            raise RuntimeError(
                f"{st.server.name}: {res['failed']} user creations failed: {res.get('error_samples')}"
            )
        # Requests are sent in order and all sent ones complete: the deadline
        # leaves a tail of unsent users, which are dropped.  A failed creation
        # leaves a None (a hole that the other kinds skip).
        del st.ids[start + res["requests"] :]
        res["users_before"] = start
        res["users_after"] = st.users
        return res

    async def create_groups(self, st: SrvState, n: int) -> list[str]:
        t = st.server.target
        base = st.n_groups
        st.n_groups += n
        items = [
            t.req(
                "POST",
                "/Groups",
                jdumps(
                    {
                        "schemas": [GROUP],
                        "externalId": self.pop.guid(),
                        "displayName": f"bench-group-{base + k}",
                    }
                ),
            )
            for k in range(n)
        ]
        ids: list[str | None] = [None] * n

        def on_response(k: int, _s: int, body: bytes) -> None:
            ids[k] = jloads(body)["id"]

        res = await self.phase(
            st, Phase("setup_create_groups", items, 1e9, (201,), on_response=on_response, warmup=0)
        )
        if res["failed"] or any(x is None for x in ids):
            raise RuntimeError(
                f"{st.server.name}: group creation failed: {res.get('error_samples')}"
            )
        return ids  # type: ignore[return-value]

    async def build_big_groups(self, st: SrvState, size: int, count: int) -> dict[str, Any]:
        t0 = time.monotonic()
        gids = await self.create_groups(st, count)
        batch = self.args.build_batch
        t = st.server.target
        members = self.present(st.ids[:size])
        items = [
            t.req("PATCH", f"/Groups/{g}", patch_members_body(members[k : k + batch]))  # type: ignore[arg-type]
            for k in range(0, size, batch)
            for g in gids
        ]
        res = await self.phase(
            st, Phase(f"setup_fill_groups_{size}", items, 1e9, (200, 204), warmup=0)
        )
        if res["failed"]:
            raise RuntimeError(
                f"{st.server.name}: filling groups of {size} failed: {res.get('error_samples')}"
            )
        st.big_groups[size] = gids
        st.big_next[size] = 0
        return {
            "groups": count,
            "members_each": size,
            "batch": batch,
            "seconds": time.monotonic() - t0,
            "patch_rps": res["rps"],
            "patch_p50_ms": res["p50_ms"],
        }

    @staticmethod
    def _analyze_sync(pg: dict[str, Any], sql: str = "ANALYZE") -> float:
        import psycopg

        t0 = time.monotonic()
        with psycopg.connect(
            host=pg["host"], port=pg["port"], user=pg["user"], dbname=pg["dbname"], autocommit=True
        ) as c:
            c.execute(sql)
        return time.monotonic() - t0

    def analyze(self, st: SrvState, step: dict[str, Any], when: str) -> None:
        """VACUUM and ANALYZE scimgate's PostgreSQL database, as autovacuum would in
        production (this machine's PostgreSQL runs with autovacuum off)."""
        pg = st.server.pg
        if pg is None or not self.args.pg_analyze:
            return
        # VACUUM too: autovacuum vacuums insert-only tables as well (PostgreSQL >= 13),
        # which sets the visibility map that index-only scans need.
        step["setup"].setdefault(st.server.name, {})[f"vacuum_analyze_{when}_s"] = (
            self._analyze_sync(pg, "VACUUM (ANALYZE)")
        )

    @contextlib.asynccontextmanager
    async def autoanalyze(self, st: SrvState) -> AsyncIterator[None]:
        """During a setup phase on PostgreSQL, ANALYZE every --pg-analyze-every
        seconds, as autovacuum would (without it, plans made on the empty tables,
        such as the foreign-key checks' cached plans, stay for good)."""
        pg = st.server.pg
        if pg is None or not self.args.pg_analyze or self.args.pg_analyze_every <= 0:
            yield
            return

        async def loop() -> None:
            while True:
                await asyncio.sleep(self.args.pg_analyze_every)
                await asyncio.to_thread(self._analyze_sync, pg)

        task = asyncio.ensure_future(loop())
        try:
            yield
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    # -- kinds --------------------------------------------------------------

    @staticmethod
    def count_adds(st: SrvState) -> Callable[[int, int, bytes], None]:
        def on_response(_i: int, _s: int, _b: bytes) -> None:
            st.memberships += 50

        return on_response

    def sample_users(self, st: SrvState, n: int) -> list[int]:
        out: list[int] = []
        while len(out) < n:
            i = self.rng.randrange(st.users)
            if st.ids[i] is not None:
                out.append(i)
        return out

    @staticmethod
    def present(ids: list[str | None]) -> list[str]:
        return [x for x in ids if x is not None]

    def kind_phases(self, st: SrvState, kind: str, duration: float) -> Phase | None:
        t = st.server.target
        a = self.args
        pool = a.read_pool
        if kind in ("lookup_externalId", "lookup_externalId_with_groups"):
            items = [
                t.req("GET", "/Users?filter=" + q(f'externalId eq "{self.pop.ext[i]}"'))
                for i in self.sample_users(st, pool)
            ]
            return Phase(kind, items, duration, (200,), cycle=True, check=total_is(1))
        if kind == "lookup_userName":
            items = [
                t.req("GET", "/Users?filter=" + q(f'userName eq "{self.pop.upn[i]}"'))
                for i in self.sample_users(st, pool)
            ]
            return Phase(kind, items, duration, (200,), cycle=True, check=total_is(1))
        if kind == "lookup_miss":
            items = [
                t.req("GET", "/Users?filter=" + q(f'externalId eq "{uuid.uuid4()}"'))
                for _ in range(pool)
            ]
            return Phase(kind, items, duration, (200,), cycle=True, check=total_is(0))
        if kind == "list_page":
            hi = max(1, st.users - 99)
            items = [
                t.req("GET", f"/Users?startIndex={self.rng.randint(1, hi)}&count=100")
                for _ in range(pool)
            ]
            return Phase(kind, items, duration, (200,), cycle=True, check=check_page)
        if kind == "patch_user":
            items = [
                t.req("PATCH", f"/Users/{st.ids[i]}", user_patch_body(self.rng, i))
                for i in self.sample_users(st, pool)
            ]
            return Phase(kind, items, duration, (200, 204), cycle=True)
        if kind == "group_add50_to_0":
            items = []
            for g in st.empty_groups:
                mem = self.present([st.ids[i] for i in self.rng.sample(range(st.users), 50)])
                items.append(t.req("PATCH", f"/Groups/{g}", patch_members_body(mem)))  # type: ignore[arg-type]
            st.empty_groups = []  # used up (they get members)
            return Phase(kind, items, duration, (200, 204), on_response=self.count_adds(st))
        if kind.startswith("group_add50_to_"):
            size = int(kind.rsplit("_", 1)[1])
            gids = st.big_groups.get(size)
            if not gids:
                return None
            # Each request adds 50 users who are not yet members, round-robin
            # over the groups of that size; each group grows by <= growth.
            per_group = max(1, int(size * a.big_growth / 50))
            free_users = st.users - size
            per_group = min(per_group, free_users // 50 - st.big_next[size])
            items = []
            for b in range(st.big_next[size], st.big_next[size] + per_group):
                mem = self.present(st.ids[size + 50 * b : size + 50 * b + 50])
                for g in gids:
                    items.append(t.req("PATCH", f"/Groups/{g}", patch_members_body(mem)))  # type: ignore[arg-type]
            st.big_next[size] += per_group
            return Phase(kind, items, duration, (200, 204), on_response=self.count_adds(st))
        raise ValueError(kind)

    # -- the run ------------------------------------------------------------

    async def client_selftest(self) -> dict[str, Any]:
        proc, port = start_trivial_server(self.args.server_cpu)
        try:
            for _ in range(100):
                try:
                    c = await connect("127.0.0.1", port)
                    c.transport.close()  # type: ignore[union-attr]
                    break
                except OSError:
                    await asyncio.sleep(0.05)
            t = Target("trivial", "127.0.0.1", port, "/scim/v2", "x" * 40)
            items = [
                t.req("GET", "/Users?filter=" + q(f'externalId eq "{uuid.uuid4()}"'))
                for _ in range(1000)
            ]
            dur = 2.0 if self.args.quick else 3.0
            res = await run_phase(
                t,
                Phase(
                    "client_selftest", items, dur, (200,), cycle=True, check=total_is(1), warmup=0.3
                ),
                self.args.conns,
                proc_tree(proc.pid),
            )
        finally:
            proc.terminate()
            proc.wait(5)
        log(
            f"client self-test against a trivial server: {res['rps']:.0f} req/s, p50 {res['p50_ms']:.3f} ms, client cpu {res['client_cpu_util']:.2f}, trivial server cpu {res.get('server_cpu_util', 0):.2f}"
        )
        return res

    async def run_kind(self, step: dict[str, Any], kind: str) -> None:
        a = self.args
        step["results"][kind] = {}
        for name, st in self.states.items():
            users_before = st.users
            if kind == "create_user":
                r = await self.create_users(st, st.users + a.create_pool, kind, a.duration)
            else:
                ph = self.kind_phases(st, kind, a.duration)
                if ph is None:
                    continue
                r = await self.phase(st, ph)
            r["users"] = users_before
            r["memberships"] = st.memberships
            step["results"][kind][name] = r

    async def run_step(self, size: int, servers: list[Server]) -> None:
        """One account size, on fresh server processes (and a fresh database)."""
        a = self.args
        self.states = {s.name: SrvState(s) for s in servers}
        step: dict[str, Any] = {
            "size": size,
            "users": {},
            "setup": {},
            "results": {},
            "memory": {},
            "servers": {},
        }
        self.steps.append(step)
        log(f"=== account size {size} ===")
        for s in servers:
            log(f"started {s.name} pid {s.pid}: {s.info['command']}")
            await wait_ready(s, "/ServiceProviderConfig")
            step["servers"][s.name] = {"pid": s.pid, "mem_at_start": proc_mem(s.pid)}
        # 1. users
        for name, st in self.states.items():
            target = min(size, a.ref_max_users) if name == REF else size
            t0 = time.monotonic()
            async with self.autoanalyze(st):
                r = await self.create_users(st, target, "preload")
            r["seconds"] = time.monotonic() - t0
            step["setup"].setdefault(name, {})["preload"] = r
            step["users"][name] = st.users
            step["servers"][name]["mem_after_preload"] = proc_mem(st.server.pid)
            self.analyze(st, step, "after_preload")
        # 2. user kinds, on an account of users only
        for kind in USER_KINDS:
            await self.run_kind(step, kind)
        # 3. group fixtures: empty groups, and big groups (same sizes and
        #    counts on both servers where the account size allows it)
        big_sizes = {name: self.big_sizes_for(name, step["users"][name]) for name in self.states}
        step["big_group_sizes"] = big_sizes
        for name, st in self.states.items():
            t0 = time.monotonic()
            async with self.autoanalyze(st):
                st.empty_groups = await self.create_groups(st, a.empty_group_pool)
            step["setup"].setdefault(name, {})["empty_groups"] = {
                "groups": a.empty_group_pool,
                "seconds": time.monotonic() - t0,
            }
            for bs in big_sizes[name]:
                count = max(1, math.ceil(a.min_big_requests * 50 / (a.big_growth * bs)))
                async with self.autoanalyze(st):
                    info = await self.build_big_groups(st, bs, count)
                st.memberships += count * bs
                step["setup"][name][f"groups_of_{bs}"] = info
                log(f"  {name}: built {count} group(s) of {bs} members in {info['seconds']:.1f}s")
            self.analyze(st, step, "after_groups")
        # 4. the lookup again, now that the account has groups and memberships
        await self.run_kind(step, "lookup_externalId_with_groups")
        # 5. group kinds
        all_big = sorted({b for v in big_sizes.values() for b in v})
        for kind in ["group_add50_to_0"] + [f"group_add50_to_{b}" for b in all_big]:
            await self.run_kind(step, kind)
        # 6. creates last: they grow the account
        await self.run_kind(step, "create_user")
        step["memberships"] = {n: st.memberships for n, st in self.states.items()}
        step["users_at_end"] = {n: st.users for n, st in self.states.items()}
        for name, st in self.states.items():
            step["memory"][name] = proc_mem(st.server.pid)
            step["servers"][name]["cpu_s_total"] = proc_cpu_seconds(st.server.pids())

    def big_sizes_for(self, name: str, users: int) -> list[int]:
        """Sizes of the 'big' groups: the configured ones that fit in the account
        (room is kept for the members added during the phase)."""
        a = self.args
        wanted = a.big_groups if name == SCIMGATE else a.ref_big_groups
        out = []
        for b in wanted:
            if b * (1 + a.big_growth) + 50 <= users:
                out.append(b)
        if not out:
            # small account: one group of half the users
            out.append(max(50, (users // 2) // 50 * 50))
        return sorted(set(out))

    # -- output -------------------------------------------------------------

    def result_doc(self) -> dict[str, Any]:
        a = self.args
        return {
            "meta": {
                "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
                "mode": "quick" if a.quick else "full",
                "host": platform.node(),
                "cpu_model": cpu_model(),
                "cpus": os.cpu_count(),
                "python": platform.python_version(),
                "client": "raw asyncio HTTP/1.1 keep-alive client"
                + (" on uvloop" if uvloop else ""),
                "client_cpu": a.client_cpu,
                "server_cpu": a.server_cpu,
                "connections": a.conns,
                "duration_s_per_kind": a.duration,
                "sizes": a.sizes,
                "ref_max_users": a.ref_max_users,
                "argv": sys.argv[1:],
                "notes": [
                    "ratio = scimgate / scim2-server in the same run: >1 is better for req/s, <1 is better for p50/p99 and CPU ms/req.",
                    "scim2-server is served at min(size, ref_max_users) users: see steps[].users.",
                    "each account size runs on fresh server processes (and a fresh scimgate database).",
                    "order per size: preload; lookups, list_page, patch_user on an account of users only; build the groups; lookup_externalId_with_groups; group kinds; create_user last (it grows the account).",
                    "scim2-server answers a user PATCH with 204 and no body; scimgate with 200 and the user.",
                    "server_cpu_ms_per_req is the server process tree's CPU time over the phase (PostgreSQL backends not included).",
                ],
            },
            "client_selftest": self.selftest,
            "servers": self.server_info,
            "steps": [dict(step, ratios=ratios(step)) for step in self.steps],
        }

    def write(self) -> None:
        doc = self.result_doc()
        name = self.args.out_name or ("latest-quick" if self.args.quick else "latest")
        write_results(name, doc, markdown(doc))


def ratios(step: dict[str, Any]) -> dict[str, Any]:
    out = {}
    for kind, per in step["results"].items():
        if SCIMGATE in per and REF in per:
            s, r = per[SCIMGATE], per[REF]

            def div(x: float, y: float) -> float | None:
                return x / y if y and not math.isnan(y) and not math.isnan(x) else None

            s_cpu = s.get("server_cpu_ms_per_req", float("nan")) + s.get("db_cpu_ms_per_req", 0.0)
            out[kind] = {
                "rps": div(s["rps"], r["rps"]),
                "p50": div(s["p50_ms"], r["p50_ms"]),
                "p99": div(s["p99_ms"], r["p99_ms"]),
                "cpu_ms_per_req": div(s_cpu, r.get("server_cpu_ms_per_req", float("nan"))),
            }
    return out


def markdown(doc: dict[str, Any]) -> str:
    m = doc["meta"]
    L = [f"# SCIM benchmark: scimgate vs scim2-server ({m['mode']} run)", ""]
    L.append(
        f"- date: {m['date']}, host CPU: {m['cpu_model']} ({m['cpus']} cpus), Python {m['python']}"
    )
    L.append(
        f"- servers pinned to core {m['server_cpu']}, one process each; client ({m['client']}) on core {m['client_cpu']}, "
        f"{m['connections']} keep-alive connections, closed loop, {m['duration_s_per_kind']} s per kind and server (first 1 s or 10 % = warm-up, not counted)"
    )
    for n, s in doc["servers"].items():
        extra = ", ".join(
            f"{k}: `{v}`"
            for k, v in s.items()
            if k in ("version", "git", "database", "storage", "scim2_models")
        )
        L.append(f"- **{n}**: {extra}; `{s.get('command', '')}`")
    st = doc.get("client_selftest")
    if st:
        L.append(
            f"- client self-test against a trivial server (1 KB chunked responses) on the server core: **{st['rps']:,.0f} req/s** "
            f"(p50 {st['p50_ms']:.3f} ms, client CPU {st['client_cpu_util']:.0%})"
        )
    L.append("")
    L.append(
        "Ratio = scimgate / scim2-server measured in the same run: above 1 is better for req/s, below 1 is better for latency and CPU ms/req. "
        "CPU ms/req (server process CPU time per request; for scimgate on PostgreSQL, plus the CPU of its PostgreSQL backends, "
        "which the ratio includes) is the figure least disturbed by a noisy machine."
    )
    L.append("")
    for step in doc["steps"]:
        users = step["users"]
        L.append(f"## Account size {step['size']:,} users")
        L.append("")
        L.append(
            "Fresh server processes. Users preloaded: "
            + ", ".join(f"{n} {u:,}" for n, u in users.items())
            + ". Member counts of the big groups: "
            + ", ".join(f"{n} {v}" for n, v in step.get("big_group_sizes", {}).items())
            + ". Group memberships at the end: "
            + ", ".join(f"{n} {v:,}" for n, v in step.get("memberships", {}).items())
            + "."
        )
        L.append("")
        names = [n for n in (SCIMGATE, REF) if n in users]
        hdr = "| kind |"
        sep = "|---|"
        for n in names:
            hdr += f" {n} req/s | p50 ms | p99 ms | CPU ms/req |"
            sep += "---:|---:|---:|---:|"
        if len(names) == 2:
            hdr += " ratio req/s | ratio p50 | ratio p99 | ratio CPU/req |"
            sep += "---:|---:|---:|---:|"
        L += [hdr, sep]
        notes = []
        noisy: list[str] = []
        for kind, per in step["results"].items():
            row = f"| {kind} |"
            for n in names:
                r = per.get(n)
                if r is None:
                    row += " – | – | – | – |"
                    continue
                bad = f" ⚠{r['failed']}" if r["failed"] or r["connection_errors"] else ""
                cpu = fmt(r.get("server_cpu_ms_per_req"), 2)
                if "db_cpu_ms_per_req" in r:
                    cpu += f" + {fmt(r['db_cpu_ms_per_req'], 2)} db"
                row += f" {fmt(r['rps'])}{bad} | {fmt(r['p50_ms'], 2)} | {fmt(r['p99_ms'], 2)} | {cpu} |"
                if r.get("other_load_on_server_core", 0) > 0.2:
                    noisy.append(f"{n} {kind} {r['other_load_on_server_core']:.0%}")
                if r["failed"] or r["connection_errors"]:
                    notes.append(
                        f"- {n} {kind}: {r['failed']} failed requests, {r['connection_errors']} connection errors, statuses {r['statuses']}"
                        + (
                            f", wrong results {r['wrong_results']}"
                            if r.get("wrong_results")
                            else ""
                        )
                    )
                if r.get("pool_exhausted"):
                    notes.append(
                        f"- {n} {kind}: request pool used up after {r['requests']} requests ({r['window_s']:.1f} s measured)"
                    )
                if r.get("client_cpu_util", 0) > 0.8:
                    notes.append(
                        f"- {n} {kind}: client CPU {r['client_cpu_util']:.0%}: the client may be the bottleneck"
                    )
            rt = step.get("ratios", {}).get(kind)
            if len(names) == 2:
                if rt:
                    row += f" {fmt(rt['rps'], 2)} | {fmt(rt['p50'], 2)} | {fmt(rt['p99'], 2)} | {fmt(rt['cpu_ms_per_req'], 2)} |"
                else:
                    row += " – | – | – | – |"
            L.append(row)
        L.append("")
        cu = [
            f"{kind}: "
            + ", ".join(
                f"{n} {per[n]['users']:,}→{per[n]['users_after']:,}" for n in names if n in per
            )
            for kind, per in step["results"].items()
            if kind == "create_user"
        ]
        if cu:
            L.append("create_user adds users during its phase (" + "; ".join(cu) + ").")
        setup = step.get("setup", {})
        for n in names:
            s = setup.get(n, {})
            bits = []
            if "preload" in s:
                p = s["preload"]
                bits.append(
                    f"preload {p['users_before']:,}→{p['users_after']:,} users in {p['seconds']:.1f} s ({p['rps']:,.0f} creates/s, p50 {p['p50_ms']:.2f} ms, p99 {p['p99_ms']:.2f} ms)"
                )
            if "empty_groups" in s:
                bits.append(
                    f"{s['empty_groups']['groups']:,} empty groups in {s['empty_groups']['seconds']:.1f} s"
                )
            for k, v in s.items():
                if k.startswith("groups_of_"):
                    bits.append(
                        f"{v['groups']} group(s) of {v['members_each']:,} members built with PATCHes of {v['batch']} in {v['seconds']:.1f} s"
                    )
            if bits:
                L.append(f"- {n} setup: " + "; ".join(bits))
        L.append("")
        L.append("| memory (KiB) | " + " | ".join(names) + " |")
        L.append("|---|" + "---:|" * len(names))
        sv = step.get("servers", {})
        rows = [
            (
                "VmRSS at start",
                {n: sv.get(n, {}).get("mem_at_start", {}).get("vmrss_kib") for n in names},
            ),
            (
                "VmRSS after preload",
                {n: sv.get(n, {}).get("mem_after_preload", {}).get("vmrss_kib") for n in names},
            ),
            ("VmRSS at end", {n: step["memory"].get(n, {}).get("vmrss_kib") for n in names}),
            ("VmHWM at end (peak)", {n: step["memory"].get(n, {}).get("vmhwm_kib") for n in names}),
            (
                "RssAnon at end (heap)",
                {n: step["memory"].get(n, {}).get("rssanon_kib") for n in names},
            ),
            (
                "RssFile at end (code, mmap'ed files)",
                {n: step["memory"].get(n, {}).get("rssfile_kib") for n in names},
            ),
        ]
        for label, vals in rows:
            L.append(
                f"| {label} | "
                + " | ".join(f"{vals[n]:,}" if vals[n] is not None else "–" for n in names)
                + " |"
            )
        L.append("")
        if noisy:
            notes.append(
                "- other load on the server core during (a fraction of the wall time; PostgreSQL backends count here): "
                + ", ".join(noisy)
            )
        if notes:
            L.append("Notes:")
            L += notes
            L.append("")
        errs = [
            (kind, n, r["error_samples"])
            for kind, per in step["results"].items()
            for n, r in per.items()
            if r.get("error_samples")
        ]
        for kind, n, samples in errs:
            e = samples[0]
            L.append(
                f"<details><summary>{n} {kind}: first failure ({e['why']})</summary>\n\n```http\n{e['request']}\n```\n\n```\n{e['response']}\n```\n</details>\n"
            )
    return "\n".join(L) + "\n"


# ---------------------------------------------------------------------------
# main
# ---------------------------------------------------------------------------


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument(
        "--quick", action="store_true", help="small fast run: 1,000 users, 2.5 s per kind (< 2 min)"
    )
    p.add_argument("--scimgate-only", action="store_true", help="do not start scim2-server")
    p.add_argument(
        "--workers",
        type=int,
        default=1,
        help="scimgate serve --workers (default 1); with more, use --no-pin to give them every core",
    )
    p.add_argument(
        "--no-pin",
        action="store_true",
        help="pin neither servers nor client (scale-out runs with --workers N: every process may use every core)",
    )
    p.add_argument("--scim2-server-only", action="store_true", help="do not start scimgate")
    p.add_argument(
        "--sizes",
        type=lambda s: [int(x) for x in s.split(",")],
        help="account sizes (default 1000,100000; quick: 1000)",
    )
    p.add_argument(
        "--ref-max-users",
        type=int,
        default=20_000,
        help="at most this many users in scim2-server (default 20000)",
    )
    p.add_argument(
        "--duration", type=float, help="seconds per kind and server (default 8; quick 2.5)"
    )
    p.add_argument(
        "--conns", type=int, default=8, help="concurrent keep-alive connections (default 8)"
    )
    p.add_argument(
        "--big-groups",
        type=lambda s: [int(x) for x in s.split(",")],
        default=[5_000, 50_000],
        help="member counts of the 'big' groups for scimgate (default 5000,50000)",
    )
    p.add_argument(
        "--ref-big-groups",
        type=lambda s: [int(x) for x in s.split(",")],
        default=[5_000],
        help="member counts of the 'big' groups for scim2-server (default 5000)",
    )
    p.add_argument(
        "--big-growth",
        type=float,
        default=0.1,
        help="a big group grows by at most this fraction during its phase (default 0.1)",
    )
    p.add_argument(
        "--min-big-requests",
        type=int,
        help="requests available per big-group phase (default 100; quick 40)",
    )
    p.add_argument(
        "--empty-group-pool",
        type=int,
        help="empty groups created per size for group_add50_to_0 (default 3000; quick 600)",
    )
    p.add_argument(
        "--create-pool",
        type=int,
        help="at most this many creates in the create_user phase (default 20000; quick 5000)",
    )
    p.add_argument(
        "--read-pool",
        type=int,
        default=20_000,
        help="distinct pre-encoded requests per read kind (cycled)",
    )
    p.add_argument(
        "--build-batch",
        type=int,
        default=1000,
        help="members per PATCH when filling big groups (default 1000)",
    )
    p.add_argument(
        "--db",
        choices=["sqlite", "postgres"],
        default="sqlite",
        help="scimgate database (postgres: a fresh DB made with createdb, dropped after)",
    )
    p.add_argument(
        "--database-url",
        help="scimgate database URL; '{db}' in it is replaced by a fresh database created and dropped by the run",
    )
    p.add_argument(
        "--pg-analyze-every",
        type=float,
        default=15.0,
        help="on PostgreSQL, also ANALYZE every this many seconds during the preload and the group "
        "building (default 15; 0: only after them)",
    )
    p.add_argument(
        "--no-pg-analyze",
        dest="pg_analyze",
        action="store_false",
        help="do not VACUUM ANALYZE scimgate's PostgreSQL database after the preload and after building the groups, "
        "nor ANALYZE it during them "
        "(by default the run does, as autovacuum would in production; this machine's PostgreSQL has autovacuum off)",
    )
    p.add_argument("--pg-host", default="127.0.0.1")
    p.add_argument("--pg-port", type=int, default=5432)
    p.add_argument("--pg-user", default="postgres")
    p.add_argument("--client-cpu", default="0", help="core of the load generator (default 0)")
    p.add_argument("--server-cpu", default="1", help="core of each server (default 1)")
    p.add_argument("--seed", type=int, default=20261129)
    p.add_argument(
        "--out-name",
        help="results file stem under benchmarks/results (default latest, or latest-quick with --quick)",
    )
    p.add_argument(
        "--keep-workdir",
        action="store_true",
        help="keep the temporary directory (server logs, SQLite DB)",
    )
    p.add_argument(
        "--client-selftest-only",
        action="store_true",
        help="only measure the client against a trivial server",
    )
    p.add_argument("--trivial-server", type=int, metavar="PORT", help=argparse.SUPPRESS)
    a = p.parse_args(argv)
    if a.sizes is None:
        a.sizes = [1_000] if a.quick else [1_000, 100_000]
    if a.duration is None:
        a.duration = 2.5 if a.quick else 8.0
    if a.min_big_requests is None:
        a.min_big_requests = 40 if a.quick else 100
    if a.empty_group_pool is None:
        a.empty_group_pool = 600 if a.quick else 3000
    if a.create_pool is None:
        a.create_pool = 5_000 if a.quick else 20_000
    if a.scimgate_only and a.scim2_server_only:
        p.error("--scimgate-only and --scim2-server-only exclude each other")
    if a.no_pin:
        a.client_cpu = a.server_cpu = None
    elif os.cpu_count() and os.cpu_count() < 2:
        log("fewer than 2 cpus: not pinning")
        a.client_cpu = a.server_cpu = None
    return a


async def amain(a: argparse.Namespace) -> int:
    bench = Bench(a)
    bench.selftest = await bench.client_selftest()
    if a.client_selftest_only:
        return 0
    workdir = Path(tempfile.mkdtemp(prefix="scim-bench-"))
    try:
        for size in a.sizes:
            servers: list[Server] = []
            try:
                if not a.scim2_server_only:
                    servers.append(start_scimgate(a, workdir / f"scimgate-{size}"))
                if not a.scimgate_only:
                    servers.append(start_ref(a, workdir / f"scim2-server-{size}"))
                for srv in servers:
                    bench.server_info.setdefault(srv.name, dict(srv.info))["command"] = srv.info[
                        "command"
                    ]
                await bench.run_step(size, servers)
            except BaseException:
                for srv in servers:
                    log(f"--- {srv.name} log tail ({srv.log_path}) ---\n{srv.log_tail()}")
                raise
            finally:
                for srv in servers:
                    srv.stop()
            bench.write()  # partial results survive a crash of a later step
    except BaseException:
        if bench.steps:
            bench.write()
        raise
    finally:
        if a.keep_workdir:
            log(f"kept {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)
    name = a.out_name or ("latest-quick" if a.quick else "latest")
    log(f"wrote {RESULTS / (name + '.json')} and {RESULTS / (name + '.md')}")
    return 0


def main(argv: list[str] | None = None) -> int:
    a = parse_args(argv)
    if a.trivial_server:
        trivial_server_main(a.trivial_server)
        return 0
    if a.client_cpu is not None and hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {int(c) for c in a.client_cpu.split(",")})
    run = uvloop.run if uvloop else asyncio.run
    return run(amain(a))


if __name__ == "__main__":
    sys.exit(main())
