"""property scim name ci unique

SCIM attribute names ignore case (RFC 7643 2.1), so a Property's attribute name is unique
per account whatever its case: a unique index on (account_id, lower(scim_name)), where
the service's check alone left a window for two concurrent writers. Properties already
holding a case variant of an older one's name (oldest first by creation, then id) get a
number appended, as a new Property's name does (costCenter -> CostCenter2), so the index
can be built; the account's mapping revision moves so /Schemas follows.

Revision ID: 0018_scim_name_ci_unique
Revises: 0017_dead_letter_index
Create Date: 2026-12-07
"""

import sqlalchemy as sa
from alembic import op

revision = "0018_scim_name_ci_unique"
down_revision = "0017_dead_letter_index"
branch_labels = None
depends_on = None

_INDEX = "ix_member_property_account_id_scim_name_ci"
_MAX_BASE = 60  # as a derived name's base (scim.account_extension); 64 at most with a number


def _renames(rows: list[tuple[int, str, str]]) -> list[tuple[int, str, str]]:
    """(account, id, new name) for each later holder of a name another holds in any case."""
    used: dict[int, set[str]] = {}
    for account_id, _prop_id, name in rows:
        used.setdefault(account_id, set()).add(name.lower())
    kept: dict[int, set[str]] = {}
    renames = []
    for account_id, prop_id, name in rows:
        seen = kept.setdefault(account_id, set())
        if name.lower() not in seen:
            seen.add(name.lower())
            continue
        taken, base, number = used[account_id], name[:_MAX_BASE], 2
        while f"{base}{number}".lower() in taken:
            number += 1
        new = f"{base}{number}"
        taken.add(new.lower())
        seen.add(new.lower())
        renames.append((account_id, prop_id, new))
    return renames


def upgrade() -> None:
    conn = op.get_bind()
    rows = conn.execute(
        sa.text(
            "SELECT account_id, id, scim_name FROM member_property WHERE scim_name IS NOT NULL "
            "ORDER BY account_id, created_at, id"
        )
    ).fetchall()
    renames = _renames([(r[0], r[1], r[2]) for r in rows])
    for account_id, prop_id, new in renames:
        conn.execute(
            sa.text("UPDATE member_property SET scim_name = :n WHERE account_id = :a AND id = :i"),
            {"n": new, "a": account_id, "i": prop_id},
        )
    for account_id in sorted({r[0] for r in renames}):
        conn.execute(
            sa.text("UPDATE account SET mapping_rev = mapping_rev + 1 WHERE id = :a"),
            {"a": account_id},
        )
    op.create_index(
        _INDEX, "member_property", ["account_id", sa.text("lower(scim_name)")], unique=True
    )


def downgrade() -> None:
    op.drop_index(_INDEX, table_name="member_property")
