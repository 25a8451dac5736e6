"""Console clients: a TestClient signed in as an admin of a fresh account, and staging and
synchronizing through the console's pages.

The test settings' public URL is https, so session cookies are Secure: clients talk to
https://testserver (a TestClient, like a browser, sends Secure cookies over https only).
Each client comes from one IP address (the ASGI scope's client), which the sign-in
throttle counts by.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
from sqlalchemy import Engine
from starlette.testclient import TestClient

from scimgate.accounts import service as accounts
from scimgate.admins import service as admins
from tests.helpers.scim import user_body

PASSWORD = "correct horse battery staple"
BASE_URL = "https://testserver"
ADMIN_IP = "198.51.100.10"  # where make_console's admins sign in from
_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


def csrf_of(html: str) -> str:
    """The CSRF token in a rendered page's first form."""
    match = _CSRF.search(html)
    assert match, "no form with a CSRF token on this page"
    return match.group(1)


@dataclass
class Console:
    """A browser-like client signed in to one account's console."""

    http: TestClient
    slug: str
    account_id: int
    email: str
    token: str | None  # the account's first Secret Token, if provisioning is active

    def get(self, path: str, **kw: Any) -> Any:
        return self.http.get("/console" + path, **kw)

    def post(
        self, path: str, data: dict[str, Any] | None = None, *, page: str | None = None
    ) -> Any:
        """Post a form with the CSRF token read from `page` (default: the same path)."""
        form = dict(data or {})
        if "csrf_token" not in form:
            form["csrf_token"] = csrf_of(self.get(page or path).text)
        return self.http.post("/console" + path, data=form, follow_redirects=False)

    def scim(self, method: str, path: str, **kw: Any) -> Any:
        headers = {"Authorization": f"Bearer {self.token}", "Content-Type": "application/scim+json"}
        return self.http.request(method, "/scim/v2" + path, headers=headers, **kw)


def browser(app: Any, ip: str = ADMIN_IP, **kw: Any) -> TestClient:
    """A client of the console from one IP address (use it as a context manager)."""
    kw.setdefault("base_url", BASE_URL)
    return TestClient(app, client=(ip, 50000), **kw)


def sign_in(http: TestClient, slug: str, email: str, password: str) -> Any:
    """Fill and send the sign-in form as a browser would."""
    page = http.get(f"/console/login?account={slug}")
    return http.post(
        "/console/login",
        data={
            "account": slug,
            "email": email,
            "password": password,
            "csrf_token": csrf_of(page.text),
        },
        follow_redirects=False,
    )


@pytest.fixture
def make_console(app: Any, engine: Engine) -> Callable[..., Console]:
    """Account + admin + signed-in client; `entitled`/`active` choose the provisioning state."""
    clients: list[TestClient] = []
    counter = {"n": 0}

    def factory(
        slug: str | None = None, *, entitled: bool = True, active: bool = True, ip: str = ADMIN_IP
    ) -> Console:
        counter["n"] += 1
        slug = slug or f"co{counter['n']}"
        email = f"admin@{slug}.example"
        token = None
        with engine.begin() as conn:
            row = accounts.create_account(conn, slug, name=f"{slug.title()} Inc", entitled=entitled)
            if entitled and active:
                token = accounts.activate_provisioning(conn, row["id"]).token
            admins.create_admin(conn, row["id"], email, PASSWORD)
        http = browser(app, ip, raise_server_exceptions=False)
        http.__enter__()
        clients.append(http)
        r = sign_in(http, slug, email, PASSWORD)
        assert r.status_code == 303, r.text
        return Console(http, slug, row["id"], email, token)

    yield factory
    for client in clients:
        client.__exit__(None, None, None)


PATCH = "urn:ietf:params:scim:api:messages:2.0:PatchOp"


def stage(console, email, **extra):
    r = console.scim("POST", "/Users", json=user_body(email, **extra))
    assert r.status_code == 201, r.text
    return r.json()["id"]


def wait_for_run(console, run_path, timeout=30.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        page = console.get(run_path)
        if "badge running" not in page.text:
            return page
        time.sleep(0.1)
    raise AssertionError("run did not finish")


def synchronize(console):
    r = console.post("/sync")
    assert r.status_code == 303, r.text
    assert re.match(r"^/console/sync/runs/\d+$", r.headers["location"])
    return wait_for_run(console, r.headers["location"].removeprefix("/console")), r.headers[
        "location"
    ]
