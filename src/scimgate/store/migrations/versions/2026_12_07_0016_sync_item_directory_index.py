"""sync item directory index

The drift report asks, per batch of staged users, which of them the last run recorded an
error for (`store.drift.run_errors`: account, run, `directory_id IN (...)`, error set).
Only the primary key (account_id, run_id, seq) could serve it, so every batch read all
of that run's items: one per user the run looked at. This index answers it from the
error items alone: (account_id, run_id, directory_id), partial on `error IS NOT NULL`,
so a run's thousands of error-free items add nothing to it and nothing to the sync's writes.

Plain CREATE INDEX on both databases: `scimgate migrate` runs every revision in one
transaction (migrations/env.py), where PostgreSQL's CREATE INDEX CONCURRENTLY cannot run.
On PostgreSQL it blocks writes to sync_item (Synchronize runs) while it reads the table
once; for a very large sync_item, create it beforehand outside a transaction with
`CREATE INDEX CONCURRENTLY ix_sync_item_account_id_run_id_directory_id ON sync_item
(account_id, run_id, directory_id) WHERE error IS NOT NULL`: this revision then keeps it.

Revision ID: 0016_sync_item_directory_index
Revises: 0015_property_scim_attribute
Create Date: 2026-12-07
"""

import sqlalchemy as sa
from alembic import op

revision = "0016_sync_item_directory_index"
down_revision = "0015_property_scim_attribute"
branch_labels = None
depends_on = None

_NAME = "ix_sync_item_account_id_run_id_directory_id"


def upgrade() -> None:
    # Plain CREATE INDEX, no batch copy on SQLite (nothing about the table changes).
    op.create_index(
        op.f(_NAME),
        "sync_item",
        ["account_id", "run_id", "directory_id"],
        unique=False,
        if_not_exists=True,
        sqlite_where=sa.text("error IS NOT NULL"),
        postgresql_where=sa.text("error IS NOT NULL"),
    )


def downgrade() -> None:
    op.drop_index(op.f(_NAME), table_name="sync_item")
