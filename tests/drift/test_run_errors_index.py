"""The drift report reads the last run's errors for a batch of staged users through the
partial index on sync_item (account_id, run_id, directory_id) WHERE error IS NOT NULL
(migration 0016), not by reading every item of the run."""

from __future__ import annotations

from typing import Any

from sqlalchemy import insert, text

from scimgate.store import drift as drift_store
from scimgate.store import driver
from scimgate.store.database import utcnow
from scimgate.store.tables.sync import sync_item, sync_run
from tests.helpers.databases import PG_URL

INDEX = "ix_sync_item_account_id_run_id_directory_id"


def a_run(engine: Any, account_id: int, items: int) -> int:
    """A finished run that looked at `items` users and recorded an error for every 100th."""
    with engine.begin() as conn:
        run_id = conn.execute(
            insert(sync_run)
            .values(
                account_id=account_id,
                trigger="cli",
                status="succeeded",
                counts={},
                created_at=utcnow(),
            )
            .returning(sync_run.c.id)
        ).scalar_one()
        conn.execute(
            insert(sync_item),
            [
                {
                    "account_id": account_id,
                    "run_id": run_id,
                    "seq": i,
                    "kind": "member",
                    "action": "unchanged" if i % 100 else "create",
                    "directory_id": f"u{i:05d}",
                    "label": f"u{i}@example.com",
                    "error": None if i % 100 else "no usable e-mail",
                }
                for i in range(items)
            ],
        )
        if PG_URL:
            conn.execute(text("ANALYZE sync_item"))
    return int(run_id)


def test_the_last_runs_errors_are_read_through_the_directory_index(
    engine, make_account, monkeypatch
):
    _slug, _token, account_id = make_account()
    run_id = a_run(engine, account_id, 3000)
    statements: list[tuple[str, Any]] = []
    execute = driver.execute

    def spy(conn: Any, sql: str, params: Any = (), **kw: Any) -> Any:
        if "FROM sync_item" in sql:
            statements.append((sql, params))
        return execute(conn, sql, params, **kw)

    monkeypatch.setattr(driver, "execute", spy)
    with engine.connect() as conn:
        errors = drift_store.run_errors(conn, account_id, run_id, ["u00000", "u00100", "u00101"])
    monkeypatch.undo()
    assert errors == {"u00000": "no usable e-mail", "u00100": "no usable e-mail"}
    ((sql, params),) = statements
    explain = "EXPLAIN " if PG_URL else "EXPLAIN QUERY PLAN "
    with engine.connect() as conn:
        rows = driver.execute(conn, explain + sql, params).fetchall()
    plan = [str(r[0] if PG_URL else r[3]) for r in rows]
    assert any(INDEX in line for line in plan), plan
