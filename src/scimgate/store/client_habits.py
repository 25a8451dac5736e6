"""An account's client habits: added to in batches by every server process, read whole
(a handful of rows) for the profile."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Connection, Engine, case, func, select
from sqlalchemy.dialects import postgresql, sqlite

from scimgate.store.errors import storage_edge
from scimgate.store.tables.accounts import account
from scimgate.store.tables.client_habits import client_habit


def add_counts(engine: Engine, rows: Sequence[dict[str, Any]]) -> None:
    """Add counts ({account_id, habit, count, first_seen, last_seen, sample}) in one
    transaction: counts summed, first_seen kept, last_seen and sample the newest. Rows
    of an account deleted meanwhile are left out."""
    t = client_habit
    with storage_edge(), engine.begin() as conn:
        live = set(
            conn.execute(
                select(account.c.id).where(account.c.id.in_({r["account_id"] for r in rows}))
            ).scalars()
        )
        kept = sorted(
            (r for r in rows if r["account_id"] in live),
            key=lambda r: (r["account_id"], r["habit"]),  # one lock order for every process
        )
        if not kept:
            return
        insert = postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert
        statement = insert(t)
        newer = statement.excluded.last_seen > t.c.last_seen
        conn.execute(
            statement.on_conflict_do_update(
                index_elements=[t.c.account_id, t.c.habit],
                set_={
                    "count": t.c.count + statement.excluded.count,
                    "first_seen": case(
                        (
                            statement.excluded.first_seen < t.c.first_seen,
                            statement.excluded.first_seen,
                        ),
                        else_=t.c.first_seen,
                    ),
                    "last_seen": case((newer, statement.excluded.last_seen), else_=t.c.last_seen),
                    "sample": func.coalesce(statement.excluded.sample, t.c.sample),
                },
            ),
            kept,
        )


def habits_of(conn: Connection, account_id: int) -> list[dict[str, Any]]:
    """Every habit recorded for this account."""
    t = client_habit
    rows = conn.execute(
        select(t.c.habit, t.c.count, t.c.first_seen, t.c.last_seen, t.c.sample).where(
            t.c.account_id == account_id
        )
    ).mappings()
    return [dict(r) for r in rows]
