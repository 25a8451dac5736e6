"""Drift report on a large account: how long `report.summary` takes and how much memory
it holds, on SQLite or PostgreSQL.

    .venv/bin/python benchmarks/bench_drift.py --users 20000
    .venv/bin/python benchmarks/bench_drift.py --users 20000 --database-url postgresql+psycopg://postgres@127.0.0.1:5432/bench_drift

The account is seeded in bulk like bench_sync.py's (Entra-shaped users, managers, groups)
and synchronized once; then 1 % of the members get a Job title rewritten behind the sync's
back, 1 % more users are staged, and 100 manual members are added, so every section has
rows. The report is then read three ways: the summary (every count, 20 rows a section),
the first page of each section, and every row of the `edited` section. Peak RSS is the
process's, after the seeding and the sync (which hold more); the report's own growth is
printed beside it.
"""

from __future__ import annotations

import argparse
import resource
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

import bench_sync

from scimgate.drift import report
from scimgate.members import service as members
from scimgate.provisioning import directory
from scimgate.store import members as member_store
from scimgate.store import property_values
from scimgate.store.database import make_engine, migrate, utcnow
from scimgate.sync.engine import synchronize


def rss_mib() -> float:
    """Peak resident set size of this process so far."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def current_mib() -> float:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--users", type=int, default=20_000)
    parser.add_argument("--database-url", default=None, help="default: a fresh SQLite file")
    args = parser.parse_args()
    url = args.database_url or f"sqlite:///{tempfile.mkdtemp(prefix='bench-drift-')}/drift.db"
    migrate(url)
    n = args.users
    extra = n // 100
    w = bench_sync.Workload(n + extra, max(1, n // 100), seed=7)
    w.n = n  # the last 1 % are staged after the sync
    t0 = time.perf_counter()
    seeded = bench_sync.seed_account_bulk(url, w)
    aid = seeded["account_id"]
    engine = make_engine(url, pool=False)
    result = synchronize(engine, aid, trigger="cli")
    print(
        f"seeded {n:,} users and synchronized ({result.status}) in {time.perf_counter() - t0:.1f} s"
    )
    with engine.begin() as conn:
        title = member_store.find_property(conn, aid, "Job title")["id"]
        rows = member_store.list_members(conn, aid, limit=n)
        for row in rows[::100]:
            property_values.set_value(
                conn, aid, row["id"], title, "Hand-edited", source="scim", now=utcnow()
            )
        for i in range(100):
            members.add_member(conn, aid, f"manual{i:03d}@elsewhere.example")
    with engine.begin() as conn:  # staged as POST /Users stages them
        for i in range(n, n + extra):
            directory.create(conn, aid, "User", w.user_body(i), now=utcnow())
    base_peak, base_now = rss_mib(), current_mib()
    timings: dict[str, tuple[float, float]] = {}  # wall and this process's CPU seconds

    def since(started: tuple[float, float]) -> tuple[float, float]:
        return time.perf_counter() - started[0], time.process_time() - started[1]

    def now() -> tuple[float, float]:
        return time.perf_counter(), time.process_time()

    with engine.connect() as conn:
        t = now()
        doc = report.summary(conn, aid)
        timings["summary"] = since(t)
        for section in report.SECTIONS:
            t = now()
            report.section_page(conn, aid, section, limit=50)
            timings[f"page {section}"] = since(t)
        t = now()
        edited = sum(1 for _ in report.every_row(conn, aid, "edited"))
        timings["every edited row"] = since(t)
    counts = {k: s["count"] for k, s in doc["sections"].items()}
    print(f"database: {engine.dialect.name}; counts: {counts}; edited rows streamed: {edited}")
    for name, (seconds, cpu) in timings.items():  # CPU: a shared machine disturbs it least
        print(f"  {name:<20} {seconds:7.2f} s  (CPU {cpu:6.2f} s)")
    print(
        f"peak RSS {rss_mib():.0f} MiB (before the report: peak {base_peak:.0f} MiB, "
        f"resident {base_now:.0f} MiB; after: resident {current_mib():.0f} MiB)"
    )
    engine.dispose()


if __name__ == "__main__":
    main()
