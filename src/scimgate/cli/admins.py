"""Console admins: the people who sign in to an account's console."""

from __future__ import annotations

import sys
from typing import Any

import typer

from scimgate.cli.core import (
    CliError,
    account_id_of,
    actor,
    command,
    print_account_rows,
    settings,
    transaction,
)
from scimgate.timestamps import iso_utc

app = typer.Typer(help="People who sign in to an account's console.", no_args_is_help=True)
PASSWORD_STDIN = typer.Option(
    False, "--password-stdin", help="Read the password from the first line of stdin."
)


def _read_password(from_stdin: bool) -> str:
    """The new password: the first line of stdin, or asked twice at a hidden prompt."""
    if from_stdin:
        line = sys.stdin.readline()
        return line.rstrip("\r\n")
    if not sys.stdin.isatty():
        raise CliError("no terminal to ask for a password: pass --password-stdin")
    return typer.prompt("Password", hide_input=True, confirmation_prompt=True)


@command(app, "create")
def admin_create(
    ctx: typer.Context, slug: str, email: str, password_stdin: bool = PASSWORD_STDIN
) -> None:
    """Create a console admin of an account (password at least 12 characters)."""
    from scimgate.admins import service as admins

    public_url = settings(ctx).public_url
    password = admins.check_password(_read_password(password_stdin))
    with transaction(ctx) as conn:
        created = admins.create_admin(
            conn, account_id_of(conn, slug), email, password, actor=actor()
        )
    typer.echo(f"created admin {created['email']} of account {slug!r}")
    typer.echo(f"sign in at {public_url}/console/login?account={slug}")


@command(app, "password")
def admin_password(
    ctx: typer.Context, slug: str, email: str, password_stdin: bool = PASSWORD_STDIN
) -> None:
    """Set a new password for an admin and sign out all of their console sessions."""
    from scimgate.admins import service as admins

    settings(ctx)  # a bad setting fails before the password is asked for
    password = admins.check_password(_read_password(password_stdin))
    with transaction(ctx) as conn:
        ended = admins.reset_password(
            conn, account_id_of(conn, slug), email, password, actor=actor()
        )
    typer.echo(f"password of {email} in account {slug!r} changed")
    typer.echo(f"{ended} console session{'' if ended == 1 else 's'} signed out")


@command(app, "list")
def admin_list(
    ctx: typer.Context,
    slug: str,
    as_json: bool = typer.Option(False, "--json", help="Print one JSON document."),
) -> None:
    """List an account's console admins."""
    from scimgate.admins import service as admins

    print_account_rows(ctx, slug, admins.list_admins, _admin_line, as_json=as_json)


def _admin_line(row: dict[str, Any]) -> str:
    """One admin: e-mail and last sign-in."""
    last = row["last_signin_at"]
    return f"{row['email']}\tlast sign-in {iso_utc(last) if last else 'never'}"
