"""property scim attribute

Each Property gets the name it has in the account's SCIM extension
(`urn:ietf:params:scim:schemas:extension:scimgate:2.0:User:<scim_name>`), chosen once from
its name and kept through renames, so an IdP's mapping onto it keeps working. Existing
Properties are named here, oldest first (the oldest keeps the plain name on a clash).

Revision ID: 0015_property_scim_attribute
Revises: 0014_group_rules
Create Date: 2026-12-07
"""

import re
import unicodedata

import sqlalchemy as sa
from alembic import op

revision = "0015_property_scim_attribute"
down_revision = "0014_group_rules"
branch_labels = None
depends_on = None

_WORD = re.compile(r"[A-Za-z0-9]+")


def _attribute_name(label: str, used: set[str]) -> str:
    """As scim.account_extension.attribute_name had it on 2026-12-07 (frozen here)."""
    folded = unicodedata.normalize("NFKD", label).encode("ascii", "ignore").decode()
    words = [w.lower() for w in _WORD.findall(folded)]
    base = "".join(w if i == 0 else w[:1].upper() + w[1:] for i, w in enumerate(words))
    if not base[:1].isalpha():
        base = "property" + base[:1].upper() + base[1:]
    base = base[:60]
    name, number = base, 1
    while name.lower() in used:
        number += 1
        name = f"{base}{number}"
    return name


def upgrade() -> None:
    # Plain ALTER TABLE and CREATE UNIQUE INDEX: a SQLite batch copy of member_property would
    # cascade-delete every member's values of it (property_value references it).
    op.add_column("member_property", sa.Column("scim_name", sa.String(length=64), nullable=True))
    conn = op.get_bind()
    rows = conn.execute(
        sa.text(
            "SELECT account_id, id, name FROM member_property ORDER BY account_id, created_at, id"
        )
    ).fetchall()
    used: dict[int, set[str]] = {}
    for account_id, prop_id, name in rows:
        taken = used.setdefault(account_id, set())
        scim_name = _attribute_name(name, taken)
        taken.add(scim_name.lower())
        conn.execute(
            sa.text("UPDATE member_property SET scim_name = :n WHERE account_id = :a AND id = :i"),
            {"n": scim_name, "a": account_id, "i": prop_id},
        )
    op.create_index(
        op.f("ix_member_property_account_id_scim_name"),
        "member_property",
        ["account_id", "scim_name"],
        unique=True,
    )


def downgrade() -> None:
    # ALTER TABLE ... DROP COLUMN (SQLite 3.35 or later), for the same reason.
    op.drop_index(op.f("ix_member_property_account_id_scim_name"), table_name="member_property")
    op.drop_column("member_property", "scim_name")
