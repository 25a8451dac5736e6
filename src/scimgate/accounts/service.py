"""Account lifecycle and provisioning tokens: 256-bit secrets, shown once, stored as SHA-256."""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sqlalchemy import Connection

from scimgate import audit
from scimgate.errors import ForbiddenError, InvalidValueError, NotFoundError
from scimgate.mapping.service import ensure_defaults
from scimgate.store import accounts as store
from scimgate.store.database import as_utc, utcnow

TOKEN_PREFIX = "sgp_"
LAST_USED_RESOLUTION = timedelta(minutes=1)  # last_used_at is written at most this often
_SLUG = re.compile(r"^[a-z0-9][a-z0-9-]{0,62}$")


@dataclass(frozen=True)
class IssuedToken:
    """A new token: the secret (shown once) and what is kept of it."""

    id: int
    token: str
    prefix: str


@dataclass(frozen=True)
class Principal:
    """Who a valid bearer token speaks for."""

    account_id: int
    token_id: int
    last_used_at: Any = None


def hash_token(token: str) -> str:
    """SHA-256 is enough for 256-bit random secrets (no dictionary to attack)."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def create_account(
    conn: Connection,
    slug: str,
    *,
    name: str | None = None,
    entitled: bool = False,
    actor: str | None = None,
) -> dict[str, Any]:
    """Create an account; the slug is lower-case letters, digits and dashes.

    `actor` (here and in every function below that changes something) is who the audit
    log names: see scimgate.audit; None names the OS user of this process.
    """
    if not _SLUG.match(slug):
        raise InvalidValueError(
            "A slug is 1-63 lower-case letters, digits or dashes, starting with a letter or digit"
        )
    name = (name or slug).strip()
    if not name or len(name) > 255:
        raise InvalidValueError("A name is 1-255 characters")
    account_id = store.insert_account(conn, slug=slug, name=name, entitled=entitled, now=utcnow())
    audit.record(
        conn,
        account_id,
        actor=actor,
        action="account.created",
        target=f"account {slug}",
        details={"name": name, "entitled": entitled},
    )
    return store.get_account(conn, slug)


def entitle(conn: Connection, slug: str, *, actor: str | None = None) -> dict[str, Any]:
    """The operator turns the enterprise feature on for an account."""
    row = store.get_account(conn, slug)
    if not row["provisioning_entitled"]:
        store.update_account(conn, row["id"], provisioning_entitled=True)
        audit.record(
            conn, row["id"], actor=actor, action="account.entitled", target=f"account {slug}"
        )
    return store.get_account(conn, slug)


def _new_token(conn: Connection, account_id: int, name: str) -> IssuedToken:
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    prefix = token[:12]
    token_id = store.insert_token(
        conn, account_id, token_hash=hash_token(token), prefix=prefix, name=name[:255], now=utcnow()
    )
    return IssuedToken(id=token_id, token=token, prefix=prefix)


def issue_token(
    conn: Connection, account_id: int, *, name: str = "", actor: str | None = None
) -> IssuedToken:
    """A new live token; earlier ones stay live until revoked (rotation)."""
    issued = _new_token(conn, account_id, name)
    audit.record(
        conn,
        account_id,
        actor=actor,
        action="token.issued",
        target=f"token {issued.id}",
        details={"token_id": issued.id, "prefix": issued.prefix, "name": name[:255]},
    )
    return issued


def activate_provisioning(conn: Connection, slug: str, *, actor: str | None = None) -> IssuedToken:
    """Turn provisioning on and issue a Secret Token; refused unless the account is entitled."""
    row = store.get_account(conn, slug)
    if not row["provisioning_entitled"]:
        raise ForbiddenError(
            f"User provisioning is an enterprise feature: ask your operator to entitle account {slug!r} "
            f"(scimgate account entitle {slug})"
        )
    store.update_account(conn, row["id"], provisioning_active=True)
    ensure_defaults(conn, row["id"])
    issued = _new_token(conn, row["id"], "activation")
    audit.record(
        conn,
        row["id"],
        actor=actor,
        action="provisioning.activated",
        target="user provisioning",
        details={"token_id": issued.id, "prefix": issued.prefix},
    )
    return issued


def deactivate_provisioning(conn: Connection, slug: str, *, actor: str | None = None) -> None:
    """Turn provisioning off: every token stops working at once (401), none is deleted."""
    row = store.get_account(conn, slug)
    if row["provisioning_active"]:
        store.update_account(conn, row["id"], provisioning_active=False)
        audit.record(
            conn,
            row["id"],
            actor=actor,
            action="provisioning.deactivated",
            target="user provisioning",
        )


def revoke_token(conn: Connection, slug: str, token_id: int, *, actor: str | None = None) -> None:
    """Revoke a token; the next request with it gets 401."""
    row = store.get_account(conn, slug)
    if not store.revoke_token(conn, row["id"], token_id, utcnow()):
        raise NotFoundError(f"No live token {token_id} in account {slug!r}")
    token = next(t for t in store.list_tokens(conn, row["id"]) if t["id"] == token_id)
    audit.record(
        conn,
        row["id"],
        actor=actor,
        action="token.revoked",
        target=f"token {token_id}",
        details={"token_id": token_id, "prefix": token["prefix"], "name": token["name"]},
    )


def authenticate(conn: Connection, token: str) -> Principal | None:
    """The account a bearer token opens, or None (unknown, revoked, or provisioning off)."""
    if not token.startswith(TOKEN_PREFIX) or len(token) > 256:
        return None
    digest = hash_token(token)
    row = store.find_live_token(conn, digest)
    if row is None or not hmac.compare_digest(row["token_hash"], digest):
        return None
    if not row["provisioning_active"]:
        return None
    return Principal(
        account_id=row["account_id"], token_id=row["id"], last_used_at=row["last_used_at"]
    )


def needs_touch(principal: Principal) -> bool:
    """Whether last_used_at is older than the one-minute resolution."""
    last = principal.last_used_at
    return last is None or utcnow() - as_utc(last) >= LAST_USED_RESOLUTION


def record_use(conn: Connection, principal: Principal) -> None:
    """Note when a token was last used, at most once a minute (no write per request)."""
    store.touch_token(conn, principal.token_id, utcnow())
