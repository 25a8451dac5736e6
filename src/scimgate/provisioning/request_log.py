"""The provisioning log: what the identity provider sent and got, read by the console and
written (redacted, in batches) and pruned by the web's request-log buffer.

Writes and prunes raise a StorageError (scimgate.errors) when the database is away: the
buffer keeps the entries and tries again."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection

from scimgate.errors import NotFoundError
from scimgate.store import request_logs
from scimgate.store.request_logs import (  # noqa: F401 - the service's surface
    account_ids,
    column_limits,
    entry_columns,
    insert_entries,
    list_entries,
    prune,
)


def get_entry(conn: Connection, account_id: int, entry_id: int) -> dict[str, Any]:
    """One entry of this account with its bodies, or NotFoundError."""
    found = request_logs.get_entry(conn, account_id, entry_id)
    if found is None:
        raise NotFoundError("no such log entry")
    return found
