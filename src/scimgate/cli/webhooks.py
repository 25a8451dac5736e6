"""Webhook endpoints: add, list, remove, and their deliveries (log, resume, redeliver)."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from scimgate.cli.core import (
    CliError,
    account_id_of,
    actor,
    command,
    engine,
    print_account_rows,
    print_json,
    settings,
    transaction,
)
from scimgate.timestamps import iso_utc

app = typer.Typer(
    help="Webhook endpoints: signed, ordered deliveries of member and team events.",
    no_args_is_help=True,
)
AS_JSON = typer.Option(False, "--json", help="Print one JSON document.")


@command(app, "add")
def webhook_add(
    ctx: typer.Context,
    slug: str,
    url: str,
    event: Annotated[
        list[str] | None,
        typer.Option("--event", help="Only this event type (repeatable)."),
    ] = None,
    as_json: bool = typer.Option(False, "--json", help='Print {"id": ..., "secret": ...}.'),
) -> None:
    """Add an endpoint; it receives events written from now on (secret shown once)."""
    from scimgate.webhooks import service as webhooks

    allow_private = settings(ctx).webhooks_allow_private
    with transaction(ctx) as conn:
        added = webhooks.add_endpoint(
            conn,
            account_id_of(conn, slug),
            url,
            event_types=event or [],
            allow_private=allow_private,
            actor=actor(),
        )
    if as_json:
        print_json({"id": added["id"], "secret": added["secret"]})
        return
    typer.echo(f"webhook endpoint {added['id']} -> {added['url']}")
    typer.echo(f"signing secret (shown once): {added['secret']}")


@command(app, "list")
def webhook_list(ctx: typer.Context, slug: str, as_json: bool = AS_JSON) -> None:
    """List endpoints with their state (active or failing) and last error."""
    from scimgate.webhooks import service as webhooks

    print_account_rows(ctx, slug, webhooks.list_endpoints, _endpoint_line, as_json=as_json)


def _endpoint_line(row: dict[str, Any]) -> str:
    """One endpoint: id, state, URL, event types and last error."""
    types = ",".join(row["event_types"]) or "all events"
    return f"{row['id']}\t{row['status']}\t{row['url']}\t{types}\t{row['last_error'] or ''}"


@command(app, "remove")
def webhook_remove(ctx: typer.Context, slug: str, endpoint_id: int) -> None:
    """Remove an endpoint and its delivery log."""
    from scimgate.webhooks import service as webhooks

    with transaction(ctx) as conn:
        webhooks.remove_endpoint(conn, account_id_of(conn, slug), endpoint_id, actor=actor())
    typer.echo(f"webhook endpoint {endpoint_id} removed")


@command(app, "deliveries")
def webhook_deliveries(
    ctx: typer.Context,
    slug: str,
    endpoint_id: int,
    limit: int = typer.Option(50, min=1, max=1000),
    as_json: bool = AS_JSON,
) -> None:
    """The delivery log of an endpoint, newest first."""
    from scimgate.webhooks import service as webhooks

    with transaction(ctx) as conn:
        rows = webhooks.deliveries(conn, account_id_of(conn, slug), endpoint_id, limit=limit)
    if as_json:
        print_json(rows)
        return
    for r in rows:
        typer.echo(
            f"{iso_utc(r['at'])}\tevent {r['event_seq']} {r['event_type']}\t"
            f"attempt {r['attempt']}\t{r['status_code'] or '-'}\t{r['error'] or ''}"
        )


@command(app, "resume")
def webhook_resume(ctx: typer.Context, slug: str, endpoint_id: int) -> None:
    """Retry a failing endpoint now, from the event it is stuck on."""
    from scimgate.webhooks import service as webhooks

    with transaction(ctx) as conn:
        webhooks.resume(conn, account_id_of(conn, slug), endpoint_id, actor=actor())
    typer.echo(f"webhook endpoint {endpoint_id} resumed")


@command(app, "redeliver")
def webhook_redeliver(ctx: typer.Context, slug: str, endpoint_id: int, seq: int) -> None:
    """Send one past event to an endpoint again, now."""
    from scimgate.webhooks import delivery

    with transaction(ctx) as conn:
        account_id = account_id_of(conn, slug)
    with engine(ctx) as opened:
        outcome = delivery.redeliver(opened, settings(ctx), account_id, endpoint_id, seq)
    if not outcome.ok:
        raise CliError(f"redelivery failed: {outcome.error}")
    typer.echo(f"event {seq} redelivered: HTTP {outcome.status_code}")


@command(app, "dead-letters")
def webhook_dead_letters(
    ctx: typer.Context,
    slug: str,
    endpoint_id: int,
    limit: int = typer.Option(50, min=1, max=1000),
    as_json: bool = AS_JSON,
) -> None:
    """Deliveries that used up their retries and whose event has not arrived since."""
    from scimgate.webhooks import dead_letters

    with transaction(ctx) as conn:
        rows, _ = dead_letters.list_dead_letters(
            conn, account_id_of(conn, slug), endpoint_id, limit=limit
        )
    if as_json:
        print_json(rows)
        return
    for r in rows:
        typer.echo(
            f"{r['id']}\t{iso_utc(r['at'])}\tevent {r['event_seq']} {r['event_type']}\t"
            f"{r['status_code'] or '-'}\t{r['error'] or ''}"
        )


@command(app, "redeliver-dead")
def webhook_redeliver_dead(
    ctx: typer.Context,
    slug: str,
    endpoint_id: int,
    delivery: Annotated[
        list[int] | None,
        typer.Option("--id", help="A dead letter's id (repeatable)."),
    ] = None,
    every: bool = typer.Option(False, "--all", help="Every open dead letter of the endpoint."),
    as_json: bool = AS_JSON,
) -> None:
    """Send the events of dead letters again now (at most 25 a call; the cursor stays)."""
    from scimgate.webhooks import dead_letters

    if every == bool(delivery):
        raise CliError("give --all or one --id or more")
    with transaction(ctx) as conn:
        account_id = account_id_of(conn, slug)
    with engine(ctx) as opened:
        report = dead_letters.redeliver(
            opened, settings(ctx), account_id, endpoint_id, None if every else delivery
        )
    if as_json:
        print_json(report)
    else:
        for r in report["results"]:
            answer = f"HTTP {r['status_code']}" if r["status_code"] else r["error"]
            typer.echo(
                f"{r['id']}\tevent {r['event_seq']}\t{'ok' if r['ok'] else 'failed'}\t{answer}"
            )
        if report["remaining"]:
            typer.echo(f"{report['remaining']} left: run it again")
    if any(not r["ok"] for r in report["results"]):
        raise CliError("some redeliveries failed")
