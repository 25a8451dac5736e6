"""API keys: how the host product calls /api/v1. Separate from provisioning tokens.

A key is `sgk_` + 256 random bits, shown once, stored as SHA-256. A provisioning token
(`sgp_`) never opens /api/v1 and a key never opens /scim/v2: the prefixes differ and each
is looked up only in its own table.
"""

from __future__ import annotations

import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection

from scimgate import audit
from scimgate.accounts.service import LAST_USED_RESOLUTION, hash_token
from scimgate.errors import NotFoundError
from scimgate.store import accounts as account_store
from scimgate.store import api_keys as store
from scimgate.store.database import as_utc, utcnow

KEY_PREFIX = "sgk_"


@dataclass(frozen=True)
class IssuedKey:
    """A new key: the secret (shown once) and its id."""

    id: int
    key: str
    prefix: str


@dataclass(frozen=True)
class ApiPrincipal:
    """Who an API key speaks for."""

    account_id: int
    key_id: int
    last_used_at: datetime | None
    prefix: str = ""
    name: str = ""

    @property
    def actor(self) -> str:
        """How the audit log names this key: its prefix and name, never the key."""
        return audit.api_key_actor(self.prefix, self.name)


def create_key(
    conn: Connection, slug: str, *, name: str = "", actor: str | None = None
) -> IssuedKey:
    """A new live API key for an account (`actor`: who the audit log names, see audit)."""
    account = account_store.get_account(conn, slug)
    key = KEY_PREFIX + secrets.token_urlsafe(32)
    name = name.strip()[:255]
    key_id = store.insert_key(
        conn, account["id"], key_hash=hash_token(key), prefix=key[:12], name=name, now=utcnow()
    )
    audit.record(
        conn,
        account["id"],
        actor=actor,
        action="api_key.created",
        target=f"API key {key_id}",
        details={"key_id": key_id, "prefix": key[:12], "name": name},
    )
    return IssuedKey(id=key_id, key=key, prefix=key[:12])


def list_keys(conn: Connection, slug: str) -> list[dict[str, Any]]:
    """An account's keys, without hashes."""
    return store.list_keys(conn, account_store.get_account(conn, slug)["id"])


def revoke_key(conn: Connection, slug: str, key_id: int, *, actor: str | None = None) -> None:
    """Revoke a key; the next request with it gets 401."""
    account = account_store.get_account(conn, slug)
    if not store.revoke_key(conn, account["id"], key_id, utcnow()):
        raise NotFoundError(f"No live API key {key_id} in account {slug!r}")
    key = next(k for k in store.list_keys(conn, account["id"]) if k["id"] == key_id)
    audit.record(
        conn,
        account["id"],
        actor=actor,
        action="api_key.revoked",
        target=f"API key {key_id}",
        details={"key_id": key_id, "prefix": key["prefix"], "name": key["name"]},
    )


def authenticate(conn: Connection, key: str) -> ApiPrincipal | None:
    """The account a key opens, or None."""
    if not key.startswith(KEY_PREFIX) or len(key) > 256:
        return None
    digest = hash_token(key)
    row = store.find_live_key(conn, digest)
    if row is None or not hmac.compare_digest(row["key_hash"], digest):
        return None
    last = row["last_used_at"]
    return ApiPrincipal(
        row["account_id"], row["id"], as_utc(last) if last else None, row["prefix"], row["name"]
    )


def needs_touch(principal: ApiPrincipal) -> bool:
    """Whether last_used_at is older than a minute (no write per request)."""
    last = principal.last_used_at
    return last is None or utcnow() - last >= LAST_USED_RESOLUTION


def record_use(conn: Connection, principal: ApiPrincipal) -> None:
    """Note that a key was used now."""
    store.touch_key(conn, principal.key_id, utcnow())
