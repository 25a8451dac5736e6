"""How much the identity provider has staged: the counts a Synchronize goes through."""

from __future__ import annotations

from sqlalchemy import Connection

from scimgate.store import directory as directory_store


def staged_count(conn: Connection, account_id: int, kind: str) -> int:
    """How many Users or Groups the account holds (O(1): a maintained count)."""
    return directory_store.count_resources(conn, account_id, kind)
