"""An endpoint's dead letters are read through their partial index (ix_webhook_delivery_dead),
not by walking its delivery log: EXPLAIN on the statements count_open and list_open run,
on SQLite and PostgreSQL, with a log of many delivered attempts and a few dead ones."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import event, text

from scimgate.store import dead_letters as store
from scimgate.store.database import utcnow
from scimgate.store.tables.operations import webhook_delivery
from tests.helpers.webhooks import add_endpoint

INDEX = "ix_webhook_delivery_dead"


def _fill(engine, account_id, endpoint_id, delivered, dead):
    now = utcnow()
    rows = [
        {
            "account_id": account_id,
            "endpoint_id": endpoint_id,
            "event_seq": seq,
            "event_id": f"evt-{seq}",
            "event_type": "member.created",
            "attempt": 1,
            "status_code": 500 if seq % 500 == 0 else 200,
            "error": None,
            "duration_ms": 1,
            "at": now - timedelta(seconds=delivered - seq),
            "dead": seq % 500 == 0,
        }
        for seq in range(1, delivered + 1)
    ]
    with engine.begin() as conn:
        conn.execute(webhook_delivery.insert(), rows)
        if engine.dialect.name == "postgresql":
            conn.execute(text("ANALYZE webhook_delivery"))
        else:
            conn.execute(text("ANALYZE"))
    assert sum(r["dead"] for r in rows) == dead


def _statements(engine, call):
    """The SQL and parameters `call` sends."""
    seen = []

    def record(conn, cursor, statement, parameters, context, executemany):
        seen.append((statement, parameters))

    event.listen(engine, "before_cursor_execute", record)
    try:
        with engine.connect() as conn:
            call(conn)
    finally:
        event.remove(engine, "before_cursor_execute", record)
    return seen


def _plan(engine, statement, parameters):
    with engine.connect() as conn:
        if engine.dialect.name == "postgresql":
            rows = conn.exec_driver_sql("EXPLAIN " + statement, parameters).fetchall()
            return [r[0] for r in rows]
        rows = conn.exec_driver_sql("EXPLAIN QUERY PLAN " + statement, parameters).fetchall()
        return [r[3] for r in rows]


@pytest.mark.parametrize(
    "read",
    [
        store.count_open,
        lambda conn, a, e: store.list_open(conn, a, e, after_id=0, limit=51),
    ],
    ids=["count_open", "list_open"],
)
def test_dead_letter_reads_use_the_partial_index(make_api, engine, read):
    api = make_api("a")
    hook = add_endpoint(engine, api.slug, "http://127.0.0.1:9/r")
    _fill(engine, api.account_id, hook["id"], delivered=5000, dead=10)
    with engine.connect() as conn:
        assert store.count_open(conn, api.account_id, hook["id"]) == 10
    [(statement, parameters)] = _statements(
        engine, lambda conn: read(conn, api.account_id, hook["id"])
    )
    plan = _plan(engine, statement, parameters)
    print("\n".join(plan))
    assert any(INDEX in line for line in plan), plan
    # The outer read is the only one over the endpoint's rows: no scan of the log.
    assert not any(line.startswith("SCAN webhook_delivery") for line in plan), plan
    assert not any("Seq Scan on webhook_delivery" in line for line in plan), plan
