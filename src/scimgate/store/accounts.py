"""Account rows, and the provisioning-token check fused into a read (PostgreSQL).

Token rows themselves (issue, list, revoke, check) are store.credentials'.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, select, update
from sqlalchemy.exc import IntegrityError

from scimgate.errors import ConflictError, NotFoundError
from scimgate.store import credentials, driver
from scimgate.store.credentials import LIVE_TOKEN, CredentialKind
from scimgate.store.tables.accounts import account


def insert_account(conn: Connection, *, slug: str, name: str, entitled: bool, now: datetime) -> int:
    """Create an account; the slug is unique (database constraint)."""
    try:
        with conn.begin_nested():
            result = conn.execute(
                account.insert().values(
                    slug=slug,
                    name=name,
                    provisioning_entitled=entitled,
                    provisioning_active=False,
                    created_at=now,
                )
            )
    except IntegrityError:
        raise ConflictError(
            f"An account with slug {slug!r} already exists", attribute="slug"
        ) from None
    return int(result.inserted_primary_key[0])


def get_account(conn: Connection, slug: str) -> dict[str, Any]:
    """The account row by slug, or NotFoundError."""
    row = conn.execute(select(account).where(account.c.slug == slug)).mappings().first()
    if row is None:
        raise NotFoundError(f"No account with slug {slug!r}")
    return dict(row)


def update_account(conn: Connection, account_id: int, **values: Any) -> None:
    """Set columns of one account."""
    conn.execute(update(account).where(account.c.id == account_id).values(**values))


def list_tokens(conn: Connection, account_id: int) -> list[dict[str, Any]]:
    """Every provisioning token of an account, newest first (the shells still call this name)."""
    return credentials.list_for(conn, CredentialKind.PROVISIONING_TOKEN, account_id)


@dataclass
class TokenGuard:
    """A bearer token's check made inside a read's own statement (PostgreSQL).

    The request's account is taken from a token that authenticated lately; the read
    joins the live-token check for that token and account, so the answer and the
    check come in one round trip. `live` is what the database said in that same
    statement: a revoked token or a deactivated account is refused on its next request.
    """

    token_hash: str
    account_id: int
    checked: bool = False
    live: bool = False
    token_id: int | None = None
    last_used_at: datetime | None = None


_GUARD_SQL = (
    f"SELECT t.id, t.last_used_at {LIVE_TOKEN} AND a.provisioning_active AND t.account_id = ?"
)


def guarded_rows(
    conn: Connection, guard: TokenGuard, select_sql: str, params: Sequence[Any]
) -> list[tuple[Any, ...]]:
    """Rows of `select_sql` (ordered by its first column, `id`) with the guard's check in
    the same statement; no rows when the token is not live (and `guard.live` says so)."""
    found = driver.execute(
        conn,
        f"SELECT g.id, g.last_used_at, r.* FROM ({_GUARD_SQL}) g "
        f"LEFT JOIN LATERAL ({select_sql}) r ON true ORDER BY r.id",
        (guard.token_hash, guard.account_id, *params),
    ).fetchall()
    guard.checked = True
    guard.live = bool(found)
    if not found:
        return []
    guard.token_id = found[0][0]
    guard.last_used_at = driver.from_db_time(found[0][1]) if found[0][1] is not None else None
    return [tuple(values[2:]) for values in found if values[2] is not None]


def get_account_by_id(conn: Connection, account_id: int) -> dict[str, Any]:
    """The account row by id, or NotFoundError."""
    row = conn.execute(select(account).where(account.c.id == account_id)).mappings().first()
    if row is None:
        raise NotFoundError(f"No account {account_id}")
    return dict(row)
