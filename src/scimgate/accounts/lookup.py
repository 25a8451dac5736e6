"""Reading an account and its provisioning tokens, for the pages that show them."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection

from scimgate.store import accounts as account_store


def account_by_slug(conn: Connection, slug: str) -> dict[str, Any]:
    """The account by slug, or NotFoundError."""
    return account_store.get_account(conn, slug)


def tokens_of(conn: Connection, account_id: int) -> list[dict[str, Any]]:
    """Every provisioning token of the account, newest first (hashes left out)."""
    return account_store.list_tokens(conn, account_id)
