"""Accounts found by slug, as the command line names them: the row, its id, its tokens."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection

from scimgate.store import accounts as store


def get_account(conn: Connection, slug: str) -> dict[str, Any]:
    """The account by slug, or NotFoundError."""
    return store.get_account(conn, slug)


def account_id(conn: Connection, slug: str) -> int:
    """The id the services take, for the slug an operator types."""
    return int(store.get_account(conn, slug)["id"])


def list_tokens(conn: Connection, slug: str) -> list[dict[str, Any]]:
    """The account's provisioning tokens, live and revoked (prefixes only, never the secret)."""
    return store.list_tokens(conn, account_id(conn, slug))
