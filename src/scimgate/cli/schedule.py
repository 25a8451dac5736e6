"""The daily sync: its settings per account, and the scheduler that runs it."""

from __future__ import annotations

import gc
from datetime import datetime

import typer

from scimgate.cli.core import (
    CliError,
    account_id_of,
    actor,
    command,
    engine,
    print_json,
    settings,
    transaction,
)
from scimgate.timestamps import as_utc

app = typer.Typer()


@command(app, "sync-settings")
def sync_settings_command(
    ctx: typer.Context,
    slug: str,
    daily: bool | None = typer.Option(
        None, "--daily/--no-daily", help="Turn the daily sync on or off."
    ),
    at: str | None = typer.Option(None, "--time", help="Daily time, HH:MM (24-hour)."),
    zone: str | None = typer.Option(None, "--timezone", help="IANA time zone, e.g. Europe/Paris."),
    hold_percent: int | None = typer.Option(
        None, help="Hold a run deactivating more than this % (100: never)."
    ),
    hold_minimum: int | None = typer.Option(None, help="...and at least this many members."),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON document."),
) -> None:
    """Show or change the daily sync schedule and the safety threshold."""
    from scimgate.sync import schedule

    with transaction(ctx) as conn:
        row = schedule.configure(
            conn,
            account_id_of(conn, slug),
            daily=daily,
            at=at,
            zone=zone,
            hold_percent=hold_percent,
            hold_minimum=hold_minimum,
            actor=actor(),
        )
    if as_json:
        print_json(row)
        return
    if row["daily"]:
        state = f"daily at {row['time']} {row['timezone']}; next run "
        state += row["next_run_at"] or "at the scheduler's next tick"
    else:
        state = "daily sync off: no run is scheduled"
    typer.echo(
        f"{state}; hold above "
        f"{row['hold_percent']}% and at least {row['hold_minimum']} deactivations"
    )


@command(app)
def scheduler(
    ctx: typer.Context,
    once: bool = typer.Option(False, "--once", help="Run one tick and exit."),
    now: str | None = typer.Option(
        None, "--now", help="With --once: the time to tick at (ISO 8601)."
    ),
) -> None:
    """Run the daily-sync scheduler on its own (serve runs it too unless SCIMGATE_SCHEDULER=false)."""
    from scimgate.logs import configure_logging
    from scimgate.sync import schedule
    from scimgate.sync.engine import SyncOptions

    config = settings(ctx)
    configure_logging(config)
    options = SyncOptions.from_settings(config)
    if once:
        when = None
        if now is not None:
            try:
                when = as_utc(datetime.fromisoformat(now))
            except ValueError:
                raise CliError(f"--now {now!r} is not an ISO 8601 time") from None
        with engine(ctx, pool=True) as opened:
            fired = schedule.tick(opened, now=when, options=options)
        print_json([f.__dict__ for f in fired])
        return
    if now is not None:
        raise CliError("--now only goes with --once")
    with engine(ctx, pool=True) as opened:
        gc.collect()
        gc.freeze()  # what startup built lives as long as the process: collections skip it
        runner = schedule.Scheduler(
            opened, interval=config.scheduler_interval_seconds, options=options
        )
        try:
            runner.run()
        except KeyboardInterrupt:
            runner.stop()
