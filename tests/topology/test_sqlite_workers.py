"""`scimgate serve --workers 2` on SQLite works: concurrent writes through both workers.

SQLite runs in WAL mode; a SCIM write begins with BEGIN IMMEDIATE (no lock upgrade to
fail), a process's writers queue on its own lock, and two processes meet SQLite's busy
timeout (SCIMGATE_SQLITE_BUSY_TIMEOUT_MS, 2 s by default, left at its default here). Many
clients creating and PATCHing users and adding them to one shared group, on new
connections that the kernel spreads over both workers, must get no 500 and lose nothing.
It runs on a SQLite file whatever database the rest of the suite uses (docs/deploy.md).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from scimgate.store.database import migrate
from tests.helpers.workers import new_account, serve_workers
from tests.topology.writes import check_nothing_lost, concurrent_writes

pytestmark = pytest.mark.process

CLIENTS = 6
USERS_EACH = 5


@pytest.mark.slow
def test_two_workers_on_sqlite_write_concurrently_without_errors_or_lost_writes(
    tmp_path: Path,
) -> None:
    url = f"sqlite:///{tmp_path / 'scimgate.db'}"
    migrate(url)
    slug, token = new_account(url, "sqlite-workers")
    with serve_workers(url, tmp_path, public_url="http://127.0.0.1:8000") as backend:
        assert len(backend.worker_pids()) == 2
        # Both workers up and answering before the writes, so the kernel can spread them.
        assert backend.until_every_worker_served() == backend.worker_pids()
        outcome, group_id = concurrent_writes(
            backend.base + "/scim/v2", token, clients=CLIENTS, users_each=USERS_EACH, prefix=slug
        )
        check_nothing_lost(
            backend.base + "/scim/v2", token, outcome, group_id, expected_users=CLIENTS * USERS_EACH
        )
        assert backend.worker_pids() == backend.pids_that_counted_requests()  # none died
    # A 503 (a write that waited past the busy timeout on a loaded machine) is an answer an
    # IdP retries, not an error; it must stay rare.
    assert outcome.retried <= CLIENTS * USERS_EACH // 10, outcome.statuses
    print(f"SQLite, 2 workers: {dict(outcome.statuses)}; 503s retried: {outcome.retried}")
