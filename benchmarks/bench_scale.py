#!/usr/bin/env python3
"""Size benchmark: scimgate with one account of 1,000,000 users and 10,000 groups.

On SQLite and on PostgreSQL, one ``scimgate serve --workers 1`` pinned to one core
(``taskset -c 1``) serves two accounts in one database: a big one (``--users``,
``--groups``, one group of ``--big-group`` members) and a small one (``--small-users``)
for the comparisons. The accounts are seeded by bulk SQL (COPY on PostgreSQL,
executemany on SQLite) with rows built by scimgate's own code (``normalise``,
``store.directory._key_columns``, ``_email_rows``, ``raw.*``), then checked against what
the SCIM API writes for the same bodies. The client (the raw keep-alive client of
bench_scim.py) runs on the other core.

Figures and targets: see benchmarks/README.md, "Size benchmark".
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import http.client
import itertools
import json
import math
import os
import platform
import random
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
import uuid
from collections.abc import Callable
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from harness.client import Target, check_page, jdumps, jloads, log, total_is, uvloop
from harness.phases import Phase, run_phase
from harness.procs import proc_cpu_seconds, proc_mem
from harness.report import RESULTS, cpu_model, git_describe, write_results
from harness.servers import Server, run_cli, serve_scimgate, wait_ready
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
REPO = HERE.parent
BIN = Path(sys.executable).parent
MIB = 1024

# ---------------------------------------------------------------------------
# Seeding: rows built with scimgate's own code
# ---------------------------------------------------------------------------


class FakeConn:
    """What scimgate.store.driver looks at on a connection (only the dialect's name), so that
    `_key_columns`, `_email_rows` and `raw.to_db_*` can build rows outside a SQLAlchemy
    connection."""

    def __init__(self, pg: bool) -> None:
        self.dialect = SimpleNamespace(name="postgresql" if pg else "sqlite")


USER_COLS = [
    "account_id",
    "id",
    "user_name",
    "user_name_key",
    "external_id",
    "display_name",
    "active",
    "doc",
    "version",
    "created_at",
    "updated_at",
]
EMAIL_COLS = ["account_id", "user_id", "position", "value_key", "type", "is_primary"]
GROUP_COLS = [
    "account_id",
    "id",
    "display_name",
    "display_name_key",
    "external_id",
    "doc",
    "version",
    "created_at",
    "updated_at",
]
MEMBER_COLS = ["account_id", "group_id", "member_id", "member_type", "display"]

PH = {k: f"@@{k}@@" for k in ("ext", "upn", "first", "last", "dept", "emp", "name")}


def user_body(pop: Population, i: int) -> dict[str, Any]:
    """bench_scim's POST /Users body (Entra's shape), as a dict."""
    return jloads(pop.user_body(i))


def group_body(ext: str, name: str, members: list[str] | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {"schemas": [GROUP], "externalId": ext, "displayName": name}
    if members is not None:
        body["members"] = [{"value": m} for m in members]
    return body


def _template(doc: dict[str, Any]) -> str:
    from scimgate.store import driver

    text = driver.dump_json(doc).replace("{", "{{").replace("}", "}}")
    for k, v in PH.items():
        text = text.replace(v, "{" + k + "}")
    return text


class Workload:
    """The two accounts' users and groups (seeded, reproducible)."""

    def __init__(self, a: argparse.Namespace) -> None:
        self.a = a
        t0 = time.monotonic()
        self.rng = random.Random(a.seed)
        self.big = Population(a.seed)
        self.big.ensure(a.users)
        self.small = Population(a.seed + 1)
        self.small.ensure(a.small_users)
        self.big_ids = [self.guid() for _ in range(a.users)]
        self.small_ids = [self.guid() for _ in range(a.small_users)]
        # Groups of the big account: [0] the big group, [1 .. n_empty] empty groups
        # (targets of the add-50-to-a-small-group requests), the rest 0..20 members (~10).
        g = a.groups
        self.big_group_size = min(a.big_group, a.users // 2)
        self.n_empty = max(2, min(g // 20, a.empty_groups))
        self.g_ids = [self.guid() for _ in range(g)]
        self.g_ext = [self.guid() for _ in range(g)]
        self.g_names = [f"Scale Group {k:06d} {DEPTS[k % len(DEPTS)]}" for k in range(g)]
        self.g_members: list[list[int]] = [[] for _ in range(g)]
        self.g_members[0] = list(range(self.big_group_size))
        for k in range(1 + self.n_empty, g):
            self.g_members[k] = self.rng.sample(range(a.users), self.rng.randint(0, 20))
        # Groups of the small account: 10 of ~10 members, 2 empty.
        sg = a.small_groups
        self.sg_ids = [self.guid() for _ in range(sg)]
        self.sg_ext = [self.guid() for _ in range(sg)]
        self.sg_names = [f"Small Group {k:04d}" for k in range(sg)]
        self.sg_members = [
            [] if k < 2 else self.rng.sample(range(a.small_users), min(a.small_users, 10))
            for k in range(sg)
        ]
        log(f"workload generated in {time.monotonic() - t0:.1f}s")

    def guid(self) -> str:
        return str(uuid.UUID(int=self.rng.getrandbits(128), version=4))


def user_rows(
    fc: FakeConn, aid: int, pop: Population, ids: list[str], lo: int, hi: int, base: dt.datetime
) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]:
    """Rows of directory_user and directory_user_email, as insert_resource writes them."""
    from scimgate.scim.resource import normalise
    from scimgate.scim.schema import schema_for
    from scimgate.store import driver
    from scimgate.store.directory import _email_rows, _key_columns

    tb = jloads(pop.user_body(0))
    tb.update(externalId=PH["ext"], userName=PH["upn"], displayName=f"{PH['first']} {PH['last']}")
    tb["emails"][0]["value"] = PH["upn"]
    tb["name"] = {
        "formatted": f"{PH['first']} {PH['last']}",
        "familyName": PH["last"],
        "givenName": PH["first"],
    }
    tb[ENT] = {"department": PH["dept"], "employeeNumber": PH["emp"]}
    tmpl = _template(normalise(tb, schema_for("User")).doc)
    urows: list[tuple[Any, ...]] = []
    erows: list[tuple[Any, ...]] = []
    nd = len(DEPTS)
    for i in range(lo, hi):
        doc = jloads(
            tmpl.format(
                ext=pop.ext[i],
                upn=pop.upn[i],
                first=FIRST[i % 20],
                last=LAST[(i // 20) % 20],
                dept=DEPTS[i % nd],
                emp=str(100000 + i),
            )
        )
        stamp = driver.to_db_time(fc, base + dt.timedelta(microseconds=997 * i))
        urows.append(
            (aid, ids[i], *_key_columns(fc, "User", doc), driver.dump_json(doc), 1, stamp, stamp)
        )
        erows.extend(_email_rows(aid, ids[i], doc, fc))
    return urows, erows


def group_rows(
    fc: FakeConn, aid: int, ids: list[str], exts: list[str], names: list[str], base: dt.datetime
) -> list[tuple[Any, ...]]:
    from scimgate.scim.resource import normalise
    from scimgate.scim.schema import schema_for
    from scimgate.store import driver
    from scimgate.store.directory import _key_columns

    tmpl = _template(normalise(group_body(PH["ext"], PH["name"]), schema_for("Group")).doc)
    rows = []
    for k, gid in enumerate(ids):
        doc = jloads(tmpl.format(ext=exts[k], name=names[k]))
        stamp = driver.to_db_time(fc, base + dt.timedelta(microseconds=991 * k))
        rows.append(
            (aid, gid, *_key_columns(fc, "Group", doc), driver.dump_json(doc), 1, stamp, stamp)
        )
    return rows


class Seeder:
    """Bulk writes into scimgate's tables: COPY (PostgreSQL) or executemany (SQLite)."""

    CHUNK = 50_000

    def __init__(self, db: DB) -> None:
        self.db = db
        self.fc = FakeConn(db.pg)
        self.timings: dict[str, float] = {}
        if db.pg:
            import psycopg

            self.conn = psycopg.connect(**db.pg_kwargs())
        else:
            self.conn = sqlite3.connect(db.sqlite_path, isolation_level=None)
            self.conn.execute("PRAGMA cache_size=-2000000")
            self.conn.execute("PRAGMA synchronous=OFF")
            self.conn.execute("PRAGMA foreign_keys=ON")

    def write(self, table: str, cols: list[str], rows: list[tuple[Any, ...]]) -> None:
        if not rows:
            return
        if self.db.pg:
            with (
                self.conn.cursor() as cur,
                cur.copy(f"COPY {table} ({', '.join(cols)}) FROM STDIN") as cp,
            ):
                for r in rows:
                    cp.write_row(r)
            self.conn.commit()
        else:
            ph = ", ".join("?" * len(cols))
            self.conn.execute("BEGIN")
            self.conn.executemany(f"INSERT INTO {table} ({', '.join(cols)}) VALUES ({ph})", rows)
            self.conn.execute("COMMIT")

    def timed(self, what: str, fn: Any, *args: Any) -> None:
        t0 = time.monotonic()
        fn(*args)
        self.timings[what] = self.timings.get(what, 0.0) + time.monotonic() - t0

    def users(self, aid: int, pop: Population, ids: list[str], label: str) -> None:
        base = bs_now() - dt.timedelta(microseconds=997 * len(ids) + 10_000_000)
        for lo in range(0, len(ids), self.CHUNK):
            hi = min(len(ids), lo + self.CHUNK)
            t0 = time.monotonic()
            urows, erows = user_rows(self.fc, aid, pop, ids, lo, hi, base)
            self.timings[f"{label}_build_rows_s"] = (
                self.timings.get(f"{label}_build_rows_s", 0.0) + time.monotonic() - t0
            )
            self.timed(f"{label}_write_users_s", self.write, "directory_user", USER_COLS, urows)
            self.timed(
                f"{label}_write_emails_s", self.write, "directory_user_email", EMAIL_COLS, erows
            )
            if hi % 200_000 == 0 or hi == len(ids):
                log(f"  seeded {hi:,} users ({label})")

    def groups(
        self,
        aid: int,
        ids: list[str],
        exts: list[str],
        names: list[str],
        members: list[list[int]],
        user_ids: list[str],
        label: str,
    ) -> None:
        base = bs_now() - dt.timedelta(microseconds=991 * len(ids) + 5_000_000)
        rows = group_rows(self.fc, aid, ids, exts, names, base)
        self.timed(f"{label}_write_groups_s", self.write, "directory_group", GROUP_COLS, rows)
        mrows: list[tuple[Any, ...]] = []
        for k, gid in enumerate(ids):
            # as store.add_members writes them: member_type from the id's kind, display as
            # sent (Entra sends none)
            mrows.extend((aid, gid, user_ids[i], "User", None) for i in members[k])
            if len(mrows) >= self.CHUNK:
                self.timed(
                    f"{label}_write_memberships_s",
                    self.write,
                    "directory_membership",
                    MEMBER_COLS,
                    mrows,
                )
                mrows = []
        self.timed(
            f"{label}_write_memberships_s", self.write, "directory_membership", MEMBER_COLS, mrows
        )

    def counts(self, aid: int, users: int, groups: int) -> None:
        # what directory_count holds after `users` creates and `groups` creates
        self.write(
            "directory_count",
            ["account_id", "kind", "n"],
            [(aid, "User", users), (aid, "Group", groups)],
        )

    def finish(self) -> None:
        t0 = time.monotonic()
        if self.db.pg:
            self.conn.close()
            import psycopg

            with psycopg.connect(**self.db.pg_kwargs(), autocommit=True) as c:
                c.execute("VACUUM (ANALYZE)")
                c.execute("CHECKPOINT")
            self.timings["vacuum_analyze_s"] = time.monotonic() - t0
        else:
            self.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            self.conn.close()
            self.timings["wal_checkpoint_s"] = time.monotonic() - t0


def bs_now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


# ---------------------------------------------------------------------------
# The database and the server
# ---------------------------------------------------------------------------


class DB:
    def __init__(self, kind: str, a: argparse.Namespace, workdir: Path) -> None:
        self.kind = kind
        self.a = a
        self.pg = kind == "postgres"
        self.workdir = workdir
        self._conn: Any = None
        if self.pg:
            self.dbname = f"scale_{os.getpid()}_{uuid.uuid4().hex[:6]}"
            self.url = f"postgresql+psycopg://{a.pg_user}@{a.pg_host}:{a.pg_port}/{self.dbname}"
        else:
            self.sqlite_path = workdir / "scimgate.db"
            self.url = f"sqlite:///{self.sqlite_path}"

    def pg_kwargs(self) -> dict[str, Any]:
        a = self.a
        return {"host": a.pg_host, "port": a.pg_port, "user": a.pg_user, "dbname": self.dbname}

    def create(self) -> None:
        if self.pg:
            run_cli(
                [
                    "createdb",
                    "-h",
                    self.a.pg_host,
                    "-p",
                    str(self.a.pg_port),
                    "-U",
                    self.a.pg_user,
                    self.dbname,
                ],
                dict(os.environ),
                "createdb",
            )

    def drop(self) -> None:
        self.close()
        if self.pg:
            subprocess.run(
                [
                    "dropdb",
                    "--if-exists",
                    "--force",
                    "-h",
                    self.a.pg_host,
                    "-p",
                    str(self.a.pg_port),
                    "-U",
                    self.a.pg_user,
                    self.dbname,
                ],
                check=False,
                capture_output=True,
                timeout=300,
            )
        else:
            for p in self.workdir.glob("scimgate.db*"):
                p.unlink(missing_ok=True)

    def size(self) -> int:
        if self.pg:
            import psycopg

            with psycopg.connect(**self.pg_kwargs()) as c:
                return int(c.execute("SELECT pg_database_size(current_database())").fetchone()[0])
        return sum(p.stat().st_size for p in self.workdir.glob("scimgate.db*"))

    def env(self) -> dict[str, str]:
        return dict(
            os.environ,
            SCIMGATE_DATABASE_URL=self.url,
            SCIMGATE_SCIM_RATE_PER_SECOND="1000000000",
            SCIMGATE_SCIM_RATE_BURST="1000000000",
            # a daily sync of the 1,000,000 users must not start in the middle of a run
            SCIMGATE_SCHEDULER="false",
        )

    def query(self, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        """One statement on a connection kept for the checks (autocommit)."""
        if self._conn is None:
            if self.pg:
                import psycopg

                self._conn = psycopg.connect(**self.pg_kwargs(), autocommit=True)
            else:
                self._conn = sqlite3.connect(
                    self.sqlite_path, isolation_level=None, check_same_thread=False
                )
        if self.pg:
            return self._conn.execute(sql.replace("?", "%s"), params).fetchall()
        return self._conn.execute(sql, params).fetchall()

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None


def make_accounts(db: DB) -> dict[str, dict[str, Any]]:
    exe = shutil.which("scimgate", path=str(BIN)) or "scimgate"
    env = db.env()
    run_cli([exe, "migrate"], env, "scimgate migrate")
    out = {}
    for slug in ("big", "small"):
        run_cli([exe, "account", "create", slug, "--entitled"], env, "account create")
        text = run_cli([exe, "provisioning", "activate", slug, "--json"], env, "activate")
        cred = json.loads(
            text.strip().splitlines()[-1] if not text.strip().startswith("{") else text
        )
        (aid,) = db.query("SELECT id FROM account WHERE slug = ?", (slug,))[0]
        out[slug] = {
            "id": aid,
            "path": urllib.parse.urlsplit(cred["tenant_url"]).path.rstrip("/"),
            "token": cred["token"],
        }
    return out


def start_server(db: DB, a: argparse.Namespace) -> tuple[Server, int]:
    exe = shutil.which("scimgate", path=str(BIN)) or "scimgate"
    proc, port, cmd = serve_scimgate(
        exe, db.env(), db.workdir / "scimgate.log", server_cpu=a.server_cpu
    )
    pg = None
    if db.pg:
        pg = {"host": a.pg_host, "port": a.pg_port, "user": a.pg_user, "dbname": db.dbname}
    srv = Server(
        "scimgate",
        Target("scimgate", "127.0.0.1", port, "", ""),
        proc,
        db.workdir / "scimgate.log",
        info={"command": " ".join(cmd)},
        pg=pg,
    )
    return srv, port


# ---------------------------------------------------------------------------
# Checks: seeded rows against what the API writes
# ---------------------------------------------------------------------------


def http_call(
    t: Target, method: str, path: str, body: Any = None
) -> tuple[int, dict[str, str], bytes, float]:
    c = http.client.HTTPConnection(t.host, t.port, timeout=120)
    try:
        data = jdumps(body) if body is not None else None
        headers = {"Authorization": f"Bearer {t.token}", "Accept": "application/scim+json"}
        if data is not None:
            headers["Content-Type"] = "application/scim+json"
        t0 = time.perf_counter()
        c.request(method, t.base_path + path, body=data, headers=headers)
        r = c.getresponse()
        payload = r.read()
        elapsed = time.perf_counter() - t0
        return r.status, {k.lower(): v for k, v in r.getheaders()}, payload, elapsed
    finally:
        c.close()


def _mask_user(doc: dict[str, Any], varying: dict[str, str]) -> str:
    """JSON of a rendered or stored user with its own ids, times and per-user values replaced
    by placeholders, so that two users of the same shape compare equal."""
    d = json.loads(json.dumps(doc))
    d.pop("groups", None)
    if "id" in d:
        d["id"] = "<id>"
    m = d.get("meta")
    if m:
        m["created"] = m["lastModified"] = "<time>"
        m["location"] = m["location"].rsplit("/", 1)[0] + "/<id>"
    text = json.dumps(d, sort_keys=True)
    for k, v in sorted(varying.items(), key=lambda kv: -len(kv[1])):
        text = text.replace(json.dumps(v)[1:-1], f"<{k}>")
    return text


def check_seed(
    db: DB, w: Workload, accts: dict[str, dict[str, Any]], targets: dict[str, Target]
) -> dict[str, Any]:
    """(1) a sample of seeded users: stored doc and key columns == normalise() of the benchmark's
    POST body through _key_columns; (2) 3 users POSTed through the API vs 3 seeded users of the
    same shape: GET output and database rows equal apart from ids, times and per-user values;
    (3) the same for a group with members; (4) directory_count == rows."""
    from scimgate.scim.resource import normalise
    from scimgate.scim.schema import schema_for
    from scimgate.store import driver
    from scimgate.store.directory import _email_rows, _key_columns

    a = w.a
    fc = FakeConn(db.pg)
    rep: dict[str, Any] = {"problems": []}
    probs = rep["problems"]
    aid = accts["big"]["id"]
    rng = random.Random(a.seed + 99)
    # (1)
    sample = rng.sample(range(a.users), min(2000, a.users))
    for i in sample:
        (row,) = db.query(
            "SELECT user_name, user_name_key, external_id, display_name, active, doc, version FROM directory_user WHERE account_id = ? AND id = ?",
            (aid, w.big_ids[i]),
        )
        want = normalise(user_body(w.big, i), schema_for("User")).doc
        doc = driver.load_json(row[5])
        keys = _key_columns(fc, "User", want)
        if doc != want or list(row[:4]) != keys[:4] or bool(row[4]) != bool(keys[4]) or row[6] != 1:
            probs.append(f"seeded user {i} differs from normalise(): {row} vs {want}")
        ems = db.query(
            "SELECT account_id, user_id, position, value_key, type, is_primary FROM directory_user_email WHERE account_id = ? AND user_id = ? ORDER BY position",
            (aid, w.big_ids[i]),
        )
        want_e = _email_rows(aid, w.big_ids[i], want, fc)
        if [tuple(x[:5]) + (bool(x[5]),) for x in ems] != [
            tuple(x[:5]) + (bool(x[5]),) for x in want_e
        ]:
            probs.append(f"seeded user {i} e-mails differ: {ems} vs {want_e}")
    rep["sampled_users_checked_against_normalise"] = len(sample)
    # (2) POST users whose first/last/department equal seeded user j's (k = j mod 400)
    t = targets["big"]
    pairs = []
    top = (a.users // 400 + 1) * 400
    w.big.ensure(top + 400 * 3 + 400)
    for m, j in enumerate(rng.sample(range(min(400, a.users)), 3)):
        k = top + 400 * m + j
        st, _, body, _ = http_call(t, "POST", "/Users", user_body(w.big, k))
        if st != 201:
            probs.append(f"POST /Users {k}: {st} {body[:300]!r}")
            continue
        posted_id = jloads(body)["id"]
        _, _, got_p, _ = http_call(t, "GET", f"/Users/{posted_id}")
        _, _, got_s, _ = http_call(t, "GET", f"/Users/{w.big_ids[j]}")
        vk = {"ext": w.big.ext[k], "upn": w.big.upn[k], "emp": str(100000 + k), "id": posted_id}
        vj = {"ext": w.big.ext[j], "upn": w.big.upn[j], "emp": str(100000 + j), "id": w.big_ids[j]}
        mp, ms = _mask_user(jloads(got_p), vk), _mask_user(jloads(got_s), vj)
        if mp != ms:
            probs.append(f"GET of POSTed user {k} and seeded user {j} differ:\n{mp}\n{ms}")
        cols = (
            "user_name, user_name_key, external_id, display_name, active, doc, version, created_at"
        )
        (rp,) = db.query(
            f"SELECT {cols} FROM directory_user WHERE account_id = ? AND id = ?", (aid, posted_id)
        )
        (rs,) = db.query(
            f"SELECT {cols} FROM directory_user WHERE account_id = ? AND id = ?",
            (aid, w.big_ids[j]),
        )

        def norm(r: tuple[Any, ...], v: dict[str, str]) -> str:
            vals = list(r[:7])
            vals[5] = driver.load_json(vals[5])
            text = json.dumps(vals, sort_keys=True, default=str)
            for key, val in sorted(v.items(), key=lambda kv: -len(kv[1])):
                text = text.replace(val, f"<{key}>")
            return (
                text
                + "|"
                + type(r[7]).__name__
                + "|"
                + (str(len(r[7])) if isinstance(r[7], str) else "")
            )

        if norm(rp, vk) != norm(rs, vj):
            probs.append(
                f"rows of POSTed user {k} and seeded user {j} differ:\n{norm(rp, vk)}\n{norm(rs, vj)}"
            )
        ep = db.query(
            "SELECT position, value_key, type, is_primary FROM directory_user_email WHERE account_id = ? AND user_id = ?",
            (aid, posted_id),
        )
        es = db.query(
            "SELECT position, value_key, type, is_primary FROM directory_user_email WHERE account_id = ? AND user_id = ?",
            (aid, w.big_ids[j]),
        )
        if json.dumps(ep).replace(vk["upn"], "<upn>") != json.dumps(es).replace(vj["upn"], "<upn>"):
            probs.append(f"e-mail rows of POSTed user {k} and seeded user {j} differ: {ep} vs {es}")
        pairs.append({"posted_index": k, "seeded_index": j, "get_masked": mp})
        st, _, _, _ = http_call(t, "DELETE", f"/Users/{posted_id}")
        if st != 204:
            probs.append(f"DELETE of the POSTed user: {st}")
    rep["posted_vs_seeded_users"] = len(pairs)
    if pairs:
        rep["example_get_masked"] = pairs[0]["get_masked"]
    # (3) a group with members: POST it with the members of a seeded group
    gk = (
        next(k for k in range(1 + w.n_empty, a.groups) if w.g_members[k])
        if a.groups > 1 + w.n_empty
        else None
    )
    if gk is not None:
        mids = [w.big_ids[i] for i in w.g_members[gk]]
        ext, name = w.guid(), f"Scale Group check {uuid.uuid4().hex[:6]}"
        st, _, body, _ = http_call(t, "POST", "/Groups", group_body(ext, name, mids))
        if st != 201:
            probs.append(f"POST /Groups: {st} {body[:300]!r}")
        else:
            gid = jloads(body)["id"]
            _, _, gp, _ = http_call(t, "GET", f"/Groups/{gid}")
            _, _, gs, _ = http_call(t, "GET", f"/Groups/{w.g_ids[gk]}")
            mp = _mask_user(jloads(gp), {"ext": ext, "name": name, "id": gid})
            ms = _mask_user(
                jloads(gs), {"ext": w.g_ext[gk], "name": w.g_names[gk], "id": w.g_ids[gk]}
            )
            if mp != ms:
                probs.append(f"GET of POSTed group and seeded group {gk} differ:\n{mp}\n{ms}")
            q_m = "SELECT member_id, member_type, display FROM directory_membership WHERE account_id = ? AND group_id = ? ORDER BY member_id"
            if db.query(q_m, (aid, gid)) != db.query(q_m, (aid, w.g_ids[gk])):
                probs.append("membership rows of the POSTed and the seeded group differ")
            cols = "display_name, display_name_key, external_id, doc, version"
            (rp,) = db.query(
                f"SELECT {cols} FROM directory_group WHERE account_id = ? AND id = ?", (aid, gid)
            )
            (rs,) = db.query(
                f"SELECT {cols} FROM directory_group WHERE account_id = ? AND id = ?",
                (aid, w.g_ids[gk]),
            )
            fp = (
                json.dumps([rp[0], rp[1], rp[2], driver.load_json(rp[3]), rp[4]])
                .replace(name, "<n>")
                .replace(name.lower(), "<n>")
                .replace(ext, "<x>")
            )
            fs = (
                json.dumps([rs[0], rs[1], rs[2], driver.load_json(rs[3]), rs[4]])
                .replace(w.g_names[gk], "<n>")
                .replace(w.g_names[gk].lower(), "<n>")
                .replace(w.g_ext[gk], "<x>")
            )
            if fp != fs:
                probs.append(f"group rows differ:\n{fp}\n{fs}")
            rep["posted_vs_seeded_group_members"] = len(mids)
            http_call(t, "DELETE", f"/Groups/{gid}")
    # (4) counters
    for slug, n_u, n_g in (("big", a.users, a.groups), ("small", a.small_users, a.small_groups)):
        ac = accts[slug]["id"]
        cnt = dict(db.query("SELECT kind, n FROM directory_count WHERE account_id = ?", (ac,)))
        (nu,) = db.query("SELECT count(*) FROM directory_user WHERE account_id = ?", (ac,))[0]
        (ng,) = db.query("SELECT count(*) FROM directory_group WHERE account_id = ?", (ac,))[0]
        if cnt.get("User") != nu or cnt.get("Group") != ng or nu != n_u or ng != n_g:
            probs.append(f"{slug}: directory_count {cnt} vs rows users {nu} groups {ng}")
    # (5) a seeded member's `groups` through the API
    _, _, body, _ = http_call(t, "GET", f"/Users/{w.big_ids[0]}")
    got = {g["value"] for g in jloads(body).get("groups", [])}
    want = {w.g_ids[k] for k in range(a.groups) if 0 in w.g_members[k]}
    if got != want:
        probs.append(f"groups of user 0: {got} vs {want}")
    rep["ok"] = not probs
    return rep


# ---------------------------------------------------------------------------
# Measurements
# ---------------------------------------------------------------------------


def _in_order(start: int, span: int) -> Callable[[], int]:
    """startIndex values of pages of 100 in order from `start`, wrapping within `span`."""
    pages = itertools.count()
    return lambda: 1 + (start + 100 * next(pages)) % span


def mem_of(pid: int) -> dict[str, int]:
    """bench_scim's VmRSS/VmHWM/RssAnon/RssFile plus Pss from smaps_rollup: VmRSS counts a
    file page once per mapping (a SQLite file mapped by several connections would count
    several times; the server's connections no longer map it); Pss counts it once."""
    m = proc_mem(pid)
    try:
        with open(f"/proc/{pid}/smaps_rollup") as f:
            for line in f:
                key, _, rest = line.partition(":")
                if key in ("Pss", "Pss_Anon", "Pss_File"):
                    m[key.lower() + "_kib"] = int(rest.split()[0])
    except OSError:
        pass
    return m


class RssSampler:
    """Samples VmRSS of a pid every `every` seconds in a thread (peak and trace)."""

    def __init__(self, pid: int, every: float = 0.005) -> None:
        self.pid, self.every = pid, every
        self.peak = 0
        self.peak_anon = 0
        self.samples = 0
        self._stop = threading.Event()
        self._t = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        path = f"/proc/{self.pid}/status"
        while not self._stop.is_set():
            try:
                with open(path) as f:
                    for line in f:
                        if line.startswith("VmRSS:"):
                            self.peak = max(self.peak, int(line.split()[1]))
                            self.samples += 1
                        elif line.startswith("RssAnon:"):
                            self.peak_anon = max(self.peak_anon, int(line.split()[1]))
                            break
            except OSError:
                return
            time.sleep(self.every)

    def __enter__(self) -> RssSampler:
        self._t.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._t.join()


def med(xs: list[float]) -> float:
    xs = [x for x in xs if x is not None and not math.isnan(x)]
    return statistics.median(xs) if xs else float("nan")


def cpu_per_req(r: dict[str, Any]) -> float:
    return r.get("server_cpu_ms_per_req", float("nan")) + r.get("db_cpu_ms_per_req", 0.0)


class Run:
    """One database: seed, serve, measure."""

    def __init__(self, a: argparse.Namespace, kind: str, w: Workload, workdir: Path) -> None:
        self.a, self.kind, self.w = a, kind, w
        self.db = DB(kind, a, workdir)
        self.res: dict[str, Any] = {
            "database": kind,
            "users": a.users,
            "groups": a.groups,
            "small_users": a.small_users,
            "big_group_members": w.big_group_size,
            "phases": {},
            "memory": [],
            "figures": [],
        }
        self.srv: Server | None = None
        self.rng = random.Random(a.seed + 5)

    # -- phases ---------------------------------------------------------------

    def mem(self, label: str) -> None:
        assert self.srv is not None
        m = mem_of(self.srv.pid)
        m["after"] = label
        self.res["memory"].append(m)
        log(
            f"  RSS after {label}: VmRSS {m.get('vmrss_kib', 0) / MIB:.1f} MiB, VmHWM {m.get('vmhwm_kib', 0) / MIB:.1f} MiB, RssAnon {m.get('rssanon_kib', 0) / MIB:.1f} MiB"
        )

    async def phase(self, t: Target, ph: Phase, conns: int) -> dict[str, Any]:
        srv = self.srv
        assert srv is not None
        if not srv.alive():
            raise RuntimeError(f"scimgate died:\n{srv.log_tail()}")
        spy = self.start_profile(ph.kind)
        r = await run_phase(t, ph, conns, srv.pids(), srv.db_pids, self.a.server_cpu)
        if spy is not None:
            r["profile"] = self.stop_profile(*spy)
        r.pop("error_samples", None) if not (r["failed"] or r["connection_errors"]) else None
        log(
            f"  {ph.kind:34s} {r['rps']:8.1f} req/s  p50 {r['p50_ms']:8.2f} ms  p99 {r['p99_ms']:8.2f} ms  n={r['measured']:6d}  "
            f"cpu/req {cpu_per_req(r):.3f} ms  other load {r.get('other_load_on_server_core', float('nan')):.2f}"
            + (
                f"  !! {r['failed']} failed {r['statuses']} {r.get('error_samples', [{}])[0].get('response', '')[:200]}"
                if r["failed"] or r["connection_errors"]
                else ""
            )
        )
        return r

    def start_profile(self, kind: str) -> tuple[subprocess.Popen, Path] | None:
        """py-spy on the server during the phases named by --profile (prefixes)."""
        if not any(kind.startswith(p) for p in self.a.profile):
            return None
        assert self.srv is not None
        out = self.db.workdir / f"{kind}.pyspy.txt"
        cmd = [
            str(BIN / "py-spy"),
            "record",
            "--pid",
            str(self.srv.pid),
            "--format",
            "raw",
            "--rate",
            "200",
            "-o",
            str(out),
            "--nonblocking",
        ]
        proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(0.5)
        return proc, out

    @staticmethod
    def stop_profile(proc: subprocess.Popen, out: Path) -> dict[str, Any]:
        """Stop py-spy and summarise its collapsed stacks (active threads): where the samples
        end (self) and which frames they pass through (inclusive), top 25 each."""
        proc.send_signal(2)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
        selfc: dict[str, int] = {}
        incl: dict[str, int] = {}
        total = 0
        try:
            lines = out.read_text().splitlines()
        except OSError:
            return {"error": "no py-spy output"}
        for line in lines:
            stack, _, n = line.rpartition(" ")
            if not n.isdigit():
                continue
            c = int(n)
            total += c
            frames = []
            for f in stack.split(";"):
                name, sep, where = f.partition(" (")
                frames.append(
                    f"{name} ({where.rsplit(':', 1)[0].rsplit('/', 1)[-1]})" if sep else f
                )
            selfc[frames[-1]] = selfc.get(frames[-1], 0) + c
            for f in set(frames):
                incl[f] = incl.get(f, 0) + c
        if not total:
            return {"samples": 0}

        def top(d: dict[str, int]) -> list[tuple[str, float]]:
            return [
                (k, round(v / total, 3)) for k, v in sorted(d.items(), key=lambda kv: -kv[1])[:25]
            ]

        res = {"samples": total, "self": top(selfc), "inclusive": top(incl)}
        log(
            "  py-spy (active threads), self: "
            + "; ".join(f"{k} {v:.0%}" for k, v in res["self"][:8])
        )
        return res

    async def pair(
        self, name: str, make: dict[str, Any], conns: int, rounds: int
    ) -> dict[str, Any]:
        """Alternate small and big phases (`rounds` times), re-running a round whose
        phases saw other load on the server core above --max-other-load (twice at most)."""
        out: dict[str, list[dict[str, Any]]] = {"small": [], "big": []}
        for rnd in range(rounds):
            best: dict[str, dict[str, Any]] | None = None
            for attempt in range(2):
                got = {}
                for acct in ("small", "big"):
                    got[acct] = await self.phase(
                        self.targets[acct], make[acct](f"{name}_{acct}_r{rnd + 1}"), conns
                    )
                load = max(g.get("other_load_on_server_core", 0.0) for g in got.values())
                got["small"]["attempt"] = got["big"]["attempt"] = attempt + 1
                if best is None or load < max(
                    g.get("other_load_on_server_core", 0.0) for g in best.values()
                ):
                    best = got
                if load <= self.a.max_other_load:
                    break
                log(f"  round {rnd + 1} of {name} disturbed (other load {load:.2f}): again")
            assert best is not None
            for acct in ("small", "big"):
                out[acct].append(best[acct])
        summary = {
            acct: {
                "p50_ms": med([r["p50_ms"] for r in rs]),
                "p99_ms": med([r["p99_ms"] for r in rs]),
                "rps": med([r["rps"] for r in rs]),
                "cpu_ms_per_req": med([cpu_per_req(r) for r in rs]),
                "other_load_max": max(r.get("other_load_on_server_core", 0.0) for r in rs),
                "failed": sum(r["failed"] + r["connection_errors"] for r in rs),
                "samples": sum(r["measured"] for r in rs),
            }
            for acct, rs in out.items()
        }
        self.res["phases"][name] = {"rounds": out, "summary": summary}
        return summary

    def fig(
        self, name: str, value: float, unit: str, target: str, ok: bool | None, note: str = ""
    ) -> None:
        self.res["figures"].append(
            {"figure": name, "value": value, "unit": unit, "target": target, "ok": ok, "note": note}
        )

    # -- the run ----------------------------------------------------------------

    async def run(self) -> dict[str, Any]:
        a, w, db = self.a, self.w, self.db
        log(
            f"=== {self.kind}: {a.users:,} users, {a.groups:,} groups (+ {a.small_users:,} users in the small account) ==="
        )
        db.create()
        try:
            self.accts = make_accounts(db)
            seeder = Seeder(db)
            t0 = time.monotonic()
            seeder.users(self.accts["big"]["id"], w.big, w.big_ids, "big")
            seeder.users(self.accts["small"]["id"], w.small, w.small_ids, "small")
            seeder.groups(
                self.accts["big"]["id"], w.g_ids, w.g_ext, w.g_names, w.g_members, w.big_ids, "big"
            )
            seeder.groups(
                self.accts["small"]["id"],
                w.sg_ids,
                w.sg_ext,
                w.sg_names,
                w.sg_members,
                w.small_ids,
                "small",
            )
            seeder.counts(self.accts["big"]["id"], a.users, a.groups)
            seeder.counts(self.accts["small"]["id"], a.small_users, a.small_groups)
            seed_rows_s = time.monotonic() - t0
            seeder.finish()
            self.res["seeding"] = {
                "total_s": time.monotonic() - t0,
                "rows_s": seed_rows_s,
                **seeder.timings,
                "memberships": sum(len(m) for m in w.g_members) + sum(len(m) for m in w.sg_members),
                "database_bytes": db.size(),
            }
            log(
                f"seeded in {self.res['seeding']['total_s']:.1f}s: {json.dumps({k: round(v, 1) for k, v in seeder.timings.items()})}, database {db.size() / 2**20:.0f} MiB"
            )
            self.srv, port = start_server(db, a)
            self.targets = {
                slug: Target(slug, "127.0.0.1", port, v["path"], v["token"])
                for slug, v in self.accts.items()
            }
            self.srv.target = self.targets["big"]
            await wait_ready(self.srv, "/ServiceProviderConfig", timeout=120)
            self.res["server"] = {"pid": self.srv.pid, "command": self.srv.info["command"]}
            self.mem("start")
            self.res["seed_check"] = await asyncio.to_thread(
                check_seed, db, w, self.accts, self.targets
            )
            log(
                f"seed check: {'ok' if self.res['seed_check']['ok'] else 'PROBLEMS: ' + str(self.res['seed_check']['problems'][:3])}"
            )
            self.mem("seed check (a few POST/GET/DELETE)")
            await self.measure()
            self.mem("end")
            self.res["explain"] = await asyncio.to_thread(self.explain)
        finally:
            if self.srv is not None:
                self.srv.stop()
            if a.keep_db:
                log(f"kept the database: {db.url}")
            else:
                db.drop()
        self.judge()
        return self.res

    async def measure(self) -> None:
        a, w = self.a, self.w
        rng = self.rng
        tb, ts = self.targets["big"], self.targets["small"]
        pool = a.read_pool

        def lookups(attr: str) -> dict[str, Any]:
            def mk(t: Target, pop: Population, n: int) -> Any:
                vals = pop.ext if attr == "externalId" else pop.upn
                items = [
                    t.req("GET", "/Users?filter=" + q(f'{attr} eq "{vals[rng.randrange(n)]}"'))
                    for _ in range(pool)
                ]
                return lambda kind: Phase(
                    kind, items, a.duration, (200,), cycle=True, check=total_is(1)
                )

            return {"big": mk(tb, w.big, a.users), "small": mk(ts, w.small, a.small_users)}

        def miss() -> dict[str, Any]:
            def mk(t: Target) -> Any:
                items = [
                    t.req("GET", "/Users?filter=" + q(f'externalId eq "{uuid.uuid4()}"'))
                    for _ in range(pool)
                ]
                return lambda kind: Phase(
                    kind, items, a.duration, (200,), cycle=True, check=total_is(0)
                )

            return {"big": mk(tb), "small": mk(ts)}

        # 1. user lookups, small and big alternating
        for name, make in (
            ("lookup_externalId", lookups("externalId")),
            ("lookup_userName", lookups("userName")),
            ("lookup_miss", miss()),
        ):
            s = await self.pair(name, make, a.conns, a.rounds)
            ratio = s["big"]["p99_ms"] / s["small"]["p99_ms"]
            self.fig(
                f"{name}: p99 at {a.users:,} users / p99 at {a.small_users:,}",
                ratio,
                "×",
                "≤ 1.3",
                ratio <= 1.3,
                f"p99 {s['big']['p99_ms']:.2f} ms vs {s['small']['p99_ms']:.2f} ms; p50 {s['big']['p50_ms']:.2f} vs {s['small']['p50_ms']:.2f} ms; CPU/req {s['big']['cpu_ms_per_req']:.3f} vs {s['small']['cpu_ms_per_req']:.3f} ms",
            )
            self.mem(name)
        # 2. list pages
        n = a.users
        lp: dict[str, Any] = {}
        specs = [
            ("list_page_random", tb, lambda: rng.randint(1, max(1, n - 99))),
            (
                "list_page_deep",
                tb,
                lambda: rng.randint(min(max(1, n - n // 50), max(1, n - 99)), max(1, n - 99)),
            ),
            ("list_page_first", tb, lambda: 1),
            # An import paging through the directory in order (Okta's), from its middle:
            # the first page walks there, each next one continues from the last page's id.
            # (wrapping round to the start past the end of a small account)
            ("list_page_next", tb, _in_order(n // 2, max(1, n - 99))),
            ("list_page_small_account", ts, lambda: rng.randint(1, max(1, a.small_users - 99))),
        ]
        for name, t, pick in specs:
            items = [t.req("GET", f"/Users?startIndex={pick()}&count=100") for _ in range(2000)]
            r = await self.phase(
                t,
                Phase(name, items, a.list_duration, (200,), cycle=True, check=check_page),
                a.conns,
            )
            lp[name] = r
            self.mem(name)
        self.res["phases"]["list_pages"] = lp
        for name in ("list_page_random", "list_page_deep", "list_page_next"):
            r = lp[name]
            self.fig(
                f"{name} (count=100) p50 at {n:,} users",
                r["p50_ms"],
                "ms",
                "≤ 20 ms",
                r["p50_ms"] <= 20,
                f"p99 {r['p99_ms']:.1f} ms, {r['rps']:.0f} req/s, CPU/req {cpu_per_req(r):.1f} ms; small account p50 {lp['list_page_small_account']['p50_ms']:.1f} ms",
            )
        if a.filtered_list:
            fl = {}
            for acct, t in (("small", ts), ("big", tb)):
                items = [
                    t.req(
                        "GET",
                        "/Users?"
                        + urllib.parse.urlencode(
                            {
                                "filter": f'displayName sw "{c}"',
                                "startIndex": rng.randint(1, 50),
                                "count": 100,
                            }
                        ),
                    )
                    for c in "ADGJLMNP"
                    for _ in range(20)
                ]
                fl[acct] = await self.phase(
                    t,
                    Phase(
                        f"list_filtered_sw_{acct}",
                        items,
                        a.list_duration,
                        (200,),
                        cycle=True,
                        check=check_page,
                        grace=60,
                    ),
                    1,
                )
            self.res["phases"]["list_filtered_sw"] = fl
            self.fig(
                f'filtered list displayName sw "X" (count=100) p50 at {n:,} users',
                fl["big"]["p50_ms"],
                "ms",
                "(no target)",
                None,
                f"p99 {fl['big']['p99_ms']:.0f} ms; small account p50 {fl['small']['p50_ms']:.1f} ms",
            )
            self.mem("list_filtered_sw")

        # 3. group lookups (Entra's), small and big alternating
        def glookup() -> dict[str, Any]:
            def mk(t: Target, names: list[str]) -> Any:
                items = []
                for _ in range(pool):
                    nm = (
                        names[rng.randrange(len(names))]
                        if rng.random() < 0.9
                        else f"missing {uuid.uuid4()}"
                    )
                    items.append(
                        t.req(
                            "GET",
                            "/Groups?excludedAttributes=members&filter="
                            + q(f'displayName eq "{nm}"'),
                        )
                    )
                return lambda kind: Phase(kind, items, a.duration, (200,), cycle=True)

            return {"big": mk(tb, w.g_names), "small": mk(ts, w.sg_names)}

        s = await self.pair("group_lookup_displayName", glookup(), a.conns, a.rounds)
        ratio = s["big"]["p99_ms"] / s["small"]["p99_ms"]
        self.fig(
            f"group lookup displayName eq (excludedAttributes=members): p99 at {a.groups:,} groups / p99 at {a.small_groups}",
            ratio,
            "×",
            "≤ 1.3",
            ratio <= 1.3,
            f"p99 {s['big']['p99_ms']:.2f} vs {s['small']['p99_ms']:.2f} ms; p50 {s['big']['p50_ms']:.2f} vs {s['small']['p50_ms']:.2f} ms (10 % misses)",
        )
        self.mem("group_lookup_displayName")
        # 4. group membership PATCHes: a group of 0 (each request a different empty group)
        #    against the big group; adds, removes by value list, removes by filter
        await self.group_patches()
        # 5. GET of the big group
        await self.get_big_group()

    async def group_patches(self) -> None:
        a, w, rng = self.a, self.w, self.rng
        tb = self.targets["big"]
        per = a.patch_requests
        big_gid = w.g_ids[0]
        empties = w.g_ids[1 : 1 + w.n_empty]
        non_members = list(range(w.big_group_size, a.users))
        rng.shuffle(non_members)
        cursor = {"nm": 0}
        added: dict[str, list[list[str]]] = {"small": [], "big": []}

        def add_make() -> dict[str, Any]:
            def small(kind: str) -> Phase:
                batches = [
                    [w.big_ids[i] for i in rng.sample(range(a.users), 50)] for _ in range(per)
                ]
                groups = [empties[k % len(empties)] for k in range(per)]
                added["small"] = list(zip(groups, batches, strict=True))  # type: ignore[arg-type]
                items = [
                    tb.req("PATCH", f"/Groups/{g}", patch_members_body(b))
                    for g, b in added["small"]
                ]  # type: ignore[misc]
                return Phase(kind, items, 1e9, (200, 204), warmup=0.2)

            def big(kind: str) -> Phase:
                batches = []
                for _ in range(per):
                    c = cursor["nm"]
                    batches.append([w.big_ids[i] for i in non_members[c : c + 50]])
                    cursor["nm"] = c + 50
                added["big"] = [(big_gid, b) for b in batches]  # type: ignore[misc]
                items = [
                    tb.req("PATCH", f"/Groups/{big_gid}", patch_members_body(b)) for b in batches
                ]
                return Phase(kind, items, 1e9, (200, 204), warmup=0.2)

            return {"small": small, "big": big}

        def remove_body(ids: list[str]) -> bytes:
            return jdumps(
                {
                    "schemas": [PATCHOP],
                    "Operations": [
                        {"op": "Remove", "path": "members", "value": [{"value": m} for m in ids]}
                    ],
                }
            )

        def remove_make() -> dict[str, Any]:
            def mk(acct: str) -> Any:
                def f(kind: str) -> Phase:
                    items = [
                        tb.req("PATCH", f"/Groups/{g}", remove_body(b)) for g, b in added[acct]
                    ]  # type: ignore[misc]
                    return Phase(kind, items, 1e9, (200, 204), warmup=0.2)

                return f

            return {"small": mk("small"), "big": mk("big")}

        # One round = add 50 to empty groups, add 50 to the big group, remove the same 50s
        # again (by value list, as Entra sends without the aadOptscim062020 flag): the big
        # group stays at its size, the small ones at 0..50.
        res: dict[str, dict[str, list[dict[str, Any]]]] = {
            "add50": {"small": [], "big": []},
            "remove50": {"small": [], "big": []},
        }
        am, rm = add_make(), remove_make()
        for rnd in range(a.rounds):
            for acct in ("small", "big"):
                res["add50"][acct].append(
                    await self.phase(tb, am[acct](f"group_add50_{acct}_r{rnd + 1}"), 1)
                )
            for acct in ("small", "big"):
                res["remove50"][acct].append(
                    await self.phase(tb, rm[acct](f"group_remove50_{acct}_r{rnd + 1}"), 1)
                )
        # Removes by filter, one member per request (Entra with the flag): seeded members of
        # groups of ~10 members against seeded members of the big group.
        small_src = [
            (w.g_ids[k], w.big_ids[i])
            for k in range(1 + w.n_empty, a.groups)
            for i in w.g_members[k]
        ]
        rng.shuffle(small_src)
        big_src = [
            (big_gid, w.big_ids[i])
            for i in rng.sample(range(w.big_group_size), min(w.big_group_size, per * a.rounds))
        ]
        res["remove1_filter"] = {"small": [], "big": []}
        for rnd in range(a.rounds):
            for acct, src in (("small", small_src), ("big", big_src)):
                chunk = src[rnd * per : (rnd + 1) * per]
                if not chunk:
                    continue
                items = [
                    tb.req(
                        "PATCH",
                        f"/Groups/{g}",
                        jdumps(
                            {
                                "schemas": [PATCHOP],
                                "Operations": [
                                    {"op": "remove", "path": f'members[value eq "{m}"]'}
                                ],
                            }
                        ),
                    )
                    for g, m in chunk
                ]
                res["remove1_filter"][acct].append(
                    await self.phase(
                        tb,
                        Phase(
                            f"group_remove1_filter_{acct}_r{rnd + 1}",
                            items,
                            1e9,
                            (200, 204),
                            warmup=0.2,
                        ),
                        1,
                    )
                )
        for name, rr in res.items():
            summ = {
                acct: {
                    "p50_ms": med([r["p50_ms"] for r in rs]),
                    "p99_ms": med([r["p99_ms"] for r in rs]),
                    "cpu_ms_per_req": med([cpu_per_req(r) for r in rs]),
                    "rps": med([r["rps"] for r in rs]),
                    "other_load_max": max(
                        (r.get("other_load_on_server_core", 0.0) for r in rs), default=0.0
                    ),
                    "failed": sum(r["failed"] + r["connection_errors"] for r in rs),
                    "samples": sum(r["measured"] for r in rs),
                }
                for acct, rs in rr.items()
                if rs
            }
            self.res["phases"][f"group_{name}"] = {"rounds": rr, "summary": summ}
            if "small" in summ and "big" in summ:
                lat = summ["big"]["p50_ms"] / summ["small"]["p50_ms"]
                cpu = summ["big"]["cpu_ms_per_req"] / summ["small"]["cpu_ms_per_req"]
                what = {
                    "add50": "add 50 members",
                    "remove50": "remove 50 members (value list)",
                    "remove1_filter": 'remove 1 member (members[value eq "…"])',
                }[name]
                self.fig(
                    f"{what}: group of {w.big_group_size:,} / group of ≤ 50 (p50; CPU/req)",
                    max(lat, cpu),
                    "×",
                    "≤ 1.3 (both)",
                    lat <= 1.3 and cpu <= 1.3,
                    f"p50 {summ['big']['p50_ms']:.2f} vs {summ['small']['p50_ms']:.2f} ms ({lat:.2f}×); CPU/req {summ['big']['cpu_ms_per_req']:.2f} vs {summ['small']['cpu_ms_per_req']:.2f} ms ({cpu:.2f}×); p99 {summ['big']['p99_ms']:.2f} vs {summ['small']['p99_ms']:.2f} ms",
                )
        self.mem("group PATCHes")

    async def get_big_group(self) -> None:
        a, w = self.a, self.w
        tb = self.targets["big"]
        srv = self.srv
        assert srv is not None
        out: dict[str, Any] = {"members": w.big_group_size, "requests": []}
        small_gid = next(
            (w.g_ids[k] for k in range(1 + w.n_empty, a.groups) if len(w.g_members[k]) >= 10),
            w.g_ids[-1],
        )
        for label, path in (
            ("small group (~10 members)", f"/Groups/{small_gid}"),
            (
                "big group, excludedAttributes=members",
                f"/Groups/{w.g_ids[0]}?excludedAttributes=members",
            ),
            *[(f"big group #{k + 1}", f"/Groups/{w.g_ids[0]}") for k in range(a.get_repeats)],
        ):
            before = mem_of(srv.pid)
            cpu0 = proc_cpu_seconds(srv.pids())
            with RssSampler(srv.pid) as samp:
                status, headers, body, secs = await asyncio.to_thread(http_call, tb, "GET", path)
            cpu1 = proc_cpu_seconds(srv.pids())
            after = mem_of(srv.pid)
            n_members = len(jloads(body).get("members", [])) if status == 200 else None
            rec = {
                "what": label,
                "status": status,
                "seconds": secs,
                "bytes": len(body),
                "members_in_response": n_members,
                "framing": "chunked"
                if headers.get("transfer-encoding") == "chunked"
                else f"content-length {headers.get('content-length')}",
                "server_cpu_s": cpu1 - cpu0,
                "vmrss_before_kib": before.get("vmrss_kib"),
                "vmrss_peak_sampled_kib": max(samp.peak, after.get("vmrss_kib", 0)),
                "vmrss_after_kib": after.get("vmrss_kib"),
                "vmhwm_before_kib": before.get("vmhwm_kib"),
                "rssanon_before_kib": before.get("rssanon_kib"),
                "rssanon_peak_sampled_kib": max(samp.peak_anon, after.get("rssanon_kib", 0)),
                "rssanon_after_kib": after.get("rssanon_kib"),
                "pss_before_kib": before.get("pss_kib"),
                "pss_after_kib": after.get("pss_kib"),
                "vmhwm_after_kib": after.get("vmhwm_kib"),
                "rss_samples": samp.samples,
            }
            rec["rss_growth_kib"] = rec["vmrss_peak_sampled_kib"] - (rec["vmrss_before_kib"] or 0)
            rec["anon_growth_kib"] = rec["rssanon_peak_sampled_kib"] - (
                rec["rssanon_before_kib"] or 0
            )
            out["requests"].append(rec)
            log(
                f"  GET {label}: {status}, {secs * 1000:.0f} ms, {len(body) / 1e6:.2f} MB, {rec['framing']}, server CPU {rec['server_cpu_s'] * 1000:.0f} ms, RSS {rec['vmrss_before_kib'] / MIB:.0f} → peak {rec['vmrss_peak_sampled_kib'] / MIB:.0f} → {rec['vmrss_after_kib'] / MIB:.0f} MiB, VmHWM {rec['vmhwm_before_kib'] / MIB:.0f} → {rec['vmhwm_after_kib'] / MIB:.0f} MiB"
            )
            await asyncio.sleep(0.5)
        self.res["phases"]["get_big_group"] = out
        bigs = [r for r in out["requests"] if r["what"].startswith("big group #")]
        growth = max(r["rss_growth_kib"] for r in bigs)
        anon = max(r["anon_growth_kib"] for r in bigs)
        # The heap (RssAnon), not VmRSS: on SQLite VmRSS also grows by the database pages the
        # query maps in (mmap). A member list built whole as Python objects costs several
        # times its JSON (PostgreSQL, before the streaming GET: 103 MiB for 17 MB); the
        # heap also holds SQLite's page cache of the connection (up to 64 MiB each), hence
        # the margin.
        in_memory = anon * 1024 > 2 * max(r["bytes"] for r in bigs)
        secs = med([r["seconds"] for r in bigs])
        self.fig(
            f"GET /Groups/{{id}} of the {w.big_group_size:,}-member group: time",
            secs * 1000,
            "ms",
            "(measure)",
            None,
            f"{bigs[0]['bytes'] / 1e6:.1f} MB, {bigs[0]['members_in_response']:,} members, {bigs[0]['framing']}, server CPU {med([r['server_cpu_s'] for r in bigs]) * 1000:.0f} ms",
        )
        self.fig(
            "GET of the big group: server heap (RssAnon) growth during it, peak sampled every 5 ms",
            anon / MIB,
            "MiB",
            "(measure)",
            None,
            (
                "the whole group is built in memory (the heap grew by more than twice the response size)"
                if in_memory
                else "not built whole in memory (the heap grew by less than twice the response size)"
            )
            + f"; VmRSS growth {growth / MIB:.0f} MiB; VmHWM {bigs[0]['vmhwm_before_kib'] / MIB:.0f} → {bigs[-1]['vmhwm_after_kib'] / MIB:.0f} MiB",
        )
        out["built_in_memory"] = in_memory
        self.mem("GET big group")

    def judge(self) -> None:
        mems = self.res["memory"]
        if not mems:
            return
        peak_rss = max(m.get("vmrss_kib", 0) for m in mems)
        hwm = max(m.get("vmhwm_kib", 0) for m in mems)
        before_get = [m for m in mems if m["after"] != "GET big group" and m["after"] != "end"]
        hwm_before_get = max(m.get("vmhwm_kib", 0) for m in before_get) if before_get else hwm
        self.fig(
            "scimgate serve VmRSS at start",
            mems[0].get("vmrss_kib", 0) / MIB,
            "MiB",
            "≤ 250 MiB",
            mems[0].get("vmrss_kib", 0) <= 250 * MIB,
        )
        self.fig(
            "scimgate serve VmRSS, highest after a phase",
            peak_rss / MIB,
            "MiB",
            "≤ 250 MiB",
            peak_rss <= 250 * MIB,
            "RssAnon (heap) at that point "
            + f"{max(m.get('rssanon_kib', 0) for m in mems) / MIB:.0f} MiB, RssFile {max(m.get('rssfile_kib', 0) for m in mems) / MIB:.0f} MiB",
        )
        pss = max(m.get("pss_kib", 0) for m in mems)
        anon = max(m.get("rssanon_kib", 0) for m in mems)
        self.fig(
            "scimgate serve Pss (each page counted once), highest after a phase",
            pss / MIB,
            "MiB",
            "(≤ 250 MiB)",
            pss <= 250 * MIB,
            f"RssAnon (heap) highest {anon / MIB:.0f} MiB",
        )
        self.fig(
            "scimgate serve VmHWM (peak) before the big-group GET",
            hwm_before_get / MIB,
            "MiB",
            "≤ 250 MiB",
            hwm_before_get <= 250 * MIB,
        )
        self.fig(
            "scimgate serve VmHWM (peak) at the end",
            hwm / MIB,
            "MiB",
            "≤ 250 MiB",
            hwm <= 250 * MIB,
        )

    # -- plans -------------------------------------------------------------------

    def explain(self) -> list[dict[str, Any]]:
        """Plans and timings of the statements behind the figures, with the server's SQL."""
        a, w = self.a, self.w
        aid = self.accts["big"]["id"]
        n = a.users
        cols = "id, doc, version, created_at, updated_at"
        page = (
            f"SELECT {cols} FROM directory_user WHERE account_id = ? AND id IN "
            "(SELECT id FROM directory_user WHERE account_id = ? ORDER BY id LIMIT ? OFFSET ?) ORDER BY id"
        )
        stmts = [
            ("list page at startIndex=N-1000 (lookup_resources)", page, (aid, aid, 100, n - 1000)),
            ("list page at startIndex=N/2", page, (aid, aid, 100, n // 2)),
            (
                "lookup externalId eq",
                f"SELECT {cols} FROM directory_user WHERE account_id = ? AND external_id = ? ORDER BY id LIMIT ?",
                (aid, w.big.ext[n // 3], 100),
            ),
            (
                "lookup userName eq",
                f"SELECT {cols} FROM directory_user WHERE account_id = ? AND user_name_key = ? ORDER BY id LIMIT ?",
                (aid, w.big.upn[n // 3], 100),
            ),
            (
                "groups_of one user (the user's groups attribute)",
                "SELECT m.member_id, m.group_id, g.display_name FROM directory_membership m JOIN directory_group g ON g.account_id = m.account_id AND g.id = m.group_id WHERE m.account_id = ? AND m.member_id IN (?) ORDER BY m.member_id, g.display_name",
                (aid, w.big_ids[0]),
            ),
            (
                "group lookup displayName eq",
                "SELECT id, doc, version, created_at, updated_at FROM directory_group WHERE account_id = ? AND display_name_key = ? ORDER BY id LIMIT ?",
                (aid, w.g_names[7].lower(), 100),
            ),
            (
                "members_of the big group",
                (
                    "SELECT m.group_id, m.member_id, m.member_type, COALESCE(m.display, u.display_name, u.user_name, g.display_name) FROM directory_membership m "
                    "LEFT JOIN directory_user u ON u.account_id = m.account_id AND u.id = m.member_id "
                    "LEFT JOIN directory_group g ON g.account_id = m.account_id AND g.id = m.member_id "
                    "WHERE m.account_id = ? AND m.group_id IN (?) ORDER BY m.group_id, m.member_id"
                ),
                (aid, w.g_ids[0]),
            ),
            (
                'filtered list displayName sw "A" (count of matches, general compiler, approx.)',
                "SELECT count(*) FROM directory_user WHERE account_id = ? AND display_name LIKE ?",
                (aid, "A%"),
            ),
        ]
        out = []
        if self.db.pg:
            import psycopg

            with psycopg.connect(**self.db.pg_kwargs()) as c:
                for label, sql, params in stmts:
                    t0 = time.perf_counter()
                    rows = c.execute(
                        "EXPLAIN (ANALYZE, BUFFERS) " + sql.replace("?", "%s"), params
                    ).fetchall()
                    out.append(
                        {
                            "what": label,
                            "sql": sql,
                            "plan": "\n".join(r[0] for r in rows),
                            "seconds": time.perf_counter() - t0,
                        }
                    )
                    c.rollback()
        else:
            from scimgate.store.database import SQLITE_CACHE_KIB, SQLITE_MMAP_BYTES

            c = sqlite3.connect(self.db.sqlite_path)  # as the server's connections are set
            c.execute(f"PRAGMA mmap_size={SQLITE_MMAP_BYTES}")
            c.execute(f"PRAGMA cache_size=-{SQLITE_CACHE_KIB}")
            for label, sql, params in stmts:
                plan = "\n".join(
                    f"{r[1]}|{r[3]}"
                    for r in c.execute("EXPLAIN QUERY PLAN " + sql, params).fetchall()
                )
                times = []
                for _ in range(3):
                    t0 = time.perf_counter()
                    c.execute(sql, params).fetchall()
                    times.append(time.perf_counter() - t0)
                out.append({"what": label, "sql": sql, "plan": plan, "seconds": min(times)})
            c.close()
        for e in out:
            log(f"  plan: {e['what']}: {e['seconds'] * 1000:.1f} ms")
        return out


# ---------------------------------------------------------------------------
# Output
# ---------------------------------------------------------------------------


def fmtv(v: float, unit: str) -> str:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "–"
    if unit == "×":
        return f"{v:.2f}×"
    if unit == "ms":
        return f"{v:,.1f} ms" if v < 100 else f"{v:,.0f} ms"
    if unit == "MiB":
        return f"{v:,.0f} MiB"
    return f"{v} {unit}"


def markdown(doc: dict[str, Any]) -> str:
    m = doc["meta"]
    L = [
        "# Size benchmark: scimgate at 1,000,000 users"
        if m["users"] == 1_000_000
        else f"# Size benchmark: scimgate at {m['users']:,} users",
        "",
    ]
    L.append(
        f"- date: {m['date']}, git `{m['git']}`, host CPU: {m['cpu_model']} ({m['cpus']} cpus), Python {m['python']}"
    )
    L.append(
        f"- one `scimgate serve --workers 1` pinned to core {m['server_cpu']}, client (bench_scim's raw keep-alive client) on core {m['client_cpu']}, "
        f"{m['conns']} connection(s) for lookups and list pages, 1 for group PATCHes; {m['duration']} s per lookup phase, {m['rounds']} rounds alternating the small and the big account"
    )
    L.append(
        f"- big account: {m['users']:,} users, {m['groups']:,} groups (one of {m['big_group']:,} members, {m['empty_groups']} empty, the others 0–20 members, ~10 on average); "
        f"small account, same database: {m['small_users']:,} users, {m['small_groups']} groups"
    )
    L.append("- command: `" + m["command"] + "`")
    L.append("")
    for r in doc["runs"]:
        L.append(f"## {r['database']}")
        L.append("")
        if "error" in r:
            L.append(f"**Failed**: {r['error']}")
            L.append("")
            continue
        s = r.get("seeding", {})
        L.append(
            f"Seeding (bulk SQL, not through the API): **{s.get('total_s', 0):.0f} s** "
            f"({', '.join(f'{k[:-2]} {v:.0f} s' for k, v in s.items() if k.endswith('_s') and k not in ('total_s', 'rows_s'))}); "
            f"{s.get('memberships', 0):,} memberships; database {s.get('database_bytes', 0) / 2**20:,.0f} MiB. "
            f"Seed check against the API: **{'ok' if r.get('seed_check', {}).get('ok') else 'FAILED'}** "
            f"({r.get('seed_check', {}).get('sampled_users_checked_against_normalise', 0)} seeded users == normalise() of their POST body; "
            f"{r.get('seed_check', {}).get('posted_vs_seeded_users', 0)} POSTed users and a POSTed group vs seeded ones: GET output and rows equal apart from ids, times and per-user values)."
        )
        L.append("")
        L.append("| figure | value | target | |")
        L.append("|---|---:|---|---|")
        for f in r["figures"]:
            ok = "✅" if f["ok"] else ("❌" if f["ok"] is False else "")
            L.append(f"| {f['figure']} | {fmtv(f['value'], f['unit'])} | {f['target']} | {ok} |")
        L.append("")
        notes = [f"- {f['figure']}: {f['note']}" for f in r["figures"] if f.get("note")]
        if notes:
            L.append("Details:")
            L += notes
            L.append("")
        L.append(
            "| phase | account | req/s | p50 ms | p99 ms | CPU ms/req | other load on server core | samples |"
        )
        L.append("|---|---|---:|---:|---:|---:|---:|---:|")
        for name, ph in r["phases"].items():
            if "summary" in ph:
                for acct, sm in ph["summary"].items():
                    bad = f" ⚠{sm['failed']}" if sm.get("failed") else ""
                    L.append(
                        f"| {name} | {acct} | {sm['rps']:,.0f}{bad} | {sm['p50_ms']:.2f} | {sm['p99_ms']:.2f} | {sm['cpu_ms_per_req']:.3f} | {sm['other_load_max']:.0%} | {sm['samples']:,} |"
                    )
            elif name in ("list_pages", "list_filtered_sw"):
                for key, x in ph.items():
                    k = key if name == "list_pages" else f"{name}_{key}"
                    bad = f" ⚠{x['failed']}" if x.get("failed") else ""
                    L.append(
                        f"| {k} | {'small' if 'small' in k else 'big'} | {x['rps']:,.0f}{bad} | {x['p50_ms']:.2f} | {x['p99_ms']:.2f} | {cpu_per_req(x):.3f} | {x.get('other_load_on_server_core', 0):.0%} | {x['measured']:,} |"
                    )
        L.append("")
        L.append(
            "Lookups and group lookups: medians over the rounds (each round small then big, seconds apart). CPU ms/req is the server's, plus its PostgreSQL backends' on PostgreSQL. Other load: share of the server core's time used by other processes (PostgreSQL backends included) during the phase; a round above the limit was run again."
        )
        L.append("")
        g = r["phases"].get("get_big_group")
        if g:
            L.append(
                "| GET | status | ms | bytes | framing | server CPU ms | VmRSS before → peak → after (MiB) | RssAnon before → peak → after (MiB) | VmHWM before → after (MiB) |"
            )
            L.append("|---|---:|---:|---:|---|---:|---|---|---|")
            for x in g["requests"]:
                L.append(
                    f"| {x['what']} | {x['status']} | {x['seconds'] * 1000:,.0f} | {x['bytes']:,} | {x['framing']} | {x['server_cpu_s'] * 1000:,.0f} | "
                    f"{x['vmrss_before_kib'] / MIB:.0f} → {x['vmrss_peak_sampled_kib'] / MIB:.0f} → {x['vmrss_after_kib'] / MIB:.0f} | {(x.get('rssanon_before_kib') or 0) / MIB:.0f} → {(x.get('rssanon_peak_sampled_kib') or 0) / MIB:.0f} → {(x.get('rssanon_after_kib') or 0) / MIB:.0f} | {x['vmhwm_before_kib'] / MIB:.0f} → {x['vmhwm_after_kib'] / MIB:.0f} |"
                )
            L.append("")
        L.append("| memory after | VmRSS MiB | VmHWM MiB | RssAnon MiB | RssFile MiB | Pss MiB |")
        L.append("|---|---:|---:|---:|---:|---:|")
        for x in r["memory"]:
            L.append(
                f"| {x['after']} | {x.get('vmrss_kib', 0) / MIB:.0f} | {x.get('vmhwm_kib', 0) / MIB:.0f} | {x.get('rssanon_kib', 0) / MIB:.0f} | {x.get('rssfile_kib', 0) / MIB:.0f} | {x.get('pss_kib', 0) / MIB:.0f} |"
            )
        L.append("")
        if r.get("explain"):
            L.append(
                "<details><summary>Plans of the statements behind the figures (run after the phases on the same database)</summary>"
            )
            L.append("")
            for e in r["explain"]:
                L.append(f"**{e['what']}** ({e['seconds'] * 1000:.1f} ms)")
                L.append("")
                L.append("```")
                L.append(e["plan"])
                L.append("```")
                L.append("")
            L.append("</details>")
            L.append("")
        probs = r.get("seed_check", {}).get("problems")
        if probs:
            L.append("Seed check problems:")
            L += [f"- `{p[:500]}`" for p in probs[:10]]
            L.append("")
    return "\n".join(L) + "\n"


# ---------------------------------------------------------------------------
# main
# ---------------------------------------------------------------------------


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--db", choices=["sqlite", "postgres", "both"], default="both")
    p.add_argument(
        "--users", type=int, default=1_000_000, help="users of the big account (default 1,000,000)"
    )
    p.add_argument(
        "--groups", type=int, default=10_000, help="groups of the big account (default 10,000)"
    )
    p.add_argument(
        "--big-group",
        type=int,
        default=100_000,
        help="members of the big group (default 100,000; at most half the users)",
    )
    p.add_argument(
        "--empty-groups",
        type=int,
        default=200,
        help="empty groups of the big account (targets of the small-group PATCHes)",
    )
    p.add_argument("--small-users", type=int, default=1_000)
    p.add_argument("--small-groups", type=int, default=12)
    p.add_argument(
        "--duration", type=float, default=4.0, help="seconds per lookup phase (default 4)"
    )
    p.add_argument(
        "--list-duration", type=float, default=6.0, help="seconds per list-page phase (default 6)"
    )
    p.add_argument(
        "--rounds", type=int, default=3, help="rounds of small/big alternation (default 3)"
    )
    p.add_argument(
        "--conns",
        type=int,
        default=1,
        help="connections for lookups and list pages (default 1: service latency, no queueing)",
    )
    p.add_argument(
        "--patch-requests",
        type=int,
        default=200,
        help="PATCHes per group phase and round (default 200)",
    )
    p.add_argument("--get-repeats", type=int, default=3)
    p.add_argument("--read-pool", type=int, default=20_000)
    p.add_argument("--no-filtered-list", dest="filtered_list", action="store_false")
    p.add_argument(
        "--max-other-load",
        type=float,
        default=0.25,
        help="re-run a round when other load on the server core exceeds this (default 0.25)",
    )
    p.add_argument("--pg-host", default="127.0.0.1")
    p.add_argument("--pg-port", type=int, default=5432)
    p.add_argument("--pg-user", default="postgres")
    p.add_argument("--client-cpu", default="0")
    p.add_argument("--server-cpu", default="1")
    p.add_argument("--seed", type=int, default=20261205)
    p.add_argument(
        "--out-name",
        help="results stem under benchmarks/results (default scale-latest, or scale-smoke below 1,000,000 users)",
    )
    p.add_argument(
        "--profile",
        action="append",
        default=[],
        metavar="PHASE",
        help="py-spy the server (raw, active threads) during phases whose name starts with PHASE (repeatable); summary in the JSON",
    )
    p.add_argument(
        "--keep-db", action="store_true", help="keep the databases (and the work directory)"
    )
    p.add_argument(
        "--workdir",
        help="where the SQLite database goes (default: a temporary directory under /work or /tmp)",
    )
    a = p.parse_args(argv)
    if a.out_name is None:
        a.out_name = "scale-latest" if a.users >= 1_000_000 else "scale-smoke"
    return a


async def amain(a: argparse.Namespace) -> int:
    dbs = ["sqlite", "postgres"] if a.db == "both" else [a.db]
    w = Workload(a)
    meta = {
        "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "git": git_describe(),
        "host": platform.node(),
        "cpu_model": cpu_model(),
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
        "users": a.users,
        "groups": a.groups,
        "big_group": w.big_group_size,
        "empty_groups": w.n_empty,
        "small_users": a.small_users,
        "small_groups": a.small_groups,
        "server_cpu": a.server_cpu,
        "client_cpu": a.client_cpu,
        "conns": a.conns,
        "duration": a.duration,
        "rounds": a.rounds,
        "command": ".venv/bin/python benchmarks/bench_scale.py " + " ".join(sys.argv[1:]),
        "argv": sys.argv[1:],
    }
    doc: dict[str, Any] = {"meta": meta, "runs": []}
    base = Path(a.workdir) if a.workdir else None
    out_json = RESULTS / f"{a.out_name}.json"
    # keep the other database's run of an earlier invocation (--db sqlite, then --db postgres)
    if a.db != "both" and out_json.exists():
        try:
            old = json.loads(out_json.read_text())
            if old.get("meta", {}).get("users") == a.users:
                doc["runs"] = [r for r in old.get("runs", []) if r.get("database") not in dbs]
                doc["earlier_runs_meta"] = old.get("meta")
        except (OSError, ValueError):
            pass
    for kind in dbs:
        workdir = Path(tempfile.mkdtemp(prefix=f"scale-{kind}-", dir=base))
        try:
            res = await Run(a, kind, w, workdir).run()
        except Exception as exc:  # noqa: BLE001
            log(f"{kind} failed: {exc!r}")
            res = {
                "database": kind,
                "error": repr(exc)[:2000],
                "figures": [],
                "phases": {},
                "memory": [],
            }
        finally:
            if not a.keep_db:
                shutil.rmtree(workdir, ignore_errors=True)
        doc["runs"] = [r for r in doc["runs"] if r.get("database") != kind] + [res]
        doc["runs"].sort(key=lambda r: r["database"] != "sqlite")
        write_results(a.out_name, doc, markdown(doc))
        log(f"wrote {out_json} and {a.out_name}.md")
    return 0 if all("error" not in r for r in doc["runs"]) else 1


def main(argv: list[str] | None = None) -> int:
    a = parse_args(argv)
    if a.client_cpu is not None and hasattr(os, "sched_setaffinity") and (os.cpu_count() or 1) > 1:
        os.sched_setaffinity(0, {int(c) for c in a.client_cpu.split(",")})
    run = uvloop.run if uvloop else asyncio.run
    return run(amain(a))


if __name__ == "__main__":
    sys.exit(main())
