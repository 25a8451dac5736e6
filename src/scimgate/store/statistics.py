"""PostgreSQL planner statistics for the tables a Synchronize is about to read.

Why: an admin presses Synchronize right after the IdP's first push. Until autovacuum
(if it is on at all) analyzes the staging tables, the planner believes they hold the
few rows it last saw, and plans accordingly: measured on a database whose memberships
had grown from 0 to 147,000 since the last ANALYZE, one page of "team memberships to
remove" ran for more than five minutes on a generic plan that probed every membership
of the account per team member, 117 ms once analyzed. A run analyzes the tables whose
modifications since their last ANALYZE pass autovacuum's own threshold (10 %, here plus
1,000 rows), before it plans anything; SQLite needs none of this.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

import psycopg
from sqlalchemy import Connection

log = logging.getLogger(__name__)

# What a Synchronize reads: staging, and the members and teams it compares them with.
SYNC_TABLES = (
    "directory_user",
    "directory_user_email",
    "directory_group",
    "directory_membership",
    "member",
    "property_value",
    "team",
    "team_member",
)

_STALE = (
    "SELECT relname FROM pg_stat_user_tables "
    "WHERE schemaname = current_schema() AND relname = ANY(%s) "
    "AND n_mod_since_analyze > 1000 + 0.1 * greatest(n_live_tup, 0)"
)


def refresh_statistics(conn: Connection, tables: Sequence[str] = SYNC_TABLES) -> list[str]:
    """ANALYZE the tables among `tables` that changed a lot since their last ANALYZE (PostgreSQL).

    Runs outside any transaction of the caller's (as the sync's own ANALYZEs do); a
    failure (no privilege, a lock wait past a timeout) is logged and leaves the old
    statistics: the run goes on.
    """
    if conn.dialect.name != "postgresql":
        return []
    dbapi = conn.connection.driver_connection
    assert dbapi is not None
    try:
        stale = [row[0] for row in dbapi.execute(_STALE, (list(tables),)).fetchall()]
        stale = [t for t in tables if t in stale]  # our own names, in our order
        if stale:
            dbapi.execute(f"ANALYZE {', '.join(stale)}")
        dbapi.commit()
    except psycopg.Error as exc:  # statistics are an optimisation, never a reason to fail a run
        dbapi.rollback()
        log.warning("ANALYZE before the sync failed: %s", exc)
        return []
    return stale


def analyze(conn: Connection, tables: Sequence[str]) -> None:
    """ANALYZE these tables now, between a run's transactions (PostgreSQL): the run's own
    writes have outgrown the statistics its plans were made with."""
    dbapi = conn.connection.driver_connection
    assert dbapi is not None
    dbapi.execute(f"ANALYZE {', '.join(tables)}")
    dbapi.commit()
