"""What every command shares: settings read once per invocation, one write transaction, and
expected failures ended as one line on stderr with exit status 1 (never a traceback).

Commands import their services inside their bodies: `scimgate --help` and a simple command
then load only what they use (the services, the sync engine and the web server are heavy).
"""

from __future__ import annotations

import functools
import json
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import TYPE_CHECKING, Any, NoReturn, TypeVar

import typer

from scimgate.errors import ServiceError, StorageError, StorageTimeoutError, StorageUnavailableError
from scimgate.timestamps import iso_utc

if TYPE_CHECKING:
    from scimgate.database_service import Connection, Engine
    from scimgate.settings import Settings

F = TypeVar("F", bound=Callable[..., Any])
_SETTINGS = "scimgate.settings"  # the key in the Typer context's meta (shared by subcommands)


class CliError(Exception):
    """A message for stderr and exit status 1."""


def fail(message: str) -> NoReturn:
    """Print one line to stderr and exit 1."""
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(1)


def command(group: typer.Typer, name: str | None = None) -> Callable[[F], F]:
    """Register a command of `group` whose expected failures end it in one stderr line."""

    def register(func: F) -> F:
        return group.command(name)(guarded(func))  # type: ignore[no-any-return]

    return register


def guarded(func: F) -> F:
    """Turn expected failures into one stderr line and exit status 1."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except typer.Exit:
            raise
        except Exception as exc:
            message = _message(exc)
            if message is None:
                raise
            fail(message)

    return wrapper  # type: ignore[return-value]


def _message(exc: Exception) -> str | None:
    """The stderr line for an expected failure (None: a bug, shown as a traceback)."""
    if isinstance(exc, (ServiceError, CliError)):
        return str(exc)
    if isinstance(exc, StorageError):
        return _storage_message(exc)
    pydantic = sys.modules.get("pydantic")  # settings are read with it: loaded if it failed
    if pydantic is not None and isinstance(exc, pydantic.ValidationError):
        first = exc.errors()[0]
        return f"invalid setting {'.'.join(str(p) for p in first['loc'])}: {first['msg']}"
    if isinstance(exc, ValueError):
        return str(exc)
    return None


def _storage_message(exc: StorageError) -> str:
    """A failed database: a lock another process holds says so, not "migrate"."""
    driver, _, text = exc.detail.partition(": ")
    if isinstance(exc, StorageTimeoutError):
        return f"database error ({driver}): {text or 'timed out'}; try again"
    if isinstance(exc, StorageUnavailableError):
        return f"database error ({driver}): is the database reachable and migrated? run 'scimgate migrate'"
    return f"database error ({driver}): {text or 'no detail'}"


def settings(ctx: typer.Context, *, reread: bool = False) -> Settings:
    """This invocation's settings, read from the environment (and .env) once."""
    if reread or _SETTINGS not in ctx.meta:
        from scimgate.settings import Settings

        ctx.meta[_SETTINGS] = Settings()
    return ctx.meta[_SETTINGS]  # type: ignore[no-any-return]


@contextmanager
def transaction(ctx: typer.Context) -> Iterator[Connection]:
    """One write transaction on this invocation's database (it waits for a busy writer)."""
    from scimgate import database_service

    with database_service.transaction(settings(ctx).database_url) as conn:
        yield conn


@contextmanager
def engine(ctx: typer.Context, *, pool: bool = False) -> Iterator[Engine]:
    """An engine for services that open their own transactions."""
    from scimgate import database_service

    with database_service.engine(settings(ctx).database_url, pool=pool) as opened:
        yield opened


def actor() -> str:
    """Who the audit log names for this command: `cli:` and the OS user."""
    from scimgate import audit

    return audit.cli_actor()


def print_json(value: Any) -> None:
    """One JSON document on one line of stdout."""
    sys.stdout.write(json.dumps(value, default=_json_default) + "\n")


def _json_default(value: Any) -> Any:
    """Datetimes as ISO 8601 in UTC with a Z, as /api/v1 and webhooks write them."""
    if isinstance(value, datetime):
        return iso_utc(value)
    return str(value)


def account_id_of(conn: Connection, slug: str) -> int:
    """The id the services take, for the slug an operator types (NotFoundError if none)."""
    from scimgate.accounts import lookup

    return int(lookup.account_by_slug(conn, slug)["id"])


def print_account_rows(
    ctx: typer.Context,
    slug: str,
    read: Callable[[Connection, int], list[dict[str, Any]]],
    line: Callable[[dict[str, Any]], str],
    *,
    as_json: bool,
) -> None:
    """What a list command does: read an account's rows in one transaction, then print them
    as one JSON array or one line each."""
    with transaction(ctx) as conn:
        rows = read(conn, account_id_of(conn, slug))
    if as_json:
        print_json(rows)
        return
    for row in rows:
        typer.echo(line(row))
