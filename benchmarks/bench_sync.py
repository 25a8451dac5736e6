#!/usr/bin/env python3
"""Synchronize benchmark: staging -> members, Property values and teams, at 100,000 users.

One account, N staged users shaped like Microsoft Entra ID sends them and G groups
(average 50 user members), 5 mapped Properties. The staging directory is seeded
directly through the code the SCIM API uses (normalise + store.insert_resource, and
provisioning.directory.create for groups), in big transactions; seeding is not
measured. Then each phase runs ``scimgate.sync.engine.synchronize`` in a FRESH child
process, so the peak RSS (``ru_maxrss``) belongs to that phase alone:

  plan       dry run on the seeded state (nothing written)
  first      first sync: every member, value, team and membership created
  unchanged  second sync, nothing changed: must report everything unchanged
  changed    after 1 % of users were changed through the SCIM PATCH path
             (provisioning.directory.patch) and 1 % of memberships moved

On SQLite the first and unchanged syncs are then profiled on a copy of the seeded
database: once with a SQL timer (every statement on the DBAPI cursor, fetches
included, grouped by statement text; low overhead) and once under cProfile.

See benchmarks/README.md ("Synchronize benchmark") for how to run it and read it.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import random
import re
import resource
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any, Self

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
RESULTS = HERE / "results"

CORE = "urn:ietf:params:scim:schemas:core:2.0:User"
ENT = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
GROUP = "urn:ietf:params:scim:schemas:core:2.0:Group"
PATCHOP = "urn:ietf:params:scim:api:messages:2.0:PatchOp"

SLUG = "bench-sync"
SEED_TX_USERS = 5_000  # users per seeding transaction
TARGETS = {  # phase -> (seconds, MiB or None)
    "first": (20.0, 500.0),
    "unchanged": (3.0, None),
    "changed": (3.0, None),
}

FIRST = [
    "Ada",
    "Alan",
    "Grace",
    "Linus",
    "Margaret",
    "Ken",
    "Barbara",
    "Dennis",
    "Frances",
    "John",
    "Radia",
    "Tim",
    "Hedy",
    "Edsger",
    "Katherine",
    "Donald",
    "Sophie",
    "Niklaus",
    "Anita",
    "Guido",
    "Mary",
    "Bjarne",
    "Shafi",
    "Leslie",
    "Yukihiro",
    "Adele",
    "James",
    "Karen",
    "Vint",
    "Jean",
]
LAST = [
    "Lovelace",
    "Turing",
    "Hopper",
    "Torvalds",
    "Hamilton",
    "Thompson",
    "Liskov",
    "Ritchie",
    "Allen",
    "McCarthy",
    "Perlman",
    "Berners-Lee",
    "Lamarr",
    "Dijkstra",
    "Johnson",
    "Knuth",
    "Wilson",
    "Wirth",
    "Borg",
    "van Rossum",
    "Kenyon",
    "Stroustrup",
    "Goldwasser",
    "Lamport",
    "Matsumoto",
    "Goldberg",
    "Gosling",
    "Sparck Jones",
    "Cerf",
    "Sammet",
]
DEPTS = [
    "Engineering",
    "Sales",
    "Marketing",
    "Finance",
    "Human Resources",
    "Legal",
    "Customer Success",
    "Operations",
    "Product",
    "Research",
    "IT",
    "Procurement",
]
TITLES = [
    "Software Engineer",
    "Senior Software Engineer",
    "Account Executive",
    "Analyst",
    "Manager",
    "Director",
    "Designer",
    "Recruiter",
    "Accountant",
    "Counsel",
    "Support Specialist",
    "Product Manager",
    "Data Scientist",
    "IT Administrator",
]
CITIES = [
    ("Redmond", "WA", "98052", "US"),
    ("Seattle", "WA", "98101", "US"),
    ("New York", "NY", "10001", "US"),
    ("Austin", "TX", "73301", "US"),
    ("Dublin", "", "D02", "IE"),
    ("London", "", "EC1A", "GB"),
    ("Paris", "", "75002", "FR"),
    ("Berlin", "", "10115", "DE"),
    ("Bangalore", "KA", "560001", "IN"),
    ("Sydney", "NSW", "2000", "AU"),
    ("Toronto", "ON", "M5H", "CA"),
    ("Tokyo", "", "100-0001", "JP"),
]


def use_code(a: argparse.Namespace, workdir: Path) -> dict[str, Any]:
    """Benchmark a fixed commit: `git archive REV src` into the workdir, first on sys.path
    (parent) and PYTHONPATH (children), so edits to the work tree during a run do not leak
    in (`a.child_pythonpath`, for run_child). `--code worktree` benchmarks the work tree
    as it is."""
    a.child_pythonpath = None

    def git(*args: str) -> str:
        return subprocess.run(
            ["git", "-C", str(REPO), *args], capture_output=True, text=True, check=True
        ).stdout.strip()

    if a.code == "worktree":
        dirty = git("status", "--porcelain", "--", "src")
        return {
            "code": "work tree",
            "git": git("rev-parse", "--short", "HEAD")
            + (" + uncommitted changes in src/" if dirty else ""),
        }
    rev = git("rev-parse", "--short", a.code)
    dest = workdir / "code"
    dest.mkdir(parents=True)
    archive = subprocess.run(
        ["git", "-C", str(REPO), "archive", rev, "src"], capture_output=True, check=True
    )
    subprocess.run(["tar", "-x", "-C", str(dest)], input=archive.stdout, check=True)
    sys.path.insert(0, str(dest / "src"))
    a.child_pythonpath = str(dest / "src")
    subject = git("log", "-1", "--format=%s", rev)
    if len(subject) > 90:
        subject = subject[:89].rsplit(" ", 1)[0] + " …"
    return {"code": f"git archive {rev}", "git": rev, "subject": subject}


def log(*args: Any) -> None:
    print(time.strftime("%H:%M:%S"), *args, file=sys.stderr, flush=True)


# ---------------------------------------------------------------------------
# The workload
# ---------------------------------------------------------------------------


class Workload:
    """Users, managers and groups of the account, all from one seed."""

    def __init__(self, n_users: int, n_groups: int, seed: int) -> None:
        rng = random.Random(seed)
        self.n = n_users
        self.rng = rng

        def guid() -> str:
            return str(uuid.UUID(int=rng.getrandbits(128), version=4))

        # SCIM resource ids are pre-made (uuid4 like store.new_id) so that a user's manager
        # can name a user inserted later, as in a real directory.
        self.ids = [guid() for _ in range(n_users)]
        self.ext = [guid() for _ in range(n_users)]
        self.dept = [rng.randrange(len(DEPTS)) for _ in range(n_users)]
        self.title = [rng.randrange(len(TITLES)) for _ in range(n_users)]
        self.city = [rng.randrange(len(CITIES)) for _ in range(n_users)]
        # Managers: the first 10 % are the management chain (each managed by an earlier
        # one), everybody else reports to one of them; 10 % have no manager.
        pool = max(1, n_users // 10)
        self.manager: list[int | None] = []
        for i in range(n_users):
            if i == 0 or rng.random() < 0.10:
                self.manager.append(None)
            elif i < pool:
                self.manager.append(rng.randrange(0, i))
            else:
                self.manager.append(rng.randrange(0, pool))
        # Groups: log-normal sizes (a few large, many small), scaled to an average of 50.
        sizes = [rng.lognormvariate(0.0, 1.0) for _ in range(n_groups)]
        scale = 50 * n_groups / sum(sizes) if sizes else 0
        self.group_members: list[list[int]] = []
        for s in sizes:
            k = max(1, min(n_users, round(s * scale)))
            self.group_members.append(rng.sample(range(n_users), k))
        self.group_ext = [guid() for _ in range(n_groups)]

    def names(self, i: int) -> tuple[str, str]:
        return FIRST[i % len(FIRST)], LAST[(i // len(FIRST)) % len(LAST)]

    def upn(self, i: int) -> str:
        first, last = self.names(i)
        return f"{first}.{last}.{i}@contoso.onmicrosoft.com".lower().replace(" ", "")

    def user_body(self, i: int) -> dict[str, Any]:
        """An Entra ID POST /Users body (default attribute mappings of the Entra gallery app)."""
        first, last = self.names(i)
        upn = self.upn(i)
        city, region, postal, country = CITIES[self.city[i]]
        ent: dict[str, Any] = {
            "department": DEPTS[self.dept[i]],
            "employeeNumber": str(100000 + i),
        }
        if self.manager[i] is not None:
            ent["manager"] = {"value": self.ids[self.manager[i]]}
        return {
            "schemas": [CORE, ENT],
            "externalId": self.ext[i],
            "userName": upn,
            "active": True,
            "displayName": f"{first} {last}",
            "title": TITLES[self.title[i]],
            "preferredLanguage": "en-US",
            "emails": [{"primary": True, "type": "work", "value": upn}],
            "name": {"formatted": f"{first} {last}", "familyName": last, "givenName": first},
            "addresses": [
                {
                    "type": "work",
                    "primary": False,
                    "streetAddress": f"{1 + i % 9000} Main Street",
                    "locality": city,
                    "region": region,
                    "postalCode": postal,
                    "country": country,
                }
            ],
            "phoneNumbers": [
                {"type": "work", "value": f"+1 425 555 {i % 10000:04d}"},
                {"type": "mobile", "value": f"+1 206 555 {(i * 7) % 10000:04d}"},
            ],
            ENT: ent,
        }

    def group_body(self, g: int) -> dict[str, Any]:
        return {
            "schemas": [GROUP],
            "externalId": self.group_ext[g],
            "displayName": f"Team {g:05d} {DEPTS[g % len(DEPTS)]}",
            "members": [{"value": self.ids[u]} for u in self.group_members[g]],
        }

    def memberships(self) -> int:
        return sum(len(m) for m in self.group_members)


def op(path: str, value: Any, kind: str = "Replace") -> dict[str, Any]:
    return {"op": kind, "path": path, "value": value}


def plan_changes(w: Workload, seed: int) -> dict[str, Any]:
    """1 % of the users and 1 % of the memberships, as Entra's PATCH bodies.

    Of the changed users: 50 % department and title, 20 % manager, 15 % name, 10 % city,
    5 % deactivated (active "False", as Entra sends it). Memberships: half removed, half
    added, as Remove/Add PATCHes on their groups.
    """
    rng = random.Random(seed + 1)
    n_changed = max(1, w.n // 100)
    who = rng.sample(range(w.n), n_changed)
    cuts = [0.50, 0.70, 0.85, 0.95, 1.0]
    kinds = ["dept_title", "manager", "name", "city", "deactivate"]
    bounds = [round(c * n_changed) for c in cuts]
    user_patches: list[tuple[int, str, dict[str, Any]]] = []
    start = 0
    for kind, end in zip(kinds, bounds, strict=True):
        for i in who[start:end]:
            if kind == "dept_title":
                d = (w.dept[i] + 1 + rng.randrange(len(DEPTS) - 1)) % len(DEPTS)
                t = (w.title[i] + 1 + rng.randrange(len(TITLES) - 1)) % len(TITLES)
                ops = [op(f"{ENT}:department", DEPTS[d]), op("title", TITLES[t])]
            elif kind == "manager":
                m = rng.randrange(w.n)
                while m == i or m == w.manager[i]:
                    m = rng.randrange(w.n)
                ops = [op(f"{ENT}:manager", w.ids[m], "Add")]
            elif kind == "name":
                first, last = rng.choice(FIRST), rng.choice(LAST) + "-Renamed"
                ops = [
                    op("name.givenName", first),
                    op("name.familyName", last),
                    op("displayName", f"{first} {last}"),
                ]
            elif kind == "city":
                c = (w.city[i] + 1 + rng.randrange(len(CITIES) - 1)) % len(CITIES)
                ops = [op('addresses[type eq "work"].locality', CITIES[c][0])]
            else:
                ops = [op("active", "False")]
            user_patches.append((i, kind, {"schemas": [PATCHOP], "Operations": ops}))
        start = end
    # Memberships: 1 % of them, half removals of current members, half additions.
    total = w.memberships()
    n_moves = max(2, total // 100)
    removes: dict[int, list[int]] = {}
    adds: dict[int, list[int]] = {}
    groups = [g for g in range(len(w.group_members)) if w.group_members[g]]
    seen: set[tuple[int, int]] = set()
    while sum(map(len, removes.values())) < n_moves // 2:
        g = rng.choice(groups)
        u = rng.choice(w.group_members[g])
        if (g, u) not in seen and len(w.group_members[g]) - len(removes.get(g, [])) > 1:
            seen.add((g, u))
            removes.setdefault(g, []).append(u)
    while sum(map(len, adds.values())) < n_moves - n_moves // 2:
        g = rng.choice(groups)
        u = rng.randrange(w.n)
        if (g, u) not in seen and u not in w.group_members[g]:
            seen.add((g, u))
            adds.setdefault(g, []).append(u)
    group_patches: list[tuple[int, dict[str, Any]]] = []
    for g in sorted(set(removes) | set(adds)):
        ops = [
            {"op": "Remove", "path": f'members[value eq "{w.ids[u]}"]'} for u in removes.get(g, [])
        ]
        if adds.get(g):
            ops.append(op("members", [{"value": w.ids[u]} for u in adds[g]], "Add"))
        group_patches.append((g, {"schemas": [PATCHOP], "Operations": ops}))
    by_kind = {k: sum(1 for _, kk, _ in user_patches if kk == k) for k in kinds}
    return {
        "user_patches": user_patches,
        "group_patches": group_patches,
        "by_kind": by_kind,
        "memberships_removed": sum(map(len, removes.values())),
        "memberships_added": sum(map(len, adds.values())),
    }


# ---------------------------------------------------------------------------
# Seeding and changing (in the parent; not measured)
# ---------------------------------------------------------------------------


def seed_account(url: str, w: Workload) -> dict[str, Any]:
    """Account, Properties and mappings, users and groups. Returns ids and timings."""
    from scimgate.accounts.service import activate_provisioning, create_account
    from scimgate.mapping.service import set_mapping
    from scimgate.members.service import create_property
    from scimgate.provisioning import directory
    from scimgate.scim.resource import normalise
    from scimgate.scim.schema import schema_for
    from scimgate.store import directory as dstore
    from scimgate.store.database import make_engine, utcnow

    engine = make_engine(url, pool=False)
    t0 = time.perf_counter()
    with engine.begin() as conn:
        acc = create_account(conn, SLUG, entitled=True)
        activate_provisioning(conn, acc["id"])  # installs "Job title", "Department", "Manager"
    aid = int(acc["id"])
    with engine.begin() as conn:
        create_property(conn, aid, "Employee number", "text")
        set_mapping(conn, aid, "Employee number", f"{ENT}:employeeNumber")
        create_property(conn, aid, "City", "text")
        set_mapping(conn, aid, "City", 'addresses[type eq "work"].locality')
    user_schema = schema_for("User")
    for start in range(0, w.n, SEED_TX_USERS):
        now = utcnow()
        with engine.begin() as conn:
            for i in range(start, min(w.n, start + SEED_TX_USERS)):
                # = provisioning.directory.create for a User, with a pre-made id
                doc = normalise(w.user_body(i), user_schema).doc
                dstore.insert_resource(conn, aid, "User", doc=doc, now=now, resource_id=w.ids[i])
        if (start // SEED_TX_USERS) % 4 == 3:
            log(f"  seeded {min(w.n, start + SEED_TX_USERS):,} users")
    t_users = time.perf_counter() - t0
    group_ids: list[str] = []
    now = utcnow()
    for start in range(0, len(w.group_members), 100):
        with engine.begin() as conn:
            for g in range(start, min(len(w.group_members), start + 100)):
                written = directory.create(conn, aid, "Group", w.group_body(g), now=now)
                group_ids.append(written.row["id"])
    t_all = time.perf_counter() - t0
    engine.dispose()
    return {
        "account_id": aid,
        "group_ids": group_ids,
        "seconds_users": round(t_users, 1),
        "seconds_total": round(t_all, 1),
    }


def seed_account_bulk(url: str, w: Workload, log_every: int = 100_000) -> dict[str, Any]:
    """`seed_account` by bulk SQL: the same rows, written 20,000 users per statement.

    Each document is what the SCIM API stores (`normalise`, as POST /Users does), and its
    rows are built by the store's own helpers (`_key_columns`, `_email_rows`, the count
    row), then written by COPY (PostgreSQL) or executemany (SQLite) instead of one
    `insert_resource` per user: through the SCIM code path 1,000,000 users took about
    15 min on PostgreSQL. Groups likewise (`normalise`, then the membership rows that
    `add_members` writes). `--seeder scim` seeds through the SCIM code path instead;
    `--check-seeders` compares the two on a small workload.
    """
    from scimgate.accounts.service import activate_provisioning, create_account
    from scimgate.mapping.service import set_mapping
    from scimgate.members.service import create_property
    from scimgate.scim.resource import normalise
    from scimgate.scim.schema import schema_for
    from scimgate.store import bulk as bulk_store
    from scimgate.store import directory as dstore
    from scimgate.store import driver
    from scimgate.store.database import make_engine, utcnow

    engine = make_engine(url, pool=False)
    t0 = time.perf_counter()
    with engine.begin() as conn:
        acc = create_account(conn, SLUG, entitled=True)
        activate_provisioning(conn, acc["id"])  # installs "Job title", "Department", "Manager"
    aid = int(acc["id"])
    with engine.begin() as conn:
        create_property(conn, aid, "Employee number", "text")
        set_mapping(conn, aid, "Employee number", f"{ENT}:employeeNumber")
        create_property(conn, aid, "City", "text")
        set_mapping(conn, aid, "City", 'addresses[type eq "work"].locality')

    def count(conn: Any, kind: str, n: int) -> None:
        driver.execute(
            conn,
            "INSERT INTO directory_count (account_id, kind, n) VALUES (?, ?, ?) "
            "ON CONFLICT (account_id, kind) DO UPDATE SET n = directory_count.n + excluded.n",
            (aid, kind, n),
        )

    user_schema, group_schema = schema_for("User"), schema_for("Group")
    user_cols = ["account_id", "id", *dstore._KEY_NAMES["User"], "doc", "version"]
    user_cols += ["created_at", "updated_at"]
    email_cols = ("account_id", "user_id", "position", "value_key", "type", "is_primary")
    step = 20_000
    for start in range(0, w.n, step):
        now = utcnow()
        with engine.begin() as conn:
            stamp = driver.to_db_time(conn, now)
            users, emails = [], []
            for i in range(start, min(w.n, start + step)):
                doc = normalise(w.user_body(i), user_schema).doc  # as POST /Users
                uid = w.ids[i]
                users.append(
                    (
                        aid,
                        uid,
                        *dstore._key_columns(conn, "User", doc),
                        driver.dump_json(doc),
                        1,
                        stamp,
                        stamp,
                    )
                )
                emails.extend(dstore._email_rows(aid, uid, doc, conn))
            bulk_store.insert_rows(conn, "directory_user", user_cols, users)
            bulk_store.insert_rows(conn, "directory_user_email", email_cols, emails)
            count(conn, "User", len(users))
        done = min(w.n, start + step)
        if done % log_every == 0 or done == w.n:
            log(f"  seeded {done:,} users")
    t_users = time.perf_counter() - t0
    group_cols = ["account_id", "id", *dstore._KEY_NAMES["Group"], "doc", "version"]
    group_cols += ["created_at", "updated_at"]
    ship_cols = ("account_id", "group_id", "member_id", "member_type", "display")
    group_ids = [str(uuid.UUID(int=w.rng.getrandbits(128), version=4)) for _ in w.group_members]
    for start in range(0, len(w.group_members), 500):
        now = utcnow()
        with engine.begin() as conn:
            stamp = driver.to_db_time(conn, now)
            groups, ships = [], []
            for g in range(start, min(len(w.group_members), start + 500)):
                normalised = normalise(w.group_body(g), group_schema)  # as POST /Groups
                doc, gid = normalised.doc, group_ids[g]
                groups.append(
                    (
                        aid,
                        gid,
                        *dstore._key_columns(conn, "Group", doc),
                        driver.dump_json(doc),
                        1,
                        stamp,
                        stamp,
                    )
                )
                # as add_members: each id once, every one a User of this account
                displays = {m["value"]: m.get("display") for m in normalised.members or []}
                ships.extend((aid, gid, uid, "User", displays[uid]) for uid in displays)
            bulk_store.insert_rows(conn, "directory_group", group_cols, groups)
            bulk_store.insert_rows(conn, "directory_membership", ship_cols, ships)
            count(conn, "Group", len(groups))
    t_all = time.perf_counter() - t0
    engine.dispose()
    return {
        "account_id": aid,
        "group_ids": group_ids,
        "seconds_users": round(t_users, 1),
        "seconds_total": round(t_all, 1),
        "seeder": "bulk",
    }


def add_group_rules(url: str, aid: int, group_ids: list[str], n: int) -> None:
    """`n` group rules on the first groups, over three Properties (select, boolean, text),
    with priorities that tie and differ: every member of a ruled group gets values."""
    from scimgate.group_rules.service import add_rule
    from scimgate.members.service import create_property
    from scimgate.store.database import make_engine

    engine = make_engine(url, pool=False)
    roles = ["Admin", "Editor", "Viewer", "Billing", "Support"]
    with engine.begin() as conn:
        create_property(conn, aid, "Role", "select", roles)
        create_property(conn, aid, "VIP", "boolean")
        create_property(conn, aid, "Cost band", "text")
        for i, gid in enumerate(group_ids[:n]):
            prop, value = [("Role", roles[i % 5]), ("VIP", i % 2 == 0), ("Cost band", f"B{i % 4}")][
                i % 3
            ]
            add_rule(conn, aid, group=gid, prop=prop, value=value, priority=i % 7)
    engine.dispose()


def check_seeders(workdir: Path, n_users: int = 600, n_groups: int = 12) -> list[str]:
    """Seed a small workload both ways (SQLite) and compare every staging row.

    Times and the random group ids differ by design (groups are compared by name);
    everything else must be equal. Returns the differences (empty: the same rows).
    """
    from scimgate.store.database import migrate

    w1 = Workload(n_users, n_groups, 7)
    w2 = Workload(n_users, n_groups, 7)
    paths = []
    for name, seeder, w in (("scim", seed_account, w1), ("bulk", seed_account_bulk, w2)):
        path = workdir / f"check-{name}.db"
        path.unlink(missing_ok=True)
        migrate(f"sqlite:///{path}")
        seeder(f"sqlite:///{path}", w)
        paths.append(path)
    queries = {
        "directory_user": "SELECT account_id, id, user_name, user_name_key, external_id, "
        "display_name, active, doc, version FROM directory_user ORDER BY id",
        "directory_user_email": "SELECT * FROM directory_user_email ORDER BY user_id, position",
        "directory_group": "SELECT account_id, display_name, display_name_key, external_id, "
        "doc, version FROM directory_group ORDER BY display_name",
        "directory_membership": "SELECT g.display_name, m.member_id, m.member_type, m.display "
        "FROM directory_membership m JOIN directory_group g ON g.account_id = m.account_id "
        "AND g.id = m.group_id ORDER BY g.display_name, m.member_id",
        "directory_count": "SELECT * FROM directory_count ORDER BY account_id, kind",
    }
    problems = []
    for table, sql in queries.items():
        rows = []
        for path in paths:
            with sqlite3.connect(path) as c:
                rows.append(c.execute(sql).fetchall())
        if rows[0] != rows[1]:
            problems.append(f"{table}: {len(rows[0])} rows (scim) vs {len(rows[1])} (bulk) differ")
        elif not rows[0]:
            problems.append(f"{table}: no rows")
    return problems


def apply_changes(
    url: str, aid: int, w: Workload, changes: dict[str, Any], group_ids: list[str]
) -> float:
    """Apply the 1 % change set through provisioning.directory.patch (the SCIM PATCH path)."""
    from scimgate.provisioning import directory
    from scimgate.store.database import make_engine, utcnow

    engine = make_engine(url, pool=False)
    t0 = time.perf_counter()
    patches = [("User", w.ids[i], body) for i, _k, body in changes["user_patches"]] + [
        ("Group", group_ids[g], body) for g, body in changes["group_patches"]
    ]
    for start in range(0, len(patches), 500):
        with engine.begin() as conn:
            for kind, rid, body in patches[start : start + 500]:
                written = directory.patch(
                    conn, aid, kind, rid, body, now=utcnow(), if_match=None, max_operations=1000
                )
                if not written.changed:
                    raise RuntimeError(f"PATCH of {kind} {rid} changed nothing: {body}")
    engine.dispose()
    return time.perf_counter() - t0


# ---------------------------------------------------------------------------
# Databases
# ---------------------------------------------------------------------------


def pg_cmd(a: argparse.Namespace, tool: str, *extra: str) -> list[str]:
    return [tool, "-h", a.pg_host, "-p", str(a.pg_port), "-U", a.pg_user, *extra]


def pg_url(a: argparse.Namespace) -> str:
    return f"postgresql+psycopg://{a.pg_user}@{a.pg_host}:{a.pg_port}/{a.pg_db}"


def pg_create(a: argparse.Namespace) -> str:
    subprocess.run(pg_cmd(a, "dropdb", "--if-exists", "--force", a.pg_db), check=True)
    subprocess.run(pg_cmd(a, "createdb", a.pg_db), check=True)
    return pg_url(a)


def pg_drop(a: argparse.Namespace) -> None:
    subprocess.run(
        pg_cmd(a, "dropdb", "--if-exists", "--force", a.pg_db), check=False, capture_output=True
    )


def pg_vacuum_analyze(url: str) -> float:
    """What autovacuum would have done by now (this machine's PostgreSQL has it off)."""
    import psycopg

    t0 = time.perf_counter()
    with psycopg.connect(
        url.replace("postgresql+psycopg://", "postgresql://"), autocommit=True
    ) as c:
        c.execute("VACUUM (ANALYZE)")
    return time.perf_counter() - t0


def pg_scalar(url: str, sql: str) -> Any:
    import psycopg

    with psycopg.connect(url.replace("postgresql+psycopg://", "postgresql://")) as c:
        return c.execute(sql).fetchone()[0]


class Analyzer:
    """ANALYZE the PostgreSQL database every `every` seconds while a phase runs, as
    autovacuum's autoanalyze would in production (this machine has autovacuum off). An
    ANALYZE also makes backends re-plan their cached statements (foreign-key checks too)."""

    def __init__(self, url: str, every: float) -> None:
        import threading

        self.url, self.every = url, every
        self.stop = threading.Event()
        self.runs: list[float] = []
        self.thread = threading.Thread(target=self._loop, daemon=True)

    def _loop(self) -> None:
        import psycopg

        with psycopg.connect(
            self.url.replace("postgresql+psycopg://", "postgresql://"), autocommit=True
        ) as c:
            while not self.stop.wait(self.every):
                t0 = time.perf_counter()
                c.execute("ANALYZE")
                self.runs.append(time.perf_counter() - t0)

    def __enter__(self) -> Self:
        if self.every > 0:
            self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        if self.thread.is_alive():
            self.thread.join()


def sqlite_checkpoint(path: Path) -> None:
    with sqlite3.connect(path) as c:
        c.execute("PRAGMA wal_checkpoint(TRUNCATE)")


def sqlite_copy(src: Path, dst: Path) -> None:
    sqlite_checkpoint(src)
    for suffix in ("", "-wal", "-shm"):
        Path(str(dst) + suffix).unlink(missing_ok=True)
    shutil.copyfile(src, dst)


# ---------------------------------------------------------------------------
# The child: one synchronize() in a fresh process
# ---------------------------------------------------------------------------


def proc_status() -> dict[str, int]:
    out: dict[str, int] = {}
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(("VmRSS:", "VmHWM:", "RssAnon:", "RssFile:")):
                k, v = line.split(":", 1)
                out[k.lower() + "_kib"] = int(v.split()[0])
    return out


class RssSampler:
    """Peak RssAnon / RssFile / RssShmem of this process, sampled every 20 ms.

    VmHWM gives the true peak of the total; the parts tell heap from memory-mapped
    database file (SQLite reads through a 1 GiB mmap, and mapped pages count in RSS).
    """

    def __init__(self) -> None:
        import threading

        self.peak: dict[str, int] = {}
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._loop, daemon=True)

    def _loop(self) -> None:
        while True:
            with open("/proc/self/status") as f:
                for line in f:
                    if line.startswith(("RssAnon:", "RssFile:", "RssShmem:")):
                        k, v = line.split(":", 1)
                        k = "peak_" + k.lower() + "_kib"
                        self.peak[k] = max(self.peak.get(k, 0), int(v.split()[0]))
            if self.stop.wait(0.02):
                return

    def __enter__(self) -> Self:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        self.thread.join()


def proc_io() -> dict[str, int]:
    out: dict[str, int] = {}
    try:
        with open("/proc/self/io") as f:
            for line in f:
                k, v = line.split(":", 1)
                if k in ("rchar", "wchar", "read_bytes", "write_bytes"):
                    out[k] = int(v)
    except OSError:
        pass
    return out


def proc_cpu(pid: int) -> float:
    """CPU seconds (user + system) of one process so far."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class BackendCpu:
    """CPU of the sync's own PostgreSQL backends (each connection's, read as it closes):
    unlike `postgres_cpu`, blind to other work on the same server (concurrent benchmarks)."""

    def __init__(self, engine: Any) -> None:
        from sqlalchemy import event

        self.seconds = 0.0
        self.backends = 0

        @event.listens_for(engine, "close")
        def _close(dbapi_conn: Any, _rec: Any) -> None:
            try:
                self.seconds += proc_cpu(dbapi_conn.info.backend_pid)
                self.backends += 1
            except OSError:  # a server on another host
                pass


def postgres_cpu() -> float:
    """CPU seconds of every process named postgres (the sync's backend is one of them)."""
    tck = os.sysconf("SC_CLK_TCK")
    total = 0.0
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            with open(f"/proc/{pid}/stat") as f:
                data = f.read()
        except OSError:
            continue
        name = data[data.find("(") + 1 : data.rfind(")")]
        if name.startswith("postgres"):
            fields = data.rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) / tck
    return total


class SqlTimer:
    """Time every statement on the DBAPI cursor, fetches included, by statement text."""

    def __init__(self) -> None:
        self.stats: dict[str, list[float]] = {}  # key -> [calls, rows, seconds]

    @staticmethod
    def key(sql: str) -> str:
        sql = " ".join(sql.split())
        return re.sub(r"\?(?:, \?)+", "?, …", re.sub(r"%s(?:, %s)+", "%s, …", sql))

    def add(self, sql: str, seconds: float, rows: int = 0, calls: int = 1) -> None:
        st = self.stats.get(sql)
        if st is None:
            k = self.key(sql)
            st = self.stats.setdefault(k, [0, 0, 0.0])
            self.stats[sql] = st  # raw text -> same list (aliases; deduplicated on output)
        st[0] += calls
        st[1] += rows
        st[2] += seconds

    def install(self, engine: Any) -> None:
        from sqlalchemy import event

        from scimgate.store import driver

        timer = self
        perf = time.perf_counter
        orig_execute, orig_executemany = driver.execute, driver.executemany

        class Timed:
            __slots__ = ("_c", "_sql")

            def __init__(self, cursor: Any, sql: str) -> None:
                self._c, self._sql = cursor, sql

            def __getattr__(self, name: str) -> Any:
                return getattr(self._c, name)

            def fetchall(self) -> Any:
                t = perf()
                rows = self._c.fetchall()
                timer.add(self._sql, perf() - t, len(rows), 0)
                return rows

            def fetchone(self) -> Any:
                t = perf()
                row = self._c.fetchone()
                timer.add(self._sql, perf() - t, 1 if row is not None else 0, 0)
                return row

            def __iter__(self) -> Any:
                return iter(self.fetchall())

        def execute(conn: Any, sql: str, params: Any = ()) -> Any:
            t = perf()
            cursor = orig_execute(conn, sql, params)
            timer.add(sql, perf() - t)
            return Timed(cursor, sql)

        def executemany(conn: Any, sql: str, rows: Any) -> None:
            t = perf()
            orig_executemany(conn, sql, rows)
            timer.add(sql, perf() - t, len(rows))

        driver.execute, driver.executemany = execute, executemany

        from scimgate.store import bulk

        orig_insert_rows = bulk.insert_rows

        def insert_rows(conn: Any, table: str, columns: Any, rows: Any) -> None:
            if conn.dialect.name != "postgresql":  # an executemany: timed as one
                orig_insert_rows(conn, table, columns, rows)
                return
            rows = list(rows)
            t = perf()
            orig_insert_rows(conn, table, columns, rows)
            timer.add(f"COPY {table} ({', '.join(columns)}) FROM STDIN", perf() - t, len(rows))

        bulk.insert_rows = insert_rows

        @event.listens_for(engine, "before_cursor_execute")
        def _before(conn, cursor, statement, params, context, executemany):
            conn.info["bench_t0"] = perf()

        @event.listens_for(engine, "after_cursor_execute")
        def _after(conn, cursor, statement, params, context, executemany):
            timer.add("[sqlalchemy] " + statement, perf() - conn.info.pop("bench_t0", perf()))

        dialect = engine.dialect
        orig_commit = dialect.do_commit

        def do_commit(dbapi_conn: Any) -> None:
            t = perf()
            orig_commit(dbapi_conn)
            timer.add("COMMIT", perf() - t)

        dialect.do_commit = do_commit

    def table(self) -> list[dict[str, Any]]:
        seen: set[int] = set()
        out = []
        for k, st in self.stats.items():
            if id(st) in seen:
                continue
            seen.add(id(st))
            out.append(
                {"sql": self.key(k), "calls": int(st[0]), "rows": int(st[1]), "seconds": st[2]}
            )
        out.sort(key=lambda r: -r["seconds"])
        return out


def time_passes() -> tuple[dict[str, list[float]], Callable[[str, float], None]]:
    """Wall-clock timers of the run's phases (inclusive; calls, seconds), fed by
    `SyncOptions.observe`; named as the engine's methods were (`_member_pass`), so that
    results stay comparable with older ones."""
    times: dict[str, list[float]] = {}

    def observe(name: str, seconds: float) -> None:
        st = times.setdefault(f"_{name}", [0, 0.0])
        st[0] += 1
        st[1] += seconds

    return times, observe


def child_main(spec: dict[str, Any]) -> None:
    mode = spec["mode"]  # measure | sqltrace | cprofile
    from scimgate.store.database import make_engine
    from scimgate.sync.engine import SyncOptions, synchronize

    engine = make_engine(spec["url"], pool=False)  # as `scimgate sync` makes it
    backend = BackendCpu(engine) if spec["url"].startswith("postgresql") else None
    timer = passes = observe = None
    if mode == "sqltrace":
        timer = SqlTimer()
        timer.install(engine)
        passes, observe = time_passes()
    # Code from before SyncOptions.observe (--code) runs untimed by pass.
    fields = getattr(SyncOptions, "__dataclass_fields__", {})
    hook = {"observe": observe} if observe is not None and "observe" in fields else {}
    prof = None
    if mode == "cprofile":
        import cProfile

        prof = cProfile.Profile()
    io0 = proc_io()
    before = proc_status()
    pg0 = postgres_cpu() if spec["url"].startswith("postgresql") else None
    ru0 = resource.getrusage(resource.RUSAGE_SELF)
    sampler = RssSampler() if mode == "measure" else None
    if sampler is not None:
        sampler.__enter__()
    t0 = time.perf_counter()
    if prof is not None:
        prof.enable()
    result = synchronize(
        engine,
        spec["account_id"],
        trigger="cli",
        dry_run=spec["phase"] == "plan",
        options=SyncOptions(batch_size=spec["batch_size"], **hook),
    )
    if prof is not None:
        prof.disable()
    wall = time.perf_counter() - t0
    if sampler is not None:
        sampler.__exit__()
    ru1 = resource.getrusage(resource.RUSAGE_SELF)
    pg1 = postgres_cpu() if pg0 is not None else None
    after = proc_status()
    io1 = proc_io()
    import scimgate

    out: dict[str, Any] = {
        "scimgate_from": str(Path(scimgate.__file__).parent),
        "status": result.status,
        "run_id": result.run_id,
        "counts": result.counts,
        "would_hold": result.would_hold,
        "detail": result.detail,
        "seconds": wall,
        "cpu_user_s": ru1.ru_utime - ru0.ru_utime,
        "cpu_sys_s": ru1.ru_stime - ru0.ru_stime,
        # VmHWM, not ru_maxrss: on Linux ru_maxrss survives execve and so starts at the
        # parent's RSS at fork time (the benchmark holds the whole workload).
        "peak_rss_kib": after.get("vmhwm_kib", ru1.ru_maxrss),
        "ru_maxrss_kib": ru1.ru_maxrss,
        **(sampler.peak if sampler is not None else {}),
        "rss_before_kib": before.get("vmrss_kib"),
        "hwm_before_kib": before.get("vmhwm_kib"),
        "end": after,
        "io": {k: io1[k] - io0.get(k, 0) for k in io1},  # /proc/self/io deltas (bytes)
    }
    if pg0 is not None:
        out["postgres_cpu_s"] = pg1 - pg0
    if backend is not None and backend.backends:
        out["backend_cpu_s"] = backend.seconds
    if timer is not None:
        out["sql"] = timer.table()
        out["passes"] = {k: {"calls": v[0], "seconds": v[1]} for k, v in passes.items()}
    if prof is not None:
        out["profile"] = profile_summary(prof, wall, spec.get("prof_path"))
    sys.stdout.write(json.dumps(out) + "\n")


def profile_summary(prof: Any, wall: float, path: str | None, top: int = 25) -> dict[str, Any]:
    import pstats

    if path:
        prof.dump_stats(path)
    st = pstats.Stats(prof)
    total = st.total_tt or wall  # type: ignore[attr-defined]

    def name(func: tuple[str, int, str]) -> str:
        filename, line, fn = func
        if filename == "~":
            return fn  # a builtin, e.g. <method 'execute' of 'sqlite3.Cursor' objects>
        p = filename
        for marker in ("/site-packages/", "/src/"):
            if marker in p:
                p = p.split(marker, 1)[1]
                break
        else:
            p = re.sub(r"^.*/lib/python3\.\d+/", "", p)
        return f"{p}:{line}({fn})"

    rows = []
    for func, (_cc, nc, tt, ct, _callers) in st.stats.items():  # type: ignore[attr-defined]
        rows.append({"func": name(func), "ncalls": nc, "tottime": tt, "cumtime": ct})
    by_tot = sorted(rows, key=lambda r: -r["tottime"])[:top]
    by_cum = sorted(
        (r for r in rows if "scimgate" in r["func"] or r["func"].startswith("<")),
        key=lambda r: -r["cumtime"],
    )[:top]
    for r in by_tot + by_cum:
        r["tot_share"] = r["tottime"] / total
        r["cum_share"] = r["cumtime"] / total
    return {"total_s": total, "by_tottime": by_tot, "by_cumtime": by_cum, "file": path}


def child_env(a: argparse.Namespace) -> dict[str, str] | None:
    """The children's environment: the code snapshot first on PYTHONPATH (see use_code)."""
    pythonpath = getattr(a, "child_pythonpath", None)
    return {**os.environ, "PYTHONPATH": pythonpath} if pythonpath else None


def run_child(
    url: str,
    aid: int,
    phase: str,
    a: argparse.Namespace,
    mode: str = "measure",
    prof_path: str | None = None,
) -> dict[str, Any]:
    spec = {
        "url": url,
        "account_id": aid,
        "phase": phase,
        "mode": mode,
        "batch_size": a.batch_size,
        "prof_path": prof_path,
    }
    t0 = time.perf_counter()
    try:
        proc = subprocess.run(
            [sys.executable, str(Path(__file__).resolve()), "--child", json.dumps(spec)],
            capture_output=True,
            text=True,
            check=False,
            timeout=a.phase_timeout,
            env=child_env(a),
        )
    except subprocess.TimeoutExpired:
        log(f"  {phase:<9} {mode:<8} TIMED OUT after {a.phase_timeout:.0f} s (child killed)")
        return {
            "status": "timeout",
            "seconds": time.perf_counter() - t0,
            "timeout_s": a.phase_timeout,
        }
    if proc.returncode != 0:
        raise RuntimeError(
            f"child {phase}/{mode} failed ({proc.returncode}):\n{proc.stderr[-4000:]}"
        )
    res = json.loads(proc.stdout.strip().splitlines()[-1])
    res["peak_rss_mib"] = res["peak_rss_kib"] / 1024
    c = res["counts"]
    log(
        f"  {phase:<9} {mode:<8} {res['seconds']:7.2f} s  peak RSS {res['peak_rss_mib']:6.0f} MiB  "
        f"{res['status']}: +{c['created']} ~{c['updated']} -{c['deactivated']} ={c['unchanged']} "
        f"err {c['errors']} teams +{c['teams_created']} memberships +{c['memberships_added']} -{c['memberships_removed']}"
    )
    return res


# ---------------------------------------------------------------------------
# Checks
# ---------------------------------------------------------------------------


def expected_counts(phase: str, w: Workload, changes: dict[str, Any] | None) -> dict[str, int]:
    zero = {
        "created": 0,
        "updated": 0,
        "deactivated": 0,
        "reactivated": 0,
        "unchanged": 0,
        "errors": 0,
        "teams_created": 0,
        "teams_renamed": 0,
        "teams_removed": 0,
        "memberships_added": 0,
        "memberships_removed": 0,
    }
    if phase in ("plan", "first"):
        return {
            **zero,
            "created": w.n,
            "teams_created": len(w.group_members),
            "memberships_added": w.memberships(),
        }
    if phase == "unchanged":
        return {**zero, "unchanged": w.n}
    assert changes is not None
    deact = changes["by_kind"]["deactivate"]
    upd = sum(changes["by_kind"].values()) - deact
    return {
        **zero,
        "updated": upd,
        "deactivated": deact,
        "unchanged": w.n - upd - deact,
        "memberships_added": changes["memberships_added"],
        "memberships_removed": changes["memberships_removed"],
    }


def check(res: dict[str, Any], want: dict[str, int], phase: str) -> list[str]:
    problems = []
    if res["status"] != ("planned" if phase == "plan" else "succeeded"):
        problems.append(f"status {res['status']} ({res.get('detail')})")
    for k, v in want.items():
        if res["counts"].get(k) != v:
            problems.append(f"{k} {res['counts'].get(k)} (expected {v})")
    return problems


# ---------------------------------------------------------------------------
# One database
# ---------------------------------------------------------------------------


def progress(url: str) -> dict[str, int]:
    """Rows written so far (after a timed-out phase)."""
    tables = ("member", "property_value", "team", "team_member", "sync_item")
    if url.startswith("sqlite"):
        with sqlite3.connect(url.removeprefix("sqlite:///")) as c:
            return {t: c.execute(f"SELECT count(*) FROM {t}").fetchone()[0] for t in tables}
    return {t: pg_scalar(url, f"SELECT count(*) FROM {t}") for t in tables}


def pg_auto_explain(a: argparse.Namespace, ms: float) -> None:
    """Log the plans of statements slower than `ms`, nested ones (foreign-key checks) too."""
    for setting in (
        "session_preload_libraries = 'auto_explain'",
        f"auto_explain.log_min_duration = '{ms}ms'",
        "auto_explain.log_nested_statements = on",
    ):
        subprocess.run(
            pg_cmd(a, "psql", "-d", a.pg_db, "-Atc", f"ALTER DATABASE {a.pg_db} SET {setting}"),
            check=True,
            capture_output=True,
        )


def run_db(
    db: str, a: argparse.Namespace, w: Workload, changes: dict[str, Any], workdir: Path
) -> dict[str, Any]:
    from scimgate.store.database import migrate

    out: dict[str, Any] = {"database": db, "phases": {}, "checks": {}}
    workdir.mkdir(parents=True, exist_ok=True)
    if db == "sqlite":
        path = workdir / "sync.db"
        url = f"sqlite:///{path}"
    else:
        url = pg_create(a)
        if a.pg_auto_explain is not None:
            pg_auto_explain(a, a.pg_auto_explain)
    try:
        migrate(url)
        log(
            f"[{db}] seeding {w.n:,} users and {len(w.group_members):,} groups ({w.memberships():,} memberships)"
        )
        seeded = (seed_account_bulk if a.seeder == "bulk" else seed_account)(url, w)
        aid = seeded["account_id"]
        if a.group_rules:
            add_group_rules(url, aid, seeded["group_ids"], a.group_rules)
        out["seed"] = {k: v for k, v in seeded.items() if k != "group_ids"}
        log(f"[{db}] seeded in {seeded['seconds_total']:.0f} s")
        if db == "postgres" and a.pg_analyze:
            out["seed"]["vacuum_analyze_s"] = round(pg_vacuum_analyze(url), 1)
        if db == "postgres" and a.profile:
            subprocess.run(
                pg_cmd(a, "dropdb", "--if-exists", "--force", f"{a.pg_db}_trace"), check=True
            )
            subprocess.run(pg_cmd(a, "createdb", "-T", a.pg_db, f"{a.pg_db}_trace"), check=True)
        if db == "sqlite":
            sqlite_copy(path, workdir / "seeded.db")
            out["seed"]["db_file_mib"] = round(path.stat().st_size / 2**20, 1)
        else:
            out["seed"]["db_size_mib"] = round(
                pg_scalar(url, "SELECT pg_database_size(current_database())") / 2**20, 1
            )
        phases = (["plan"] if a.plan else []) + ["first", "unchanged", "changed"]
        for phase in phases:
            if phase == "changed":
                secs = apply_changes(url, aid, w, changes, seeded["group_ids"])
                out["changes_applied_s"] = round(secs, 1)
                log(f"[{db}] applied the 1 % change set in {secs:.1f} s")
            if db == "postgres" and a.pg_analyze and phase in ("unchanged", "changed"):
                pg_vacuum_analyze(url)
            every = a.pg_analyze_every if db == "postgres" and a.pg_analyze else 0
            with Analyzer(url, every) as analyzer:
                res = run_child(url, aid, phase, a)
            if analyzer.runs:
                res["pg_analyze_runs"] = len(analyzer.runs)
                res["pg_analyze_s"] = round(sum(analyzer.runs), 2)
            out["phases"][phase] = res
            if res["status"] == "timeout":
                res["progress"] = progress(url)
                out["checks"][phase] = [
                    f"timed out after {a.phase_timeout:.0f} s: {res['progress']}"
                ]
                log(f"[{db}] {phase}: progress at the timeout: {res['progress']}")
                if phase != "plan":
                    # Finish the job in a new process (not measured) so the next phases run
                    # on the state they expect; a killed run's lease is taken over.
                    with Analyzer(url, every):
                        res["completed_by"] = run_child(url, aid, phase, a, mode="measure")
                    if res["completed_by"]["status"] == "timeout":
                        log(f"[{db}] {phase}: the completing run timed out too: stopping here")
                        break
                    res["completed_by"]["problems"] = check(res["completed_by"], {}, phase)
                continue
            want = expected_counts(phase, w, changes)
            if a.group_rules and phase == "changed":  # moved memberships in ruled groups
                want = {k: v for k, v in want.items() if k not in ("updated", "unchanged")}
            problems = check(res, want, phase)
            out["checks"][phase] = problems
            if problems:
                log(f"[{db}] {phase}: CHECK FAILED: {'; '.join(problems)}")
        if db == "sqlite":
            out["db_file_mib_end"] = round(path.stat().st_size / 2**20, 1)
            if a.profile:
                out["profile"] = profile_sqlite(a, workdir, aid)
        else:
            out["db_size_mib_end"] = round(
                pg_scalar(url, "SELECT pg_database_size(current_database())") / 2**20, 1
            )
            if a.profile:
                out["profile"] = profile_pg(a, aid)
    finally:
        if db == "postgres" and not a.keep_pg:
            pg_drop(a)
            subprocess.run(
                pg_cmd(a, "dropdb", "--if-exists", "--force", f"{a.pg_db}_trace"),
                check=False,
                capture_output=True,
            )
    return out


def profile_pg(a: argparse.Namespace, aid: int) -> dict[str, Any]:
    """first + unchanged under the SQL timer on a copy of the seeded database (createdb -T)."""
    url = pg_url(a).rsplit("/", 1)[0] + f"/{a.pg_db}_trace"
    prof: dict[str, Any] = {}
    for phase in ("first", "unchanged"):
        if phase == "unchanged" and a.pg_analyze:
            pg_vacuum_analyze(url)
        every = a.pg_analyze_every if a.pg_analyze else 0
        with Analyzer(url, every):
            res = run_child(url, aid, phase, a, mode="sqltrace")
        prof[phase] = {"sqltrace": res}
        if res["status"] == "timeout":
            break
    return prof


def profile_sqlite(a: argparse.Namespace, workdir: Path, aid: int) -> dict[str, Any]:
    """first + unchanged on copies of the seeded database: SQL timer, then cProfile."""
    prof: dict[str, Any] = {}
    for mode in ("sqltrace", "cprofile"):
        copy = workdir / f"profile-{mode}.db"
        sqlite_copy(workdir / "seeded.db", copy)
        url = f"sqlite:///{copy}"
        for phase in ("first", "unchanged"):
            prof_path = None
            if mode == "cprofile" and a.keep_profiles:
                RESULTS.mkdir(parents=True, exist_ok=True)
                prof_path = str(RESULTS / f"sync-{phase}-sqlite.prof")
            res = run_child(url, aid, phase, a, mode=mode, prof_path=prof_path)
            prof.setdefault(phase, {})[mode] = res
    return prof


# ---------------------------------------------------------------------------
# Report
# ---------------------------------------------------------------------------


def machine_facts(a: argparse.Namespace) -> dict[str, Any]:
    facts: dict[str, Any] = {
        "date": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "nproc": os.cpu_count(),
        "python": platform.python_version(),
        "sqlite": sqlite3.sqlite_version,
        "platform": platform.platform(),
    }
    try:
        with open("/proc/meminfo") as f:
            facts["mem_total_gib"] = round(int(f.readline().split()[1]) / 2**20, 1)
    except OSError:
        pass
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    facts["cpu"] = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    with open("/proc/loadavg") as f:
        facts["loadavg_at_start"] = f.read().split()[:3]
    return facts


def fmt_counts(c: dict[str, int]) -> str:
    from scimgate.sync.engine import COUNT_KEYS  # the run's counts, in the engine's order

    parts = [f"{k} {c[k]:,}" for k in COUNT_KEYS if c.get(k)]
    return ", ".join(parts) or "nothing"


def verdict(phase: str, res: dict[str, Any], users: int = 100_000) -> str:
    """Against the targets, which are for 100,000 users: times scale with the account
    (1,000,000 users: first sync ≤ 200 s), memory does not (the run streams in batches)."""
    if phase not in TARGETS:
        return "–"
    secs, mib = TARGETS[phase]
    secs *= max(1.0, users / 100_000)
    ok_t = res["seconds"] <= secs
    bits = [f"{'✅' if ok_t else '❌'} ≤ {secs:g} s"]
    if mib is not None:
        ok_m = res["peak_rss_mib"] <= mib
        bits.append(f"{'✅' if ok_m else '❌'} ≤ {mib:g} MiB")
    return ", ".join(bits)


def short_sql(sql: str, n: int = 110) -> str:
    sql = sql.replace("|", "\\|")
    return sql if len(sql) <= n else sql[: n - 1] + "…"


def render_profile(doc: dict[str, Any], db: str, prof: dict[str, Any]) -> list[str]:
    L = [f"## Profile ({db})", ""]
    L.append(
        "On a copy of the seeded database. *SQL timer*: every statement on the DBAPI cursor "
        "(`driver.execute`/`executemany` and SQLAlchemy Core), its fetches and COMMIT included, grouped by "
        "text (`?, …` = an IN list); share = of the run's wall time."
        + (
            " *cProfile*: self (tottime) and cumulative time, share of the profiled total "
            "(cProfile slows Python code ~1.5×, not the database)."
            if db == "sqlite"
            else " PostgreSQL: SQL timer only (the time is in the server)."
        )
    )
    L.append("")
    for phase in ("first", "unchanged"):
        ph = prof.get(phase)
        if not ph or ph["sqltrace"].get("status") == "timeout":
            continue
        tr, cp = ph["sqltrace"], ph.get("cprofile")
        wall = tr["seconds"]
        sql_total = sum(x["seconds"] for x in tr["sql"])
        L.append(f"### {phase} sync ({db})")
        L.append("")
        L.append(
            f"Wall {wall:.2f} s under the SQL timer (untraced run: "
            f"{doc['databases'][db]['phases'][phase]['seconds']:.2f} s); SQL incl. fetch and COMMIT "
            f"{sql_total:.2f} s ({sql_total / wall:.0%}), the rest Python. "
            "Passes (inclusive wall time): "
            + ", ".join(
                f"`{k}` {v['seconds']:.2f} s ({v['seconds'] / wall:.0%})"
                for k, v in sorted(tr["passes"].items(), key=lambda kv: -kv[1]["seconds"])
                if v["seconds"] >= 0.005
            )
            + "."
        )
        L.append("")
        L.append("| SQL (text start) | calls | rows | seconds | share |")
        L.append("|---|---:|---:|---:|---:|")
        for x in tr["sql"][:8]:
            L.append(
                f"| `{short_sql(x['sql'])}` | {x['calls']:,} | {x['rows']:,} | {x['seconds']:.2f} | {x['seconds'] / wall:.0%} |"
            )
        L.append("")
        if not cp:
            continue
        L.append(f"cProfile total {cp['profile']['total_s']:.2f} s.")
        L.append("")
        L.append(
            "| function (self time) | calls | tottime s | share | | function (cumulative, scimgate) | cumtime s | share |"
        )
        L.append("|---|---:|---:|---:|---|---|---:|---:|")
        tot, cum = cp["profile"]["by_tottime"][:10], cp["profile"]["by_cumtime"][:10]
        for i in range(max(len(tot), len(cum))):
            a_ = tot[i] if i < len(tot) else None
            b_ = cum[i] if i < len(cum) else None
            left = (
                f"`{a_['func']}` | {a_['ncalls']:,} | {a_['tottime']:.2f} | {a_['tot_share']:.0%}"
                if a_
                else " | | |"
            )
            right = (
                f"`{b_['func']}` | {b_['cumtime']:.2f} | {b_['cum_share']:.0%}" if b_ else " | |"
            )
            L.append(f"| {left} | | {right} |")
        L.append("")
    return L


def render(doc: dict[str, Any]) -> str:
    m, p = doc["meta"], doc["params"]
    L = ["# Synchronize benchmark", ""]
    L.append(
        f"{m['date']} · {m['nproc']} cores ({m.get('cpu', '?')}), {m.get('mem_total_gib', '?')} GiB · "
        f"Python {m['python']} · SQLite {m['sqlite']} · {m.get('postgres', 'PostgreSQL not run')} · "
        f"code `{m['git']}`" + (f" ({m['subject']})" if m.get("subject") else "")
    )
    L.append("")
    L.append(
        f"Workload: {p['users']:,} staged Entra-shaped users ({p['with_manager']:,} with a manager), "
        f"{p['groups']:,} groups, {p['memberships']:,} memberships (sizes {p['group_min']}–{p['group_max']}, "
        f"median {p['group_median']}); 5 mapped Properties (Job title, Department, Manager, Employee number, City); "
        f"batch size {p['batch_size']}. Each phase is one `synchronize()` in a fresh process "
        f"(peak RSS = the child's `VmHWM`). Changed phase: {p['changed_users']:,} users PATCHed "
        f"({', '.join(f'{k} {v}' for k, v in p['changed_by_kind'].items())}) and "
        f"{p['memberships_added'] + p['memberships_removed']:,} memberships "
        f"(+{p['memberships_added']} −{p['memberships_removed']}). "
        + (
            f"PostgreSQL (autovacuum is off on this machine): `VACUUM (ANALYZE)` after seeding and before each "
            f"later phase, and `ANALYZE` every {p['pg_analyze_every']:g} s during each phase, as autovacuum would. "
            if p.get("pg_analyze")
            else ("PostgreSQL: no VACUUM/ANALYZE at all (cold statistics). " if p.get("pg") else "")
        )
        + f"Seed `{p['seed']}`."
    )
    L.append("")
    L.append(
        "| phase | database | seconds | peak RSS MiB | CPU s (Python + PostgreSQL backend) | counts | target | check |"
    )
    L.append("|---|---|---:|---:|---:|---|---|---|")
    for phase in ("plan", "first", "unchanged", "changed"):
        for db, r in doc["databases"].items():
            res = r["phases"].get(phase)
            if res is None:
                continue
            probs = r["checks"].get(phase) or []
            if res["status"] == "timeout":
                prog = ", ".join(f"{k} {v:,}" for k, v in res.get("progress", {}).items())
                done = res.get("completed_by")
                tail = (
                    f"; an unmeasured run then finished it in {done['seconds']:.0f} s"
                    if done and done.get("status") == "succeeded"
                    else ""
                )
                L.append(
                    f"| {phase} | {db} | > {res['timeout_s']:.0f} | – | – | timed out (child killed); rows by then: "
                    f"{prog}{tail} | ❌ | ❌ timed out |"
                )
                continue
            cpu = f"{res['cpu_user_s'] + res['cpu_sys_s']:.1f}"
            if "backend_cpu_s" in res:  # the sync's own backend
                cpu += f" + {res['backend_cpu_s']:.1f} backend"
            elif "postgres_cpu_s" in res:  # every postgres process (older results)
                cpu += f" + {res['postgres_cpu_s']:.1f} pg"
            L.append(
                f"| {phase} | {db} | {res['seconds']:.2f} | {res['peak_rss_mib']:.0f} | {cpu} | "
                f"{res['status']}: {fmt_counts(res['counts'])} | {verdict(phase, res, p['users'])} | "
                f"{'ok' if not probs else '❌ ' + '; '.join(probs)} |"
            )
    L.append("")
    for db, r in doc["databases"].items():
        s = r.get("seed", {})
        size = s.get("db_file_mib") or s.get("db_size_mib")
        before = r["phases"].get("first", {}).get("rss_before_kib") or 0
        parts = "; ".join(
            f"{ph} anon {res.get('peak_rssanon_kib', 0) / 1024:.0f} + file {res.get('peak_rssfile_kib', 0) / 1024:.0f}"
            for ph, res in r["phases"].items()
            if "peak_rssanon_kib" in res
        )
        L.append(
            f"- {db}: seeded in {s.get('seconds_total')} s ({s.get('seeder', 'scim')} seeder; "
            f"database {size} MiB after seeding, "
            f"{r.get('db_file_mib_end') or r.get('db_size_mib_end')} MiB at the end); changes applied in "
            f"{r.get('changes_applied_s')} s; peak RSS parts, MiB (heap `RssAnon` + mapped files `RssFile`, "
            f"sampled every 20 ms): {parts}; RSS before `synchronize()` (imports) "
            f"{before / 1024:.0f} MiB."
            + (
                f" ANALYZE ran {sum(x.get('pg_analyze_runs', 0) for x in r['phases'].values())} times during the phases."
                if db == "postgres"
                else ""
            )
        )
    L.append("")
    for db in ("sqlite", "postgres"):
        prof = doc["databases"].get(db, {}).get("profile")
        if prof:
            L += render_profile(doc, db, prof)
    L.append("## Reproduce")
    L.append("")
    L.append("```sh")
    cmd = doc["command"]
    if "--code" not in cmd and m.get("code", "").startswith("git archive"):
        cmd += f" --code {m['git']}   # the commit measured here; without --code: HEAD"
    L.append(cmd)
    L.append("```")
    L.append("")
    return "\n".join(L)


# ---------------------------------------------------------------------------
# main
# ---------------------------------------------------------------------------


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--users", type=int, help="staged users (default 100000; --smoke 2000)")
    p.add_argument(
        "--groups", type=int, help="groups, average 50 members (default 1000; --smoke 20)"
    )
    p.add_argument(
        "--smoke", action="store_true", help="2,000 users and 20 groups, SQLite, runs in seconds"
    )
    p.add_argument(
        "--db", choices=["sqlite", "postgres", "both"], help="default both (--smoke: sqlite)"
    )
    p.add_argument(
        "--out",
        help="markdown results path (JSON beside it); default "
        "benchmarks/results/sync-latest.md (--smoke: sync-smoke.md)",
    )
    p.add_argument("--seed", type=int, default=20261130)
    p.add_argument(
        "--group-rules",
        type=int,
        default=0,
        help="this many group rules on the first groups (3 Properties); default none",
    )
    p.add_argument(
        "--batch-size", type=int, default=1000, help="SyncOptions.batch_size (default 1000)"
    )
    p.add_argument("--no-plan", dest="plan", action="store_false", help="skip the dry-run phase")
    p.add_argument(
        "--no-profile", dest="profile", action="store_false", help="skip the SQLite profiles"
    )
    p.add_argument(
        "--keep-profiles",
        action="store_true",
        help="write the cProfile dumps to benchmarks/results/sync-*-sqlite.prof",
    )
    p.add_argument(
        "--no-pg-analyze",
        dest="pg_analyze",
        action="store_false",
        help="on PostgreSQL, no VACUUM (ANALYZE) after seeding and between phases, "
        "and no ANALYZE during the phases (the cold state)",
    )
    p.add_argument(
        "--pg-analyze-every",
        type=float,
        default=15.0,
        help="on PostgreSQL, ANALYZE every this many seconds during each phase, as "
        "autovacuum would (default 15; 0: never during a phase)",
    )
    p.add_argument("--pg-host", default="127.0.0.1")
    p.add_argument("--pg-port", type=int, default=5432)
    p.add_argument("--pg-user", default="postgres")
    p.add_argument(
        "--pg-db", default="sg_bench_sync", help="made with createdb, dropped at the end"
    )
    p.add_argument("--keep-pg", action="store_true", help="do not drop the PostgreSQL database")
    p.add_argument(
        "--pg-auto-explain",
        type=float,
        metavar="MS",
        help="log (server log) the plans of statements slower than MS, foreign-key checks included",
    )
    p.add_argument(
        "--phase-timeout",
        type=float,
        default=900.0,
        help="kill a sync child after this many seconds (default 900); the phase is then "
        "finished by an unmeasured run so that the next phases can run",
    )
    p.add_argument("--keep-workdir", action="store_true", help="keep the SQLite files")
    p.add_argument(
        "--code",
        default="HEAD",
        help="the commit to benchmark, exported with git archive (default HEAD), "
        "or 'worktree' for the work tree as it is",
    )
    p.add_argument(
        "--seeder",
        choices=["bulk", "scim"],
        default="bulk",
        help="bulk: the staging rows the SCIM API would store, written by COPY/executemany "
        "(default); scim: through the SCIM code path, one insert_resource per user (slow at 1M)",
    )
    p.add_argument(
        "--check-seeders",
        action="store_true",
        help="seed 600 users both ways (SQLite), compare every staging row, and exit",
    )
    p.add_argument("--render", metavar="JSON", help="only re-write the markdown of a results JSON")
    p.add_argument("--child", help=argparse.SUPPRESS)
    a = p.parse_args(argv)
    if a.users is None:
        a.users = 2_000 if a.smoke else 100_000
    if a.groups is None:
        a.groups = 20 if a.smoke else 1_000
    if a.db is None:
        a.db = "sqlite" if a.smoke else "both"
    if a.out is None:
        a.out = str(RESULTS / ("sync-smoke.md" if a.smoke else "sync-latest.md"))
    return a


def main(argv: list[str] | None = None) -> int:
    a = parse_args(argv)
    if a.child:
        child_main(json.loads(a.child))
        return 0
    if a.check_seeders:
        with tempfile.TemporaryDirectory(prefix="scimgate-bench-sync-") as tmp:
            problems = check_seeders(Path(tmp))
        log("seeders agree" if not problems else "seeders differ: " + "; ".join(problems))
        return 1 if problems else 0
    if a.render:
        src = Path(a.render)
        src.with_suffix(".md").write_text(render(json.loads(src.read_text())))
        return 0
    out_md = Path(a.out)
    out_json = out_md.with_suffix(".json")
    t0 = time.perf_counter()
    log(f"workload: {a.users:,} users, {a.groups:,} groups, seed {a.seed}")
    w = Workload(a.users, a.groups, a.seed)
    changes = plan_changes(w, a.seed)
    sizes = sorted(len(g) for g in w.group_members)
    meta = machine_facts(a)
    dbs = ["sqlite", "postgres"] if a.db == "both" else [a.db]
    if "postgres" in dbs:
        try:
            meta["postgres"] = (
                "PostgreSQL "
                + subprocess.run(
                    pg_cmd(a, "psql", "-d", "postgres", "-Atc", "SHOW server_version"),
                    capture_output=True,
                    text=True,
                    check=True,
                )
                .stdout.strip()
                .split()[0]
            )
        except (OSError, subprocess.CalledProcessError):
            meta["postgres"] = "PostgreSQL ?"
    argv_shown = " ".join(sys.argv[1:]) if argv is None else " ".join(argv)
    doc: dict[str, Any] = {
        "meta": meta,
        "params": {
            "users": a.users,
            "groups": a.groups,
            "memberships": w.memberships(),
            "group_min": sizes[0] if sizes else 0,
            "group_max": sizes[-1] if sizes else 0,
            "group_median": sizes[len(sizes) // 2] if sizes else 0,
            "with_manager": sum(1 for x in w.manager if x is not None),
            "batch_size": a.batch_size,
            "seed": a.seed,
            "changed_users": len(changes["user_patches"]),
            "changed_by_kind": changes["by_kind"],
            "memberships_added": changes["memberships_added"],
            "memberships_removed": changes["memberships_removed"],
            "pg_analyze": a.pg_analyze and "postgres" in dbs,
            "pg_analyze_every": a.pg_analyze_every,
            "pg": "postgres" in dbs,
            "seeder": a.seeder,
            "group_rules": a.group_rules,
        },
        "targets": {k: {"seconds": v[0], "peak_rss_mib": v[1]} for k, v in TARGETS.items()},
        "command": f".venv/bin/python benchmarks/bench_sync.py {argv_shown}".strip(),
        "databases": {},
    }
    workdir = Path(tempfile.mkdtemp(prefix="scimgate-bench-sync-"))
    meta.update(use_code(a, workdir))
    log(f"code: {meta['code']} ({meta.get('subject', meta['git'])})")

    def write() -> None:
        doc["total_seconds"] = round(time.perf_counter() - t0, 1)
        out_md.parent.mkdir(parents=True, exist_ok=True)
        out_json.write_text(json.dumps(doc, indent=1) + "\n")
        out_md.write_text(render(doc))

    try:
        for db in dbs:
            doc["databases"][db] = run_db(db, a, w, changes, workdir / db)
            write()  # a database's results survive a failure of the next one
    finally:
        if a.keep_workdir:
            log(f"kept {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)
    with open("/proc/loadavg") as f:
        meta["loadavg_at_end"] = f.read().split()[:3]
    write()
    log(f"wrote {out_md} and {out_json} ({doc['total_seconds']:.0f} s)")
    failed = [
        f"{db} {ph}" for db, r in doc["databases"].items() for ph, pr in r["checks"].items() if pr
    ]
    if failed:
        log("count checks failed: " + ", ".join(failed))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
