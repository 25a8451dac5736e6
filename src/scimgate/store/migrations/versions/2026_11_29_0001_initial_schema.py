"""initial schema

Revision ID: 0001
Revises:
Create Date: 2026-11-29
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "account",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("slug", sa.String(length=63), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("provisioning_entitled", sa.Boolean(), nullable=False),
        sa.Column("provisioning_active", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_account")),
        sa.UniqueConstraint("slug", name=op.f("uq_account_slug")),
    )
    op.create_table(
        "directory_count",
        sa.Column(
            "account_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("kind", sa.String(length=8), nullable=False),
        sa.Column("n", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["account.id"],
            name=op.f("fk_directory_count_account_id_account"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("account_id", "kind", name=op.f("pk_directory_count")),
    )
    op.create_table(
        "directory_group",
        sa.Column(
            "account_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("display_name", sa.String(length=512), nullable=False),
        sa.Column("display_name_key", sa.String(length=512), nullable=False),
        sa.Column("external_id", sa.String(length=512), nullable=True),
        sa.Column(
            "doc",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["account.id"],
            name=op.f("fk_directory_group_account_id_account"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("account_id", "id", name=op.f("pk_directory_group")),
        sa.UniqueConstraint(
            "account_id",
            "display_name_key",
            name=op.f("uq_directory_group_account_id_display_name_key"),
        ),
    )
    with op.batch_alter_table("directory_group", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_directory_group_account_id_external_id_id"),
            ["account_id", "external_id", "id"],
            unique=False,
        )
        batch_op.create_index(
            batch_op.f("ix_directory_group_account_id_updated_at"),
            ["account_id", "updated_at"],
            unique=False,
        )

    op.create_table(
        "directory_user",
        sa.Column(
            "account_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("user_name", sa.String(length=512), nullable=False),
        sa.Column("user_name_key", sa.String(length=512), nullable=False),
        sa.Column("external_id", sa.String(length=512), nullable=True),
        sa.Column("display_name", sa.String(length=512), nullable=True),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column(
            "doc",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["account.id"],
            name=op.f("fk_directory_user_account_id_account"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("account_id", "id", name=op.f("pk_directory_user")),
        sa.UniqueConstraint(
            "account_id", "user_name_key", name=op.f("uq_directory_user_account_id_user_name_key")
        ),
    )
    with op.batch_alter_table("directory_user", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_directory_user_account_id_display_name_id"),
            ["account_id", "display_name", "id"],
            unique=False,
        )
        batch_op.create_index(
            batch_op.f("ix_directory_user_account_id_external_id_id"),
            ["account_id", "external_id", "id"],
            unique=False,
        )
        batch_op.create_index(
            batch_op.f("ix_directory_user_account_id_updated_at"),
            ["account_id", "updated_at"],
            unique=False,
        )

    op.create_table(
        "provisioning_token",
        sa.Column(
            "account_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("prefix", sa.String(length=16), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_used_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["account.id"],
            name=op.f("fk_provisioning_token_account_id_account"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_provisioning_token")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_provisioning_token_token_hash")),
    )
    with op.batch_alter_table("provisioning_token", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_provisioning_token_account_id_id"), ["account_id", "id"], unique=False
        )

    op.create_table(
        "request_log",
        sa.Column(
            "account_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("method", sa.String(length=8), nullable=False),
        sa.Column("path", sa.String(length=1024), nullable=False),
        sa.Column("query", sa.Text(), nullable=False),
        sa.Column("status", sa.Integer(), nullable=False),
        sa.Column("duration_ms", sa.Integer(), nullable=False),
        sa.Column("scim_type", sa.String(length=32), nullable=True),
        sa.Column("detail", sa.Text(), nullable=True),
        sa.Column("ignored", sa.Text(), nullable=True),
        sa.Column("resource_id", sa.String(length=64), nullable=True),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["account.id"],
            name=op.f("fk_request_log_account_id_account"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_request_log")),
    )
    with op.batch_alter_table("request_log", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_request_log_account_id_at"), ["account_id", "at"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_request_log_account_id_id"), ["account_id", "id"], unique=False
        )

    op.create_table(
        "directory_membership",
        sa.Column(
            "account_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("group_id", sa.String(length=64), nullable=False),
        sa.Column("member_id", sa.String(length=64), nullable=False),
        sa.Column("member_type", sa.String(length=8), nullable=False),
        sa.Column("display", sa.String(length=512), nullable=True),
        sa.ForeignKeyConstraint(
            ["account_id", "group_id"],
            ["directory_group.account_id", "directory_group.id"],
            name=op.f("fk_directory_membership_account_id_directory_group"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint(
            "account_id", "group_id", "member_id", name=op.f("pk_directory_membership")
        ),
    )
    with op.batch_alter_table("directory_membership", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_directory_membership_account_id_member_id_group_id"),
            ["account_id", "member_id", "group_id"],
            unique=False,
        )

    op.create_table(
        "directory_user_email",
        sa.Column(
            "account_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("user_id", sa.String(length=64), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("value_key", sa.String(length=512), nullable=False),
        sa.Column("type", sa.String(length=64), nullable=True),
        sa.Column("is_primary", sa.Boolean(), nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id", "user_id"],
            ["directory_user.account_id", "directory_user.id"],
            name=op.f("fk_directory_user_email_account_id_directory_user"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint(
            "account_id", "user_id", "position", name=op.f("pk_directory_user_email")
        ),
    )
    with op.batch_alter_table("directory_user_email", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_directory_user_email_account_id_value_key"),
            ["account_id", "value_key"],
            unique=False,
        )


def downgrade() -> None:
    with op.batch_alter_table("directory_user_email", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_directory_user_email_account_id_value_key"))

    op.drop_table("directory_user_email")
    with op.batch_alter_table("directory_membership", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_directory_membership_account_id_member_id_group_id"))

    op.drop_table("directory_membership")
    with op.batch_alter_table("request_log", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_request_log_account_id_id"))
        batch_op.drop_index(batch_op.f("ix_request_log_account_id_at"))

    op.drop_table("request_log")
    with op.batch_alter_table("provisioning_token", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_provisioning_token_account_id_id"))

    op.drop_table("provisioning_token")
    with op.batch_alter_table("directory_user", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_directory_user_account_id_updated_at"))
        batch_op.drop_index(batch_op.f("ix_directory_user_account_id_external_id_id"))
        batch_op.drop_index(batch_op.f("ix_directory_user_account_id_display_name_id"))

    op.drop_table("directory_user")
    with op.batch_alter_table("directory_group", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_directory_group_account_id_updated_at"))
        batch_op.drop_index(batch_op.f("ix_directory_group_account_id_external_id_id"))

    op.drop_table("directory_group")
    op.drop_table("directory_count")
    op.drop_table("account")
