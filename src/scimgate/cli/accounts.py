"""Accounts, their entitlement and provisioning, and provisioning tokens (Secret Tokens)."""

from __future__ import annotations

from typing import Any

import typer

from scimgate.cli.core import (
    CliError,
    account_id_of,
    actor,
    command,
    print_account_rows,
    print_json,
    settings,
    transaction,
)

account_app = typer.Typer(
    help="Create accounts and entitle them to user provisioning.", no_args_is_help=True
)
provisioning_app = typer.Typer(
    help="Turn user provisioning on or off for an account.", no_args_is_help=True
)
token_app = typer.Typer(
    help="Issue, list and revoke provisioning tokens (Secret Tokens).", no_args_is_help=True
)


@command(account_app, "create")
def account_create(
    ctx: typer.Context,
    slug: str,
    name: str | None = typer.Option(None, help="Display name (default: the slug)."),
    entitled: bool = typer.Option(
        False, "--entitled", help="Entitle the account to user provisioning."
    ),
) -> None:
    """Create an account."""
    from scimgate.accounts import service as accounts

    with transaction(ctx) as conn:
        row = accounts.create_account(conn, slug, name=name, entitled=entitled, actor=actor())
    typer.echo(f"created account {row['slug']!r}{' (entitled)' if entitled else ''}")


@command(account_app, "entitle")
def account_entitle(ctx: typer.Context, slug: str) -> None:
    """Entitle an account to user provisioning (an enterprise feature, off by default)."""
    from scimgate.accounts import service as accounts

    with transaction(ctx) as conn:
        accounts.entitle(conn, account_id_of(conn, slug), actor=actor())
    typer.echo(f"account {slug!r} is entitled to user provisioning")


@command(provisioning_app, "activate")
def provisioning_activate(
    ctx: typer.Context,
    slug: str,
    as_json: bool = typer.Option(False, "--json", help="Print one JSON document."),
) -> None:
    """Activate user provisioning: prints the Tenant URL and a new Secret Token (shown once)."""
    from scimgate.accounts import service as accounts

    with transaction(ctx) as conn:
        issued = accounts.activate_provisioning(conn, account_id_of(conn, slug), actor=actor())
    tenant_url = settings(ctx).tenant_url
    if as_json:
        print_json({"tenant_url": tenant_url, "token": issued.token, "token_id": issued.id})
        return
    typer.echo(f"Tenant URL:   {tenant_url}")
    typer.echo(f"Secret Token: {issued.token}")
    typer.echo("The token is shown once; store it in your identity provider now.", err=True)


@command(provisioning_app, "deactivate")
def provisioning_deactivate(ctx: typer.Context, slug: str) -> None:
    """Deactivate user provisioning: every token of the account stops working at once."""
    from scimgate.accounts import service as accounts

    with transaction(ctx) as conn:
        accounts.deactivate_provisioning(conn, account_id_of(conn, slug), actor=actor())
    typer.echo(f"user provisioning is off for {slug!r}")


@command(token_app, "issue")
def token_issue(
    ctx: typer.Context,
    slug: str,
    name: str = typer.Option("", help="A label for the token."),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON document."),
) -> None:
    """Issue another token (rotation: the old ones stay live until revoked)."""
    from scimgate.accounts import lookup
    from scimgate.accounts import service as accounts

    with transaction(ctx) as conn:
        row = lookup.account_by_slug(conn, slug)
        if not row["provisioning_entitled"]:
            raise CliError(
                f"user provisioning is an enterprise feature: ask your operator to entitle {slug!r}"
            )
        issued = accounts.issue_token(conn, row["id"], name=name, actor=actor())
    if as_json:
        print_json({"id": issued.id, "token": issued.token, "prefix": issued.prefix})
        return
    typer.echo(issued.token)


@command(token_app, "list")
def token_list(
    ctx: typer.Context,
    slug: str,
    as_json: bool = typer.Option(False, "--json", help="Print one JSON document."),
) -> None:
    """List tokens: id, prefix, created, last used, revoked."""
    from scimgate.accounts import lookup

    print_account_rows(ctx, slug, lookup.tokens_of, _token_line, as_json=as_json)


def _token_line(t: dict[str, Any]) -> str:
    """One token: id, prefix, created, last used, live or revoked, name."""
    state = f"revoked {t['revoked_at']:%Y-%m-%d %H:%M}" if t["revoked_at"] else "live"
    used = f"{t['last_used_at']:%Y-%m-%d %H:%M}" if t["last_used_at"] else "never"
    return f"{t['id']:>5}  {t['prefix']}…  created {t['created_at']:%Y-%m-%d %H:%M}  last used {used}  {state}  {t['name']}"


@command(token_app, "revoke")
def token_revoke(ctx: typer.Context, slug: str, token_id: int) -> None:
    """Revoke a token by id; the next request with it gets 401."""
    from scimgate.accounts import service as accounts

    with transaction(ctx) as conn:
        accounts.revoke_token(conn, account_id_of(conn, slug), token_id, actor=actor())
    typer.echo(f"token {token_id} revoked")


@command(provisioning_app, "profile")
def provisioning_profile(
    ctx: typer.Context,
    slug: str,
    as_json: bool = typer.Option(False, "--json", help="Print one JSON document."),
) -> None:
    """Which identity provider calls /scim/v2 for this account, and with which habits."""
    from scimgate.provisioning import idp_profile

    with transaction(ctx) as conn:
        found = idp_profile.as_document(idp_profile.profile(conn, account_id_of(conn, slug)))
    if as_json:
        print_json(found)
        return
    typer.echo(f"Connected IdP: {found['headline']} (confidence: {found['confidence']})")
    if found["since"]:
        typer.echo(f"Since:         {found['since']}")
    if found["user_agent"]:
        typer.echo(f"User-Agent:    {found['user_agent']}")
    for habit in found["habits"]:
        typer.echo(
            f"- {habit['label']}: {habit['count']} requests, {habit['first_seen']} .. "
            f"{habit['last_seen']}; scimgate: {habit['handling']}"
        )
