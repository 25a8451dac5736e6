"""A dry run through the plan cache (what the console and /api/v1 show): the plan a
dry run gives, reused while nothing it depends on moved."""

from __future__ import annotations

from scimgate.sync import plan_cache
from scimgate.sync.engine import SyncOptions
from tests.helpers.sync import create_user, create_users, sync


def test_a_cached_dry_run_is_the_plan_and_is_reused_until_staging_moves(scim, engine):
    create_users(scim, 3)
    options = SyncOptions()
    with engine.connect() as conn:
        first = plan_cache.dry_run(engine, conn, scim.account_id, options=options)
        again = plan_cache.dry_run(engine, conn, scim.account_id, options=options)
    assert (
        first.status == "planned"
        and first.counts == sync(engine, scim.account_id, dry_run=True).counts
    )
    assert first.counts["created"] == 3
    assert again is first
    create_user(scim, "late@example.com")
    with engine.connect() as conn:
        moved = plan_cache.dry_run(engine, conn, scim.account_id, options=options)
    assert moved is not first and moved.counts["created"] == 4


def test_the_console_cache_is_the_one_a_dry_run_reuses(scim, engine):
    create_users(scim, 2)
    console = plan_cache.PlanCache(engine, SyncOptions())
    with engine.connect() as conn:
        shown = console.plan(conn, scim.account_id, wait=None)
        asked = plan_cache.dry_run(engine, conn, scim.account_id, options=SyncOptions())
    assert asked is shown
