"""API key rows: stored only as SHA-256 hashes, like provisioning tokens, in their own table."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Connection, select, update

from scimgate.store.tables import api_key


def insert_key(
    conn: Connection, account_id: int, *, key_hash: str, prefix: str, name: str, now: datetime
) -> int:
    """Store a new key's hash."""
    result = conn.execute(
        api_key.insert().values(
            account_id=account_id, key_hash=key_hash, prefix=prefix, name=name, created_at=now
        )
    )
    return int(result.inserted_primary_key[0])


def list_keys(conn: Connection, account_id: int) -> list[dict[str, Any]]:
    """Every key of an account, newest first (hashes left out)."""
    k = api_key
    rows = conn.execute(
        select(k.c.id, k.c.prefix, k.c.name, k.c.created_at, k.c.last_used_at, k.c.revoked_at)
        .where(k.c.account_id == account_id)
        .order_by(k.c.id.desc())
    ).mappings()
    return [dict(r) for r in rows]


def revoke_key(conn: Connection, account_id: int, key_id: int, now: datetime) -> bool:
    """Revoke one live key of this account; False if there is none."""
    k = api_key
    result = conn.execute(
        update(k)
        .where(k.c.account_id == account_id, k.c.id == key_id, k.c.revoked_at.is_(None))
        .values(revoked_at=now)
    )
    return result.rowcount == 1


def find_live_key(conn: Connection, key_hash: str) -> dict[str, Any] | None:
    """The live key with this hash."""
    k = api_key
    row = (
        conn.execute(
            select(
                k.c.id, k.c.account_id, k.c.key_hash, k.c.last_used_at, k.c.prefix, k.c.name
            ).where(k.c.key_hash == key_hash, k.c.revoked_at.is_(None))
        )
        .mappings()
        .first()
    )
    return dict(row) if row else None


def touch_key(conn: Connection, key_id: int, now: datetime) -> None:
    """Set last_used_at (at most once a minute: the service decides)."""
    conn.execute(update(api_key).where(api_key.c.id == key_id).values(last_used_at=now))
