"""Every change made with the CLI writes exactly one audit entry naming `cli:<OS user>`;
a refused change writes none; `scimgate audit-log` shows one account's entries only."""

from __future__ import annotations

import json

import pytest

from scimgate.store import accounts as account_store
from tests.helpers.audit import entries, entries_since

PASSWORD = "correct horse battery staple"


def account_id(engine, slug):
    with engine.connect() as conn:
        return account_store.get_account(conn, slug)["id"]


@pytest.fixture
def acme(cli, engine, monkeypatch):
    """An entitled account made with the CLI; returns its id."""
    monkeypatch.setenv("SCIMGATE_WEBHOOKS_ALLOW_PRIVATE", "true")
    assert cli("account", "create", "acme", "--entitled").exit_code == 0
    return account_id(engine, "acme")


class Steps:
    """Run a command that must succeed and write exactly one entry by cli:opal."""

    def __init__(self, cli, engine, account):
        self.cli, self.engine, self.account = cli, engine, account

    def __call__(self, action, target, *args, input=None):
        before = entries(self.engine, self.account)
        r = self.cli(*args, input=input)
        assert r.exit_code == 0, (args, r.stderr)
        new = entries_since(self.engine, self.account, before)
        assert len(new) == 1, new
        entry = new[0]
        assert (entry["actor"], entry["action"]) == ("cli:opal", action), entry
        assert target in entry["target"], entry
        return r, entry


def test_each_cli_change_writes_one_entry_naming_the_os_user(cli, engine, acme):
    first = entries(engine, acme)
    assert [(e["actor"], e["action"], e["target"]) for e in first] == [
        ("cli:opal", "account.created", "account acme")
    ]
    assert first[0]["details"] == {"name": "acme", "entitled": True}
    step = Steps(cli, engine, acme)
    secrets = []

    r, entry = step(
        "provisioning.activated", "user provisioning", "provisioning", "activate", "acme", "--json"
    )
    activated = json.loads(r.stdout)
    secrets.append(activated["token"])
    assert entry["details"] == {
        "token_id": activated["token_id"],
        "prefix": activated["token"][:12],
    }

    r, entry = step(
        "token.issued", "token", "token", "issue", "acme", "--name", "rotation", "--json"
    )
    issued = json.loads(r.stdout)
    secrets.append(issued["token"])
    assert entry["details"] == {
        "token_id": issued["id"],
        "prefix": issued["prefix"],
        "name": "rotation",
    }
    step("token.revoked", f"token {issued['id']}", "token", "revoke", "acme", str(issued["id"]))

    r, entry = step(
        "api_key.created", "API key", "apikey", "create", "acme", "--name", "backend", "--json"
    )
    key = json.loads(r.stdout)
    secrets.append(key["key"])
    assert entry["details"] == {"key_id": key["id"], "prefix": key["prefix"], "name": "backend"}
    step("api_key.revoked", f"API key {key['id']}", "apikey", "revoke", "acme", str(key["id"]))

    url = "http://127.0.0.1:9/hooks/s3cr3t-path?sig=abc"
    r, entry = step(
        "webhook.added",
        "http://127.0.0.1:9",
        "webhook",
        "add",
        "acme",
        url,
        "--event",
        "member.created",
        "--json",
    )
    hook = json.loads(r.stdout)
    secrets.extend([hook["secret"], "s3cr3t-path", "sig=abc"])
    assert entry["details"] == {
        "endpoint_id": hook["id"],
        "origin": "http://127.0.0.1:9",
        "event_types": ["member.created"],
    }
    step("webhook.resumed", f"webhook {hook['id']}", "webhook", "resume", "acme", str(hook["id"]))
    step("webhook.removed", f"webhook {hook['id']}", "webhook", "remove", "acme", str(hook["id"]))

    step(
        "property.created",
        "Property Cost center",
        "property",
        "create",
        "acme",
        "Cost center",
        "--type",
        "number",
    )
    r, entry = step(
        "mapping.set", "mapping Job title", "mapping", "set", "acme", "Job title", "nickName"
    )
    assert entry["details"] == {"target": "Job title", "changes": {"source": ["title", "nickName"]}}
    r, entry = step(
        "mapping.removed", "mapping Job title", "mapping", "remove", "acme", "Job title"
    )
    assert entry["details"] == {"target": "Job title", "changes": {"source": ["nickName", None]}}

    r, entry = step(
        "sync_settings.changed",
        "sync settings",
        "sync-settings",
        "acme",
        "--hold-percent",
        "25",
        "--time",
        "06:30",
    )
    assert entry["details"] == {"changes": {"time": ["03:00", "06:30"], "hold_percent": [10, 25]}}

    r, entry = step("sync_run.started", "sync run", "sync", "acme", "--json")
    run_id = json.loads(r.stdout)["run_id"]
    assert entry["details"] == {"run_id": run_id, "trigger": "cli"}
    assert entry["target"] == f"sync run {run_id}"

    step(
        "admin.created",
        "admin it@acme.example",
        "admin",
        "create",
        "acme",
        "it@acme.example",
        "--password-stdin",
        input=PASSWORD + "\n",
    )
    r, entry = step(
        "admin.password_reset",
        "admin it@acme.example",
        "admin",
        "password",
        "acme",
        "it@acme.example",
        "--password-stdin",
        input="another long password\n",
    )
    assert entry["details"]["sessions_ended"] == 0
    secrets.extend([PASSWORD, "another long password"])

    step("provisioning.deactivated", "user provisioning", "provisioning", "deactivate", "acme")

    dump = json.dumps(entries(engine, acme), default=str)
    assert [s for s in secrets if s in dump] == []


@pytest.mark.parametrize(
    "args",
    [
        ("token", "revoke", "acme", "999"),
        ("apikey", "revoke", "acme", "999"),
        ("webhook", "remove", "acme", "999"),
        ("webhook", "resume", "acme", "999"),
        ("webhook", "add", "acme", "ftp://example.com/x"),
        ("property", "create", "acme", "Level", "--type", "colour"),
        ("property", "create", "acme", "email", "--type", "text"),
        ("mapping", "set", "acme", "Job title", "no such ((path"),
        ("mapping", "set", "acme", "Nothing", "title"),
        ("mapping", "remove", "acme", "Nothing"),
        ("sync-settings", "acme", "--hold-percent", "250"),
        ("sync-settings", "acme", "--time", "25:00"),
        ("sync", "acme", "--confirm", "999"),
        ("admin", "password", "acme", "nobody@acme.example", "--password-stdin"),
    ],
)
def test_a_refused_change_writes_no_entry(cli, engine, acme, args):
    assert cli("provisioning", "activate", "acme").exit_code == 0
    before = entries(engine, acme)
    r = cli(*args, input="a long enough password\n")
    assert r.exit_code == 1, r.stdout
    assert len(r.stderr.strip().splitlines()) == 1
    assert entries(engine, acme) == before


def test_showing_settings_or_setting_them_unchanged_writes_nothing(cli, engine, acme):
    before = entries(engine, acme)
    assert cli("sync-settings", "acme", "--json").exit_code == 0
    assert cli("sync-settings", "acme", "--hold-percent", "10", "--time", "03:00").exit_code == 0
    assert cli("account", "entitle", "acme").exit_code == 0  # already entitled
    assert cli("provisioning", "deactivate", "acme").exit_code == 0  # never active
    assert entries(engine, acme) == before


def test_audit_log_lists_one_accounts_entries_newest_first(cli, engine, acme):
    assert cli("account", "create", "globex", "--entitled").exit_code == 0
    assert cli("apikey", "create", "globex", "--name", "theirs").exit_code == 0
    assert cli("apikey", "create", "acme", "--name", "ours").exit_code == 0
    r = cli("audit-log", "acme", "--json")
    assert r.exit_code == 0, r.stderr
    rows = json.loads(r.stdout)
    assert [(e["action"], e["actor"]) for e in rows] == [
        ("api_key.created", "cli:opal"),
        ("account.created", "cli:opal"),
    ]
    assert rows[0]["details"]["name"] == "ours"
    assert {"id", "at", "actor", "action", "target", "details"} == set(rows[0])
    text = cli("audit-log", "acme").stdout
    assert "api_key.created" in text and "name=ours" in text and "theirs" not in text
    assert "globex" not in text
    older = json.loads(cli("audit-log", "acme", "--json", "--cursor", str(rows[0]["id"])).stdout)
    assert [e["action"] for e in older] == ["account.created"]
    assert json.loads(cli("audit-log", "acme", "--json", "--limit", "1").stdout) == rows[:1]


@pytest.mark.parametrize("args", [("--cursor", "abc"), ("--cursor", "-3"), ("--limit", "0")])
def test_audit_log_refuses_bad_input_in_one_line(cli, acme, args):
    r = cli("audit-log", "acme", *args)
    assert r.exit_code != 0 and r.stdout == ""
    assert "Traceback" not in r.output


def test_audit_log_of_an_unknown_account(cli):
    r = cli("audit-log", "ghost")
    assert r.exit_code == 1 and "No account" in r.stderr
