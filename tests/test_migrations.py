"""The Alembic migrations build exactly the schema the code declares, on both databases."""

import re
import warnings

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import text
from sqlalchemy.schema import CreateIndex

from scimgate.store.database import make_engine
from scimgate.store.tables import metadata


def test_migrated_schema_matches_tables(database_url):
    engine = make_engine(database_url, pool=False)
    with engine.connect() as conn, warnings.catch_warnings():
        # SQLite's reflection skips an index on an expression; the test below compares those.
        warnings.filterwarnings("ignore", "Skipped unsupported reflection of expression-based")
        warnings.filterwarnings("ignore", "autogenerate skipping metadata-specified expression")
        context = MigrationContext.configure(conn, opts={"compare_type": True})
        diff = compare_metadata(context, metadata)
    engine.dispose()
    assert diff == []


def _normal(sql: str) -> str:
    """An index's definition without what the databases add when they store it."""
    sql = re.sub(r"\s+", "", sql.lower())
    return re.sub(r"[()\"]|::text|public\.|usingbtree", "", sql)


def test_partial_and_expression_indexes_match_tables(database_url):
    """Autogenerate compares neither an index's WHERE nor its expressions: read them back."""
    engine = make_engine(database_url, pool=False)
    special = [
        index
        for table in metadata.tables.values()
        for index in table.indexes
        if index.dialect_options["sqlite"]["where"] is not None
        or any(not hasattr(e, "name") for e in index.expressions)
    ]
    assert {i.name for i in special} >= {
        "ix_webhook_delivery_dead",
        "ix_member_property_account_id_scim_name_ci",
    }
    with engine.connect() as conn:
        if engine.dialect.name == "sqlite":
            query = "SELECT sql FROM sqlite_master WHERE type = 'index' AND name = :n"
        else:
            query = "SELECT indexdef FROM pg_indexes WHERE indexname = :n"
        for index in special:
            stored = conn.execute(text(query), {"n": index.name}).scalar_one()
            declared = str(CreateIndex(index).compile(dialect=engine.dialect))
            assert _normal(stored) == _normal(declared), (stored, declared)
    engine.dispose()


def test_migrate_is_idempotent(database_url):
    from scimgate.store.database import migrate

    migrate(database_url)
    migrate(database_url)
