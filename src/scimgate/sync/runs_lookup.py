"""What the Synchronize page asks before it offers a run: one running, or one held."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection

from scimgate.store import sync as store


def running_run(conn: Connection, account_id: int) -> dict[str, Any] | None:
    """The account's running run, if any."""
    return store.running_run(conn, account_id)


def held_run(conn: Connection, account_id: int) -> dict[str, Any] | None:
    """The newest held run among the last five, if any (it waits for a confirmation)."""
    held = [r for r in store.list_runs(conn, account_id, limit=5) if r["status"] == "held"]
    return held[0] if held else None
