"""Shared fixtures: a migrated database per test (SQLite file, or PostgreSQL when
SCIMGATE_TEST_DATABASE_URL is set), the app, and account/token factories.

    scim = make_scim_client()          # a new account with provisioning active
    r = scim.post("/Users", json={...})
    scim.other                          # a second client for tenancy tests

Under pytest-xdist (`make test` runs `-n 2`) each worker has a database of its own: on
PostgreSQL `<database>_gw0`, `<database>_gw1`, ... next to the one SCIMGATE_TEST_DATABASE_URL
names (made afresh when the worker starts, dropped when its tests all passed); SQLite files
are in each worker's own temp dir anyway. Without xdist the URL is used as given.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

# isort: off
import tests.helpers.passwords  # noqa: F401 - first: scimgate then hashes with cheap argon2

# isort: on
import pytest
from sqlalchemy import Engine, text
from starlette.testclient import TestClient

from scimgate.accounts import service as accounts
from scimgate.settings import Settings
from scimgate.store.database import make_engine, migrate
from scimgate.store.tables import metadata
from scimgate.web.app import create_app
from tests.helpers import databases
from tests.helpers.databases import PG_URL, WORKER
from tests.helpers.scim import ScimClient

# Fixtures more than one folder uses (tests/audit and tests/webhooks sign in to the console
# and use the API too).
pytest_plugins = ["tests.helpers.console", "tests.helpers.api"]


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Spread the suite over pytest-xdist workers test by test (`make test` runs
    `--dist loadgroup`), except that a file whose tests share a module-scoped fixture (a
    served process, its database) stays together on one worker, as one group. Files with
    `slow` tests go first, so that no long file is left to run alone at the end."""
    grouping = config.pluginmanager.hasplugin("xdist")  # its marker is unknown without it
    for item in items:
        if grouping and _shares_module_fixture(item):
            item.add_marker(pytest.mark.xdist_group(item.nodeid.split("::")[0]))
    slow_files = {i.nodeid.split("::")[0] for i in items if i.get_closest_marker("slow")}
    # A stable sort: files keep their order among themselves, tests within a file theirs.
    items.sort(key=lambda i: i.nodeid.split("::")[0] not in slow_files)


def _shares_module_fixture(item: pytest.Item) -> bool:
    info = getattr(item, "_fixtureinfo", None)
    if info is None:
        return False
    return any(
        defs[-1].scope in ("module", "package", "class")
        for defs in info.name2fixturedefs.values()
        if defs
    )


def pytest_sessionstart(session: pytest.Session) -> None:
    """An xdist worker on PostgreSQL starts on a fresh database of its own."""
    if PG_URL and WORKER:
        databases.recreate(PG_URL)


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """...and drops it when all its tests passed (after a failure it is left to look at)."""
    if PG_URL and WORKER and exitstatus == 0:
        databases.drop(PG_URL)


@pytest.fixture(autouse=True)
def _clean_environ(monkeypatch: pytest.MonkeyPatch) -> None:
    """Settings come from the fixture, never from a developer's environment."""
    for key in list(os.environ):
        if key.startswith("SCIMGATE_") and key != "SCIMGATE_TEST_DATABASE_URL":
            monkeypatch.delenv(key, raising=False)


@pytest.fixture(scope="session")
def _template_db(tmp_path_factory: pytest.TempPathFactory) -> Path | None:
    """Migrate once: SQLite tests copy this file; PostgreSQL migrates its database once."""
    if PG_URL:
        migrate(PG_URL)
        return None
    path = tmp_path_factory.mktemp("template") / "template.db"
    migrate(f"sqlite:///{path}")
    return path


@pytest.fixture
def database_url(_template_db: Path | None, tmp_path: Path) -> Iterator[str]:
    """A clean, migrated database for one test."""
    if PG_URL:
        engine = make_engine(PG_URL, pool=False)
        with engine.begin() as conn:
            names = ", ".join(t.name for t in metadata.sorted_tables)
            conn.execute(text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))
        engine.dispose()
        yield PG_URL
        return
    assert _template_db is not None
    target = tmp_path / "scimgate.db"
    shutil.copy(_template_db, target)
    yield f"sqlite:///{target}"


@pytest.fixture
def settings(database_url: str) -> Settings:
    return Settings(
        database_url=database_url,
        public_url="https://scim.example.test",
        request_log_flush_seconds=3600,
        scheduler=False,
        webhooks=False,
        # Tests send hundreds of requests a second; tests/hardening enables the limits.
        rate_limits=False,
    )


@pytest.fixture
def engine(settings: Settings) -> Iterator[Engine]:
    engine = make_engine(settings.database_url)
    yield engine
    engine.dispose()


@pytest.fixture
def app(settings: Settings, engine: Engine) -> Any:
    return create_app(settings, engine=engine)


@pytest.fixture
def http(app: Any) -> Iterator[TestClient]:
    with TestClient(app, raise_server_exceptions=False) as client:
        yield client


@pytest.fixture
def make_account(engine: Engine) -> Callable[..., tuple[str, str, int]]:
    """Create an account (entitled, provisioning active) and return (slug, token, account_id)."""
    counter = {"n": 0}

    def factory(slug: str | None = None) -> tuple[str, str, int]:
        counter["n"] += 1
        slug = slug or f"acct{counter['n']}"
        with engine.begin() as conn:
            row = accounts.create_account(conn, slug, entitled=True)
            issued = accounts.activate_provisioning(conn, row["id"])
        return slug, issued.token, row["id"]

    return factory


@pytest.fixture
def make_scim_client(
    http: TestClient, make_account: Callable[..., tuple[str, str, int]]
) -> Callable[..., ScimClient]:
    def factory(slug: str | None = None) -> ScimClient:
        slug, token, account_id = make_account(slug)
        return ScimClient(http=http, token=token, slug=slug, account_id=account_id)

    return factory


@pytest.fixture
def scim(make_scim_client: Callable[..., ScimClient]) -> ScimClient:
    """A SCIM client for a fresh account."""
    return make_scim_client()


@pytest.fixture
def other(make_scim_client: Callable[..., ScimClient]) -> ScimClient:
    """A SCIM client for a second, unrelated account."""
    return make_scim_client("other")
