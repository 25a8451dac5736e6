"""Set up and serve: `migrate`, `serve` and `demo`."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

import typer

from scimgate.cli.core import actor, command, settings, transaction

if TYPE_CHECKING:
    from scimgate.accounts.demo import DemoSetup
    from scimgate.database_service import MigrationReport
    from scimgate.settings import Settings

app = typer.Typer()
DEMO_ADMIN = "admin@demo.example"


@command(app)
def migrate(ctx: typer.Context) -> None:
    """Create or upgrade the database schema."""
    from scimgate import database_service

    report = database_service.migrate(settings(ctx).database_url)
    typer.echo(_migration_summary(report), err=True)


def _migration_summary(report: MigrationReport) -> str:
    """One line: created at X, upgraded from X to Y (and what), or already at X."""
    if not report.applied:
        return f"database is up to date at revision {report.after}"
    if report.before is None:
        return f"created the database schema at revision {report.after}"
    steps = ", ".join(f"{rev} {title}" for rev, title in report.applied)
    return f"upgraded the database schema from revision {report.before} to {report.after}: {steps}"


@command(app)
def serve(
    ctx: typer.Context,
    host: str = typer.Option("127.0.0.1", help="Interface to listen on."),
    port: int = typer.Option(8000, min=1, max=65535, help="TCP port."),
    workers: int = typer.Option(1, min=1, max=64, help="Worker processes."),
) -> None:
    """Serve /scim/v2 over HTTP (timeouts, connection limit, proxies: docs/operations.md)."""
    from scimgate.logs import configure_logging
    from scimgate.web import server

    config = settings(ctx)
    config.check_production()
    configure_logging(config)
    server.serve(config, host=host, port=port, workers=workers)


@command(app)
def demo(
    ctx: typer.Context,
    host: str = typer.Option("127.0.0.1", help="Interface to listen on."),
    port: int = typer.Option(8000, min=1, max=65535, help="TCP port."),
    no_serve: bool = typer.Option(False, "--no-serve", help="Set up and print, but do not serve."),
) -> None:
    """Migrate, create an entitled demo account with provisioning active, print its credentials, serve."""
    from scimgate import database_service
    from scimgate.accounts import demo as demo_account

    config = settings(ctx)
    if "public_url" not in config.model_fields_set and (host, port) != ("127.0.0.1", 8000):
        # The printed Tenant URL, and the server's Location headers, follow --host/--port.
        shown = "127.0.0.1" if host in ("0.0.0.0", "::") else host
        shown = f"[{shown}]" if ":" in shown else shown
        os.environ["SCIMGATE_PUBLIC_URL"] = f"http://{shown}:{port}"
        config = settings(ctx, reread=True)
    database_service.migrate(config.database_url)
    with transaction(ctx) as conn:
        setup = demo_account.prepare_demo(conn, admin_email=DEMO_ADMIN, actor=actor())
    _print_demo(config, setup)
    if not no_serve:
        serve(ctx, host=host, port=port, workers=1)


def _print_demo(config: Settings, setup: DemoSetup) -> None:
    """The demo's addresses, and its secrets when this run made them (else how to get new)."""
    typer.echo("")
    if setup.created:
        state = "is ready"
    elif setup.token or setup.password:
        state = "was set up before; what no longer worked is made again"
    else:
        state = "was set up before and is kept as it was"
    typer.echo(f"scimgate demo account 'demo' {state}")
    typer.echo(f"  Tenant URL:    {config.tenant_url}")
    if setup.token:
        typer.echo(f"  Secret Token:  {setup.token}")
    else:
        live = ", ".join(f"{prefix}…" for prefix in setup.token_prefixes)
        typer.echo(f"  Secret Token:  live ({live}), printed when it was made; not kept in clear")
    typer.echo(f"  Console:       {config.public_url}/console/login?account=demo")
    password = setup.password or "as printed on the first run"
    typer.echo(f"  Console login: account demo, email {DEMO_ADMIN}, password {password}")
    if setup.token:
        typer.echo(
            f"  Try:           curl -H 'Authorization: Bearer {setup.token}' {config.tenant_url}/Users"
        )
    typer.echo("")
    if setup.token or setup.password:
        typer.echo("Copy what is printed above now: it is not shown again.", err=True)
    if not setup.token:
        typer.echo("A new Secret Token: scimgate token issue demo", err=True)
    if not setup.password:
        typer.echo(f"A new password: scimgate admin password demo {DEMO_ADMIN}", err=True)
