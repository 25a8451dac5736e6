"""API keys: how the host product calls /api/v1. Separate from provisioning tokens.

A key is `sgk_` + 256 random bits, shown once, stored as SHA-256 (accounts.credentials
does the work for both kinds); these are the names the shells call.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection

from scimgate import audit
from scimgate.accounts import credentials
from scimgate.accounts.credentials import API_KEY
from scimgate.store import accounts as account_store

KEY_PREFIX = API_KEY.prefix


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
    conn: Connection, account_id: int, *, name: str = "", actor: str | None = None
) -> IssuedKey:
    """A new live API key for an account (`actor`: who the audit log names, see audit)."""
    issued = credentials.issue(conn, API_KEY, account_id, name=name.strip()[:255], actor=actor)
    return IssuedKey(id=issued.id, key=issued.secret, prefix=issued.prefix)


def list_keys(conn: Connection, account_id: int) -> list[dict[str, Any]]:
    """An account's keys, without hashes."""
    return credentials.list_for(conn, API_KEY, account_id)


def revoke_key(conn: Connection, account_id: int, key_id: int, *, actor: str | None = None) -> None:
    """Revoke a key; the next request with it gets 401."""
    slug = account_store.get_account_by_id(conn, account_id)["slug"]  # named if not found
    credentials.revoke(conn, API_KEY, account_id, key_id, slug=slug, actor=actor)


def authenticate(conn: Connection, key: str) -> ApiPrincipal | None:
    """The account a key opens, or None."""
    row = credentials.check(conn, API_KEY, key)
    if row is None:
        return None
    return ApiPrincipal(
        row["account_id"], row["id"], row["last_used_at"], row["prefix"], row["name"]
    )


def needs_touch(principal: ApiPrincipal) -> bool:
    """Whether last_used_at is older than a minute (no write per request)."""
    return credentials.needs_touch(principal.last_used_at)


def record_use(conn: Connection, principal: ApiPrincipal) -> None:
    """Note that a key was used now."""
    credentials.record_use(conn, API_KEY, principal.key_id)
