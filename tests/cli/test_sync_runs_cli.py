"""`scimgate sync-runs`: every item of a run can be read, a page at a time or all at once,
and the command says how many more there are and how to see them."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from scimgate.cli import app
from tests.helpers.sync import create_user, sync


@pytest.fixture
def cli(database_url, monkeypatch):
    monkeypatch.setenv("SCIMGATE_DATABASE_URL", database_url)
    runner = CliRunner()
    return lambda *args: runner.invoke(app, list(args))


def ok(result):
    assert result.exit_code == 0, (result.stdout, result.stderr)
    assert "Traceback" not in result.stderr
    return result


def test_the_items_of_a_run_are_paged_and_say_how_many_more(scim, engine, cli):
    """Regression: `sync-runs --run N` stopped at 20 items and did not say there were more."""
    for i in range(23):
        create_user(scim, f"user{i:02d}@example.com")
    create_user(scim, "dup@example.com", emails=[{"type": "work", "value": "user05@example.com"}])
    run = str(sync(engine, scim.account_id).run_id)
    slug = scim.slug

    first = ok(cli("sync-runs", slug, "--run", run))
    assert len(first.stdout.strip().splitlines()) == 20
    assert first.stderr.strip() == (
        f"items 1-20 of 24; the next 4: scimgate sync-runs {slug} --run {run} --offset 20 "
        "(or --all for every one)"
    )
    rest = ok(cli("sync-runs", slug, "--run", run, "--offset", "20"))
    assert len(rest.stdout.strip().splitlines()) == 4 and rest.stderr == ""
    every = json.loads(ok(cli("sync-runs", slug, "--run", run, "--all", "--json")).stdout)
    assert [i["seq"] for i in every] == list(range(1, 25))

    (error,) = json.loads(ok(cli("sync-runs", slug, "--run", run, "--errors", "--json")).stdout)
    used = "the e-mail user05@example.com is already used by directory user"
    # whichever of the two sorts first keeps the email
    assert error["error"] in (
        f"{used} Dup (dup@example.com)",
        f"{used} User05 (user05@example.com)",
    )
    created = json.loads(
        ok(cli("sync-runs", slug, "--run", run, "--show", "created", "--all", "--json")).stdout
    )
    assert len(created) == 24 and all(i["action"] == "create" for i in created)
    found = json.loads(
        ok(cli("sync-runs", slug, "--run", run, "--search", "USER1", "--json")).stdout
    )
    assert sorted(i["label"] for i in found) == [
        f"User{i} (user{i}@example.com)" for i in range(10, 20)
    ]

    bad = cli("sync-runs", slug, "--run", run, "--show", "sideways")
    assert bad.exit_code == 1 and bad.stdout == "" and "show: one of" in bad.stderr
    missing = cli("sync-runs", slug, "--run", "999")
    assert missing.exit_code == 1 and "No sync run 999" in missing.stderr


def test_the_run_list_says_how_to_see_older_runs(scim, engine, cli):
    create_user(scim, "ada@example.com")
    ids = [sync(engine, scim.account_id).run_id for _ in range(3)]
    page = ok(cli("sync-runs", scim.slug, "--limit", "2"))
    assert [line.split()[0] for line in page.stdout.strip().splitlines()] == [
        str(ids[2]),
        str(ids[1]),
    ]
    assert page.stderr.strip() == f"older runs: scimgate sync-runs {scim.slug} --before {ids[1]}"
    older = ok(cli("sync-runs", scim.slug, "--limit", "2", "--before", str(ids[1]), "--json"))
    assert [r["id"] for r in json.loads(older.stdout)] == [ids[0]] and older.stderr == ""
