"""Audit tests drive every door: the console, the API and the CLI, on the same database."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import Engine
from typer.testing import CliRunner

from scimgate import audit
from scimgate.cli import app as cli_app
from tests.console.conftest import make_console  # noqa: F401 - a fixture
from tests.host_api.conftest import make_api  # noqa: F401 - a fixture


def entries(engine: Engine, account_id: int, limit: int = 1000) -> list[dict[str, Any]]:
    """The account's audit entries, newest first."""
    with engine.connect() as conn:
        rows, _next = audit.list_page(conn, account_id, limit=limit)
    return rows


def entries_since(engine: Engine, account_id: int, before: list[dict[str, Any]]) -> list[dict]:
    """Entries written after `before` (an earlier `entries` result), oldest first."""
    last = before[0]["id"] if before else 0
    return [e for e in reversed(entries(engine, account_id)) if e["id"] > last]


@pytest.fixture
def cli(database_url: str, monkeypatch: pytest.MonkeyPatch) -> Any:
    """Run `scimgate ...` in-process against the test database, as OS user 'opal'."""
    monkeypatch.setenv("SCIMGATE_DATABASE_URL", database_url)
    monkeypatch.setenv("SCIMGATE_PUBLIC_URL", "https://idp.example.test/")
    monkeypatch.setenv("USER", "opal")
    monkeypatch.setenv("LOGNAME", "opal")
    runner = CliRunner()

    def run(*args: str, input: str | None = None) -> Any:
        return runner.invoke(cli_app, list(args), input=input)

    return run
