"""README's command-line list names every command the CLI has, so none goes undocumented."""

from __future__ import annotations

from pathlib import Path

import typer.main

from scimgate.cli import app

README = Path(__file__).resolve().parents[2] / "README.md"


def _command_block() -> str:
    """The fenced block under README's "## Command line" heading."""
    section = README.read_text().split("## Command line", 1)[1]
    return section.split("```", 2)[1]


def test_every_command_is_in_the_readme_list() -> None:
    block = _command_block()
    missing = []
    for name, command in typer.main.get_command(app).commands.items():
        subcommands = getattr(command, "commands", None)  # a group (typer vendors click)
        if subcommands:
            missing += [f"{name} {sub}" for sub in subcommands if f"{name} {sub}" not in block]
        elif f"scimgate {name}" not in block:
            missing.append(name)
    assert not missing, f"README's command list does not name: {missing}"
