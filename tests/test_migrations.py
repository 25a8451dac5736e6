"""The Alembic migrations build exactly the schema the code declares, on both databases."""

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from scimgate.store.database import make_engine
from scimgate.store.tables import metadata


def test_migrated_schema_matches_tables(database_url):
    engine = make_engine(database_url, pool=False)
    with engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": True})
        diff = compare_metadata(context, metadata)
    engine.dispose()
    assert diff == []


def test_migrate_is_idempotent(database_url):
    from scimgate.store.database import migrate

    migrate(database_url)
    migrate(database_url)
