#!/usr/bin/env python3
"""Console page latency at 1,000 and 100,000 users: is every page flat in the account size?

For each size: a fresh SQLite database, one account seeded like bench_sync.py (Entra-shaped
users, log-normal groups averaging 50 members, 5 mapped Properties), an admin signed in
through the real sign-in form, and the app driven in-process by Starlette's TestClient (no
network; the app, its templates and its queries are what is measured). Every page is asked
REPEAT times and the median and worst are reported. "Available to synchronize" is reported
cold (a dry run of Synchronize) and warm (the plan reused while nothing moved), before the
first sync (everything new) and after it (nothing changed).

    .venv/bin/python benchmarks/bench_console.py [--sizes 1000 100000] [--repeat 5]

Writes benchmarks/results/console-latest.{md,json}.
"""

from __future__ import annotations

import argparse
import json
import platform
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent / "src"))

from bench_sync import SLUG, Workload, seed_account

PASSWORD = "benchmark password 1"


def timed(client: Any, path: str, repeat: int) -> dict[str, float]:
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        r = client.get(path)
        times.append((time.perf_counter() - t0) * 1000)
        assert r.status_code == 200, (path, r.status_code, r.text[:300])
    return {"median_ms": round(statistics.median(times), 1), "max_ms": round(max(times), 1)}


def plan_shown(client: Any) -> dict[str, float]:
    """First answer (the plan, or "checking" after the page's wait) and until the plan shows."""
    t0 = time.perf_counter()
    first = client.get("/console/sync")
    first_ms = (time.perf_counter() - t0) * 1000
    text = first.text
    while "Checking what a synchronization" in text:
        time.sleep(0.2)
        text = client.get("/console/sync").text
    return {"median_ms": round(first_ms, 1), "plan_ms": round((time.perf_counter() - t0) * 1000, 1)}


def run_size(n_users: int, repeat: int) -> dict[str, Any]:
    from starlette.testclient import TestClient

    from scimgate.accounts.lookup import account_by_slug
    from scimgate.admins import service as admins
    from scimgate.settings import Settings
    from scimgate.store.database import make_engine, migrate
    from scimgate.sync.engine import synchronize
    from scimgate.web.app import create_app

    work = Path(tempfile.mkdtemp(prefix="bench-console-"))
    url = f"sqlite:///{work / 'console.db'}"
    migrate(url)
    w = Workload(n_users, max(1, n_users // 100), 20261130)
    t0 = time.perf_counter()
    seeded = seed_account(url, w)
    seed_s = time.perf_counter() - t0
    engine = make_engine(url)
    with engine.begin() as conn:
        admins.create_admin(
            conn, account_by_slug(conn, SLUG)["id"], "admin@bench.example", PASSWORD
        )
    settings = Settings(database_url=url, scheduler=False, request_log_flush_seconds=3600)
    app = create_app(settings, engine=engine)
    out: dict[str, Any] = {
        "users": n_users,
        "groups": len(w.group_members),
        "seed_s": round(seed_s, 1),
    }
    with TestClient(app) as http:
        page = http.get(f"/console/login?account={SLUG}")
        token = re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)
        r = http.post(
            "/console/login",
            data={
                "account": SLUG,
                "email": "admin@bench.example",
                "password": PASSWORD,
                "csrf_token": token,
            },
            follow_redirects=False,
        )
        assert r.status_code == 303, r.text
        pages: dict[str, Any] = {}
        pages["sync (all new): cold"] = plan_shown(http)
        pages["sync (all new): warm"] = timed(http, "/console/sync", repeat)
        t0 = time.perf_counter()
        result = synchronize(engine, seeded["account_id"], trigger="cli")
        out["first_sync_s"] = round(time.perf_counter() - t0, 1)
        assert result.status == "succeeded", result
        pages["sync (nothing changed): cold"] = plan_shown(http)
        pages["sync (nothing changed): warm"] = timed(http, "/console/sync", repeat)
        members = http.get("/console/members").text
        member_id = re.search(r'href="/console/members/([^"?]+)"', members).group(1)
        teams = http.get("/console/teams").text
        team_id = re.search(r'href="/console/teams/([^"?]+)"', teams).group(1)
        run_id = re.search(
            r'href="/console/sync/runs/(\d+)"', http.get("/console/sync/runs").text
        ).group(1)
        for label, path in [
            ("User Provisioning", "/console/provisioning"),
            ("Members, first page", "/console/members"),
            ("Members, search", "/console/members?q=smith"),
            ("Members, deactivated", "/console/members?status=deactivated"),
            ("Member page", f"/console/members/{member_id}"),
            ("Teams", "/console/teams"),
            ("Team page", f"/console/teams/{team_id}"),
            ("Properties", "/console/properties"),
            ("Attribute Mapping", "/console/mapping"),
            ("Sync history", "/console/sync/runs"),
            ("Run page (first sync)", f"/console/sync/runs/{run_id}"),
            ("Provisioning log", "/console/log"),
        ]:
            pages[label] = timed(http, path, repeat)
        out["pages"] = pages
    engine.dispose()
    return out


def render(doc: dict[str, Any]) -> str:
    sizes = doc["sizes"]
    lines = [
        "# Console page latency",
        "",
        f"{doc['when']} · {doc['machine']} · code `{doc['commit']}`",
        "",
        (
            "In-process (Starlette TestClient), SQLite, one signed-in admin; median of "
            f"{doc['repeat']} requests (max in brackets); cold = the first answer (the plan, or "
            '"checking" once the page has waited 1.5 s for it) and when the plan is shown.'
        ),
        "",
        "| page | " + " | ".join(f"{s['users']:,} users" for s in sizes) + " |",
        "| --- | " + " | ".join("---" for _ in sizes) + " |",
    ]
    for label in sizes[0]["pages"]:
        cells = []
        for s in sizes:
            p = s["pages"][label]
            cell = f"{p['median_ms']} ms" + (f" ({p['max_ms']})" if "max_ms" in p else "")
            if "plan_ms" in p:
                cell += f", plan shown after {p['plan_ms']} ms"
            cells.append(cell)
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    lines += [
        "",
        "Seeding (not measured above): "
        + ", ".join(
            f"{s['users']:,} users in {s['seed_s']} s, first sync {s['first_sync_s']} s"
            for s in sizes
        )
        + ".",
    ]
    return "\n".join(lines) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 100_000])
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--out", default=str(HERE / "results" / "console-latest"))
    a = parser.parse_args()
    commit = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"],
        check=False,
        capture_output=True,
        text=True,
        cwd=HERE,
    ).stdout.strip()
    doc = {
        "when": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "machine": f"{platform.machine()}, Python {platform.python_version()}",
        "commit": commit,
        "repeat": a.repeat,
        "sizes": [],
    }
    for n in a.sizes:
        print(f"== {n:,} users", file=sys.stderr)
        doc["sizes"].append(run_size(n, a.repeat))
    Path(a.out + ".json").write_text(json.dumps(doc, indent=2) + "\n")
    Path(a.out + ".md").write_text(render(doc))
    print(render(doc))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
