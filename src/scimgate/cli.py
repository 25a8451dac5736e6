"""The `scimgate` command line: a thin shell over the same services the web app uses.

Errors end the command with exit status 1 and one line on stderr, never a traceback.
"""

from __future__ import annotations

import functools
import json
import sys
from collections.abc import Callable
from typing import Any, TypeVar

import typer
from pydantic import ValidationError
from sqlalchemy.exc import OperationalError, ProgrammingError

from scimgate.accounts import service as accounts
from scimgate.errors import ServiceError
from scimgate.logs import configure_logging
from scimgate.settings import Settings
from scimgate.store import accounts as account_store
from scimgate.store.database import make_engine
from scimgate.store.database import migrate as run_migrations

app = typer.Typer(
    help="scimgate: multi-tenant SCIM 2.0 user provisioning.",
    no_args_is_help=True,
    add_completion=False,
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
app.add_typer(account_app, name="account")
app.add_typer(provisioning_app, name="provisioning")
app.add_typer(token_app, name="token")

F = TypeVar("F", bound=Callable[..., Any])


class CliError(Exception):
    """A message for stderr and exit status 1."""


def fail(message: str) -> None:
    """Print one line to stderr and exit 1."""
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(1)


def guarded(func: F) -> F:
    """Turn expected failures into one stderr line and exit status 1."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except typer.Exit:
            raise
        except (ServiceError, CliError) as exc:
            fail(str(exc))
        except ValidationError as exc:
            first = exc.errors()[0]
            fail(f"invalid setting {'.'.join(str(p) for p in first['loc'])}: {first['msg']}")
        except (OperationalError, ProgrammingError) as exc:
            fail(
                f"database error ({type(exc.orig).__name__}): is the database reachable and migrated? run 'scimgate migrate'"
            )
        except ValueError as exc:
            fail(str(exc))

    return wrapper  # type: ignore[return-value]


def _settings() -> Settings:
    return Settings()


def _tx(settings: Settings):  # type: ignore[no-untyped-def]
    return make_engine(settings.database_url, pool=False).begin()


def _print_json(value: Any) -> None:
    sys.stdout.write(json.dumps(value, default=str) + "\n")


@app.command()
@guarded
def migrate() -> None:
    """Create or upgrade the database schema."""
    settings = _settings()
    run_migrations(settings.database_url)
    typer.echo("database is up to date", err=True)


@app.command()
@guarded
def serve(
    host: str = typer.Option("127.0.0.1", help="Interface to listen on."),
    port: int = typer.Option(8000, min=1, max=65535, help="TCP port."),
    workers: int = typer.Option(1, min=1, max=64, help="Worker processes."),
) -> None:
    """Serve /scim/v2 over HTTP."""
    import uvicorn

    settings = _settings()
    settings.check_production()
    configure_logging(settings)
    if workers == 1:
        from scimgate.web.app import create_app

        uvicorn.run(
            create_app(settings),
            host=host,
            port=port,
            access_log=False,
            log_config=None,
            server_header=False,
        )
    else:
        uvicorn.run(
            "scimgate.web.app:app_from_env",
            factory=True,
            host=host,
            port=port,
            workers=workers,
            access_log=False,
            log_config=None,
            server_header=False,
        )


@app.command()
@guarded
def demo(
    host: str = typer.Option("127.0.0.1", help="Interface to listen on."),
    port: int = typer.Option(8000, min=1, max=65535, help="TCP port."),
    no_serve: bool = typer.Option(False, "--no-serve", help="Set up and print, but do not serve."),
) -> None:
    """Migrate, create an entitled demo account with provisioning active, print its credentials, serve."""
    settings = _settings()
    run_migrations(settings.database_url)
    with _tx(settings) as conn:
        try:
            account_store.get_account(conn, "demo")
        except ServiceError:
            accounts.create_account(conn, "demo", name="Demo Company", entitled=True)
        issued = accounts.activate_provisioning(conn, "demo")
    typer.echo("")
    typer.echo("scimgate demo account 'demo' is ready")
    typer.echo(f"  Tenant URL:    {settings.tenant_url}")
    typer.echo(f"  Secret Token:  {issued.token}")
    typer.echo("  Console login: the admin console ships with issue [3/4]; use the CLI meanwhile")
    typer.echo(
        f"  Try:           curl -H 'Authorization: Bearer {issued.token}' {settings.tenant_url}/Users"
    )
    typer.echo("")
    if not no_serve:
        serve(host=host, port=port, workers=1)


@account_app.command("create")
@guarded
def account_create(
    slug: str,
    name: str | None = typer.Option(None, help="Display name (default: the slug)."),
    entitled: bool = typer.Option(
        False, "--entitled", help="Entitle the account to user provisioning."
    ),
) -> None:
    """Create an account."""
    settings = _settings()
    with _tx(settings) as conn:
        row = accounts.create_account(conn, slug, name=name, entitled=entitled)
    typer.echo(f"created account {row['slug']!r}{' (entitled)' if entitled else ''}")


@account_app.command("entitle")
@guarded
def account_entitle(slug: str) -> None:
    """Entitle an account to user provisioning (an enterprise feature, off by default)."""
    settings = _settings()
    with _tx(settings) as conn:
        accounts.entitle(conn, slug)
    typer.echo(f"account {slug!r} is entitled to user provisioning")


@provisioning_app.command("activate")
@guarded
def provisioning_activate(
    slug: str, as_json: bool = typer.Option(False, "--json", help="Print one JSON document.")
) -> None:
    """Activate user provisioning: prints the Tenant URL and a new Secret Token (shown once)."""
    settings = _settings()
    with _tx(settings) as conn:
        issued = accounts.activate_provisioning(conn, slug)
    if as_json:
        _print_json(
            {"tenant_url": settings.tenant_url, "token": issued.token, "token_id": issued.id}
        )
        return
    typer.echo(f"Tenant URL:   {settings.tenant_url}")
    typer.echo(f"Secret Token: {issued.token}")
    typer.echo("The token is shown once; store it in your identity provider now.", err=True)


@provisioning_app.command("deactivate")
@guarded
def provisioning_deactivate(slug: str) -> None:
    """Deactivate user provisioning: every token of the account stops working at once."""
    settings = _settings()
    with _tx(settings) as conn:
        accounts.deactivate_provisioning(conn, slug)
    typer.echo(f"user provisioning is off for {slug!r}")


@token_app.command("issue")
@guarded
def token_issue(
    slug: str,
    name: str = typer.Option("", help="A label for the token."),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON document."),
) -> None:
    """Issue another token (rotation: the old ones stay live until revoked)."""
    settings = _settings()
    with _tx(settings) as conn:
        row = account_store.get_account(conn, slug)
        if not row["provisioning_entitled"]:
            raise CliError(
                f"user provisioning is an enterprise feature: ask your operator to entitle {slug!r}"
            )
        issued = accounts.issue_token(conn, row["id"], name=name)
    if as_json:
        _print_json({"id": issued.id, "token": issued.token, "prefix": issued.prefix})
        return
    typer.echo(issued.token)


@token_app.command("list")
@guarded
def token_list(
    slug: str, as_json: bool = typer.Option(False, "--json", help="Print one JSON document.")
) -> None:
    """List tokens: id, prefix, created, last used, revoked."""
    settings = _settings()
    with _tx(settings) as conn:
        row = account_store.get_account(conn, slug)
        tokens = account_store.list_tokens(conn, row["id"])
    if as_json:
        _print_json(tokens)
        return
    for t in tokens:
        state = f"revoked {t['revoked_at']:%Y-%m-%d %H:%M}" if t["revoked_at"] else "live"
        used = f"{t['last_used_at']:%Y-%m-%d %H:%M}" if t["last_used_at"] else "never"
        typer.echo(
            f"{t['id']:>5}  {t['prefix']}…  created {t['created_at']:%Y-%m-%d %H:%M}  last used {used}  {state}  {t['name']}"
        )


@token_app.command("revoke")
@guarded
def token_revoke(slug: str, token_id: int) -> None:
    """Revoke a token by id; the next request with it gets 401."""
    settings = _settings()
    with _tx(settings) as conn:
        accounts.revoke_token(conn, slug, token_id)
    typer.echo(f"token {token_id} revoked")


def main() -> None:
    """Console script entry point."""
    app()
