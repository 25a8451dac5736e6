"""client habits

client_habit records, per account, the habits its SCIM clients showed (which identity
provider named itself in the User-Agent, capitalised PATCH ops, string booleans, ...)
with a count and when each was first and last seen: the account's identity-provider
profile, which also decides how a Group PATCH is answered.

Revision ID: 0013_client_habits
Revises: 0012_setup_links
Create Date: 2026-12-07
"""

import sqlalchemy as sa
from alembic import op

revision = "0013_client_habits"
down_revision = "0012_setup_links"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "client_habit",
        sa.Column(
            "account_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("habit", sa.String(length=40), nullable=False),
        sa.Column("count", sa.BigInteger(), nullable=False),
        sa.Column("first_seen", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_seen", sa.DateTime(timezone=True), nullable=False),
        sa.Column("sample", sa.String(length=200), nullable=True),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["account.id"],
            name=op.f("fk_client_habit_account_id_account"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("account_id", "habit", name=op.f("pk_client_habit")),
    )


def downgrade() -> None:
    op.drop_table("client_habit")
