"""The command-line contract of product.md: outputs, JSON, exit codes, one-line errors."""

import json
import os
import subprocess
import sys

import pytest
from typer.testing import CliRunner

from scimgate.cli import app


@pytest.fixture
def cli(database_url, monkeypatch):
    monkeypatch.setenv("SCIMGATE_DATABASE_URL", database_url)
    monkeypatch.setenv("SCIMGATE_PUBLIC_URL", "https://idp.example.test/")
    runner = CliRunner()

    def run(*args):
        return runner.invoke(app, list(args))

    return run


def test_account_entitlement_and_activation(cli):
    assert cli("account", "create", "acme", "--name", "Acme Inc").exit_code == 0
    r = cli("provisioning", "activate", "acme", "--json")
    assert r.exit_code == 1
    assert "ask your operator to entitle" in r.stderr
    assert r.stdout == ""
    assert cli("account", "entitle", "acme").exit_code == 0
    r = cli("provisioning", "activate", "acme", "--json")
    assert r.exit_code == 0, r.stderr
    doc = json.loads(r.stdout)
    assert doc["tenant_url"] == "https://idp.example.test/scim/v2"
    assert doc["token"].startswith("sgp_") and len(doc["token"]) > 40


def test_tokens_issue_list_revoke(cli):
    cli("account", "create", "acme", "--entitled")
    first = json.loads(cli("provisioning", "activate", "acme", "--json").stdout)
    second = json.loads(cli("token", "issue", "acme", "--name", "rotation", "--json").stdout)
    listed = json.loads(cli("token", "list", "acme", "--json").stdout)
    assert [t["id"] for t in listed] == [second["id"], first["token_id"]]
    assert all("hash" not in key for t in listed for key in t)
    assert all(first["token"] not in json.dumps(t) for t in listed)
    assert cli("token", "revoke", "acme", str(first["token_id"])).exit_code == 0
    r = cli("token", "revoke", "acme", str(first["token_id"]))
    assert r.exit_code == 1 and "No live token" in r.stderr
    assert "revoked" in cli("token", "list", "acme").stdout


@pytest.mark.parametrize(
    "args, message",
    [
        (("account", "create", "Bad Slug"), "slug"),
        (("account", "entitle", "ghost"), "No account"),
        (("provisioning", "activate", "ghost"), "No account"),
        (("token", "list", "ghost"), "No account"),
        (("token", "revoke", "ghost", "notanumber"), ""),
    ],
)
def test_errors_are_one_line_and_exit_non_zero(cli, args, message):
    r = cli(*args)
    assert r.exit_code != 0
    assert "Traceback" not in r.output
    assert message in r.stderr
    if message:
        assert len(r.stderr.strip().splitlines()) == 1


def test_duplicate_account_is_a_clear_error(cli):
    cli("account", "create", "acme")
    r = cli("account", "create", "acme")
    assert r.exit_code == 1 and "already exists" in r.stderr


def test_unreachable_database_is_one_line(tmp_path):
    env = {**os.environ, "SCIMGATE_DATABASE_URL": "postgresql+psycopg://nobody@127.0.0.1:1/none"}
    r = subprocess.run(
        [sys.executable, "-m", "scimgate", "account", "create", "x"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert r.returncode == 1
    assert r.stderr.count("\n") == 1 and "database" in r.stderr and "Traceback" not in r.stderr


def test_demo_without_serving(cli):
    r = cli("demo", "--no-serve")
    assert r.exit_code == 0, r.output
    assert "Tenant URL:    https://idp.example.test/scim/v2" in r.stdout
    assert "Secret Token:  sgp_" in r.stdout
