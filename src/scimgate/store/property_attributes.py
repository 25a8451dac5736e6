"""Properties as SCIM extension attributes: their stored attribute names and the revision
that tells a cached extension schema it is stale.

Every statement names the account. An attribute name is unique per account through the
(account_id, scim_name) constraint.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, select, update
from sqlalchemy.exc import IntegrityError

from scimgate.errors import ConflictError
from scimgate.store import driver
from scimgate.store.tables.members import member_property


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


def taken_names(conn: Connection, account_id: int) -> set[str]:
    """The attribute names the account's Properties hold already."""
    p = member_property
    rows = conn.execute(
        select(p.c.scim_name).where(p.c.account_id == account_id, p.c.scim_name.is_not(None))
    )
    return {r.scim_name for r in rows}


def set_attribute_name(conn: Connection, account_id: int, prop_id: str, scim_name: str) -> None:
    """Give a Property its attribute name; one another Property holds is a ConflictError."""
    p = member_property
    try:
        with conn.begin_nested():
            conn.execute(
                update(p)
                .where(p.c.account_id == account_id, p.c.id == prop_id)
                .values(scim_name=scim_name)
            )
    except IntegrityError:
        raise ConflictError(
            f"The SCIM attribute {scim_name!r} is taken; retry", "scim_name"
        ) from None
