"""The event feed's retention per account."""

from __future__ import annotations

import typer

from scimgate.cli.core import account_id_of, actor, command, print_json, transaction

app = typer.Typer()


@command(app, "event-settings")
def event_settings_command(
    ctx: typer.Context,
    slug: str,
    retention_days: int | None = typer.Option(
        None, "--retention-days", help="Prune events older than this many days (1-3650)."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON document."),
) -> None:
    """Show or change how long the account's events are kept (default 90 days)."""
    from scimgate.webhooks import retention

    with transaction(ctx) as conn:
        account_id = account_id_of(conn, slug)
        if retention_days is None:
            row = retention.settings_of(conn, account_id)
        else:
            row = retention.set_retention(conn, account_id, retention_days, actor=actor())
    if as_json:
        print_json(row)
        return
    typer.echo(
        f"events kept {row['retention_days']} days; the feed starts after event "
        f"{row['oldest_after']} (newest: {row['last_seq']})"
    )
