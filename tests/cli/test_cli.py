"""The command-line contract of product.md: outputs, JSON, exit codes, one-line errors."""

import json
import os
import re
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


@pytest.mark.process
def test_unreachable_database_is_one_line(tmp_path):
    env = {**os.environ, "SCIMGATE_DATABASE_URL": "postgresql+psycopg://nobody@127.0.0.1:1/none"}
    r = subprocess.run(
        [sys.executable, "-m", "scimgate", "account", "create", "x"],
        env=env,
        capture_output=True,
        check=False,
        text=True,
        timeout=60,
    )
    assert r.returncode == 1
    assert r.stderr.count("\n") == 1 and "database" in r.stderr and "Traceback" not in r.stderr


def test_demo_prints_the_address_it_serves_on(cli, monkeypatch, tmp_path):
    """Without SCIMGATE_PUBLIC_URL the Tenant URL follows --host/--port (it said 8000)."""
    monkeypatch.delenv("SCIMGATE_PUBLIC_URL")
    monkeypatch.chdir(tmp_path)  # no .env from the developer's checkout
    r = cli("demo", "--no-serve", "--port", "8765")
    assert r.exit_code == 0, r.output
    assert "Tenant URL:    http://127.0.0.1:8765/scim/v2" in r.stdout
    assert "http://127.0.0.1:8765/console/login?account=demo" in r.stdout


def test_demo_without_serving(cli):
    r = cli("demo", "--no-serve")
    assert r.exit_code == 0, r.output
    assert "Tenant URL:    https://idp.example.test/scim/v2" in r.stdout
    assert "Secret Token:  sgp_" in r.stdout
    login = re.search(r"Console login: account demo, email (\S+), password (\S+)", r.stdout)
    assert login and "/console/login?account=demo" in r.stdout
    assert "not shown again" in r.stderr
    token = re.search(r"Secret Token:  (sgp_\S+)", r.stdout).group(1)
    from scimgate.accounts import service as accounts
    from scimgate.admins import service as admins
    from scimgate.store.database import make_engine

    engine = make_engine(os.environ["SCIMGATE_DATABASE_URL"], pool=False)

    def still_works() -> None:
        with engine.begin() as conn:
            assert admins.sign_in(conn, "demo", login.group(1), login.group(2))[0]
            assert accounts.authenticate(conn, token) is not None

    still_works()
    # A re-run (`make run` again) finds the account: no new token, the same password.
    again = cli("demo", "--no-serve")
    assert again.exit_code == 0, again.output
    assert "was set up before" in again.stdout and "sgp_" + token[4:] not in again.stdout
    assert f"live ({token[:12]}…), printed when it was made" in again.stdout
    assert "password as printed on the first run" in again.stdout
    assert "scimgate token issue demo" in again.stderr
    assert f"scimgate admin password demo {login.group(1)}" in again.stderr
    still_works()
    tokens = cli("token", "list", "demo", "--json")
    assert len([t for t in json.loads(tokens.stdout) if t["revoked_at"] is None]) == 1
    # Every token revoked: the next run makes one (and only that).
    token_id = json.loads(tokens.stdout)[0]["id"]
    assert cli("token", "revoke", "demo", str(token_id)).exit_code == 0
    third = cli("demo", "--no-serve")
    assert re.search(r"Secret Token:  sgp_\S+", third.stdout)
    assert "what no longer worked is made again" in third.stdout
    # Provisioning deactivated: the next run activates it again with a new token.
    assert cli("provisioning", "deactivate", "demo").exit_code == 0
    fourth = cli("demo", "--no-serve")
    fresh = re.search(r"Secret Token:  (sgp_\S+)", fourth.stdout).group(1)
    with engine.begin() as conn:
        assert accounts.authenticate(conn, fresh) is not None
    assert "password as printed on the first run" in third.stdout
    engine.dispose()


def test_admin_create_list_password(cli):
    cli("account", "create", "acme")
    runner_input = "correct horse battery\n"
    r = CliRunner().invoke(
        app, ["admin", "create", "acme", "Ann@Acme.example", "--password-stdin"], input=runner_input
    )
    assert r.exit_code == 0, r.stderr
    assert (
        "created admin Ann@Acme.example" in r.stdout and "/console/login?account=acme" in r.stdout
    )
    listed = json.loads(cli("admin", "list", "acme", "--json").stdout)
    assert [a["email"] for a in listed] == ["Ann@Acme.example"]
    assert all("hash" not in key for a in listed for key in a)
    for args, stdin, message in [
        (
            ["admin", "create", "acme", "ann@acme.example", "--password-stdin"],
            runner_input,
            "already exists",
        ),
        (
            ["admin", "create", "acme", "bob@acme.example", "--password-stdin"],
            "short\n",
            "at least 12",
        ),
        (["admin", "create", "acme", "not-an-email", "--password-stdin"], runner_input, "email"),
        (
            ["admin", "create", "ghost", "bob@acme.example", "--password-stdin"],
            runner_input,
            "No account",
        ),
        (["admin", "create", "acme", "bob@acme.example"], "", "--password-stdin"),
        (
            ["admin", "password", "acme", "nobody@acme.example", "--password-stdin"],
            runner_input,
            "No admin",
        ),
    ]:
        r = CliRunner().invoke(app, args, input=stdin)
        assert r.exit_code == 1, args
        assert message in r.stderr and len(r.stderr.strip().splitlines()) == 1, r.stderr
    r = CliRunner().invoke(
        app,
        ["admin", "password", "acme", "ann@acme.example", "--password-stdin"],
        input="another good password\n",
    )
    assert r.exit_code == 0, r.stderr
