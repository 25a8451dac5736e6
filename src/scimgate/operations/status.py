"""What readiness probes and metrics scrapes ask of the database, one short connection each."""

from __future__ import annotations

from sqlalchemy import Engine

from scimgate.store.database import head_revision
from scimgate.store.errors import storage_edge
from scimgate.store.operations import Figures, ping, read_figures, schema_revision

__all__ = ["Figures", "code_revision", "database_revision", "figures"]


def code_revision() -> str:
    """The schema revision this code ships (the newest migration)."""
    return head_revision()


def database_revision(engine: Engine) -> str | None:
    """The database answers: the schema revision it is at (None without a schema)."""
    with storage_edge(), engine.connect() as conn:
        ping(conn)
        return schema_revision(conn)


def figures(engine: Engine) -> Figures:
    """The database's figures for a metrics scrape."""
    with storage_edge(), engine.connect() as conn:
        return read_figures(conn)
