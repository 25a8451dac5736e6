"""Credential rows: provisioning tokens and API keys, one code path for both kinds.

Secrets are stored only as SHA-256 hashes, each kind in its own table, so a token is
looked up only among tokens and a key only among keys. The live-token check of every SCIM
request (joined with its account's provisioning state) is pre-written SQL, as is the key's.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import Column, Connection, Table, select, update

from scimgate.store import driver
from scimgate.store.tables.accounts import api_key, provisioning_token


class CredentialKind(StrEnum):
    """What a secret opens; the value is the table its rows live in."""

    PROVISIONING_TOKEN = "provisioning_token"  # the SCIM bearer "Secret Token"
    API_KEY = "api_key"  # the host product's /api/v1 key


@dataclass(frozen=True)
class _Storage:
    table: Table
    hash_column: Column[Any]
    live_sql: str  # id, account_id, hash, last_used_at, prefix, name, (provisioning_active)


# A live (unrevoked) token by its hash, with its account: every bearer check reads this.
LIVE_TOKEN = (
    "FROM provisioning_token t JOIN account a ON a.id = t.account_id "
    "WHERE t.token_hash = ? AND t.revoked_at IS NULL"
)

_STORAGE = {
    CredentialKind.PROVISIONING_TOKEN: _Storage(
        provisioning_token,
        provisioning_token.c.token_hash,
        "SELECT t.id, t.account_id, t.token_hash, t.last_used_at, a.provisioning_active "
        + LIVE_TOKEN,
    ),
    CredentialKind.API_KEY: _Storage(
        api_key,
        api_key.c.key_hash,
        "SELECT id, account_id, key_hash, last_used_at, prefix, name FROM api_key "
        "WHERE key_hash = ? AND revoked_at IS NULL",
    ),
}


def insert(
    conn: Connection,
    kind: CredentialKind,
    account_id: int,
    *,
    secret_hash: str,
    prefix: str,
    name: str,
    now: datetime,
) -> int:
    """Store a new secret's hash; returns its id."""
    storage = _STORAGE[kind]
    result = conn.execute(
        storage.table.insert().values(
            {
                storage.table.c.account_id: account_id,
                storage.hash_column: secret_hash,
                storage.table.c.prefix: prefix,
                storage.table.c.name: name,
                storage.table.c.created_at: now,
            }
        )
    )
    return int(result.inserted_primary_key[0])


def list_for(conn: Connection, kind: CredentialKind, account_id: int) -> list[dict[str, Any]]:
    """Every credential of this kind in an account, newest first (hashes left out)."""
    t = _STORAGE[kind].table
    rows = conn.execute(
        select(t.c.id, t.c.prefix, t.c.name, t.c.created_at, t.c.last_used_at, t.c.revoked_at)
        .where(t.c.account_id == account_id)
        .order_by(t.c.id.desc())
    ).mappings()
    return [dict(r) for r in rows]


def revoke(
    conn: Connection, kind: CredentialKind, account_id: int, credential_id: int, now: datetime
) -> dict[str, Any] | None:
    """Revoke one live credential of this account: its id, prefix and name, or None if none."""
    t = _STORAGE[kind].table
    row = (
        conn.execute(
            update(t)
            .where(t.c.account_id == account_id, t.c.id == credential_id, t.c.revoked_at.is_(None))
            .values(revoked_at=now)
            .returning(t.c.id, t.c.prefix, t.c.name)
        )
        .mappings()
        .first()
    )
    return dict(row) if row else None


def find_live(conn: Connection, kind: CredentialKind, secret_hash: str) -> dict[str, Any] | None:
    """The live credential with this hash (a token with its account's provisioning state)."""
    found = driver.execute(conn, _STORAGE[kind].live_sql, (secret_hash,)).fetchone()
    if found is None:
        return None
    row = {
        "id": found[0],
        "account_id": found[1],
        "secret_hash": found[2],
        "last_used_at": driver.from_db_time(found[3]) if found[3] is not None else None,
    }
    if kind is CredentialKind.PROVISIONING_TOKEN:
        row["provisioning_active"] = bool(found[4])
    else:
        row["prefix"], row["name"] = found[4], found[5]
    return row


def touch(conn: Connection, kind: CredentialKind, credential_id: int, now: datetime) -> None:
    """Set last_used_at (the service decides how often: see accounts.credentials.needs_touch)."""
    t = _STORAGE[kind].table
    conn.execute(update(t).where(t.c.id == credential_id).values(last_used_at=now))
