"""The database as the command line opens it: engines, write transactions and migrations,
with the driver's failures raised as StorageErrors (scimgate.errors) at the storage edge."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import Connection, Engine

from scimgate.store import database
from scimgate.store.database import MigrationReport


@contextmanager
def transaction(database_url: str) -> Iterator[Connection]:
    """One write transaction (BEGIN IMMEDIATE on SQLite: it waits for a busy writer)."""
    with engine(database_url) as opened, opened.connect() as conn:
        conn.execution_options(writes=True)
        with conn.begin():
            yield conn


@contextmanager
def engine(database_url: str, *, pool: bool = False) -> Iterator[Engine]:
    """An engine for work that opens its own transactions (a sync, a redelivery, the scheduler)."""
    with database.storage_errors():
        opened = database.make_engine(database_url, pool=pool)
        try:
            yield opened
        finally:
            opened.dispose()


def migrate(database_url: str) -> MigrationReport:
    """Create or upgrade the schema to the newest revision, and say what changed."""
    with database.storage_errors():
        return database.migrate(database_url)
