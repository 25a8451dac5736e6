"""Account lifecycle, the enterprise entitlement, and the account's provisioning tokens.

Tokens are credentials (accounts.credentials); the names below are the ones the shells call.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection

from scimgate import audit
from scimgate.accounts import credentials
from scimgate.accounts.credentials import PROVISIONING_TOKEN
from scimgate.accounts.credentials import hash_secret as hash_token  # noqa: F401  (web's name)
from scimgate.audit.actions import AuditAction
from scimgate.errors import ForbiddenError, InvalidValueError
from scimgate.mapping.service import install_defaults
from scimgate.store import accounts as store
from scimgate.store.database import utcnow

TOKEN_PREFIX = PROVISIONING_TOKEN.prefix
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
        action=AuditAction.ACCOUNT_CREATED,
        target=f"account {slug}",
        details={"name": name, "entitled": entitled},
    )
    return store.get_account(conn, slug)


def entitle(conn: Connection, account_id: int, *, actor: str | None = None) -> dict[str, Any]:
    """The operator turns the enterprise feature on for an account."""
    row = store.get_account_by_id(conn, account_id)
    if not row["provisioning_entitled"]:
        store.update_account(conn, account_id, provisioning_entitled=True)
        audit.record(
            conn,
            account_id,
            actor=actor,
            action=AuditAction.ACCOUNT_ENTITLED,
            target=f"account {row['slug']}",
        )
    return store.get_account_by_id(conn, account_id)


def _new_token(
    conn: Connection,
    account_id: int,
    name: str,
    *,
    actor: str | None,
    audited: bool,
    details: dict[str, Any] | None = None,
) -> IssuedToken:
    issued = credentials.issue(
        conn,
        PROVISIONING_TOKEN,
        account_id,
        name=name[:255],
        actor=actor,
        audited=audited,
        details=details,
    )
    return IssuedToken(id=issued.id, token=issued.secret, prefix=issued.prefix)


def issue_token(
    conn: Connection,
    account_id: int,
    *,
    name: str = "",
    actor: str | None = None,
    details: dict[str, Any] | None = None,
) -> IssuedToken:
    """A new live token; earlier ones stay live until revoked (rotation). `details` adds
    to its token.issued audit entry (the setup link that issued it, by id)."""
    return _new_token(conn, account_id, name, actor=actor, audited=True, details=details)


def activate_provisioning(
    conn: Connection, account_id: int, *, actor: str | None = None
) -> IssuedToken:
    """Turn provisioning on and issue a Secret Token; refused unless the account is entitled."""
    row = store.get_account_by_id(conn, account_id)
    slug = row["slug"]
    if not row["provisioning_entitled"]:
        raise ForbiddenError(
            f"User provisioning is an enterprise feature: ask your operator to entitle account {slug!r} "
            f"(scimgate account entitle {slug})"
        )
    store.update_account(conn, row["id"], provisioning_active=True)
    install_defaults(conn, row["id"])
    issued = _new_token(conn, row["id"], "activation", actor=actor, audited=False)
    audit.record(
        conn,
        row["id"],
        actor=actor,
        action=AuditAction.PROVISIONING_ACTIVATED,
        target="user provisioning",
        details={"token_id": issued.id, "prefix": issued.prefix},
    )
    return issued


def deactivate_provisioning(conn: Connection, account_id: int, *, actor: str | None = None) -> None:
    """Turn provisioning off: every token stops working at once (401), none is deleted."""
    row = store.get_account_by_id(conn, account_id)
    if row["provisioning_active"]:
        store.update_account(conn, row["id"], provisioning_active=False)
        audit.record(
            conn,
            row["id"],
            actor=actor,
            action=AuditAction.PROVISIONING_DEACTIVATED,
            target="user provisioning",
        )


def revoke_token(
    conn: Connection, account_id: int, token_id: int, *, actor: str | None = None
) -> None:
    """Revoke a token; the next request with it gets 401."""
    slug = store.get_account_by_id(conn, account_id)["slug"]  # the not-found message names it
    credentials.revoke(conn, PROVISIONING_TOKEN, account_id, token_id, slug=slug, actor=actor)


def authenticate(conn: Connection, token: str) -> Principal | None:
    """The account a bearer token opens, or None (unknown, revoked, or provisioning off)."""
    row = credentials.check(conn, PROVISIONING_TOKEN, token)
    if row is None or not row["provisioning_active"]:
        return None
    return Principal(
        account_id=row["account_id"], token_id=row["id"], last_used_at=row["last_used_at"]
    )


def needs_touch(principal: Principal) -> bool:
    """Whether last_used_at is older than the one-minute resolution."""
    return credentials.needs_touch(principal.last_used_at)


def record_use(conn: Connection, principal: Principal) -> None:
    """Note when a token was last used, at most once a minute (no write per request)."""
    credentials.record_use(conn, PROVISIONING_TOKEN, principal.token_id)
