"""`scimgate group-rule add|set|list|remove`: the command-line contract (one stderr line and
exit 1 on error; --json is one document), audited as the OS user."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from scimgate.audit import service as audit
from scimgate.cli import app
from tests.helpers.sync import create_group, create_user, member_docs, sync


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


def error(result):
    """Exit 1, nothing on stdout, one line on stderr."""
    assert result.exit_code == 1, (result.exit_code, result.stdout, result.stderr)
    assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    return lines[0]


def test_add_list_set_remove(scim, engine, cli):
    ada = create_user(scim, "ada@example.com")
    create_group(scim, "Engineering-Admins", [ada])
    ok(cli("property", "create", scim.slug, "Role", "--type", "select",
           "--option", "Admin", "--option", "Viewer"))  # fmt: skip
    out = ok(cli("group-rule", "add", scim.slug, "Engineering-Admins", "Role", "admin",
                 "--priority", 5, "--json"))  # fmt: skip
    rule = json.loads(out)
    assert (rule["group_name"], rule["property_name"], rule["value"], rule["priority"]) == (
        "Engineering-Admins",
        "Role",
        "Admin",
        5,
    )
    listed = ok(cli("group-rule", "list", scim.slug))
    assert (
        listed.rstrip("\n")
        == f"{rule['id']:>5}  members of Engineering-Admins get Role = Admin (priority 5)"
    )
    assert json.loads(ok(cli("group-rule", "list", scim.slug, "--json")))[0]["id"] == rule["id"]
    sync(engine, scim.account_id)
    assert member_docs(engine, scim.account_id)["ada@example.com"]["properties"] == {
        "Role": "Admin"
    }

    out = ok(cli("group-rule", "set", scim.slug, rule["id"], "--value", "Viewer"))
    assert "Role = Viewer" in out
    assert ok(cli("group-rule", "remove", scim.slug, rule["id"])).startswith(
        f"removed rule {rule['id']}"
    )
    assert ok(cli("group-rule", "list", scim.slug)) == ""
    with engine.connect() as conn:
        entries = audit.list_page(conn, scim.account_id, limit=10)[0]
    rule_entries = [
        (e["action"], e["actor"]) for e in entries if e["action"].startswith("group_rule")
    ]
    assert [a for a, _actor in rule_entries] == [
        "group_rule.removed",
        "group_rule.changed",
        "group_rule.added",
    ]
    assert all(actor.startswith("cli:") for _a, actor in rule_entries)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("Nobody", "Role", "Admin"), "No staged group 'Nobody'"),
        (("Admins", "Nothing", "Admin"), "No Property 'Nothing'"),
        (("Admins", "Role", "Owner"), "Role:"),
        (("Admins", "Role", "Admin", "--priority", "-3"), "priority is 0-1000000"),
    ],
)
def test_errors_are_one_line(scim, cli, args, message):
    create_group(scim, "Admins", [create_user(scim, "ada@example.com")])
    ok(cli("property", "create", scim.slug, "Role", "--type", "select", "--option", "Admin"))
    assert message in error(cli("group-rule", "add", scim.slug, *args))


def test_unknown_rule_and_account(scim, cli):
    assert "No group rule 999" in error(cli("group-rule", "remove", scim.slug, 999))
    assert error(cli("group-rule", "list", "no-such-account"))
