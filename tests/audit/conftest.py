"""Audit tests drive every door: the console, the API and the CLI, on the same database."""

from __future__ import annotations

from typing import Any

import pytest
from typer.testing import CliRunner

from scimgate.cli import app as cli_app


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
