"""`scimgate event-prune`: the retention prune of serve's hourly sweep, run now for one
account or all of them, with a dry run that counts what the prune deletes."""

import json

import pytest
from typer.testing import CliRunner

from scimgate.cli import app
from scimgate.webhooks import retention
from tests.helpers.webhooks import add_members, all_events, backdate, last_seq


@pytest.fixture
def cli(database_url, monkeypatch):
    monkeypatch.setenv("SCIMGATE_DATABASE_URL", database_url)
    runner = CliRunner()

    def run(*args):
        return runner.invoke(app, list(args))

    return run


def seqs(engine, account_id):
    return [e["seq"] for e in all_events(engine, account_id)]


@pytest.fixture
def two_accounts(engine, make_account, monkeypatch):
    """a keeps 30 days, b 90; both have 7 events 40 days old and 2 new ones."""
    monkeypatch.setattr(retention, "BATCH", 2)  # the prune's transactions: 2 events each
    made = {}
    for slug in ("a", "b"):
        _, _, account_id = make_account(slug)
        add_members(engine, account_id, slug, 7)
        old = last_seq(engine, account_id)
        backdate(engine, account_id, old, 40)
        add_members(engine, account_id, slug + "new", 2)
        made[slug] = (account_id, old)
    with engine.begin() as conn:
        retention.set_retention(conn, made["a"][0], 30)
    return made


def test_a_dry_run_counts_what_the_prune_then_deletes(cli, engine, two_accounts):
    a, old = two_accounts["a"]
    before = seqs(engine, a)
    r = cli("event-prune", "a", "--dry-run", "--json")
    assert r.exit_code == 0, r.output
    [row] = json.loads(r.stdout)
    assert row["account"] == "a" and row["dry_run"] is True
    assert (row["retention_days"], row["pruned"], row["oldest_after"]) == (30, old, old)
    assert seqs(engine, a) == before  # nothing deleted

    r = cli("event-prune", "a")
    assert r.exit_code == 0, r.output
    assert r.stdout == (
        f"a: pruned {old} events older than 30 days; the feed starts after event {old}\n"
    )
    assert seqs(engine, a) == [s for s in before if s > old]  # all of them, 2 at a time
    with engine.connect() as conn:
        assert retention.settings_of(conn, a)["oldest_after"] == old
    # b keeps 90 days: untouched.
    b, _ = two_accounts["b"]
    assert len(seqs(engine, b)) == last_seq(engine, b)

    r = cli("event-prune", "a", "--dry-run")
    assert r.exit_code == 0, r.output
    assert (
        r.stdout
        == f"a: would prune 0 events older than 30 days; the feed starts after event {old}\n"
    )


def test_all_accounts_in_id_order(cli, engine, two_accounts):
    b, b_old = two_accounts["b"]
    backdate(engine, b, b_old, 100)  # now b's old events are outside its 90 days too
    a, a_old = two_accounts["a"]
    r = cli("event-prune", "--all", "--dry-run")
    assert r.exit_code == 0, r.output
    assert r.stdout.splitlines() == [
        f"a: would prune {a_old} events older than 30 days; the feed would start after event {a_old}",
        f"b: would prune {b_old} events older than 90 days; the feed would start after event {b_old}",
        f"would prune {a_old + b_old} events in all",
    ]
    r = cli("event-prune", "--all", "--json")
    assert r.exit_code == 0, r.output
    rows = json.loads(r.stdout)
    assert [(x["account"], x["pruned"], x["dry_run"]) for x in rows] == [
        ("a", a_old, False),
        ("b", b_old, False),
    ]
    assert rows[0]["cutoff"].endswith("Z")
    assert seqs(engine, a)[0] == a_old + 1 and seqs(engine, b)[0] == b_old + 1
    r = cli("event-prune", "--all")
    assert r.stdout.splitlines()[-1] == "pruned 0 events in all"


@pytest.mark.parametrize(
    "args, message",
    [
        ((), "name one account or give --all"),
        (("a", "--all"), "name one account or give --all"),
        (("ghost",), "No account"),
    ],
)
def test_errors_are_one_line(cli, make_account, args, message):
    make_account("a")
    r = cli("event-prune", *args)
    assert r.exit_code == 1
    assert message in r.stderr and len(r.stderr.splitlines()) == 1
    assert r.stdout == ""
