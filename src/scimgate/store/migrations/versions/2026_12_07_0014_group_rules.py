"""group rules

group_rule: "members of directory group G get Property P = V", per account, with a
priority (lower wins; a tie goes to the older rule). Applied by Synchronize; keyed by the
group's id, so a rename in the identity provider keeps the rule.

Revision ID: 0014_group_rules
Revises: 0013_client_habits
Create Date: 2026-12-07
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0014_group_rules"
down_revision = "0013_client_habits"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "group_rule",
        sa.Column(
            "account_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("group_id", sa.String(length=64), nullable=False),
        sa.Column("group_name", sa.String(length=512), nullable=False),
        sa.Column("property_id", sa.String(length=36), nullable=False),
        sa.Column(
            "value",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("priority", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["account.id"],
            name=op.f("fk_group_rule_account_id_account"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["account_id", "property_id"],
            ["member_property.account_id", "member_property.id"],
            name=op.f("fk_group_rule_account_id_member_property"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_group_rule")),
        sa.UniqueConstraint(
            "account_id",
            "group_id",
            "property_id",
            name=op.f("uq_group_rule_account_id_group_id_property_id"),
        ),
    )
    with op.batch_alter_table("group_rule", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_group_rule_account_id_property_id"),
            ["account_id", "property_id"],
            unique=False,
        )


def downgrade() -> None:
    with op.batch_alter_table("group_rule", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_group_rule_account_id_property_id"))
    op.drop_table("group_rule")
