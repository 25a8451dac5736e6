"""The edited section's batch reads: Property values read as one range of member ids
(keeping only the batch's own), and PostgreSQL reads without parallel workers."""

from __future__ import annotations

from sqlalchemy import text

from scimgate.drift.report import Drift
from scimgate.store import drift as drift_store
from scimgate.store import property_values
from tests.drift.test_report import hand_set_value
from tests.helpers.sync import create_user, member_docs, sync


def test_values_of_a_batch_are_its_members_only_with_values_decoded(scim, engine):
    for i in range(3):
        create_user(scim, f"user{i}@example.com", title=f"Title {i}")
    sync(engine, scim.account_id)
    ids = sorted(d["id"] for d in member_docs(engine, scim.account_id).values())
    hand_set_value(engine, scim.account_id, "user1@example.com", "Job title", "CEO")
    with engine.connect() as conn:
        every = property_values.values_of(conn, scim.account_id, ids)
        got = drift_store.values_between(conn, scim.account_id, [ids[0], ids[2]])
        assert drift_store.values_between(conn, scim.account_id, []) == {}
    assert set(got) == {ids[0], ids[2]}  # ids[1] is in the range, not in the batch
    assert got[ids[0]] == every[ids[0]] and got[ids[2]] == every[ids[2]]
    titles = {v for vals in every.values() for v, _s in vals.values()}
    assert {"Title 0", "Title 2", "CEO"} <= titles  # JSON values decoded, as values_of does


def test_the_report_reads_without_parallel_workers_on_postgresql(scim, engine):
    with engine.connect() as conn, conn.begin():
        Drift(conn, scim.account_id)
        if conn.dialect.name == "postgresql":
            assert conn.execute(text("SHOW max_parallel_workers_per_gather")).scalar() == "0"
    with engine.connect() as conn:  # SET LOCAL: the next transaction has the default again
        if conn.dialect.name == "postgresql":
            assert conn.execute(text("SHOW max_parallel_workers_per_gather")).scalar() != "0"
