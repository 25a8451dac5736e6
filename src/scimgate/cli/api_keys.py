"""API keys: how the host product calls /api/v1."""

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
    help="API keys: how the host product calls /api/v1 (not provisioning tokens).",
    no_args_is_help=True,
)


@command(app, "create")
def apikey_create(
    ctx: typer.Context,
    slug: str,
    name: str = typer.Option("", help="What the key is for."),
    as_json: bool = typer.Option(False, "--json", help='Print {"id": ..., "key": ...}.'),
) -> None:
    """Create an API key (shown once)."""
    from scimgate.accounts import api_keys

    with transaction(ctx) as conn:
        issued = api_keys.create_key(conn, account_id_of(conn, slug), name=name, actor=actor())
    if as_json:
        print_json({"id": issued.id, "key": issued.key, "prefix": issued.prefix})
        return
    typer.echo(f"API key {issued.id} (shown once): {issued.key}")
    typer.echo(
        f"use it as: curl -H 'Authorization: Bearer {issued.key}' {settings(ctx).public_url}/api/v1/members"
    )


@command(app, "list")
def apikey_list(
    ctx: typer.Context,
    slug: str,
    as_json: bool = typer.Option(False, "--json", help="Print one JSON document."),
) -> None:
    """List an account's API keys (prefixes only)."""
    from scimgate.accounts import api_keys

    print_account_rows(ctx, slug, api_keys.list_keys, _key_line, as_json=as_json)


def _key_line(row: dict[str, Any]) -> str:
    """One API key: id, prefix, live or revoked, last used, name."""
    state = "revoked" if row["revoked_at"] else "live"
    used = iso_utc(row["last_used_at"]) if row["last_used_at"] else "never"
    return f"{row['id']}\t{row['prefix']}…\t{state}\tlast used {used}\t{row['name']}"


@command(app, "revoke")
def apikey_revoke(ctx: typer.Context, slug: str, key_id: int) -> None:
    """Revoke an API key: requests with it get 401 at once."""
    from scimgate.accounts import api_keys

    with transaction(ctx) as conn:
        api_keys.revoke_key(conn, account_id_of(conn, slug), key_id, actor=actor())
    typer.echo(f"API key {key_id} of account {slug!r} revoked")
