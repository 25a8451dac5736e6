"""How long an account keeps its events, and pruning the oldest ones (webhooks.retention).

Pruning removes a prefix of the account's sequence, never a gap: the oldest events go
first and a pass stops at the first event still inside the window. The last sequence
number pruned is kept on the account row (`event_pruned_seq`), so the feed can tell a
cursor that points into the pruned prefix (410) from one that is up to date.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Connection, delete, select, update

from scimgate.store import driver
from scimgate.store.tables.accounts import account
from scimgate.store.tables.operations import event, webhook_delivery, webhook_endpoint


def retention(conn: Connection, account_id: int) -> dict[str, Any]:
    """The account's window in days, the last seq pruned and the last seq written."""
    row = conn.execute(
        select(
            account.c.event_retention_days, account.c.event_pruned_seq, account.c.event_seq
        ).where(account.c.id == account_id)
    ).first()
    if row is None:
        return {"retention_days": 90, "pruned_seq": 0, "last_seq": 0}
    return {"retention_days": int(row[0]), "pruned_seq": int(row[1]), "last_seq": int(row[2])}


def set_retention_days(conn: Connection, account_id: int, days: int) -> None:
    """Change the account's window (the next prune applies it)."""
    conn.execute(
        update(account).where(account.c.id == account_id).values(event_retention_days=days)
    )


def pruned_seq(conn: Connection, account_id: int) -> int:
    """The last sequence number pruned in the account (0: none)."""
    found = driver.execute(
        conn, "SELECT event_pruned_seq FROM account WHERE id = ?", (account_id,)
    ).fetchone()
    return int(found[0]) if found else 0


def accounts_after(conn: Connection, after_id: int, limit: int) -> list[tuple[int, int]]:
    """(id, retention days) of the next `limit` accounts after `after_id`, in id order."""
    rows = conn.execute(
        select(account.c.id, account.c.event_retention_days)
        .where(account.c.id > after_id)
        .order_by(account.c.id)
        .limit(limit)
    )
    return [(int(r[0]), int(r[1])) for r in rows]


def account_windows(
    conn: Connection, after_id: int, limit: int, only: int | None = None
) -> list[tuple[int, str, int]]:
    """(id, slug, retention days) of the next `limit` accounts after `after_id`, in id order
    (just account `only` when given): what a prune from the CLI names as it goes."""
    query = select(account.c.id, account.c.slug, account.c.event_retention_days).where(
        account.c.id > after_id
    )
    if only is not None:
        query = query.where(account.c.id == only)
    rows = conn.execute(query.order_by(account.c.id).limit(limit))
    return [(int(r[0]), str(r[1]), int(r[2])) for r in rows]


def prunable(conn: Connection, account_id: int, cutoff: datetime, page: int) -> tuple[int, int]:
    """How many events a prune would delete now and the last of them (0, 0: none): the run of
    oldest events before `cutoff`, read `page` at a time as oldest_prefix reads them."""
    count, last = 0, 0
    while True:
        rows = driver.execute(
            conn,
            "SELECT seq, created_at FROM event WHERE account_id = ? AND seq > ? "
            "ORDER BY seq LIMIT ?",
            (account_id, last, page),
        ).fetchall()
        for seq, created_at in rows:
            if driver.from_db_time(created_at) >= cutoff:
                return count, last
            count, last = count + 1, int(seq)
        if len(rows) < page:
            return count, last


def oldest_prefix(conn: Connection, account_id: int, cutoff: datetime, limit: int) -> int | None:
    """The last seq of the run of oldest events written before `cutoff` (at most `limit`),
    or None when the oldest event is inside the window. Reads the primary key in order."""
    rows = driver.execute(
        conn,
        "SELECT seq, created_at FROM event WHERE account_id = ? ORDER BY seq LIMIT ?",
        (account_id, limit),
    ).fetchall()
    last = None
    for seq, created_at in rows:
        if driver.from_db_time(created_at) >= cutoff:
            break
        last = int(seq)
    return last


def prune_through(conn: Connection, account_id: int, last: int, note: str) -> int:
    """Delete the account's events up to `last` and their deliveries (the log of a pruned
    event goes with it), record `last` as pruned, and move an endpoint still behind it
    (failing for longer than the window) past it with `note` as its last error."""
    # The account row first (as event and audit writers take it), then the endpoints behind
    # `last`, then the deletes: on PostgreSQL a delivery logging an event up to `last` has
    # either committed before the endpoint's row lock was granted (its log row is deleted
    # below) or waits for it and finds the cursor moved (webhooks.advance_endpoint: it logs
    # nothing and leaves the cursor where the prune put it).
    conn.execute(
        update(account)
        .where(account.c.id == account_id, account.c.event_pruned_seq < last)
        .values(event_pruned_seq=last)
    )
    e = webhook_endpoint
    conn.execute(
        update(e)
        .where(e.c.account_id == account_id, e.c.cursor < last)
        .values(cursor=last, attempts=0, last_error=note)
    )
    deleted = conn.execute(
        delete(event).where(event.c.account_id == account_id, event.c.seq <= last)
    ).rowcount
    conn.execute(
        delete(webhook_delivery).where(
            webhook_delivery.c.account_id == account_id, webhook_delivery.c.event_seq <= last
        )
    )
    return int(deleted or 0)
