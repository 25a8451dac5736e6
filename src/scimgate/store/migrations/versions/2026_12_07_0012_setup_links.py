"""setup links

Time-limited, revocable links that open an account's guided setup pages for the
customer's IT admin (docs/console.md); only each link's SHA-256 hash is stored.

Revision ID: 0012_setup_links
Revises: 0011
Create Date: 2026-12-07
"""

import sqlalchemy as sa
from alembic import op

revision = "0012_setup_links"
down_revision = "0011"
branch_labels = None
depends_on = None

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "setup_link",
        sa.Column("account_id", _ID, nullable=False),
        sa.Column("id", _ID, autoincrement=True, nullable=False),
        sa.Column("link_hash", sa.String(length=64), nullable=False),
        sa.Column("prefix", sa.String(length=16), nullable=False),
        sa.Column("note", sa.String(length=255), nullable=False),
        sa.Column("created_by", sa.String(length=320), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_used_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("revoked_by", sa.String(length=320), nullable=True),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["account.id"],
            name=op.f("fk_setup_link_account_id_account"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_setup_link")),
        sa.UniqueConstraint("link_hash", name=op.f("uq_setup_link_link_hash")),
    )
    with op.batch_alter_table("setup_link", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_setup_link_account_id_id"), ["account_id", "id"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("setup_link", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_setup_link_account_id_id"))
    op.drop_table("setup_link")
