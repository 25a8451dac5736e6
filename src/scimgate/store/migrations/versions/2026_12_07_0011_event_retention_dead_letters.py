"""event retention and webhook dead letters

Events are kept for a window per account (account.event_retention_days, 90 by default)
and pruned oldest first; account.event_pruned_seq is the last sequence number pruned, so
a feed reader asking for anything before it is told its cursor is too old (410) instead
of skipping events. The deliveries of pruned events go with them (an index on
webhook_delivery (account_id, event_seq) finds them). A delivery that used up its
endpoint's retries is marked `dead` (a dead letter, listed and redelivered in bulk).

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-07
"""

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Plain ALTER TABLE (no batch copy on SQLite: recreating `account` would cascade-delete
    # every row that references it).
    op.add_column(
        "account",
        sa.Column("event_retention_days", sa.Integer(), server_default="90", nullable=False),
    )
    op.add_column(
        "account",
        sa.Column("event_pruned_seq", sa.BigInteger(), server_default="0", nullable=False),
    )
    op.add_column(
        "webhook_delivery",
        sa.Column("dead", sa.Boolean(), server_default=sa.false(), nullable=False),
    )
    op.create_index(
        op.f("ix_webhook_delivery_account_id_event_seq"),
        "webhook_delivery",
        ["account_id", "event_seq"],
        unique=False,
    )


def downgrade() -> None:
    # ALTER TABLE ... DROP COLUMN (SQLite 3.35 or later), for the same reason.
    op.drop_index(op.f("ix_webhook_delivery_account_id_event_seq"), table_name="webhook_delivery")
    op.drop_column("webhook_delivery", "dead")
    op.drop_column("account", "event_pruned_seq")
    op.drop_column("account", "event_retention_days")
