"""Browser tests: a real `scimgate serve` process, seeded with the CLI, driven by Chromium.

One server per test module (a fresh migrated database: a copy of the session's SQLite
template, or the truncated PostgreSQL database of SCIMGATE_TEST_DATABASE_URL). A module
names the accounts and admins it needs in `ACCOUNTS`; they are created with
`scimgate account create` and `scimgate admin create` before the server starts. Tests in a
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
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import text

from scimgate.store.database import make_engine
from scimgate.store.tables import metadata
from tests.conftest import PG_URL
from tests.helpers.ports import free_port
from tests.helpers.waits import STARTUP_SECONDS

REPO = Path(__file__).resolve().parents[2]
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
OUTPUT = Path(os.environ.get("SCIMGATE_TEST_OUTPUT") or REPO / "test-output")
REQUIRE_BROWSER = os.environ.get("SCIMGATE_REQUIRE_BROWSER") == "1"
UPDATE_DOCS = os.environ.get("SCIMGATE_UPDATE_DOCS_SCREENSHOTS") == "1"
PASSWORD = "correct-horse-battery-staple"  # every seeded admin's password (>= 12 characters)
WIDE = {"width": 1280, "height": 900}
PHONE = {"width": 390, "height": 844}
CORE_USER = "urn:ietf:params:scim:schemas:core:2.0:User"
ENTERPRISE = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
PATCH_OP = "urn:ietf:params:scim:api:messages:2.0:PatchOp"


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


def server_env(database_url: str, public_url: str) -> dict[str, str]:
    """The environment of every scimgate process: none of the developer's SCIMGATE_* knobs."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("SCIMGATE_")}
    env.update(
        SCIMGATE_DATABASE_URL=database_url,
        SCIMGATE_PUBLIC_URL=public_url,
        SCIMGATE_REQUEST_LOG_FLUSH_SECONDS="0.2",
        SCIMGATE_SCHEDULER="false",
    )
    return env


class Server:
    """A `scimgate serve` process and the CLI against the same database."""

    def __init__(self, database_url: str, workdir: Path) -> None:
        self.port = free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        self.tenant_url = f"{self.base_url}/scim/v2"
        self.env = server_env(database_url, self.base_url)
        self.workdir = workdir  # cwd without a .env file
        self.log_path = workdir / "server.log"
        self.proc: subprocess.Popen[bytes] | None = None
        self.shown = 0  # how much of the log a failed test has printed already
        self.tokens: dict[str, tuple[str, int]] = {}

    # -- the CLI --

    def _cli_args(self, args: Sequence[str]) -> list[str]:
        return [sys.executable, "-m", "scimgate", *args]

    def cli(self, *args: str, stdin: str | None = None, timeout: float = STARTUP_SECONDS) -> str:
        """Run `scimgate ARGS` to success; its stdout."""
        result = subprocess.run(
            self._cli_args(args),
            check=False,
            env=self.env,
            cwd=self.workdir,
            input=stdin,
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        assert result.returncode == 0, (
            f"scimgate {' '.join(args)} exited {result.returncode}:\n{result.stdout}\n{result.stderr}"
        )
        return result.stdout

    def cli_many(self, calls: Sequence[tuple[Sequence[str], str | None]]) -> list[str]:
        """Several CLI commands at once (each is its own transaction): their stdouts."""
        with ThreadPoolExecutor(max_workers=max(1, min(8, len(calls)))) as pool:
            futures = [pool.submit(self.cli, *args, stdin=stdin) for args, stdin in calls]
            return [f.result() for f in futures]

    def seed(self, accounts: dict[str, Sequence[str]], activated: Sequence[str] = ()) -> None:
        """Entitled accounts (slug -> admin emails, each with PASSWORD), some activated.

        The tokens of the activated accounts land in `tokens` (slug -> (token, token id)).
        """
        import json

        self.cli_many(
            [
                (["account", "create", slug, "--name", f"{slug.title()} Inc", "--entitled"], None)
                for slug in accounts
            ]
        )
        outputs = self.cli_many(
            [(["provisioning", "activate", slug, "--json"], None) for slug in activated]
            + [
                (["admin", "create", slug, email, "--password-stdin"], PASSWORD + "\n")
                for slug, emails in accounts.items()
                for email in emails
            ]
        )
        for slug, out in zip(activated, outputs):
            doc = json.loads(out)
            self.tokens[slug] = (doc["token"], int(doc["token_id"]))

    # -- the process --

    def start(self) -> None:
        log = self.log_path.open("ab")
        try:
            self.proc = subprocess.Popen(
                self._cli_args(["serve", "--host", "127.0.0.1", "--port", str(self.port)]),
                env=self.env,
                cwd=self.workdir,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        finally:
            log.close()
        deadline = time.monotonic() + STARTUP_SECONDS
        with httpx.Client(timeout=2) as client:
            while True:
                if self.proc.poll() is not None:
                    raise RuntimeError(
                        f"scimgate serve exited {self.proc.returncode}:\n{self.log()}"
                    )
                with contextlib.suppress(httpx.HTTPError):
                    if client.get(f"{self.base_url}/healthz").status_code == 200:
                        return
                if time.monotonic() > deadline:
                    raise RuntimeError(f"scimgate serve did not answer /healthz:\n{self.log()}")
                time.sleep(0.05)

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.terminate()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=10)

    def log(self, start: int = 0) -> str:
        """What the server wrote (stdout and stderr) from byte `start` on."""
        try:
            with self.log_path.open("rb") as f:
                f.seek(start)
                return f.read().decode("utf-8", "replace")
        except FileNotFoundError:
            return ""

    def log_size(self) -> int:
        return self.log_path.stat().st_size if self.log_path.exists() else 0

    def url(self, path: str) -> str:
        return self.base_url + path


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


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    """Debian's Chromium, headless; never a downloaded one."""
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


class Shots:
    """Numbered full-page screenshots of one test."""

    def __init__(self, name: str) -> None:
        self.folder = OUTPUT / "screenshots" / re.sub(r"[^A-Za-z0-9_.-]+", "_", name)
        shutil.rmtree(self.folder, ignore_errors=True)
        self.folder.mkdir(parents=True, exist_ok=True)
        self.count = 0

    def take(self, page: Any, name: str, *, full_page: bool = True) -> Path:
        self.count += 1
        path = self.folder / f"{self.count:02d}-{re.sub(r'[^A-Za-z0-9_.-]+', '-', name)}.png"
        page.screenshot(path=str(path), full_page=full_page)
        return path


@pytest.fixture
def shots(request: pytest.FixtureRequest) -> Shots:
    return Shots(request.node.name)


class Console:
    """One browser context on the console of `server`, with screenshots."""

    def __init__(self, browser: Any, server: Server, shots: Shots | None, **options: Any) -> None:
        self.server = server
        self.shots = shots
        self.context = browser.new_context(viewport=WIDE, **options)
        self.context.set_default_timeout(15_000)
        self.page = self.context.new_page()

    def goto(self, path: str, shot: str | None = None) -> Any:
        """Open a console path; the response (its status) for checks."""
        response = self.page.goto(self.server.url(path))
        if shot:
            self.shot(shot)
        return response

    def shot(self, name: str) -> Path | None:
        return self.shots.take(self.page, name) if self.shots else None

    def sign_in(
        self, slug: str, email: str, password: str = PASSWORD, shot: str | None = None
    ) -> Any:
        """Fill the sign-in form and submit; the response of the page it lands on."""
        page = self.page
        page.goto(self.server.url(f"/console/login?account={slug}"))
        page.fill("#account", slug)
        page.fill("#email", email)
        page.fill("#password", password)
        if shot:
            self.shot(shot)
        with page.expect_navigation() as nav:
            page.get_by_role("button", name="Sign in").click()
        return nav.value

    def csrf_token(self) -> str:
        """This session's form token, from the sign-out form every signed-in page has."""
        return self.page.locator("form.signout input[name=csrf_token]").input_value()

    def post_form(self, path: str, fields: dict[str, str]) -> Any:
        """Build a form in the current page and submit it, as a button would: the response."""
        page = self.page
        with page.expect_navigation() as nav:
            page.evaluate(
                """([action, fields]) => {
                    const form = document.createElement("form");
                    form.method = "post";
                    form.action = action;
                    for (const [name, value] of Object.entries(fields)) {
                        const input = document.createElement("input");
                        input.type = "hidden"; input.name = name; input.value = value;
                        form.appendChild(input);
                    }
                    document.body.appendChild(form);
                    form.submit();
                }""",
                [path, fields],
            )
        return nav.value

    def close(self) -> None:
        self.context.close()


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


def scim_client(tenant_url: str, token: str) -> httpx.Client:
    """What Entra ID does: bearer token, application/scim+json, paths under the Tenant URL."""
    return httpx.Client(
        base_url=tenant_url,
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/scim+json"},
        timeout=15,
    )


def entra_user(
    user_name: str,
    display_name: str,
    *,
    department: str | None = None,
    manager_id: str | None = None,
    cost_center: str | None = None,
    title: str | None = None,
    **extra: Any,
) -> dict[str, Any]:
    """A user as Entra ID posts it (objectId as externalId, enterprise extension)."""
    given, _, family = display_name.partition(" ")
    body: dict[str, Any] = {
        "schemas": [CORE_USER, ENTERPRISE],
        "externalId": extra.pop("externalId", f"oid-{user_name.split('@')[0]}"),
        "userName": user_name,
        "active": True,
        "displayName": display_name,
        "emails": [{"primary": True, "type": "work", "value": user_name}],
        "name": {"formatted": display_name, "givenName": given, "familyName": family},
        "meta": {"resourceType": "User"},
    }
    if title:
        body["title"] = title
    enterprise: dict[str, Any] = {}
    if department:
        enterprise["department"] = department
    if manager_id:
        enterprise["manager"] = {"value": manager_id}
    if cost_center:
        enterprise["costCenter"] = cost_center
    if enterprise:
        body[ENTERPRISE] = enterprise
    body.update(extra)
    return body


def patch_ops(*operations: dict[str, Any]) -> dict[str, Any]:
    return {"schemas": [PATCH_OP], "Operations": list(operations)}
