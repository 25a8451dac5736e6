"""default mapping at activation

The default attribute mapping is now installed only when provisioning is activated (it used
to be installed on first use as well: a sync, a mapping change or a mapping list). Every
activation since the mapping tables exist installed it, but an account activated before
them that has not used its mapping since has none: it gets the defaults here, as its first
use would have given them. Accounts never activated get them at activation.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-07
"""

import uuid
from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

# As mapping.service had them on 2026-12-07 (a migration does not follow later changes).
_ENT = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
_FIELDS = {
    "name": "displayName || name.formatted || userName",
    "email": 'emails[type eq "work"].value || emails.value || userName',
}
_PROPERTIES = (
    ("Job title", "text", "title"),
    ("Department", "text", f"{_ENT}:department"),
    ("Manager", "member", f"{_ENT}:manager"),
)


def upgrade() -> None:
    conn = op.get_bind()
    accounts = conn.execute(
        sa.text(
            "SELECT a.id FROM account a WHERE a.mapping_rev = 0 "
            "AND EXISTS (SELECT 1 FROM provisioning_token t WHERE t.account_id = a.id) "
            "AND NOT EXISTS (SELECT 1 FROM attribute_mapping m WHERE m.account_id = a.id)"
        )
    ).fetchall()
    now = datetime.now(UTC)
    for (account_id,) in accounts:
        _install(conn, account_id, now)


def _install(conn: sa.Connection, account_id: int, now: datetime) -> None:
    """What mapping.service.install_defaults does for an account with no mapping yet."""
    put = sa.text(
        "INSERT INTO attribute_mapping (account_id, target, source, created_at) "
        "VALUES (:a, :t, :s, :now)"
    )
    for target, source in _FIELDS.items():
        conn.execute(put, {"a": account_id, "t": target, "s": source, "now": now})
    existing = {
        name_key: (prop_id, kind)
        for prop_id, name_key, kind in conn.execute(
            sa.text("SELECT id, name_key, type FROM member_property WHERE account_id = :a"),
            {"a": account_id},
        )
    }
    for name, kind, source in _PROPERTIES:
        prop_id, existing_kind = existing.get(name.lower(), (None, kind))
        if existing_kind != kind:
            continue
        if prop_id is None:
            prop_id = str(uuid.uuid4())
            conn.execute(
                sa.text(
                    "INSERT INTO member_property "
                    "(account_id, id, name, name_key, type, options, created_at) "
                    "VALUES (:a, :id, :name, :key, :type, :options, :now)"
                ).bindparams(sa.bindparam("options", type_=_options_type(conn))),
                {
                    "a": account_id,
                    "id": prop_id,
                    "name": name,
                    "key": name.lower(),
                    "type": kind,
                    "options": [],
                    "now": now,
                },
            )
        conn.execute(put, {"a": account_id, "t": f"property:{prop_id}", "s": source, "now": now})
    conn.execute(
        sa.text("UPDATE account SET mapping_rev = mapping_rev + 1 WHERE id = :a"), {"a": account_id}
    )


def _options_type(conn: sa.Connection) -> sa.types.TypeEngine:
    if conn.dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import JSONB

        return JSONB()
    return sa.JSON()


def downgrade() -> None:
    """The defaults stay: they are what the account's first use would have installed."""
