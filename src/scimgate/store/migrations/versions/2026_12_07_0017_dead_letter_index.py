"""dead letter index

An endpoint's dead letters are read without walking its whole delivery log: a partial
index on the dead deliveries (account, endpoint, id). And `redelivering_until` on the
endpoint: a bulk redelivery of its dead letters holds it, so only one runs at a time.

Plain CREATE INDEX on both databases (`scimgate migrate` runs in one transaction, where
PostgreSQL's CREATE INDEX CONCURRENTLY cannot run): on PostgreSQL it blocks writes to
webhook_delivery (the delivery workers) while it reads the table once. For a very large
delivery log, create it beforehand outside a transaction with `CREATE INDEX CONCURRENTLY
ix_webhook_delivery_dead ON webhook_delivery (account_id, endpoint_id, id) WHERE dead`:
this revision then keeps it.

Revision ID: 0017_dead_letter_index
Revises: 0016_sync_item_directory_index
Create Date: 2026-12-07
"""

import sqlalchemy as sa
from alembic import op

revision = "0017_dead_letter_index"
down_revision = "0016_sync_item_directory_index"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Plain ALTER TABLE: a SQLite batch copy of webhook_endpoint would cascade-delete its
    # delivery log (webhook_delivery references it).
    op.add_column(
        "webhook_endpoint",
        sa.Column("redelivering_until", sa.DateTime(timezone=True), nullable=True),
    )
    op.create_index(
        "ix_webhook_delivery_dead",
        "webhook_delivery",
        ["account_id", "endpoint_id", "id"],
        if_not_exists=True,
        sqlite_where=sa.text("dead = 1"),
        postgresql_where=sa.text("dead"),
    )


def downgrade() -> None:
    op.drop_index("ix_webhook_delivery_dead", table_name="webhook_delivery")
    op.drop_column("webhook_endpoint", "redelivering_until")
