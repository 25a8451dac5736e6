"""Properties as SCIM extension attributes: their stored attribute names and the revision
that tells a cached extension schema it is stale.

Every statement names the account. An attribute name is unique per account whatever its
case (SCIM compares names so): the service checks first, and the (account_id,
lower(scim_name)) unique index refuses what a concurrent writer slipped past the check,
with the same ConflictError.
A renamed attribute's staged values move with it: the user documents are rewritten.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, select, update
from sqlalchemy.exc import IntegrityError

from scimgate.errors import ConflictError
from scimgate.store import driver
from scimgate.store.tables.members import member_property

_BATCH = 500
_RETRIES = 5
Rewrite = Callable[[dict[str, Any]], dict[str, Any] | None]


def properties_revision(conn: Connection, account_id: int) -> int:
    """The account's mapping revision, bumped by every Property or mapping change."""
    row = driver.execute(
        conn, "SELECT mapping_rev FROM account WHERE id = ?", (account_id,)
    ).fetchone()
    return int(row[0]) if row else 0


def attribute_rows(conn: Connection, account_id: int) -> list[dict[str, Any]]:
    """Every Property with its attribute name (id, name, type, options, scim_name), by name."""
    p = member_property
    rows = conn.execute(
        select(p.c.id, p.c.name, p.c.type, p.c.options, p.c.scim_name)
        .where(p.c.account_id == account_id)
        .order_by(p.c.name_key)
    ).mappings()
    return [dict(r) for r in rows]


def attribute_name(conn: Connection, account_id: int, prop_id: str) -> str | None:
    """One Property's attribute name (None: it has none)."""
    p = member_property
    return conn.execute(
        select(p.c.scim_name).where(p.c.account_id == account_id, p.c.id == prop_id)
    ).scalar_one_or_none()


def holders_of(conn: Connection, account_id: int, names: Sequence[str]) -> dict[str, str]:
    """The Properties holding these attribute names, case-insensitively: {name: Property name}."""
    p = member_property
    wanted = {n.lower() for n in names}
    rows = conn.execute(
        select(p.c.scim_name, p.c.name).where(
            p.c.account_id == account_id, p.c.scim_name.is_not(None)
        )
    )
    return {r.scim_name: r.name for r in rows if r.scim_name.lower() in wanted}


def taken_names(conn: Connection, account_id: int) -> set[str]:
    """The attribute names the account's Properties hold already."""
    p = member_property
    rows = conn.execute(
        select(p.c.scim_name).where(p.c.account_id == account_id, p.c.scim_name.is_not(None))
    )
    return {r.scim_name for r in rows}


def name_taken(name: str, holder: str) -> ConflictError:
    """The conflict of an attribute name another Property holds (in this or another case)."""
    return ConflictError(
        f"Property {holder!r} already has the SCIM attribute {name!r} (attribute names are "
        "compared whatever their case)",
        "scim_attribute",
    )


def set_attribute_name(conn: Connection, account_id: int, prop_id: str, scim_name: str) -> None:
    """Give a Property its attribute name; one another Property holds in any case is a
    ConflictError (the unique index's refusal, naming the holder as the service does)."""
    p = member_property
    try:
        with conn.begin_nested():
            conn.execute(
                update(p)
                .where(p.c.account_id == account_id, p.c.id == prop_id)
                .values(scim_name=scim_name)
            )
    except IntegrityError:
        for name, holder in holders_of(conn, account_id, [scim_name]).items():
            raise name_taken(name, holder) from None
        raise ConflictError(
            f"The SCIM attribute {scim_name!r} is taken; retry", "scim_attribute"
        ) from None


def rewrite_user_documents(
    conn: Connection, account_id: int, needles: Sequence[str], rewrite: Rewrite, now: datetime
) -> int:
    """Rewrite the staged users `rewrite` changes, among those whose text holds a needle
    (lower case, a cheap prefilter); each gets a new version (its ETag) and lastModified.
    Returns how many changed. A write that raced in is read again, as SCIM writes do."""
    doc = "CAST(doc AS TEXT)" if driver.is_pg(conn) else "doc"
    holds = " OR ".join(f"lower({doc}) LIKE ?" for _ in needles)
    patterns = [f'%"{n.lower()}"%' for n in needles]
    after, changed = "", 0
    while True:
        rows = driver.execute(
            conn,
            f"SELECT id, {doc}, version FROM directory_user WHERE account_id = ? AND id > ? "
            f"AND ({holds}) ORDER BY id LIMIT ?",
            (account_id, after, *patterns, _BATCH),
        ).fetchall()
        if not rows:
            return changed
        for user_id, text, version in rows:
            changed += _rewrite_one(conn, account_id, user_id, (text, version), rewrite, now)
        after = rows[-1][0]


def _rewrite_one(
    conn: Connection,
    account_id: int,
    user_id: str,
    row: tuple[Any, int],
    rewrite: Rewrite,
    now: datetime,
) -> int:
    """Write one user's rewritten document if its version is still the one read (1: written)."""
    doc = "CAST(doc AS TEXT)" if driver.is_pg(conn) else "doc"
    for _attempt in range(_RETRIES):
        text, version = row
        new = rewrite(driver.load_json(text))
        if new is None:
            return 0
        updated = driver.execute(
            conn,
            f"UPDATE directory_user SET doc = {driver.json_param(conn)}, version = ?, "
            "updated_at = ? WHERE account_id = ? AND id = ? AND version = ?",
            (
                driver.dump_json(new),
                version + 1,
                driver.to_db_time(conn, now),
                account_id,
                user_id,
                version,
            ),
        ).rowcount
        if updated == 1:
            return 1
        found = driver.execute(
            conn,
            f"SELECT {doc}, version FROM directory_user WHERE account_id = ? AND id = ?",
            (account_id, user_id),
        ).fetchone()
        if found is None:
            return 0  # deleted meanwhile
        row = (found[0], found[1])
    raise ConflictError(f"User {user_id!r} kept changing; retry", "scim_name")
