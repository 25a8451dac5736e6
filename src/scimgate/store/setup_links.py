"""Setup link rows: stored as the SHA-256 hash of the link's token, scoped by account.

A link is found by its hash only while it is live (not revoked, not expired) and its
account's provisioning is active; every other read and write names the account.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Connection, select, update

from scimgate.store.tables.accounts import account, setup_link

_LISTED = (
    setup_link.c.id,
    setup_link.c.prefix,
    setup_link.c.note,
    setup_link.c.created_by,
    setup_link.c.created_at,
    setup_link.c.expires_at,
    setup_link.c.last_used_at,
    setup_link.c.revoked_at,
    setup_link.c.revoked_by,
)


def insert(
    conn: Connection,
    account_id: int,
    *,
    link_hash: str,
    prefix: str,
    note: str,
    created_by: str,
    now: datetime,
    expires_at: datetime,
) -> int:
    """Store a new link's hash; returns its id."""
    result = conn.execute(
        setup_link.insert().values(
            account_id=account_id,
            link_hash=link_hash,
            prefix=prefix,
            note=note,
            created_by=created_by,
            created_at=now,
            expires_at=expires_at,
        )
    )
    return int(result.inserted_primary_key[0])


def list_for(
    conn: Connection, account_id: int, now: datetime, *, others: int = 50
) -> list[dict[str, Any]]:
    """An account's links (hashes left out): every live one, newest first, then the
    `others` newest expired or revoked ones (a live link is never crowded out of the list)."""
    live = (setup_link.c.revoked_at.is_(None)) & (setup_link.c.expires_at > now)
    mine = select(*_LISTED).where(setup_link.c.account_id == account_id)
    rows = conn.execute(mine.where(live).order_by(setup_link.c.id.desc())).mappings()
    ended = conn.execute(
        mine.where(~live).order_by(setup_link.c.id.desc()).limit(others)
    ).mappings()
    return [dict(r) for r in rows] + [dict(r) for r in ended]


def lock_live(
    conn: Connection, account_id: int, link_id: int, now: datetime
) -> dict[str, Any] | None:
    """This account's link if it is still live, its row locked until the transaction ends
    (PostgreSQL; SQLite's write lock already serializes), or None."""
    row = (
        conn.execute(
            select(setup_link.c.id, setup_link.c.prefix, setup_link.c.created_at)
            .where(
                setup_link.c.account_id == account_id,
                setup_link.c.id == link_id,
                setup_link.c.revoked_at.is_(None),
                setup_link.c.expires_at > now,
            )
            .with_for_update()
        )
        .mappings()
        .first()
    )
    return dict(row) if row else None


def revoke(
    conn: Connection, account_id: int, link_id: int, *, now: datetime, by: str
) -> dict[str, Any] | None:
    """Revoke one unrevoked link of this account: its id, prefix, note and creation, or None."""
    row = (
        conn.execute(
            update(setup_link)
            .where(
                setup_link.c.account_id == account_id,
                setup_link.c.id == link_id,
                setup_link.c.revoked_at.is_(None),
            )
            .values(revoked_at=now, revoked_by=by)
            .returning(
                setup_link.c.id, setup_link.c.prefix, setup_link.c.note, setup_link.c.created_at
            )
        )
        .mappings()
        .first()
    )
    return dict(row) if row else None


def find_live(conn: Connection, link_hash: str, now: datetime) -> dict[str, Any] | None:
    """The live link with this hash, with its account's slug and name, or None."""
    row = (
        conn.execute(
            select(
                setup_link.c.id,
                setup_link.c.account_id,
                setup_link.c.link_hash,
                setup_link.c.prefix,
                setup_link.c.note,
                setup_link.c.created_at,
                setup_link.c.expires_at,
                setup_link.c.last_used_at,
                account.c.slug,
                account.c.name.label("account_name"),
            )
            .join(account, account.c.id == setup_link.c.account_id)
            .where(
                setup_link.c.link_hash == link_hash,
                setup_link.c.revoked_at.is_(None),
                setup_link.c.expires_at > now,
                account.c.provisioning_active.is_(True),
            )
        )
        .mappings()
        .first()
    )
    return dict(row) if row else None


def touch(conn: Connection, account_id: int, link_id: int, now: datetime) -> None:
    """Set last_used_at of one link of this account."""
    conn.execute(
        update(setup_link)
        .where(setup_link.c.account_id == account_id, setup_link.c.id == link_id)
        .values(last_used_at=now)
    )
