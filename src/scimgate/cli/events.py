"""The event feed's retention per account, and pruning to it now."""

from __future__ import annotations

from typing import Any

import typer

from scimgate.cli.core import (
    CliError,
    account_id_of,
    actor,
    command,
    engine,
    print_json,
    transaction,
)

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


@command(app, "event-prune")
def event_prune_command(
    ctx: typer.Context,
    slug: str | None = typer.Argument(None, help="The account (or --all)."),
    every: bool = typer.Option(False, "--all", help="Every account, in id order."),
    dry_run: bool = typer.Option(False, "--dry-run", help="Count, delete nothing."),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON array."),
) -> None:
    """Prune events older than the retention window now, as serve's hourly sweep does."""
    from scimgate.webhooks import retention

    if (slug is None) != every:
        raise CliError("name one account or give --all")
    account_id = None
    if slug is not None:
        with transaction(ctx) as conn:
            account_id = account_id_of(conn, slug)
    rows: list[dict[str, Any]] = []
    total = 0
    with engine(ctx) as opened:
        for row in retention.prune_now(opened, account_id, dry_run=dry_run):
            total += row["pruned"]
            if as_json:
                rows.append(row)
                continue
            verb = "would prune" if dry_run else "pruned"
            start = "would start" if dry_run and row["pruned"] else "starts"
            typer.echo(
                f"{row['account']}: {verb} {row['pruned']} events older than "
                f"{row['retention_days']} days; the feed {start} after event {row['oldest_after']}"
            )
    if as_json:
        print_json(rows)
    elif every:
        typer.echo(f"{'would prune' if dry_run else 'pruned'} {total} events in all")
