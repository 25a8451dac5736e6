"""The `scimgate` command line: a thin shell over the same services the web app uses.

Errors end the command with exit status 1 and one line on stderr, never a traceback.
"""

from __future__ import annotations

import functools
import json
import os
import sqlite3
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Annotated, Any, TypeVar

import psycopg
import typer
from pydantic import ValidationError
from sqlalchemy import Connection
from sqlalchemy.exc import OperationalError, ProgrammingError

from scimgate import audit
from scimgate.accounts import api_keys
from scimgate.accounts import demo as demo_account
from scimgate.accounts import service as accounts
from scimgate.admins import service as admins
from scimgate.errors import ServiceError
from scimgate.logs import configure_logging
from scimgate.mapping import service as mapping
from scimgate.members import listing, properties
from scimgate.members import service as members
from scimgate.settings import Settings
from scimgate.store import accounts as account_store
from scimgate.store.database import MigrationReport, as_utc, is_timeout, iso_utc, make_engine
from scimgate.store.database import migrate as run_migrations
from scimgate.sync import history, schedule
from scimgate.sync.engine import SyncBusyError, SyncOptions, synchronize
from scimgate.webhooks import delivery
from scimgate.webhooks import service as webhooks

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
member_app = typer.Typer(help="List and add the product's members.", no_args_is_help=True)
property_app = typer.Typer(help="Typed member fields (Properties).", no_args_is_help=True)
team_app = typer.Typer(
    help="Teams: the product's mirror of directory groups.", no_args_is_help=True
)
mapping_app = typer.Typer(
    help="Attribute mapping: SCIM attributes onto member fields and Properties.",
    no_args_is_help=True,
)
app.add_typer(member_app, name="member")
app.add_typer(property_app, name="property")
app.add_typer(team_app, name="team")
app.add_typer(mapping_app, name="mapping")
app.add_typer(account_app, name="account")
app.add_typer(provisioning_app, name="provisioning")
app.add_typer(token_app, name="token")
admin_app = typer.Typer(help="People who sign in to an account's console.", no_args_is_help=True)
app.add_typer(admin_app, name="admin")
apikey_app = typer.Typer(
    help="API keys: how the host product calls /api/v1 (not provisioning tokens).",
    no_args_is_help=True,
)
app.add_typer(apikey_app, name="apikey")
webhook_app = typer.Typer(
    help="Webhook endpoints: signed, ordered deliveries of member and team events.",
    no_args_is_help=True,
)
app.add_typer(webhook_app, name="webhook")

F = TypeVar("F", bound=Callable[..., Any])
DEMO_ADMIN = "admin@demo.example"


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
            if is_timeout(exc):  # a lock another process holds: say so, not "migrate"
                detail = str(exc.orig).splitlines()[0] if str(exc.orig) else "timed out"
                fail(f"database error ({type(exc.orig).__name__}): {detail}; try again")
            fail(
                f"database error ({type(exc.orig).__name__}): is the database reachable and migrated? run 'scimgate migrate'"
            )
        except (sqlite3.Error, psycopg.Error) as exc:
            # Raised by the driver directly (pre-written SQL, BEGIN IMMEDIATE on SQLite).
            fail(
                f"database error ({type(exc).__name__}): {str(exc).splitlines()[0] if str(exc) else 'no detail'}"
            )
        except ValueError as exc:
            fail(str(exc))

    return wrapper  # type: ignore[return-value]


def _settings() -> Settings:
    return Settings()


@contextmanager
def _tx(settings: Settings) -> Iterator[Connection]:
    """One write transaction (BEGIN IMMEDIATE on SQLite: it waits for a busy writer)."""
    engine = make_engine(settings.database_url, pool=False)
    try:
        with engine.connect() as conn:
            conn.execution_options(writes=True)
            with conn.begin():
                yield conn
    finally:
        engine.dispose()


def _print_json(value: Any) -> None:
    sys.stdout.write(json.dumps(value, default=_json_default) + "\n")


def _json_default(value: Any) -> Any:
    """Datetimes as ISO 8601 in UTC with a Z, as /api/v1 and webhooks write them."""
    if isinstance(value, datetime):
        return iso_utc(value)
    return str(value)


def _account_id(conn: Connection, slug: str) -> int:
    return int(account_store.get_account(conn, slug)["id"])


@app.command()
@guarded
def migrate() -> None:
    """Create or upgrade the database schema."""
    settings = _settings()
    typer.echo(_migration_summary(run_migrations(settings.database_url)), err=True)


def _migration_summary(report: MigrationReport) -> str:
    """One line: created at X, upgraded from X to Y (and what), or already at X."""
    if not report.applied:
        return f"database is up to date at revision {report.after}"
    if report.before is None:
        return f"created the database schema at revision {report.after}"
    steps = ", ".join(f"{rev} {title}" for rev, title in report.applied)
    return f"upgraded the database schema from revision {report.before} to {report.after}: {steps}"


@app.command()
@guarded
def serve(
    host: str = typer.Option("127.0.0.1", help="Interface to listen on."),
    port: int = typer.Option(8000, min=1, max=65535, help="TCP port."),
    workers: int = typer.Option(1, min=1, max=64, help="Worker processes."),
) -> None:
    """Serve /scim/v2 over HTTP (timeouts, connection limit, proxies: docs/operations.md)."""
    from scimgate.web import server

    settings = _settings()
    settings.check_production()
    configure_logging(settings)
    server.serve(settings, host=host, port=port, workers=workers)


@app.command()
@guarded
def demo(
    host: str = typer.Option("127.0.0.1", help="Interface to listen on."),
    port: int = typer.Option(8000, min=1, max=65535, help="TCP port."),
    no_serve: bool = typer.Option(False, "--no-serve", help="Set up and print, but do not serve."),
) -> None:
    """Migrate, create an entitled demo account with provisioning active, print its credentials, serve."""
    settings = _settings()
    if "public_url" not in settings.model_fields_set and (host, port) != ("127.0.0.1", 8000):
        # The printed Tenant URL, and the server's Location headers, follow --host/--port.
        shown = "127.0.0.1" if host in ("0.0.0.0", "::") else host
        shown = f"[{shown}]" if ":" in shown else shown
        os.environ["SCIMGATE_PUBLIC_URL"] = f"http://{shown}:{port}"
        settings = _settings()
    run_migrations(settings.database_url)
    with _tx(settings) as conn:
        setup = demo_account.prepare_demo(conn, admin_email=DEMO_ADMIN, actor=audit.cli_actor())
    _print_demo(settings, setup)
    if not no_serve:
        serve(host=host, port=port, workers=1)


def _print_demo(settings: Settings, setup: demo_account.DemoSetup) -> None:
    """The demo's addresses, and its secrets when this run made them (else how to get new)."""
    typer.echo("")
    if setup.created:
        state = "is ready"
    elif setup.token or setup.password:
        state = "was set up before; what no longer worked is made again"
    else:
        state = "was set up before and is kept as it was"
    typer.echo(f"scimgate demo account 'demo' {state}")
    typer.echo(f"  Tenant URL:    {settings.tenant_url}")
    if setup.token:
        typer.echo(f"  Secret Token:  {setup.token}")
    else:
        live = ", ".join(f"{prefix}…" for prefix in setup.token_prefixes)
        typer.echo(f"  Secret Token:  live ({live}), printed when it was made; not kept in clear")
    typer.echo(f"  Console:       {settings.public_url}/console/login?account=demo")
    password = setup.password or "as printed on the first run"
    typer.echo(f"  Console login: account demo, email {DEMO_ADMIN}, password {password}")
    if setup.token:
        typer.echo(
            f"  Try:           curl -H 'Authorization: Bearer {setup.token}' {settings.tenant_url}/Users"
        )
    typer.echo("")
    if setup.token or setup.password:
        typer.echo("Copy what is printed above now: it is not shown again.", err=True)
    if not setup.token:
        typer.echo("A new Secret Token: scimgate token issue demo", err=True)
    if not setup.password:
        typer.echo(f"A new password: scimgate admin password demo {DEMO_ADMIN}", err=True)


def _read_password(from_stdin: bool) -> str:
    """The new password: the first line of stdin, or asked twice at a hidden prompt."""
    if from_stdin:
        line = sys.stdin.readline()
        return line.rstrip("\r\n")
    if not sys.stdin.isatty():
        raise CliError("no terminal to ask for a password: pass --password-stdin")
    return typer.prompt("Password", hide_input=True, confirmation_prompt=True)


@admin_app.command("create")
@guarded
def admin_create(
    slug: str,
    email: str,
    password_stdin: bool = typer.Option(
        False, "--password-stdin", help="Read the password from the first line of stdin."
    ),
) -> None:
    """Create a console admin of an account (password at least 12 characters)."""
    settings = _settings()
    password = admins.check_password(_read_password(password_stdin))
    with _tx(settings) as conn:
        created = admins.create_admin(conn, slug, email, password, actor=audit.cli_actor())
    typer.echo(f"created admin {created['email']} of account {slug!r}")
    typer.echo(f"sign in at {settings.public_url}/console/login?account={slug}")


@admin_app.command("password")
@guarded
def admin_password(
    slug: str,
    email: str,
    password_stdin: bool = typer.Option(
        False, "--password-stdin", help="Read the password from the first line of stdin."
    ),
) -> None:
    """Set a new password for an admin and sign out all of their console sessions."""
    settings = _settings()
    password = admins.check_password(_read_password(password_stdin))
    with _tx(settings) as conn:
        ended = admins.reset_password(conn, slug, email, password, actor=audit.cli_actor())
    typer.echo(f"password of {email} in account {slug!r} changed")
    typer.echo(f"{ended} console session{'' if ended == 1 else 's'} signed out")


@admin_app.command("list")
@guarded
def admin_list(
    slug: str, as_json: bool = typer.Option(False, "--json", help="Print one JSON document.")
) -> None:
    """List an account's console admins."""
    settings = _settings()
    with _tx(settings) as conn:
        rows = admins.list_admins(conn, slug)
    if as_json:
        _print_json(rows)
        return
    for row in rows:
        last = row["last_signin_at"]
        typer.echo(f"{row['email']}\tlast sign-in {iso_utc(last) if last else 'never'}")


@apikey_app.command("create")
@guarded
def apikey_create(
    slug: str,
    name: str = typer.Option("", help="What the key is for."),
    as_json: bool = typer.Option(False, "--json", help='Print {"id": ..., "key": ...}.'),
) -> None:
    """Create an API key (shown once)."""
    settings = _settings()
    with _tx(settings) as conn:
        issued = api_keys.create_key(conn, slug, name=name, actor=audit.cli_actor())
    if as_json:
        _print_json({"id": issued.id, "key": issued.key, "prefix": issued.prefix})
        return
    typer.echo(f"API key {issued.id} (shown once): {issued.key}")
    typer.echo(
        f"use it as: curl -H 'Authorization: Bearer {issued.key}' {settings.public_url}/api/v1/members"
    )


@apikey_app.command("list")
@guarded
def apikey_list(
    slug: str, as_json: bool = typer.Option(False, "--json", help="Print one JSON document.")
) -> None:
    """List an account's API keys (prefixes only)."""
    settings = _settings()
    with _tx(settings) as conn:
        rows = api_keys.list_keys(conn, slug)
    if as_json:
        _print_json(rows)
        return
    for row in rows:
        state = "revoked" if row["revoked_at"] else "live"
        used = iso_utc(row["last_used_at"]) if row["last_used_at"] else "never"
        typer.echo(f"{row['id']}\t{row['prefix']}…\t{state}\tlast used {used}\t{row['name']}")


@apikey_app.command("revoke")
@guarded
def apikey_revoke(slug: str, key_id: int) -> None:
    """Revoke an API key: requests with it get 401 at once."""
    settings = _settings()
    with _tx(settings) as conn:
        api_keys.revoke_key(conn, slug, key_id, actor=audit.cli_actor())
    typer.echo(f"API key {key_id} of account {slug!r} revoked")


@webhook_app.command("add")
@guarded
def webhook_add(
    slug: str,
    url: str,
    event: list[str] = typer.Option(None, "--event", help="Only this event type (repeatable)."),
    as_json: bool = typer.Option(False, "--json", help='Print {"id": ..., "secret": ...}.'),
) -> None:
    """Add an endpoint; it receives events written from now on (secret shown once)."""
    settings = _settings()
    with _tx(settings) as conn:
        added = webhooks.add_endpoint(
            conn,
            slug,
            url,
            event_types=event or [],
            allow_private=settings.webhooks_allow_private,
            actor=audit.cli_actor(),
        )
    if as_json:
        _print_json({"id": added["id"], "secret": added["secret"]})
        return
    typer.echo(f"webhook endpoint {added['id']} -> {added['url']}")
    typer.echo(f"signing secret (shown once): {added['secret']}")


@webhook_app.command("list")
@guarded
def webhook_list(
    slug: str, as_json: bool = typer.Option(False, "--json", help="Print one JSON document.")
) -> None:
    """List endpoints with their state (active or failing) and last error."""
    settings = _settings()
    with _tx(settings) as conn:
        rows = webhooks.list_endpoints(conn, slug)
    if as_json:
        _print_json(rows)
        return
    for row in rows:
        types = ",".join(row["event_types"]) or "all events"
        typer.echo(
            f"{row['id']}\t{row['status']}\t{row['url']}\t{types}\t{row['last_error'] or ''}"
        )


@webhook_app.command("remove")
@guarded
def webhook_remove(slug: str, endpoint_id: int) -> None:
    """Remove an endpoint and its delivery log."""
    settings = _settings()
    with _tx(settings) as conn:
        webhooks.remove_endpoint(conn, slug, endpoint_id, actor=audit.cli_actor())
    typer.echo(f"webhook endpoint {endpoint_id} removed")


@webhook_app.command("deliveries")
@guarded
def webhook_deliveries(
    slug: str,
    endpoint_id: int,
    limit: int = typer.Option(50, min=1, max=1000),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON document."),
) -> None:
    """The delivery log of an endpoint, newest first."""
    settings = _settings()
    with _tx(settings) as conn:
        rows = webhooks.deliveries(conn, slug, endpoint_id, limit=limit)
    if as_json:
        _print_json(rows)
        return
    for r in rows:
        typer.echo(
            f"{iso_utc(r['at'])}\tevent {r['event_seq']} {r['event_type']}\t"
            f"attempt {r['attempt']}\t{r['status_code'] or '-'}\t{r['error'] or ''}"
        )


@webhook_app.command("resume")
@guarded
def webhook_resume(slug: str, endpoint_id: int) -> None:
    """Retry a failing endpoint now, from the event it is stuck on."""
    settings = _settings()
    with _tx(settings) as conn:
        webhooks.resume(conn, slug, endpoint_id, actor=audit.cli_actor())
    typer.echo(f"webhook endpoint {endpoint_id} resumed")


@webhook_app.command("redeliver")
@guarded
def webhook_redeliver(slug: str, endpoint_id: int, seq: int) -> None:
    """Send one past event to an endpoint again, now."""
    settings = _settings()
    with _tx(settings) as conn:
        account_id = _account_id(conn, slug)
    engine = make_engine(settings.database_url, pool=False)
    try:
        outcome = delivery.redeliver(engine, settings, account_id, endpoint_id, seq)
    finally:
        engine.dispose()
    if not outcome.ok:
        raise CliError(f"redelivery failed: {outcome.error}")
    typer.echo(f"event {seq} redelivered: HTTP {outcome.status_code}")


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
        row = accounts.create_account(
            conn, slug, name=name, entitled=entitled, actor=audit.cli_actor()
        )
    typer.echo(f"created account {row['slug']!r}{' (entitled)' if entitled else ''}")


@account_app.command("entitle")
@guarded
def account_entitle(slug: str) -> None:
    """Entitle an account to user provisioning (an enterprise feature, off by default)."""
    settings = _settings()
    with _tx(settings) as conn:
        accounts.entitle(conn, slug, actor=audit.cli_actor())
    typer.echo(f"account {slug!r} is entitled to user provisioning")


@provisioning_app.command("activate")
@guarded
def provisioning_activate(
    slug: str, as_json: bool = typer.Option(False, "--json", help="Print one JSON document.")
) -> None:
    """Activate user provisioning: prints the Tenant URL and a new Secret Token (shown once)."""
    settings = _settings()
    with _tx(settings) as conn:
        issued = accounts.activate_provisioning(conn, slug, actor=audit.cli_actor())
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
        accounts.deactivate_provisioning(conn, slug, actor=audit.cli_actor())
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
        issued = accounts.issue_token(conn, row["id"], name=name, actor=audit.cli_actor())
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
        accounts.revoke_token(conn, slug, token_id, actor=audit.cli_actor())
    typer.echo(f"token {token_id} revoked")


# ---- members, Properties, teams ----


@member_app.command("list")
@guarded
def member_list(
    slug: str,
    as_json: bool = typer.Option(False, "--json", help="Print one JSON array."),
    status: str | None = typer.Option(None, help="active or deactivated."),
    source: str | None = typer.Option(None, help="scim or manual."),
    search: str | None = typer.Option(None, help="Part of an email or name."),
) -> None:
    """List members with their Property values."""
    with _tx(_settings()) as conn:
        rows = members.member_documents(
            conn, _account_id(conn, slug), status=status, source=source, search=search
        )
    if as_json:
        _print_json(rows)
        return
    for row in rows:
        props = ", ".join(f"{k}={v}" for k, v in row["properties"].items())
        typer.echo(
            f"{row['email'] or '-':<40} {row['name']:<30} {row['status']:<11} {row['source']:<6} {props}"
        )


@member_app.command("add")
@guarded
def member_add(
    slug: str,
    email: str,
    name: str = typer.Option("", help="Display name (default: the part of the email before @)."),
) -> None:
    """Add a manual member (Synchronize links it to a staged user with the same email)."""
    with _tx(_settings()) as conn:
        row = members.add_member(conn, _account_id(conn, slug), email, name=name)
    typer.echo(f"added member {row['email']} ({row['id']})")


@property_app.command("create")
@guarded
def property_create(
    slug: str,
    name: str,
    kind: str = typer.Option(..., "--type", help="text, number, date, boolean, select or member."),
    option: list[str] = typer.Option(
        [], "--option", help="An option of a select Property (repeat)."
    ),
) -> None:
    """Create a Property (a typed member field)."""
    with _tx(_settings()) as conn:
        row = members.create_property(
            conn, _account_id(conn, slug), name, kind, option, actor=audit.cli_actor()
        )
    typer.echo(f"created Property {row['name']!r} ({row['type']})")


@property_app.command("list")
@guarded
def property_list(
    slug: str, as_json: bool = typer.Option(False, "--json", help="Print one JSON array.")
) -> None:
    """List Properties and what each is mapped from."""
    with _tx(_settings()) as conn:
        rows = members.list_properties(conn, _account_id(conn, slug))
    if as_json:
        _print_json(rows)
        return
    for row in rows:
        options = f" [{', '.join(row['options'])}]" if row["options"] else ""
        mapped = f"  <- {row['mapped_from']}" if row["mapped_from"] else ""
        typer.echo(f"{row['name']:<30} {row['type']}{options}{mapped}")


@property_app.command("show")
@guarded
def property_show(
    slug: str,
    name: str,
    as_json: bool = typer.Option(False, "--json", help="Print one JSON document."),
) -> None:
    """Show a Property: its type, what fills it, and how many members hold each value."""
    with _tx(_settings()) as conn:
        account_id = _account_id(conn, slug)
        row = properties.detail(conn, account_id, properties.find(conn, account_id, name)["id"])
    if as_json:
        _print_json(row)
        return
    typer.echo(f"{row['name']} ({row['type']}, id {row['id']})")
    typer.echo(f"mapped from: {row['mapped_from'] or '-'}")
    typer.echo(f"members with a value: {row['usage']['members']}")
    for option, count in row["usage"].get("options", {}).items():
        typer.echo(f"  {option:<30} {count}")


@property_app.command("rename")
@guarded
def property_rename(slug: str, name: str, new_name: str) -> None:
    """Rename a Property (its mapping and member values stay with it)."""
    with _tx(_settings()) as conn:
        account_id = _account_id(conn, slug)
        prop = properties.find(conn, account_id, name)
        row = properties.rename(conn, account_id, prop["id"], new_name, actor=audit.cli_actor())
    typer.echo(f"renamed Property {prop['name']!r} to {row['name']!r}")


def _renames(pairs: list[str]) -> dict[str, str]:
    """OLD=NEW arguments of --rename."""
    out: dict[str, str] = {}
    for pair in pairs:
        old, sep, new = pair.partition("=")
        if not sep or not old.strip() or not new.strip():
            raise CliError(f"--rename takes OLD=NEW, not {pair!r}")
        out[old.strip()] = new.strip()
    return out


@property_app.command("options")
@guarded
def property_options(
    slug: str,
    name: str,
    add: Annotated[list[str] | None, typer.Option("--add", help="A new option (repeat).")] = None,
    rename: Annotated[
        list[str] | None,
        typer.Option("--rename", help="OLD=NEW: members holding OLD now hold NEW (repeat)."),
    ] = None,
    remove: Annotated[
        list[str] | None, typer.Option("--remove", help="An option to remove (repeat).")
    ] = None,
    clear: Annotated[
        bool, typer.Option("--clear", help="Clear the value of members holding a removed option.")
    ] = False,
) -> None:
    """Change a select Property's options (with none: list them with member counts).

    Removing an option members still hold is refused unless --clear is given.
    """
    with _tx(_settings()) as conn:
        account_id = _account_id(conn, slug)
        prop = properties.find(conn, account_id, name)
        if add or rename or remove:
            options, renamed = properties.edit_options(
                list(prop["options"] or []),
                add=add or [],
                rename=_renames(rename or []),
                remove=remove or [],
            )
            try:
                properties.update_options(
                    conn,
                    account_id,
                    prop["id"],
                    options,
                    renamed=renamed,
                    clear_removed=clear,
                    actor=audit.cli_actor(),
                )
            except properties.OptionsInUseError as exc:
                raise CliError(f"{exc.detail} (pass --clear to clear them)") from None
        row = properties.detail(conn, account_id, prop["id"])
    if row["type"] != "select":
        raise CliError(f"{row['name']!r} is a {row['type']} Property: only select has options")
    for option, count in row["usage"]["options"].items():
        typer.echo(f"{option:<30} {count} member{'' if count == 1 else 's'}")


@property_app.command("delete")
@guarded
def property_delete(
    slug: str,
    name: str,
    yes: bool = typer.Option(False, "--yes", help="Confirm: the mapping and values go too."),
) -> None:
    """Delete a Property, the mapping onto it and every member's value of it."""
    with _tx(_settings()) as conn:
        account_id = _account_id(conn, slug)
        prop = properties.find(conn, account_id, name)
        impact = properties.delete_impact(conn, account_id, prop["id"])
        what = _delete_summary(impact)
        if not yes:
            raise CliError(f"deleting {what}: run again with --yes to confirm")
        properties.delete(conn, account_id, prop["id"], actor=audit.cli_actor())
    typer.echo(f"deleted {what}")


def _delete_summary(impact: dict[str, Any]) -> str:
    """What a Property's deletion takes with it, in one line."""
    n = impact["members"]
    mapped = f", its mapping from {impact['mapped_from']}" if impact["mapped_from"] else ""
    return (
        f"Property {impact['property']['name']!r}{mapped} and the value{'' if n == 1 else 's'} "
        f"of {n} member{'' if n == 1 else 's'}"
    )


@team_app.command("list")
@guarded
def team_list(
    slug: str,
    as_json: bool = typer.Option(False, "--json", help="Print one JSON array."),
    with_members: bool = typer.Option(
        False, "--members", help="List each team's members under it, one per line."
    ),
) -> None:
    """List teams, one a line with its member count."""
    with _tx(_settings()) as conn:
        account_id = _account_id(conn, slug)
        if as_json:
            _print_json(members.list_teams(conn, account_id))
            return
        rows = listing.teams_with_counts(conn, account_id)
        for row in rows:
            count = row["member_count"]
            typer.echo(f"{row['name']}\t{count} member{'' if count == 1 else 's'}")
            if with_members:
                for person in listing.all_team_members(conn, account_id, row["id"]):
                    typer.echo(f"  {person['email'] or person['name']}")


@team_app.command("show")
@guarded
def team_show(
    slug: str,
    team: str = typer.Argument(..., help="The team's name or id."),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON document."),
) -> None:
    """Show one team and its members, one per line."""
    with _tx(_settings()) as conn:
        account_id = _account_id(conn, slug)
        found = listing.find_team(conn, account_id, team)
        people = listing.all_team_members(conn, account_id, found["id"])
    if as_json:
        _print_json({**found, "members": people})
        return
    typer.echo(f"{found['name']} ({found['member_count']} members, id {found['id']})")
    for person in people:
        typer.echo(f"{person['email'] or '-'}\t{person['name']}\t{person['status']}")


# ---- attribute mapping ----


@mapping_app.command("set")
@guarded
def mapping_set(slug: str, target: str, scim_path: str) -> None:
    """Map a SCIM path onto a member field (name, email) or a Property; `a || b` tries a, then b."""
    with _tx(_settings()) as conn:
        row = mapping.set_mapping(
            conn, _account_id(conn, slug), target, scim_path, actor=audit.cli_actor()
        )
    typer.echo(f"{row['target']} <- {row['source']}")


@mapping_app.command("list")
@guarded
def mapping_list(
    slug: str, as_json: bool = typer.Option(False, "--json", help="Print one JSON array.")
) -> None:
    """List the attribute mapping."""
    with _tx(_settings()) as conn:
        account_id = _account_id(conn, slug)
        mapping.ensure_defaults(conn, account_id)
        rows = mapping.list_mappings(conn, account_id)
    if as_json:
        _print_json(rows)
        return
    for row in rows:
        typer.echo(f"{row['target']:<30} ({row['type']}) <- {row['source']}")


@mapping_app.command("remove")
@guarded
def mapping_remove(slug: str, target: str) -> None:
    """Stop mapping onto a member field or Property."""
    with _tx(_settings()) as conn:
        mapping.remove_mapping(conn, _account_id(conn, slug), target, actor=audit.cli_actor())
    typer.echo(f"{target} is no longer mapped")


@mapping_app.command("preview")
@guarded
def mapping_preview(
    slug: str,
    limit: int = typer.Option(5, help="How many staged users (1-100)."),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON array."),
) -> None:
    """Show what the mapping produces for sample staged users."""
    with _tx(_settings()) as conn:
        rows = mapping.preview(conn, _account_id(conn, slug), limit=limit)
    if as_json:
        _print_json(rows)
        return
    if not rows:
        typer.echo("no staged users yet", err=True)
    for row in rows:
        typer.echo(row["userName"])
        for target, value in row["values"].items():
            typer.echo(f"  {target:<28} {value if value is not None else '-'}")
        for target, error in row["errors"].items():
            typer.echo(f"  {target:<28} ! {error}")


# ---- Synchronize ----


@app.command()
@guarded
def sync(
    slug: str,
    dry_run: bool = typer.Option(False, "--dry-run", help="Plan only: write nothing."),
    confirm: int | None = typer.Option(None, "--confirm", help="Apply this held run."),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON document."),
) -> None:
    """Synchronize staging into members and teams (a big deactivation is held for confirmation)."""
    settings = _settings()
    if dry_run and confirm is not None:
        raise CliError("--dry-run and --confirm do not go together")
    engine = make_engine(settings.database_url, pool=False)
    with engine.begin() as conn:
        account_id = _account_id(conn, slug)
    try:
        result = synchronize(
            engine,
            account_id,
            trigger="cli",
            actor=audit.cli_actor(),
            dry_run=dry_run,
            confirm=confirm,
            options=SyncOptions.from_settings(settings),
        )
    except SyncBusyError as exc:
        raise CliError(f"{exc} (try again when it has finished)") from None
    if as_json:
        _print_json(result.as_json())
    else:
        c = result.counts
        label = f"run {result.run_id}" if result.run_id else "plan"
        typer.echo(
            f"{label}: {result.status}: {c['created']} created, {c['updated']} updated, "
            f"{c['deactivated']} deactivated, {c['reactivated']} reactivated, "
            f"{c['unchanged']} unchanged, {c['errors']} errors; teams {c['teams_created']} created, "
            f"{c['teams_renamed']} renamed, {c['teams_removed']} removed; memberships "
            f"+{c['memberships_added']} -{c['memberships_removed']}"
        )
        if result.would_hold:
            typer.echo("applying this plan would be held by the safety threshold", err=True)
        if result.confirmed_by:
            typer.echo(f"confirmed by {result.confirmed_by}", err=True)
    if result.status == "held":
        typer.echo(
            f"{result.detail} Confirm with: scimgate sync {slug} --confirm {result.run_id}",
            err=True,
        )
    if result.status == "failed":
        raise typer.Exit(1)


@app.command("sync-runs")
@guarded
def sync_runs(
    slug: str,
    run: int | None = typer.Option(None, "--run", help="Show the items of this run."),
    errors: bool = typer.Option(False, "--errors", help="With --run: only items with an error."),
    show: str | None = typer.Option(
        None, "--show", help="With --run: only created, updated, deactivated, reactivated or error."
    ),
    search: str | None = typer.Option(
        None, "--search", help="With --run: items whose person or team matches (name, userName)."
    ),
    limit: int = typer.Option(20, min=1, max=10_000, help="How many runs or items."),
    offset: int = typer.Option(0, min=0, help="With --run: skip this many items."),
    every: bool = typer.Option(False, "--all", help="With --run: every item, however many."),
    before: int | None = typer.Option(
        None, "--before", min=1, help="Runs older than this run id (the next page)."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON array."),
) -> None:
    """List sync runs (newest first), or the items of one run; says how to see the rest."""
    if errors:
        show = show or "error"
    more = ""
    with _tx(_settings()) as conn:
        account_id = _account_id(conn, slug)
        if run is not None:
            history.get_run(conn, account_id, run)
            rows, more = _run_items(conn, slug, account_id, run, show, search, limit, offset, every)
        else:
            cursor = str(before) if before is not None else None
            rows, next_cursor = history.run_page(conn, account_id, cursor=cursor, limit=limit)
            if next_cursor:
                more = f"older runs: scimgate sync-runs {slug} --before {next_cursor}"
    if as_json:
        _print_json(rows)
    elif run is not None:
        for item in rows:
            changes = ", ".join(
                f"{k}: {v[0]} -> {v[1]}" for k, v in (item["changes"] or {}).items()
            )
            error = f"  ! {item['error']}" if item["error"] else ""
            typer.echo(
                f"{item['seq']:>6} {item['kind']:<6} {item['action']:<10} {item['label'] or '-'}  {changes}{error}"
            )
    else:
        _print_runs(rows)
    if more:
        typer.echo(more, err=True)


def _run_items(
    conn: Connection,
    slug: str,
    account_id: int,
    run: int,
    show: str | None,
    search: str | None,
    limit: int,
    offset: int,
    every: bool,
) -> tuple[list[dict[str, Any]], str]:
    """The items of a run asked for, and a line saying how to see the rest (if any)."""
    if every:
        rows, total = history.run_items(
            conn, account_id, run, show=show, search=search, limit=1000, offset=offset
        )
        while len(rows) < total - offset:
            page, _ = history.run_items(
                conn,
                account_id,
                run,
                show=show,
                search=search,
                limit=1000,
                offset=offset + len(rows),
            )
            if not page:
                break
            rows.extend(page)
        return rows, ""
    rows, total = history.run_items(
        conn, account_id, run, show=show, search=search, limit=limit, offset=offset
    )
    shown = offset + len(rows)
    if shown >= total:
        return rows, ""
    return rows, (
        f"items {offset + 1}-{shown} of {total}; the next {min(limit, total - shown)}: "
        f"scimgate sync-runs {slug} --run {run} --offset {shown}"
        + (f" --limit {limit}" if limit != 20 else "")
        + " (or --all for every one)"
    )


def _print_runs(rows: list[dict[str, Any]]) -> None:
    """One line per run: when, trigger, status, duration, counts, detail."""
    for r in rows:
        c = r["counts"] or {}
        took = ""
        began = r.get("confirmed_at") or r["started_at"]  # a confirmed run works from then
        if began and r["finished_at"]:
            took = f" in {(r['finished_at'] - began).total_seconds():.1f}s"
        confirmed = ""
        if r.get("confirmed_at"):
            confirmed = (
                f"  confirmed {as_utc(r['confirmed_at']):%Y-%m-%d %H:%M} by {r['confirmed_by']}"
            )
        typer.echo(
            f"{r['id']:>6}  {as_utc(r['created_at']):%Y-%m-%d %H:%M}  {r['trigger']:<6} {r['status']:<10}{took}  "
            f"+{c.get('created', 0)} ~{c.get('updated', 0)} -{c.get('deactivated', 0)} "
            f"↺{c.get('reactivated', 0)} ={c.get('unchanged', 0)} !{c.get('errors', 0)}"
            + confirmed
            + (f"  {r['detail']}" if r["detail"] else "")
        )


@app.command("audit-log")
@guarded
def audit_log(
    slug: str,
    limit: int = typer.Option(50, min=1, max=10_000, help="How many entries."),
    cursor: str | None = typer.Option(
        None, "--cursor", help="Continue after this entry id (the last one you saw)."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON array."),
) -> None:
    """Who changed the account's configuration, newest first."""
    with _tx(_settings()) as conn:
        rows, _next = audit.list_page(conn, _account_id(conn, slug), cursor=cursor, limit=limit)
    if as_json:
        _print_json(rows)
        return
    for r in rows:
        details = " ".join(f"{k}={_detail(v)}" for k, v in (r["details"] or {}).items())
        typer.echo(
            f"{r['id']:>6}  {as_utc(r['at']):%Y-%m-%d %H:%M:%S}  {r['actor']}  {r['action']}  "
            f"{r['target']}  {details}".rstrip()
        )


def _detail(value: Any) -> str:
    """One detail of an audit entry on one line (changes as old->new)."""
    if isinstance(value, dict):
        return ",".join(
            f"{k}:{_detail(v[0])}->{_detail(v[1])}"
            if isinstance(v, list) and len(v) == 2
            else f"{k}:{_detail(v)}"
            for k, v in value.items()
        )
    if isinstance(value, list):
        return ",".join(str(v) for v in value) or "-"
    return "-" if value is None or value == "" else str(value)


@app.command("sync-settings")
@guarded
def sync_settings_command(
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
    with _tx(_settings()) as conn:
        row = schedule.configure(
            conn,
            _account_id(conn, slug),
            daily=daily,
            at=at,
            zone=zone,
            hold_percent=hold_percent,
            hold_minimum=hold_minimum,
            actor=audit.cli_actor(),
        )
    if as_json:
        _print_json(row)
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


@app.command()
@guarded
def scheduler(
    once: bool = typer.Option(False, "--once", help="Run one tick and exit."),
    now: str | None = typer.Option(
        None, "--now", help="With --once: the time to tick at (ISO 8601)."
    ),
) -> None:
    """Run the daily-sync scheduler on its own (serve runs it too unless SCIMGATE_SCHEDULER=false)."""
    settings = _settings()
    configure_logging(settings)
    engine = make_engine(settings.database_url)
    options = SyncOptions.from_settings(settings)
    if once:
        when = None
        if now is not None:
            try:
                when = as_utc(datetime.fromisoformat(now.replace("Z", "+00:00")))
            except ValueError:
                raise CliError(f"--now {now!r} is not an ISO 8601 time") from None
        fired = schedule.tick(engine, now=when, options=options)
        _print_json([f.__dict__ for f in fired])
        return
    if now is not None:
        raise CliError("--now only goes with --once")
    runner = schedule.Scheduler(
        engine, interval=settings.scheduler_interval_seconds, options=options
    )
    try:
        runner.run()
    except KeyboardInterrupt:
        runner.stop()


def main() -> None:
    """Console script entry point."""
    app()
