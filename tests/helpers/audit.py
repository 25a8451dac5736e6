"""Reading audit entries back in the audit tests."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Engine

from scimgate import audit


def entries(engine: Engine, account_id: int, limit: int = 1000) -> list[dict[str, Any]]:
    """The account's audit entries, newest first."""
    with engine.connect() as conn:
        rows, _next = audit.list_page(conn, account_id, limit=limit)
    return rows


def entries_since(engine: Engine, account_id: int, before: list[dict[str, Any]]) -> list[dict]:
    """Entries written after `before` (an earlier `entries` result), oldest first."""
    last = before[0]["id"] if before else 0
    return [e for e in reversed(entries(engine, account_id)) if e["id"] > last]
