"""Staged user documents as the mapping reads them: a preview's first users, a scan for a
path's values, a sample of recent ones for the attribute picker; and the Properties a
mapper compiles against."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from sqlalchemy import Connection, select

from scimgate.store import driver
from scimgate.store.tables.members import member_property


def property_rows(conn: Connection, account_id: int) -> list[Any]:
    """Every Property of the account (id, name, type, options): what a mapper fills."""
    return list(
        conn.execute(
            select(
                member_property.c.id,
                member_property.c.name,
                member_property.c.type,
                member_property.c.options,
            ).where(member_property.c.account_id == account_id)
        )
    )


def first_users(conn: Connection, account_id: int, limit: int) -> list[tuple[str, str, Any]]:
    """The first staged users by userName, as (id, userName, document): a preview's sample."""
    rows = driver.execute(
        conn,
        "SELECT id, user_name, doc FROM directory_user WHERE account_id = ? "
        "ORDER BY user_name_key LIMIT ?",
        (account_id, limit),
    ).fetchall()
    return [(user_id, user_name, driver.load_json(doc)) for user_id, user_name, doc in rows]


def every_document(conn: Connection, account_id: int, batch: int = 500) -> Iterator[Any]:
    """Every staged user document, read in keyset batches (never the whole account at once)."""
    after = ""
    while True:
        rows = driver.execute(
            conn,
            "SELECT id, doc FROM directory_user WHERE account_id = ? AND id > ? ORDER BY id LIMIT ?",
            (account_id, after, batch),
        ).fetchall()
        if not rows:
            return
        for _id, doc in rows:
            yield driver.load_json(doc)
        after = rows[-1][0]


def recent_documents(conn: Connection, account_id: int, sample: int) -> list[Any]:
    """The documents of the most recently updated staged users."""
    rows = driver.execute(
        conn,
        "SELECT doc FROM directory_user WHERE account_id = ? ORDER BY updated_at DESC LIMIT ?",
        (account_id, sample),
    ).fetchall()
    return [driver.load_json(doc) for (doc,) in rows]
