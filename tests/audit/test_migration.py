"""Migration 0009 goes down to 0008 and up again, on the test database (SQLite or PostgreSQL)."""

from __future__ import annotations

from alembic import command
from alembic.script import ScriptDirectory
from sqlalchemy import inspect

from scimgate.store.database import _alembic_config, current_revision, make_engine, migrate


def _shape(url: str) -> tuple[bool, set[str]]:
    engine = make_engine(url, pool=False)
    try:
        with engine.connect() as conn:
            found = inspect(conn)
            return found.has_table("audit_entry"), {
                c["name"] for c in found.get_columns("sync_run")
            }
    finally:
        engine.dispose()


def test_0009_downgrades_and_upgrades(database_url):
    config = _alembic_config(database_url)
    try:
        command.downgrade(config, "0008")
        assert current_revision(database_url) == "0008"
        table, columns = _shape(database_url)
        assert not table and not {"confirmed_at", "confirmed_by"} & columns
    finally:
        migrate(database_url)  # the other tests need the schema at head
    table, columns = _shape(database_url)
    assert table and {"confirmed_at", "confirmed_by"} <= columns
    assert current_revision(database_url) == ScriptDirectory.from_config(config).get_current_head()
