"""Provisioning tokens and API keys: 256-bit secrets, shown once, stored as SHA-256.

Both kinds are issued, listed, revoked and checked by the same functions; a
CredentialType says what differs (the prefix, how the audit log names one). A provisioning
token (`sgp_`) never opens /api/v1 and a key (`sgk_`) never opens /scim/v2: the prefixes
differ and each is looked up only in its own table.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection

from scimgate import audit
from scimgate.audit.actions import AuditAction
from scimgate.errors import NotFoundError
from scimgate.store import credentials as store
from scimgate.store.credentials import CredentialKind
from scimgate.store.database import as_utc, utcnow

LAST_USED_RESOLUTION = timedelta(minutes=1)  # last_used_at is written at most this often
MAX_SECRET_LENGTH = 256  # longer bearer values are refused before hashing


@dataclass(frozen=True)
class CredentialType:
    """One kind of credential: its prefix and how the audit log names it and its changes."""

    kind: CredentialKind
    prefix: str
    label: str  # "token 3", "No live token 3 in account 'acme'"
    id_key: str  # the id's key in audit details
    issued_action: AuditAction
    revoked_action: AuditAction


PROVISIONING_TOKEN = CredentialType(
    CredentialKind.PROVISIONING_TOKEN,
    "sgp_",
    "token",
    "token_id",
    AuditAction.TOKEN_ISSUED,
    AuditAction.TOKEN_REVOKED,
)
API_KEY = CredentialType(
    CredentialKind.API_KEY,
    "sgk_",
    "API key",
    "key_id",
    AuditAction.API_KEY_CREATED,
    AuditAction.API_KEY_REVOKED,
)


@dataclass(frozen=True)
class Issued:
    """A new credential: the secret (shown once) and what is kept of it."""

    id: int
    secret: str
    prefix: str


def hash_secret(secret: str) -> str:
    """SHA-256 is enough for 256-bit random secrets (no dictionary to attack)."""
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


def issue(
    conn: Connection,
    ctype: CredentialType,
    account_id: int,
    *,
    name: str,
    actor: str | None = None,
    audited: bool = True,
    details: dict[str, Any] | None = None,
) -> Issued:
    """A new live credential; earlier ones stay live until revoked (rotation).

    `audited=False` is for a caller that records the issue in its own audit entry;
    `details` adds to the entry (say, the setup link that issued it).
    """
    secret = ctype.prefix + secrets.token_urlsafe(32)
    prefix = secret[:12]
    credential_id = store.insert(
        conn,
        ctype.kind,
        account_id,
        secret_hash=hash_secret(secret),
        prefix=prefix,
        name=name,
        now=utcnow(),
    )
    if audited:
        audit.record(
            conn,
            account_id,
            actor=actor,
            action=ctype.issued_action,
            target=f"{ctype.label} {credential_id}",
            details={
                ctype.id_key: credential_id,
                "prefix": prefix,
                "name": name,
                **(details or {}),
            },
        )
    return Issued(id=credential_id, secret=secret, prefix=prefix)


def list_for(conn: Connection, ctype: CredentialType, account_id: int) -> list[dict[str, Any]]:
    """An account's credentials of this kind, newest first, without hashes."""
    return store.list_for(conn, ctype.kind, account_id)


def revoke(
    conn: Connection,
    ctype: CredentialType,
    account_id: int,
    credential_id: int,
    *,
    slug: str,
    actor: str | None = None,
) -> None:
    """Revoke a live credential; the next request with it gets 401.

    Raises:
        NotFoundError: the account has no live credential of this kind with that id.
    """
    revoked = store.revoke(conn, ctype.kind, account_id, credential_id, utcnow())
    if revoked is None:
        raise NotFoundError(f"No live {ctype.label} {credential_id} in account {slug!r}")
    audit.record(
        conn,
        account_id,
        actor=actor,
        action=ctype.revoked_action,
        target=f"{ctype.label} {credential_id}",
        details={ctype.id_key: credential_id, "prefix": revoked["prefix"], "name": revoked["name"]},
    )


def check(conn: Connection, ctype: CredentialType, secret: str) -> dict[str, Any] | None:
    """The live row a secret matches (see store.credentials.find_live), or None."""
    if not secret.startswith(ctype.prefix) or len(secret) > MAX_SECRET_LENGTH:
        return None
    digest = hash_secret(secret)
    row = store.find_live(conn, ctype.kind, digest)
    if row is None or not hmac.compare_digest(row["secret_hash"], digest):
        return None
    return row


def needs_touch(last_used_at: datetime | None) -> bool:
    """Whether last_used_at is older than the one-minute resolution (no write per request)."""
    return last_used_at is None or utcnow() - as_utc(last_used_at) >= LAST_USED_RESOLUTION


def record_use(conn: Connection, ctype: CredentialType, credential_id: int) -> None:
    """Note when a credential was last used (callers ask needs_touch first)."""
    store.touch(conn, ctype.kind, credential_id, utcnow())
