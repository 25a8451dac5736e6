"""First-run commands: what `migrate` says it did, and what `serve` refuses in production."""

from __future__ import annotations

import pytest
from alembic import command
from typer.testing import CliRunner

from scimgate.cli import app
from scimgate.settings import Settings
from scimgate.store.database import _alembic_config, head_revision


def run(*args: str):
    return CliRunner().invoke(app, list(args))


def test_migrate_an_empty_database_says_it_created_the_schema(tmp_path, monkeypatch):
    monkeypatch.setenv("SCIMGATE_DATABASE_URL", f"sqlite:///{tmp_path / 'new.db'}")
    r = run("migrate")
    assert r.exit_code == 0, r.output
    assert r.stderr == f"created the database schema at revision {head_revision()}\n"
    again = run("migrate")
    assert again.stderr == f"database is up to date at revision {head_revision()}\n"
    assert r.stdout == again.stdout == ""


def test_migrate_an_older_database_lists_each_upgrade(tmp_path, monkeypatch):
    url = f"sqlite:///{tmp_path / 'old.db'}"
    command.upgrade(_alembic_config(url), "0006")
    monkeypatch.setenv("SCIMGATE_DATABASE_URL", url)
    r = run("migrate")
    assert r.exit_code == 0, r.output
    line = r.stderr.strip()
    assert line.startswith(
        f"upgraded the database schema from revision 0006 to {head_revision()}: "
    )
    assert "0007 signin throttle session details, 0008 directory count changes" in line
    assert "0006 webhooks" not in line and len(r.stderr.splitlines()) == 1


def test_migrate_an_up_to_date_database(database_url, monkeypatch):
    monkeypatch.setenv("SCIMGATE_DATABASE_URL", database_url)
    r = run("migrate")
    assert (
        r.exit_code == 0 and r.stderr == f"database is up to date at revision {head_revision()}\n"
    )


@pytest.mark.parametrize(
    "key, why",
    [
        (None, "must be set"),
        ("REPLACE_WITH_OUTPUT_OF_openssl_rand_-hex_32", "must be set"),
        ("short-but-secret", "too weak"),
        ("ab" * 40, "too weak"),  # long, but two characters
        ("s3cr€t" * 5, "too weak"),  # 30 characters, 40 bytes: long enough, but 6 kinds
    ],
)
def test_serve_in_production_refuses_a_weak_secret_key(key, why, monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)  # no .env from the checkout
    monkeypatch.setenv("SCIMGATE_ENVIRONMENT", "production")
    monkeypatch.setenv("SCIMGATE_DATABASE_URL", f"sqlite:///{tmp_path / 'x.db'}")
    if key is None:
        monkeypatch.delenv("SCIMGATE_SECRET_KEY", raising=False)
    else:
        monkeypatch.setenv("SCIMGATE_SECRET_KEY", key)
    r = run("serve", "--port", "1")
    assert r.exit_code == 1
    assert r.stdout == "" and len(r.stderr.splitlines()) == 1, r.stderr
    assert why in r.stderr and "SCIMGATE_SECRET_KEY" in r.stderr and "openssl rand" in r.stderr
    assert "Traceback" not in r.output


def test_a_long_random_key_passes_and_development_needs_none():
    Settings(environment="production", secret_key="0123456789abcdef" * 4).check_production()
    Settings(environment="staging", secret_key="kP9-" + "x" * 28 + "QwErTy").check_production()
    Settings(environment="development", secret_key="x").check_production()
    with pytest.raises(ValueError, match="at least 32 bytes"):
        Settings(environment="staging", secret_key="kP9-QwErTy-zx8").check_production()


def test_json_times_are_iso_8601_in_utc_with_a_z(database_url, monkeypatch):
    """Every time a --json document carries ends in Z, as /api/v1 writes them (SQLite hands
    them back naive and PostgreSQL in its session's zone; both printed +00:00 or worse)."""
    import json
    import re

    monkeypatch.setenv("SCIMGATE_DATABASE_URL", database_url)
    assert run("account", "create", "acme", "--entitled").exit_code == 0
    assert run("provisioning", "activate", "acme").exit_code == 0
    assert run("apikey", "create", "acme").exit_code == 0
    assert run("sync", "acme").exit_code == 0
    times = []
    for args in (
        ("token", "list", "acme", "--json"),
        ("apikey", "list", "acme", "--json"),
        ("sync-runs", "acme", "--json"),
        ("sync-settings", "acme", "--daily", "--json"),
    ):
        r = run(*args)
        assert r.exit_code == 0, r.output
        found = re.findall(r'"(\d{4}-\d\d-\d\dT[^"]*)"', r.stdout)
        assert found, args
        times += found
        json.loads(r.stdout)
    assert all(re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z", t) for t in times), times
