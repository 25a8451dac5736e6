"""One webhook endpoint of an account, for the page that shows its delivery log."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection

from scimgate.errors import NotFoundError
from scimgate.store import webhooks as webhook_store


def get_endpoint(conn: Connection, account_id: int, endpoint_id: int) -> dict[str, Any]:
    """The endpoint without its secret (never shown again), or NotFoundError."""
    found = webhook_store.get_endpoint(conn, account_id, endpoint_id)
    if found is None:
        raise NotFoundError("no such endpoint")
    found.pop("secret", None)
    return found
