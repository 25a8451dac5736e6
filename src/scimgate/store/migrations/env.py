"""Alembic environment: runs scimgate's migrations against the URL the caller configured."""

from __future__ import annotations

from alembic import context

from scimgate.store.database import make_engine
from scimgate.store.tables import metadata

config = context.config


def run_migrations_online() -> None:
    """Migrate in one transaction (SQLite uses batch mode for ALTERs)."""
    engine = make_engine(config.get_main_option("sqlalchemy.url"), pool=False)
    with engine.connect() as connection:
        context.configure(
            connection=connection,
            target_metadata=metadata,
            render_as_batch=connection.dialect.name == "sqlite",
            compare_type=True,
        )
        with context.begin_transaction():
            context.run_migrations()
    engine.dispose()


run_migrations_online()
