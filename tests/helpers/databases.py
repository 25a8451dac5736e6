"""One PostgreSQL database per pytest-xdist worker.

The suite's PostgreSQL database is SCIMGATE_TEST_DATABASE_URL's; every test truncates it
and module-scoped servers serve it, so two workers cannot share it. Worker `gw0` uses
`<database>_gw0` on the same server with the same credentials, made through the server's
`postgres` maintenance database (DROP ... WITH (FORCE) needs PostgreSQL 13, which the
project requires anyway).

PG_URL is the suite's PostgreSQL URL (this worker's), or None: the suite runs on SQLite.
"""

from __future__ import annotations

import os
import time

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import OperationalError
from sqlalchemy.pool import NullPool


def worker_url(url: str, worker: str) -> str:
    """`url` with the database name suffixed `_<worker>` (PostgreSQL URLs only)."""
    parsed = make_url(url)
    if not parsed.drivername.startswith("postgresql"):
        return url
    name = f"{parsed.database}_{worker}"
    if len(name.encode()) > 63:  # PostgreSQL would cut it short, and two workers could meet
        raise ValueError(f"database name {name!r} is longer than PostgreSQL's 63 bytes")
    return parsed.set(database=name).render_as_string(hide_password=False)


def _maintenance(url: str) -> tuple[str, str]:
    """The server's maintenance database URL, and `url`'s database name quoted."""
    parsed = make_url(url)
    assert parsed.database
    quoted = '"' + parsed.database.replace('"', '""') + '"'
    return parsed.set(database="postgres").render_as_string(hide_password=False), quoted


def _execute(url: str, statements: list[str]) -> None:
    admin, _ = _maintenance(url)
    engine = create_engine(admin, isolation_level="AUTOCOMMIT", poolclass=NullPool)
    try:
        for attempt in range(10):
            try:
                with engine.connect() as conn:
                    for statement in statements:
                        conn.execute(text(statement))
                return
            except OperationalError as exc:
                # Two workers creating databases at the same moment can both copy
                # template1; PostgreSQL refuses one while the other holds it.
                if "is being accessed by other users" not in str(exc) or attempt == 9:
                    raise
                time.sleep(0.2 * (attempt + 1))
    finally:
        engine.dispose()


def recreate(url: str) -> None:
    """Drop `url`'s database if it is there (a previous run's) and create it empty."""
    _, quoted = _maintenance(url)
    _execute(url, [f"DROP DATABASE IF EXISTS {quoted} WITH (FORCE)", f"CREATE DATABASE {quoted}"])


def drop(url: str) -> None:
    _, quoted = _maintenance(url)
    _execute(url, [f"DROP DATABASE IF EXISTS {quoted} WITH (FORCE)"])


WORKER = os.environ.get("PYTEST_XDIST_WORKER")  # gw0, gw1, ... in a pytest-xdist worker
PG_URL = os.environ.get("SCIMGATE_TEST_DATABASE_URL")
if PG_URL and WORKER:
    PG_URL = worker_url(PG_URL, WORKER)
    # Whatever reads the variable (a test, a helper, a process it starts) gets this worker's.
    os.environ["SCIMGATE_TEST_DATABASE_URL"] = PG_URL
