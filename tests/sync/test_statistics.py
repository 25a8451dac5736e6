"""A Synchronize first refreshes PostgreSQL's statistics of staging when they are stale.

(The plan of a run right after the IdP's first push is otherwise made for the tables as
they were: store/statistics.py has the measurement.)
"""

from __future__ import annotations

import pytest
from sqlalchemy import text

from scimgate.store.statistics import refresh_statistics
from tests.helpers.databases import PG_URL


def _stage_memberships(engine, scim, n: int) -> None:
    gid = scim.post("/Groups", json={"displayName": "Everyone"}).json()["id"]
    with engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO directory_membership (account_id, group_id, member_id, member_type) "
                "SELECT :a, :g, 'm' || i, 'User' FROM generate_series(1, :n) AS i"
                if PG_URL
                else "WITH RECURSIVE s(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM s WHERE i < :n) "
                "INSERT INTO directory_membership (account_id, group_id, member_id, member_type) "
                "SELECT :a, :g, 'm' || i, 'User' FROM s"
            ),
            {"a": scim.account_id, "g": gid, "n": n},
        )
        if PG_URL:  # make this backend's table counters visible now, not within a second
            conn.execute(text("SELECT pg_stat_force_next_flush()"))


@pytest.mark.skipif(not PG_URL, reason="PostgreSQL statistics")
def test_tables_changed_past_the_threshold_are_analyzed_once(engine, scim):
    _stage_memberships(engine, scim, 3000)
    with engine.connect() as conn:
        assert "directory_membership" in refresh_statistics(conn)
        analyzed = conn.execute(
            text(
                "SELECT last_analyze IS NOT NULL, n_mod_since_analyze FROM pg_stat_user_tables "
                "WHERE relname = 'directory_membership' AND schemaname = current_schema()"
            )
        ).one()
    assert analyzed == (True, 0)
    with engine.connect() as conn:
        assert "directory_membership" not in refresh_statistics(conn)


@pytest.mark.skipif(bool(PG_URL), reason="SQLite")
def test_sqlite_needs_no_statistics(engine, scim):
    _stage_memberships(engine, scim, 10)
    with engine.connect() as conn:
        assert refresh_statistics(conn) == []
