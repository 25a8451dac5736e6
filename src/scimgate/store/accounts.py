"""Account and provisioning-token rows. Tokens are stored only as SHA-256 hashes."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, select, update
from sqlalchemy.exc import IntegrityError

from scimgate.errors import ConflictError, NotFoundError
from scimgate.store import raw
from scimgate.store.tables import account, provisioning_token


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


def insert_token(
    conn: Connection, account_id: int, *, token_hash: str, prefix: str, name: str, now: datetime
) -> int:
    """Store a new token's hash."""
    result = conn.execute(
        provisioning_token.insert().values(
            account_id=account_id, token_hash=token_hash, prefix=prefix, name=name, created_at=now
        )
    )
    return int(result.inserted_primary_key[0])


def list_tokens(conn: Connection, account_id: int) -> list[dict[str, Any]]:
    """Every token of an account, newest first (hashes left out)."""
    t = provisioning_token
    rows = conn.execute(
        select(t.c.id, t.c.prefix, t.c.name, t.c.created_at, t.c.last_used_at, t.c.revoked_at)
        .where(t.c.account_id == account_id)
        .order_by(t.c.id.desc())
    ).mappings()
    return [dict(r) for r in rows]


def revoke_token(conn: Connection, account_id: int, token_id: int, now: datetime) -> bool:
    """Revoke one live token of this account; False if there is none."""
    t = provisioning_token
    result = conn.execute(
        update(t)
        .where(t.c.account_id == account_id, t.c.id == token_id, t.c.revoked_at.is_(None))
        .values(revoked_at=now)
    )
    return result.rowcount == 1


# A live (unrevoked) token by its hash, with its account: every bearer check reads this.
_LIVE_TOKEN = (
    "FROM provisioning_token t JOIN account a ON a.id = t.account_id "
    "WHERE t.token_hash = ? AND t.revoked_at IS NULL"
)
_AUTH_SQL = (
    "SELECT t.id, t.account_id, t.token_hash, t.last_used_at, a.provisioning_active " + _LIVE_TOKEN
)


def find_live_token(conn: Connection, token_hash: str) -> dict[str, Any] | None:
    """The live token with this hash, with its account's provisioning state (on every request)."""
    found = raw.execute(conn, _AUTH_SQL, (token_hash,)).fetchone()
    if found is None:
        return None
    return {
        "id": found[0],
        "account_id": found[1],
        "token_hash": found[2],
        "last_used_at": raw.from_db_time(found[3]) if found[3] is not None else None,
        "provisioning_active": bool(found[4]),
    }


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
    f"SELECT t.id, t.last_used_at {_LIVE_TOKEN} AND a.provisioning_active AND t.account_id = ?"
)


def guarded_rows(
    conn: Connection, guard: TokenGuard, select_sql: str, params: Sequence[Any]
) -> list[tuple[Any, ...]]:
    """Rows of `select_sql` (ordered by its first column, `id`) with the guard's check in
    the same statement; no rows when the token is not live (and `guard.live` says so)."""
    found = raw.execute(
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
    guard.last_used_at = raw.from_db_time(found[0][1]) if found[0][1] is not None else None
    return [tuple(values[2:]) for values in found if values[2] is not None]


def touch_token(conn: Connection, token_id: int, now: datetime) -> None:
    """Set last_used_at (the service decides how often: see accounts.service.needs_touch)."""
    conn.execute(
        update(provisioning_token)
        .where(provisioning_token.c.id == token_id)
        .values(last_used_at=now)
    )


def get_account_by_id(conn: Connection, account_id: int) -> dict[str, Any]:
    """The account row by id, or NotFoundError."""
    row = conn.execute(select(account).where(account.c.id == account_id)).mappings().first()
    if row is None:
        raise NotFoundError(f"No account {account_id}")
    return dict(row)
