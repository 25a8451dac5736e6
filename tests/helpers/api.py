"""The host API under test: a client with an API key, and problem+json checks."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
from sqlalchemy import Engine
from starlette.testclient import TestClient

from scimgate.accounts import api_keys
from scimgate.accounts.lookup import account_by_slug
from tests.helpers.scim import ScimClient

PROBLEM = "application/problem+json"


@dataclass
class ApiClient:
    """A TestClient bound to one API key, with paths relative to /api/v1."""

    http: TestClient
    key: str
    key_id: int
    scim: ScimClient

    @property
    def account_id(self) -> int:
        return self.scim.account_id

    @property
    def slug(self) -> str:
        return self.scim.slug

    def request(self, method: str, path: str, **kwargs: Any) -> Any:
        headers = {"Authorization": f"Bearer {self.key}"}
        headers.update(kwargs.pop("headers", None) or {})
        return self.http.request(method, "/api/v1" + path, headers=headers, **kwargs)

    def get(self, path: str, **kw: Any) -> Any:
        return self.request("GET", path, **kw)

    def post(self, path: str, **kw: Any) -> Any:
        return self.request("POST", path, **kw)

    def patch(self, path: str, **kw: Any) -> Any:
        return self.request("PATCH", path, **kw)

    def ok(self, method: str, path: str, status: int = 200, **kw: Any) -> Any:
        """The JSON body of a request that must answer `status`."""
        r = self.request(method, path, **kw)
        assert r.status_code == status, (method, path, r.status_code, r.text)
        return r.json()

    def wait_run(self, run_id: int, timeout: float = 30.0) -> dict[str, Any]:
        """Poll GET /sync-runs/{id} until the run is no longer running."""
        deadline = time.monotonic() + timeout
        while True:
            run = self.ok("GET", f"/sync-runs/{run_id}")
            if run["status"] != "running":
                return run
            assert time.monotonic() < deadline, f"run {run_id} still running: {run}"
            time.sleep(0.05)


def issue_key(engine: Engine, slug: str, name: str = "") -> tuple[int, str]:
    """A new live API key for an account: (id, key)."""
    with engine.begin() as conn:
        issued = api_keys.create_key(conn, account_by_slug(conn, slug)["id"], name=name)
    return issued.id, issued.key


@pytest.fixture
def make_api(
    http: TestClient, engine: Engine, make_scim_client: Callable[..., ScimClient]
) -> Callable[..., ApiClient]:
    def factory(slug: str | None = None) -> ApiClient:
        scim = make_scim_client(slug)
        key_id, key = issue_key(engine, scim.slug)
        return ApiClient(http=http, key=key, key_id=key_id, scim=scim)

    return factory


def assert_problem(r: Any, status: int, *, contains: str | None = None) -> dict[str, Any]:
    """An RFC 9457 problem document with this status; returns it."""
    assert r.status_code == status, (r.status_code, r.text)
    assert r.headers["content-type"].split(";")[0].strip() == PROBLEM, r.headers
    doc = r.json()
    assert isinstance(doc["status"], int) and doc["status"] == status, doc
    assert isinstance(doc["type"], str) and doc["type"]
    assert isinstance(doc["title"], str) and doc["title"]
    assert isinstance(doc.get("detail", ""), str)
    if contains is not None:
        assert contains in (doc.get("detail") or ""), doc
    return doc


def assert_invalid(r: Any, *, contains: str | None = None) -> dict[str, Any]:
    """A 400 problem with a non-empty `errors` list (request validation)."""
    doc = assert_problem(r, 400, contains=contains)
    assert isinstance(doc.get("errors"), list) and doc["errors"], doc
    for error in doc["errors"]:
        assert isinstance(error["loc"], list) and isinstance(error["msg"], str)
    return doc
