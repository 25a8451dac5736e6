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
    with op.batch_alter_table("account", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("event_retention_days", sa.Integer(), server_default="90", nullable=False)
        )
        batch_op.add_column(
            sa.Column("event_pruned_seq", sa.BigInteger(), server_default="0", nullable=False)
        )
    with op.batch_alter_table("webhook_delivery", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("dead", sa.Boolean(), server_default=sa.false(), nullable=False)
        )
        batch_op.create_index(
            batch_op.f("ix_webhook_delivery_account_id_event_seq"),
            ["account_id", "event_seq"],
            unique=False,
        )


def downgrade() -> None:
    with op.batch_alter_table("webhook_delivery", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_webhook_delivery_account_id_event_seq"))
        batch_op.drop_column("dead")
    with op.batch_alter_table("account", schema=None) as batch_op:
        batch_op.drop_column("event_pruned_seq")
        batch_op.drop_column("event_retention_days")
