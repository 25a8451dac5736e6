"""The drift report: where the members and the identity provider disagree."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import typer

from scimgate.cli.core import CliError, account_id_of, command, print_json, transaction

app = typer.Typer()

TITLES = {
    "unsynced": "Staged users never synchronized",
    "manual": "Manual members with no identity-provider counterpart",
    "edited": "Provisioned members changed by hand since their last sync",
    "unfilled": "Properties the mapping never fills",
}


@command(app)
def drift(
    ctx: typer.Context,
    slug: str,
    as_json: bool = typer.Option(False, "--json", help="Print one JSON document."),
    section: str | None = typer.Option(
        None, "--section", help="Only this section: unsynced, manual, edited or unfilled."
    ),
    limit: int = typer.Option(20, "--limit", min=1, max=200, help="Rows shown per section."),
    every: bool = typer.Option(False, "--all", help="Every row of --section, streamed."),
) -> None:
    """Report drift: staged users never synchronized (and why), manual members without a
    staged user, hand edits of provisioned members, Properties the mapping never fills."""
    from scimgate.drift import report

    if every and section is None:
        raise CliError("--all needs --section (unsynced, manual, edited or unfilled)")
    if section is not None:
        report.check_section(section)
    with transaction(ctx) as conn:
        account_id = account_id_of(conn, slug)
        if every:
            assert section is not None
            rows = report.every_row(conn, account_id, section)
            if as_json:
                print_json(list(rows))
            else:
                _print_rows(section, rows)
            return
        doc = report.summary(conn, account_id, limit=limit)
    if section is not None:
        doc["sections"] = {section: doc["sections"][section]}
    if as_json:
        print_json(doc)
        return
    for name, body in doc["sections"].items():
        typer.echo(f"{TITLES[name]}: {body['count']}")
        _print_rows(name, body["data"])
        more = body["count"] - len(body["data"])
        if more > 0:
            typer.echo(f"  … {more} more: scimgate drift {slug} --section {name} --all")
        typer.echo("")


def _print_rows(section: str, rows: Iterable[dict[str, Any]]) -> None:
    """One line per row (per changed field for hand edits), tab-separated columns."""
    for row in rows:
        for line in _lines(section, row):
            typer.echo("  " + "\t".join(_text(v) for v in line))


def _lines(section: str, row: dict[str, Any]) -> list[list[Any]]:
    if section == "unsynced":
        return [[row["person"], row["email"], row["detail"]]]
    if section == "manual":
        return [[row["email"], row["name"], row["status"]]]
    if section == "edited":
        who = f"{row['name']} ({row['email']})" if row["email"] else row["name"]
        return [
            [
                who,
                f["field"],
                f"member: {_text(f['member_value'])}",
                f"mapped: {_text(f['mapped_value'])}",
            ]
            for f in row["fields"]
        ]
    return [[row["property"], row["type"], row["detail"]]]


def _text(value: Any) -> str:
    return "—" if value is None else str(value)
