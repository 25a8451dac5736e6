"""Browser tests: a real `scimgate serve` process, seeded with the CLI, driven by Chromium.

One server per test module (a fresh migrated database: a copy of the session's SQLite
template, or the truncated PostgreSQL database of SCIMGATE_TEST_DATABASE_URL). A module
names the accounts and admins it needs in `ACCOUNTS`; they are created with
`scimgate account create` and `scimgate admin create` (in this process, through typer's
CliRunner) before the server starts. Tests in a
module share the server, so each test works in its own accounts.

The browser is Debian's /usr/bin/chromium, driven by Playwright; no browser is ever
downloaded. Without it the tests are skipped, unless SCIMGATE_REQUIRE_BROWSER=1.

Screenshots go to $SCIMGATE_TEST_OUTPUT (default <repo>/test-output) under
screenshots/<test name>/NN-<page>.png.

The SCIMGATE_* variables this folder reads are read at import time: the suite's autouse
fixture clears them from the environment before every test.
"""

from __future__ import annotations

import contextlib
import shutil
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text

from scimgate.store.database import make_engine
from scimgate.store.tables import metadata
from tests.helpers.browser import CHROMIUM, CHROMIUM_ARGS, REQUIRE_BROWSER, Console, Server, Shots
from tests.helpers.databases import PG_URL


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "browser: drives a real scimgate server with Chromium (tests/browser)"
    )


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    """Keep each phase's report on the item, so fixtures can tell a failed test at teardown."""
    outcome = yield
    report = outcome.get_result()  # type: ignore[attr-defined]
    setattr(item, f"rep_{report.when}", report)


def _failed(node: Any) -> bool:
    return any(
        getattr(getattr(node, f"rep_{when}", None), "failed", False) for when in ("setup", "call")
    )


# ---- the server ----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def module_database_url(_template_db: Path | None, tmp_path_factory: pytest.TempPathFactory) -> str:
    """Like `database_url`, for one module's server: a fresh migrated database."""
    if PG_URL:
        engine = make_engine(PG_URL, pool=False)
        with engine.begin() as conn:
            names = ", ".join(t.name for t in metadata.sorted_tables)
            conn.execute(text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))
        engine.dispose()
        return PG_URL
    assert _template_db is not None
    target = tmp_path_factory.mktemp("browser-db") / "scimgate.db"
    shutil.copy(_template_db, target)
    return f"sqlite:///{target}"


@pytest.fixture(scope="module")
def server(request: pytest.FixtureRequest, module_database_url: str) -> Iterator[Server]:
    """The module's server, its `ACCOUNTS` (and `ACTIVATED`) seeded by the CLI before it starts."""
    workdir = Path(tempfile.mkdtemp(prefix="scimgate-browser-"))
    srv = Server(module_database_url, workdir)
    failed_before = request.session.testsfailed
    try:
        srv.seed(getattr(request.module, "ACCOUNTS", {}), getattr(request.module, "ACTIVATED", ()))
        srv.start()
        yield srv
    finally:
        srv.stop()
        if request.session.testsfailed > failed_before:  # the tests printed their part
            print(f"\n---- scimgate serve output at shutdown ----\n{srv.log(srv.shown)}")
        shutil.rmtree(workdir, ignore_errors=True)


@pytest.fixture(autouse=True)
def _server_output_on_failure(request: pytest.FixtureRequest) -> Iterator[None]:
    """A failed test shows what the server wrote while it ran."""
    if "server" not in request.fixturenames:
        yield
        return
    srv: Server = request.getfixturevalue("server")
    start = srv.log_size()
    yield
    if _failed(request.node):
        print(f"\n---- scimgate serve output during {request.node.name} ----\n{srv.log(start)}")
        srv.shown = srv.log_size()


# ---- the browser ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """Debian's Chromium, headless; never a downloaded one.

    One per module, not per session: Playwright's sync API keeps an event loop running on
    the main thread until it stops, and tests that run after a browser module on the same
    worker (tests/scim/test_routes.py's access log) must find no running loop.
    """
    if not Path(CHROMIUM).exists():
        message = f"{CHROMIUM} is missing (apt-get install chromium); browser tests need it"
        if REQUIRE_BROWSER:
            pytest.fail(message)
        pytest.skip(message)
    from playwright.sync_api import sync_playwright

    playwright = sync_playwright().start()
    try:
        chromium = playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS
        )
        try:
            yield chromium
        finally:
            chromium.close()
    finally:
        playwright.stop()


@pytest.fixture
def shots(request: pytest.FixtureRequest) -> Shots:
    return Shots(request.node.name)


@pytest.fixture
def open_console(browser: Any, server: Server, shots: Shots) -> Iterator[Callable[..., Console]]:
    """Open browser contexts (each its own cookies) on the module's server."""
    opened: list[Console] = []

    def factory(**options: Any) -> Console:
        console = Console(browser, server, shots, **options)
        opened.append(console)
        return console

    yield factory
    for console in opened:
        with contextlib.suppress(Exception):
            console.close()


# ---- the identity provider's side ----------------------------------------------------------
