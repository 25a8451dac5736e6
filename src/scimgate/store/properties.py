"""Changes to an account's Properties: rename, options, delete, and who holds which value.

Every statement names the account. The name stays unique per account through the
(account_id, name_key) constraint: a rename onto a taken name is a ConflictError.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

from sqlalchemy import Connection, delete, func, select, update
from sqlalchemy.exc import IntegrityError

from scimgate.errors import ConflictError, NotFoundError
from scimgate.store import driver
from scimgate.store import sync as sync_store
from scimgate.store.tables.members import attribute_mapping, member_property, property_value

_BATCH = 1000


def get_property(conn: Connection, account_id: int, prop_id: str) -> dict[str, Any]:
    """A Property by id, or NotFoundError."""
    p = member_property
    row = (
        conn.execute(
            select(p.c.id, p.c.name, p.c.type, p.c.options, p.c.created_at).where(
                p.c.account_id == account_id, p.c.id == prop_id
            )
        )
        .mappings()
        .first()
    )
    if row is None:
        raise NotFoundError(f"No Property with id {prop_id!r}")
    return dict(row)


def rename_property(conn: Connection, account_id: int, prop_id: str, name: str) -> None:
    """Give a Property a new name; a name another Property has is a ConflictError."""
    p = member_property
    try:
        with conn.begin_nested():
            conn.execute(
                update(p)
                .where(p.c.account_id == account_id, p.c.id == prop_id)
                .values(name=name, name_key=name.lower())
            )
    except IntegrityError:
        raise ConflictError(f"A Property named {name!r} already exists", "name") from None


def set_options(conn: Connection, account_id: int, prop_id: str, options: list[str]) -> None:
    """Replace a select Property's options."""
    p = member_property
    conn.execute(
        update(p).where(p.c.account_id == account_id, p.c.id == prop_id).values(options=options)
    )


def delete_property(conn: Connection, account_id: int, prop_id: str) -> None:
    """Remove a Property, its values and the mapping onto it."""
    conn.execute(
        delete(property_value).where(
            property_value.c.account_id == account_id, property_value.c.property_id == prop_id
        )
    )
    conn.execute(
        delete(attribute_mapping).where(
            attribute_mapping.c.account_id == account_id,
            attribute_mapping.c.target == f"property:{prop_id}",
        )
    )
    conn.execute(
        delete(member_property).where(
            member_property.c.account_id == account_id, member_property.c.id == prop_id
        )
    )


def count_values(conn: Connection, account_id: int, prop_id: str) -> int:
    """How many members hold a value of this Property."""
    pv = property_value
    return int(
        conn.execute(
            select(func.count()).where(pv.c.account_id == account_id, pv.c.property_id == prop_id)
        ).scalar_one()
    )


def values_by_property(
    conn: Connection, account_id: int, prop_id: str
) -> Iterator[list[tuple[str, Any, str]]]:
    """Every value of one Property in batches of (member_id, value, source), member id order."""
    after = ""
    while True:
        rows = driver.execute(
            conn,
            "SELECT member_id, value, source FROM property_value WHERE account_id = ? "
            "AND property_id = ? AND member_id > ? ORDER BY member_id LIMIT ?",
            (account_id, prop_id, after, _BATCH),
        ).fetchall()
        if not rows:
            return
        yield [(m, driver.load_value(conn, v), s) for m, v, s in rows]
        after = rows[-1][0]


def option_counts(conn: Connection, account_id: int, prop_id: str) -> dict[str, int]:
    """How many members hold each value of a Property, by stored value (one grouped read)."""
    rows = driver.execute(
        conn,
        "SELECT value, count(*) FROM property_value WHERE account_id = ? AND property_id = ? "
        "GROUP BY value",
        (account_id, prop_id),
    ).fetchall()
    counts: dict[str, int] = {}
    for value, count in rows:
        key = str(driver.load_value(conn, value))
        counts[key] = counts.get(key, 0) + int(count)
    return counts


def emails_of(
    conn: Connection, account_id: int, member_ids: Sequence[str]
) -> dict[str, str | None]:
    """The emails of some members (for the Events of a change to their values)."""
    rows = sync_store.select_in(
        conn,
        "SELECT id, email FROM member WHERE account_id = ? AND id IN ({keys})",
        account_id,
        member_ids,
    )
    return dict(rows)
