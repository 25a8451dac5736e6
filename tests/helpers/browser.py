"""The browser tests' server and browser: a `scimgate serve` process seeded with the CLI,
Chromium pages on the console, screenshots, and Entra-shaped SCIM requests."""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import httpx

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

    def seed(self, accounts: dict[str, Sequence[str]], activated: Sequence[str] = ()) -> None:
        """Entitled accounts (slug -> admin emails, each with PASSWORD), some activated.

        The commands run in this process (typer's CliRunner, the server's environment): the
        same CLI code as `scimgate ...`, without a Python start and the app's imports for
        each of them. The tokens of the activated accounts land in `tokens`
        (slug -> (token, token id)).
        """
        for slug in accounts:
            self.cli_here("account", "create", slug, "--name", f"{slug.title()} Inc", "--entitled")
        for slug in activated:
            doc = json.loads(self.cli_here("provisioning", "activate", slug, "--json"))
            self.tokens[slug] = (doc["token"], int(doc["token_id"]))
        for slug, emails in accounts.items():
            for email in emails:
                self.cli_here(
                    "admin", "create", slug, email, "--password-stdin", stdin=PASSWORD + "\n"
                )

    def cli_here(self, *args: str, stdin: str | None = None) -> str:
        """`scimgate ARGS` in this process, to success: its stdout."""
        from typer.testing import CliRunner

        from scimgate.cli import app as cli_app

        # The server's SCIMGATE_* variables, and none of this process's others.
        env: dict[str, str | None] = {k: None for k in os.environ if k.startswith("SCIMGATE_")}
        env.update({k: v for k, v in self.env.items() if k.startswith("SCIMGATE_")})
        cwd = Path.cwd()
        os.chdir(self.workdir)  # no .env file
        try:
            result = CliRunner().invoke(cli_app, list(args), env=env, input=stdin)
        finally:
            os.chdir(cwd)
        assert result.exit_code == 0, (
            f"scimgate {' '.join(args)} exited {result.exit_code}:\n{result.output}"
            f"\n{result.exception!r}"
        )
        return result.stdout

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
        "externalId": extra.pop("externalId", f"oid-{user_name.split('@', maxsplit=1)[0]}"),
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
