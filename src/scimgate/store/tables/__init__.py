"""The schema, as SQLAlchemy Core tables, one module per area; importing the package puts
every table on `metadata` (what Alembic and the test fixtures create and compare).

Tables are imported from their area: `from scimgate.store.tables.sync import sync_run`.
"""

from scimgate.store.tables import accounts, client_habits, members, operations, staging, sync
from scimgate.store.tables.metadata import metadata

__all__ = ["accounts", "client_habits", "members", "metadata", "operations", "staging", "sync"]
