"""`scimgate provisioning profile SLUG [--json]`: the account's identity-provider profile."""

import json
from datetime import UTC, datetime

import pytest
from typer.testing import CliRunner

from scimgate.accounts.lookup import account_by_slug
from scimgate.cli import app
from scimgate.provisioning import idp_profile
from scimgate.store.database import make_engine


@pytest.fixture
def cli(database_url, monkeypatch):
    monkeypatch.setenv("SCIMGATE_DATABASE_URL", database_url)
    runner = CliRunner()
    return lambda *args: runner.invoke(app, list(args))


def test_profile_of_an_entra_account_and_of_a_quiet_one(cli, database_url):
    for slug in ("entra1", "quiet1"):
        assert cli("account", "create", slug, "--entitled").exit_code == 0
    engine = make_engine(database_url)
    with engine.connect() as conn:
        entra_id = account_by_slug(conn, "entra1")["id"]
    at = datetime(2026, 12, 7, 10, 0, tzinfo=UTC)
    rows = [
        {"account_id": entra_id, "habit": code, "count": 2, "first_seen": at, "last_seen": at}
        for code in ("capitalised_ops", "string_booleans")
    ]
    idp_profile.add_counts(engine, [{**r, "sample": None} for r in rows])
    engine.dispose()

    r = cli("provisioning", "profile", "entra1", "--json")
    assert r.exit_code == 0, r.output
    found = json.loads(r.stdout)
    assert found["headline"] == "Microsoft Entra ID (without aadOptscim062020 flag)"
    assert found["since"] == "2026-12-07T10:00:00Z"
    assert {h["code"] for h in found["habits"]} == {"capitalised_ops", "string_booleans"}
    text = cli("provisioning", "profile", "entra1").stdout
    assert text.startswith("Connected IdP: Microsoft Entra ID (without aadOptscim062020 flag)")
    quiet = json.loads(cli("provisioning", "profile", "quiet1", "--json").stdout)
    assert quiet["idp"] is None and quiet["habits"] == []


def test_unknown_account_is_one_line_and_exit_1(cli):
    r = cli("provisioning", "profile", "ghost")
    assert r.exit_code == 1 and "No account" in r.output and r.output.count("\n") == 1
