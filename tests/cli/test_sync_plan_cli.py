"""`scimgate sync SLUG --dry-run`: the plan's changes with their notes (a group rule's
value), as text (the first 20, then how many more) and as JSON (the /api/v1 dry run's
document), bounded as the API's plan is."""

from __future__ import annotations

import dataclasses
import json

import pytest
from typer.testing import CliRunner

from scimgate.cli import app
from scimgate.group_rules import service as rules
from scimgate.sync import engine as sync_engine
from scimgate.sync import plan_cache
from scimgate.sync.engine import SyncOptions
from tests.helpers.sync import add_property, create_group, create_user

NOTE = "Role = Admin: from group Engineering-Admins"


@pytest.fixture
def cli(database_url, monkeypatch):
    monkeypatch.setenv("SCIMGATE_DATABASE_URL", database_url)
    runner = CliRunner()

    def run(*args):
        return runner.invoke(app, [str(a) for a in args])

    return run


def ok(result):
    assert result.exit_code == 0, (result.stdout, result.stderr)
    return result.stdout


@pytest.fixture
def ruled(scim, engine):
    """Ada and Bob staged, Ada in Engineering-Admins, whose members get Role = Admin."""
    ada = create_user(scim, "ada@example.com", displayName="Ada")
    create_user(scim, "bob@example.com", displayName="Bob")
    create_group(scim, "Engineering-Admins", [ada])
    add_property(engine, scim.account_id, "Role", "select", ["Admin", "Viewer"])
    with engine.begin() as conn:
        rules.add_rule(
            conn, scim.account_id, group="Engineering-Admins", prop="Role", value="Admin"
        )
    return scim


def without_ids(items):
    """Items without the ids a plan makes up for members it would create."""
    return [{k: v for k, v in i.items() if k != "subject_id"} for i in items]


def test_the_json_plan_has_the_api_plan_with_its_notes(cli, ruled, engine):
    doc = json.loads(ok(cli("sync", ruled.slug, "--dry-run", "--json")))
    # the keys it always had, and those of POST /api/v1/sync-runs {"dry_run": true}
    assert doc["run_id"] is None and doc["status"] == "planned" and doc["created"] == 2
    assert doc["counts"]["created"] == 2 and doc["would_hold"] is False
    assert doc["items_total"] == len(doc["items"]) == 3  # 2 members, 1 team
    ada = next(i for i in doc["items"] if i["label"] == "Ada (ada@example.com)")
    assert ada["action"] == "create" and ada["changes"]["Role"] == [None, "Admin"]
    assert ada["notes"] == [NOTE]
    with engine.connect() as conn:  # the shaping is the API's own
        plan = plan_cache.dry_run(engine, conn, ruled.account_id, options=SyncOptions())
    api_doc = json.loads(json.dumps(plan.plan_json()))
    assert doc.keys() >= api_doc.keys()
    assert {k: doc[k] for k in api_doc if k != "items"} == {
        k: v for k, v in api_doc.items() if k != "items"
    }
    assert without_ids(doc["items"]) == without_ids(api_doc["items"])


def test_the_text_plan_lists_changes_with_notes(cli, ruled):
    lines = ok(cli("sync", ruled.slug, "--dry-run")).splitlines()
    assert lines[0].startswith("plan: planned: 2 created, 0 updated")
    ada = next(n for n, line in enumerate(lines) if "Ada (ada@example.com)" in line)
    assert " member create " in lines[ada] and "Role: None -> Admin" in lines[ada]
    assert lines[ada + 1].strip() == f"note: {NOTE}"
    assert len(lines) == 1 + 3 + 1  # the counts, three items, one note
    assert not any("more" in line for line in lines)

    limited = ok(cli("sync", ruled.slug, "--dry-run", "--limit", 1)).splitlines()
    assert len([line for line in limited if line[:6].strip().isdigit()]) == 1
    assert limited[-1] == (
        f"  … 2 more: scimgate sync {ruled.slug} --dry-run --limit 3 lists them all (--json too)"
    )
    doc = json.loads(ok(cli("sync", ruled.slug, "--dry-run", "--json", "--limit", 1)))
    assert len(doc["items"]) == 1 and doc["items_total"] == 3


def test_a_plan_larger_than_it_keeps_says_so(cli, scim, monkeypatch):
    """A plan keeps its first `sample_items` items (200, the API's too); the rest are counted."""
    for n in range(6):
        create_user(scim, f"u{n}@example.com")
    made = SyncOptions.from_settings

    def keeping_three(settings):
        return dataclasses.replace(made(settings), sample_items=3)

    monkeypatch.setattr(sync_engine.SyncOptions, "from_settings", staticmethod(keeping_three))
    doc = json.loads(ok(cli("sync", scim.slug, "--dry-run", "--json")))
    assert len(doc["items"]) == 3 and doc["items_total"] == 6
    lines = ok(cli("sync", scim.slug, "--dry-run", "--limit", 2)).splitlines()
    assert lines[-1] == (
        f"  … 4 more: scimgate sync {scim.slug} --dry-run --limit 3 lists the first 3 "
        "(--json too); Synchronize applies every one"
    )
    lines = ok(cli("sync", scim.slug, "--dry-run")).splitlines()
    assert lines[-1] == "  … 3 more: a plan lists its first 3; Synchronize applies every one"


def test_limit_goes_with_dry_run(cli, scim):
    r = cli("sync", scim.slug, "--limit", 5)
    assert r.exit_code == 1 and r.stdout == ""
    assert r.stderr.strip() == "error: --limit goes with --dry-run (the changes of a plan listed)"
    assert cli("sync", scim.slug, "--dry-run", "--limit", 0).exit_code == 2  # typer's range
