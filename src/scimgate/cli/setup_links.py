"""Setup links: time-limited links that open the guided setup for the customer's IT admin."""

from __future__ import annotations

from typing import Any

import typer

from scimgate.cli.core import (
    account_id_of,
    actor,
    command,
    print_account_rows,
    print_json,
    settings,
    transaction,
)
from scimgate.timestamps import iso_utc

app = typer.Typer(
    help="Setup links: a time-limited link that lets someone without a console account "
    "connect the identity provider (docs/console.md).",
    no_args_is_help=True,
)


@command(app, "create")
def setup_link_create(
    ctx: typer.Context,
    slug: str,
    days: int = typer.Option(7, help="How long it works, 1 to 30 days."),
    note: str = typer.Option("", help="Who or what it is for."),
    as_json: bool = typer.Option(False, "--json", help='Print {"id": ..., "url": ...}.'),
) -> None:
    """Create a setup link (shown once)."""
    from scimgate.accounts import setup_links

    with transaction(ctx) as conn:
        issued = setup_links.create(
            conn, account_id_of(conn, slug), days=days, note=note, actor=actor()
        )
    url = f"{settings(ctx).public_url.rstrip('/')}/setup/{issued.token}"
    if as_json:
        print_json(
            {
                "id": issued.id,
                "url": url,
                "prefix": issued.prefix,
                "expires_at": iso_utc(issued.expires_at),
            }
        )
        return
    typer.echo(f"setup link {issued.id} (shown once, works until {iso_utc(issued.expires_at)}):")
    typer.echo(url)


@command(app, "list")
def setup_link_list(
    ctx: typer.Context,
    slug: str,
    as_json: bool = typer.Option(False, "--json", help="Print one JSON document."),
) -> None:
    """List an account's setup links (prefixes only)."""
    from scimgate.accounts import setup_links

    print_account_rows(ctx, slug, setup_links.list_links, _link_line, as_json=as_json)


def _link_line(row: dict[str, Any]) -> str:
    """One link: id, prefix, state, expiry, last use, tokens issued (live), creator, note."""
    used = iso_utc(row["last_used_at"]) if row["last_used_at"] else "never"
    return (
        f"{row['id']}\t{row['prefix']}…\t{row['state']}\texpires {iso_utc(row['expires_at'])}"
        f"\tlast used {used}\ttokens {row['tokens_issued']} ({row['tokens_live']} live)"
        f"\t{row['created_by']}\t{row['note']}"
    )


@command(app, "revoke")
def setup_link_revoke(
    ctx: typer.Context,
    slug: str,
    link_id: int,
    revoke_tokens: bool = typer.Option(
        False, "--revoke-tokens", help="Also revoke the live Secret Tokens it issued."
    ),
) -> None:
    """Revoke a setup link: it opens nothing from now on (its tokens too, if asked)."""
    from scimgate.accounts import setup_links

    with transaction(ctx) as conn:
        ended = setup_links.revoke(
            conn, account_id_of(conn, slug), link_id, actor=actor(), revoke_tokens=revoke_tokens
        )
    typer.echo(f"setup link {link_id} of account {slug!r} revoked")
    if revoke_tokens:
        listed = ", ".join(str(token_id) for token_id in ended) or "none was live"
        typer.echo(f"Secret Tokens it issued, revoked: {listed}")
