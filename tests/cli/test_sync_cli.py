"""The command-line contract of members, Properties, teams, mapping and Synchronize, through
the installed `scimgate` console script (a real process, SCIMGATE_DATABASE_URL).

Staged users get in through the SCIM API (the `scim` fixture's TestClient) on the same
database; the commands then run as an admin would run them. Commands that do not depend
on each other run side by side to keep the suite quick.
"""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import make_url, text
from typer.testing import CliRunner

from scimgate.cli import app
from scimgate.mapping import service as mapping
from scimgate.store import database
from tests.helpers.sync import ACME, ENT, create_group, create_user, delete_user, set_active

pytestmark = pytest.mark.process

SCIMGATE = str(Path(sys.executable).with_name("scimgate"))
MEMBER_KEYS = {"email", "name", "status", "source", "properties"}
COUNT_KEYS = {"created", "updated", "deactivated", "reactivated", "unchanged", "errors"}


@dataclass
class Result:
    code: int
    out: str
    err: str

    def json(self) -> Any:
        """stdout is exactly one JSON document on one line."""
        assert self.code == 0, self.err
        assert self.out.endswith("\n") and self.out.count("\n") == 1, self.out
        return json.loads(self.out)

    def ok(self) -> Result:
        assert self.code == 0, (self.out, self.err)
        assert "Traceback" not in self.err
        return self

    def error(self) -> str:
        """Exit 1, nothing on stdout, exactly one line on stderr, no traceback."""
        assert self.code == 1, (self.code, self.out, self.err)
        assert self.out == ""
        assert "Traceback" not in self.err
        lines = self.err.strip().splitlines()
        assert len(lines) == 1, self.err
        assert lines[0].startswith("error: ")
        return lines[0]


class Cli:
    def __init__(self, database_url: str, cwd: Path) -> None:
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("SCIMGATE_")}
        self.env["SCIMGATE_DATABASE_URL"] = database_url
        self.cwd = cwd

    def _start(self, args: tuple[str, ...]) -> subprocess.Popen[str]:
        return subprocess.Popen(
            [SCIMGATE, *args],
            env=self.env,
            cwd=self.cwd,  # no .env file here
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )

    def __call__(self, *args: str) -> Result:
        return self.many(args)[0]

    def many(self, *commands: tuple[str, ...]) -> list[Result]:
        """Run independent commands at the same time; results in order.

        At most one of them writes, so that what each sees does not depend on the order
        the processes get the database in. Reads, and commands refused before they write,
        go along with it.
        """
        procs = [self._start(c) for c in commands]
        results = []
        for p in procs:
            out, err = p.communicate(timeout=120)
            results.append(Result(p.returncode, out, err))
        return results


@pytest.fixture
def cli(database_url: str, tmp_path: Path) -> Cli:
    return Cli(database_url, tmp_path)


# ---- members, Properties, attribute mapping ----


@pytest.mark.slow
def test_member_add_and_list_json(scim, cli):
    slug = scim.slug
    added, bad = cli.many(
        ("member", "add", slug, "ada@example.com", "--name", "Ada Lovelace"),
        ("member", "add", slug, "not-an-email"),
    )
    assert "added member ada@example.com" in added.ok().out
    assert "'not-an-email' is not an email address" in bad.error()
    cli("member", "add", slug, "grace@example.com").ok()
    duplicate, listed, searched = cli.many(
        ("member", "add", slug, "ADA@example.com"),
        ("member", "list", slug, "--json"),
        ("member", "list", slug, "--json", "--search", "grace", "--source", "manual"),
    )
    assert "already exists" in duplicate.error()
    rows = listed.json()
    assert isinstance(rows, list) and len(rows) == 2
    for row in rows:
        assert row.keys() >= MEMBER_KEYS
        assert row["status"] == "active" and row["source"] == "manual"
        assert row["properties"] == {}
    by_email = {r["email"]: r for r in rows}
    assert by_email["ada@example.com"]["name"] == "Ada Lovelace"
    assert by_email["grace@example.com"]["name"] == "grace"  # default: before the @
    assert [r["email"] for r in searched.json()] == ["grace@example.com"]


@pytest.mark.slow
def test_property_create_each_type_list_and_errors(scim, cli):
    slug = scim.slug
    refused = [
        ("property", "create", slug, "Shoe size", "--type", "colour"),
        ("property", "create", slug, "Tier", "--type", "select"),
        ("property", "create", slug, "Note", "--type", "text", "--option", "A"),
    ]
    creates = [
        ("Nickname", "text", []),
        ("Cost center", "number", []),
        ("Hired", "date", []),
        ("Remote", "boolean", []),
        ("Buddy", "member", []),
        ("Level", "select", ["--option", "Junior", "--option", "Senior"]),
    ]
    messages = []
    for i, (name, kind, options) in enumerate(creates):
        # each create alongside a command that is refused before it writes
        created, *others = cli.many(
            ("property", "create", slug, name, "--type", kind, *options), *refused[i : i + 1]
        )
        assert f"created Property {name!r} ({kind})" in created.ok().out
        messages += [r.error() for r in others]
    duplicate, listed = cli.many(
        ("property", "create", slug, "level", "--type", "text"),  # case-insensitive
        ("property", "list", slug, "--json"),
    )
    assert "A Property named 'level' already exists" in duplicate.error()
    assert "Unknown Property type 'colour'" in messages[0]
    assert "needs at least one --option" in messages[1]
    assert "only select Properties have options" in messages[2]
    listed = {p["name"]: p for p in listed.json()}
    assert {n: p["type"] for n, p in listed.items()} == {
        "Nickname": "text",
        "Cost center": "number",
        "Hired": "date",
        "Remote": "boolean",
        "Level": "select",
        "Buddy": "member",
        # installed with provisioning
        "Job title": "text",
        "Department": "text",
        "Manager": "member",
    }
    assert listed["Level"]["options"] == ["Junior", "Senior"]
    assert listed["Nickname"]["options"] == [] and listed["Nickname"]["mapped_from"] is None
    assert listed["Job title"]["mapped_from"] == "title"


@pytest.mark.slow
def test_mapping_set_list_preview_remove(scim, cli, engine):
    slug = scim.slug
    create_user(scim, "ada@example.com", displayName="Ada", **{ACME: {"costCenter": "1,234"}})
    path = f"{ACME}:costCenter"
    created, unknown = cli.many(
        ("property", "create", slug, "Cost center", "--type", "number"),
        ("mapping", "set", slug, "Shoe size", "title"),
    )
    created.ok()
    assert "No member field or Property named 'Shoe size'" in unknown.error()
    mapped, bad_path, never_sent = cli.many(
        ("mapping", "set", slug, "Cost center", path),
        ("mapping", "set", slug, "Cost center", "bad[["),
        ("mapping", "set", slug, "Cost center", f"{ACME}:neverSent"),
    )
    assert f"Cost center <- {path}" in mapped.ok().out
    assert "not a SCIM path" in bad_path.error()
    assert "no staged user has this attribute" in never_sent.error()
    cli("mapping", "set", slug, "name", "nickName || displayName").ok()
    listed, preview = cli.many(
        ("mapping", "list", slug, "--json"), ("mapping", "preview", slug, "--json")
    )
    rows = {m["target"]: m for m in listed.json()}
    shown = cli("mapping", "list", slug).ok().out
    assert f"<- {path}, else {rows['Cost center']['fallback']} (the IdP extension)" in shown
    assert rows["Cost center"] == {
        "target": "Cost center",
        "kind": "property",
        "type": "number",
        "source": path,
        "fallback": "urn:ietf:params:scim:schemas:extension:scimgate:2.0:User:costCenter",
        "property_id": rows["Cost center"]["property_id"],
        "implicit": False,
    }
    assert rows["Cost center"]["property_id"]
    assert rows["name"] == {
        "target": "name",
        "kind": "field",
        "type": "name",
        "source": "nickName || displayName",
        "fallback": None,
        "property_id": None,
        "implicit": False,
    }
    (sample,) = preview.json()
    assert sample["userName"] == "ada@example.com"
    assert sample["values"]["Cost center"] == 1234
    assert sample["values"]["name"] == "Ada"  # no nickName: the fallback
    assert sample["errors"] == {}
    assert (
        "Cost center is no longer mapped" in cli("mapping", "remove", slug, "Cost center").ok().out
    )
    unmapped = cli("mapping", "remove", slug, "Cost center").error()
    assert "'Cost center' is not mapped: it is filled from the IdP extension" in unmapped
    with engine.connect() as conn:
        left = {m["target"]: m for m in mapping.list_mappings(conn, scim.account_id)}
    assert left["Cost center"]["implicit"] is True  # back to its attribute in the extension


# ---- Synchronize ----


def stage(scim) -> dict[str, str]:
    """Four staged users (one with a manager staged after it) and two groups."""
    ids = {}
    ids["ada"] = create_user(
        scim, "ada@example.com", displayName="Ada", title="Engineer", **{ENT: {"department": "R&D"}}
    )
    ids["boss"] = create_user(scim, "boss@example.com", displayName="The Boss")
    ids["bob"] = create_user(
        scim, "bob@example.com", displayName="Bob", **{ENT: {"manager": {"value": ids["boss"]}}}
    )
    ids["eve"] = create_user(scim, "eve@example.com", displayName="Eve")
    create_group(scim, "Engineering", [ids["ada"], ids["bob"]])
    create_group(scim, "Everyone", list(ids.values()))
    return ids


@pytest.mark.slow
def test_sync_dry_run_apply_and_idempotence(scim, cli, engine):
    slug = scim.slug
    stage(scim)
    manual, unknown = cli.many(
        ("member", "add", slug, "EVE@example.com", "--name", "Eve by hand"),
        ("sync", "ghost", "--json"),
    )
    manual.ok()
    assert "No account with slug 'ghost'" in unknown.error()

    plan_text, plan_json = cli.many(
        ("sync", slug, "--dry-run"), ("sync", slug, "--dry-run", "--json")
    )
    assert plan_text.ok().out.startswith("plan: planned: 3 created, 1 updated, 0 deactivated")
    assert "teams 2 created" in plan_text.out and "memberships +6 -0" in plan_text.out
    plan = plan_json.json()
    assert plan["run_id"] is None and plan["status"] == "planned"
    assert plan.keys() >= COUNT_KEYS
    assert (plan["created"], plan["updated"], plan["errors"]) == (3, 1, 0)  # eve is linked
    assert plan["teams_created"] == 2 and plan["memberships_added"] == 6
    with engine.connect() as conn:  # a plan writes nothing
        assert conn.execute(text("SELECT COUNT(*) FROM sync_run")).scalar_one() == 0
        assert conn.execute(text("SELECT COUNT(*) FROM team")).scalar_one() == 0

    applied = cli("sync", slug, "--json").json()
    assert applied["status"] == "succeeded" and isinstance(applied["run_id"], int)
    assert {k: applied[k] for k in COUNT_KEYS} == {k: plan[k] for k in COUNT_KEYS}
    assert applied["teams_created"] == 2 and applied["memberships_added"] == 6

    again, members, teams = cli.many(
        ("sync", slug, "--json"),
        ("member", "list", slug, "--json"),
        ("team", "list", slug, "--json"),
    )
    by_email = {m["email"]: m for m in members.json()}
    assert len(by_email) == 4  # eve linked, not duplicated
    assert by_email["eve@example.com"]["source"] == "scim"
    assert by_email["eve@example.com"]["name"] == "Eve"
    assert by_email["ada@example.com"]["properties"] == {
        "Job title": "Engineer",
        "Department": "R&D",
    }
    assert by_email["bob@example.com"]["properties"] == {"Manager": "boss@example.com"}
    teams = teams.json()
    assert all({"name", "members"} <= t.keys() for t in teams)
    assert {t["name"]: t["members"] for t in teams} == {
        "Engineering": ["ada@example.com", "bob@example.com"],
        "Everyone": ["ada@example.com", "bob@example.com", "boss@example.com", "eve@example.com"],
    }
    again = again.json()
    assert again["status"] == "succeeded" and again["run_id"] > applied["run_id"]
    assert again["unchanged"] == 4
    changes = {k: v for k, v in again.items() if k.endswith(("ed", "errors")) and k != "unchanged"}
    assert len(changes) == 10 and set(changes.values()) == {0}, again

    listed, as_json, items = cli.many(
        ("sync-runs", slug),
        ("sync-runs", slug, "--json"),
        ("sync-runs", slug, "--run", str(applied["run_id"]), "--json"),
    )
    lines = listed.ok().out.strip().splitlines()
    assert len(lines) == 2
    assert lines[0].split()[0] == str(again["run_id"]) and " succeeded " in lines[0]
    assert lines[1].split()[0] == str(applied["run_id"]) and " +3 ~1 " in lines[1]
    runs = as_json.json()
    assert [r["id"] for r in runs] == [again["run_id"], applied["run_id"]]
    assert all(r["trigger"] == "cli" and r["status"] == "succeeded" for r in runs)
    assert runs[1]["counts"]["created"] == 3
    kinds = [(i["kind"], i["action"]) for i in items.json()]
    assert kinds.count(("member", "create")) == 3 and kinds.count(("team", "create")) == 2


@pytest.mark.slow
def test_held_run_is_applied_with_confirm(scim, cli, engine):
    slug = scim.slug
    ids = [create_user(scim, f"user{i:02d}@example.com") for i in range(20)]
    assert cli("sync", slug, "--json").json()["created"] == 20
    for user_id in ids[:6]:
        set_active(scim, user_id, "False")
    for user_id in ids[6:12]:
        delete_user(scim, user_id)

    r, dry_confirm = cli.many(
        ("sync", slug, "--json"), ("sync", slug, "--dry-run", "--confirm", "1")
    )
    held = r.json()
    assert held["status"] == "held" and held["deactivated"] == 12
    assert "would deactivate 12 of 20" in held["detail"]
    assert f"Confirm with: scimgate sync {slug} --confirm {held['run_id']}" in r.err
    assert "do not go together" in dry_confirm.error()
    with engine.connect() as conn:  # held: nothing applied
        active = "SELECT COUNT(*) FROM member WHERE status = 'active'"
        assert conn.execute(text(active)).scalar_one() == 20

    r = cli("sync", slug, "--confirm", str(held["run_id"]), "--json")
    applied = r.json()
    assert applied["status"] == "succeeded" and applied["run_id"] == held["run_id"]
    assert applied["deactivated"] == 12
    deactivated, runs, twice = cli.many(
        ("member", "list", slug, "--json", "--status", "deactivated"),
        ("sync-runs", slug, "--json"),
        ("sync", slug, "--confirm", str(held["run_id"]), "--json"),
    )
    assert len(deactivated.json()) == 12
    assert [r["status"] for r in runs.json()] == ["succeeded", "succeeded"]
    assert f"Run {held['run_id']} is succeeded, not held" in twice.error()


@pytest.mark.slow
def test_sync_settings_show_change_and_validate(scim, cli):
    slug = scim.slug
    changed, *refused = cli.many(
        ("sync-settings", slug, "--time", "06:30", "--timezone", "Europe/Paris", "--json"),
        ("sync-settings", slug, "--time", "25:00"),
        ("sync-settings", slug, "--timezone", "Mars/Olympus_Mons"),
        ("sync-settings", slug, "--hold-percent", "101"),
    )
    messages = [r.error() for r in refused]
    assert "'25:00' is not a time of day" in messages[0]
    assert "'Mars/Olympus_Mons' is not an IANA time zone" in messages[1]
    assert "0-100" in messages[2]
    changed = changed.json()
    assert changed["time"] == "06:30" and changed["timezone"] == "Europe/Paris"
    assert changed["daily"] is True and changed["hold_percent"] == 10
    assert changed["next_run_at"][11:16] in ("04:30", "05:30")  # 06:30 in Paris, in UTC
    assert changed["next_run_at"].endswith(":00Z")  # ISO 8601 in UTC, as /api/v1 writes it
    off = cli("sync-settings", slug, "--no-daily").ok().out
    assert off.startswith("daily sync off: no run is scheduled; ") and "hold above 10%" in off
    assert "next run" not in off
    assert cli("sync-settings", slug, "--json").json()["next_run_at"] is None
    on = cli("sync-settings", slug, "--daily").ok().out
    assert "daily at 06:30 Europe/Paris; next run 20" in on and on.count("Z;") == 1


# ---- SQLite: another writer holds the lock ----

ON_SQLITE = not os.environ.get("SCIMGATE_TEST_DATABASE_URL")


@contextmanager
def sqlite_write_lock(database_url: str) -> Iterator[None]:
    """Hold SQLite's write lock, as a running sync does between its commits."""
    holder = sqlite3.connect(make_url(database_url).database, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    try:
        yield
    finally:
        holder.execute("ROLLBACK")
        holder.close()


@pytest.mark.slow
@pytest.mark.skipif(not ON_SQLITE, reason="SQLite locking")
def test_a_cli_write_waits_for_the_sqlite_write_lock(scim, cli, database_url):
    """While another writer (a sync, a SCIM request) holds the lock, `member add` waits for it
    (busy timeout 30 s) and then succeeds. Regression: the CLI read, then wrote, in a
    deferred transaction, whose lock upgrade fails at once with SQLITE_BUSY ("database error
    (OperationalError): is the database reachable and migrated?")."""
    path = os.path.realpath(make_url(database_url).database)
    with sqlite_write_lock(database_url):
        proc = cli._start(("member", "add", scim.slug, "ada@example.com"))
        deadline = time.monotonic() + 30
        while not _has_open(proc.pid, path):  # it has reached the database
            assert proc.poll() is None, proc.communicate()
            assert time.monotonic() < deadline
            time.sleep(0.01)
        time.sleep(0.5)
        assert proc.poll() is None, proc.communicate()  # still waiting for the lock
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    assert "added member ada@example.com" in out


def _has_open(pid: int, path: str) -> bool:
    """Whether process `pid` has the file open (Linux /proc)."""
    fd_dir = f"/proc/{pid}/fd"
    try:
        return any(os.path.realpath(os.path.join(fd_dir, fd)) == path for fd in os.listdir(fd_dir))
    except OSError:
        return False


@pytest.fixture
def short_busy_timeout(monkeypatch):
    """SQLite waits 30 s for a lock; the same failure after 0.2 s."""
    original = database._sqlite_pragmas

    def pragmas(dbapi_connection, record):
        original(dbapi_connection, record)
        dbapi_connection.execute("PRAGMA busy_timeout=200")

    monkeypatch.setattr(database, "_sqlite_pragmas", pragmas)


@pytest.mark.slow
@pytest.mark.skipif(not ON_SQLITE, reason="SQLite locking")
def test_a_sync_that_cannot_get_the_sqlite_lock_fails_in_one_line(
    scim, database_url, monkeypatch, short_busy_timeout
):
    """Regression: the driver's own sqlite3.OperationalError (BEGIN IMMEDIATE is issued on the
    DBAPI connection) got past cli.guarded as a traceback. In process (CliRunner) to shorten
    the 30 s busy timeout."""
    create_user(scim, "ada@example.com")
    monkeypatch.setenv("SCIMGATE_DATABASE_URL", database_url)
    with sqlite_write_lock(database_url):
        r = CliRunner().invoke(app, ["sync", scim.slug, "--json"])
    assert r.exit_code == 1
    assert r.exception is None or isinstance(r.exception, SystemExit), repr(r.exception)
    assert r.stdout == ""
    assert r.stderr.startswith("error: database error") and "database is locked" in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1
