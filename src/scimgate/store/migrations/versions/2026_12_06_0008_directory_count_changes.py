"""directory count changes

directory_count.changes counts the inserts and deletes of an account's Users (or
Groups): while it stands still, the position of every id in id order stands still too,
so a list page can continue from a remembered id instead of skipping rows (store/page_marks.py).

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-06
"""

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("directory_count", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("changes", sa.BigInteger(), server_default="0", nullable=False)
        )


def downgrade() -> None:
    with op.batch_alter_table("directory_count", schema=None) as batch_op:
        batch_op.drop_column("changes")
