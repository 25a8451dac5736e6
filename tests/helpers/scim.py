"""A SCIM client bound to one account's token, and the request bodies and error checks
the SCIM tests share."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from starlette.testclient import TestClient


@dataclass
class ScimClient:
    """A TestClient bound to one account's token, with paths relative to /scim/v2."""

    http: TestClient
    token: str
    slug: str
    account_id: int

    def _headers(self, headers: dict[str, str] | None) -> dict[str, str]:
        merged = {"Authorization": f"Bearer {self.token}", "Content-Type": "application/scim+json"}
        merged.update(headers or {})
        return merged

    def request(self, method: str, path: str, **kwargs: Any) -> Any:
        headers = self._headers(kwargs.pop("headers", None))
        return self.http.request(method, "/scim/v2" + path, headers=headers, **kwargs)

    def get(self, path: str, **kw: Any) -> Any:
        return self.request("GET", path, **kw)

    def post(self, path: str, **kw: Any) -> Any:
        return self.request("POST", path, **kw)

    def put(self, path: str, **kw: Any) -> Any:
        return self.request("PUT", path, **kw)

    def patch(self, path: str, **kw: Any) -> Any:
        return self.request("PATCH", path, **kw)

    def delete(self, path: str, **kw: Any) -> Any:
        return self.request("DELETE", path, **kw)


def user_body(user_name: str = "bjensen@example.com", **extra: Any) -> dict[str, Any]:
    """An Entra-shaped user body."""
    body: dict[str, Any] = {
        "schemas": [
            "urn:ietf:params:scim:schemas:core:2.0:User",
            "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User",
        ],
        "externalId": extra.pop("externalId", "ext-" + user_name),
        "userName": user_name,
        "active": True,
        "displayName": "Barbara Jensen",
        "emails": [{"primary": True, "type": "work", "value": user_name}],
        "name": {"formatted": "Barbara Jensen", "familyName": "Jensen", "givenName": "Barbara"},
    }
    body.update(extra)
    return body


ERROR = "urn:ietf:params:scim:api:messages:2.0:Error"


def assert_error(response, status, scim_type=None):
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/scim+json")
    body = response.json()
    assert body["schemas"] == [ERROR]
    assert body["status"] == str(status)
    assert isinstance(body["detail"], str) and body["detail"]
    if scim_type:
        assert body["scimType"] == scim_type
    assert "Traceback" not in response.text


def logged_ignored(app: Any, engine: Any) -> list[tuple[str, list[str]]]:
    """The request log's `ignored` entries, (method, entries) per request, oldest first."""
    from sqlalchemy import select

    from scimgate.store.tables.operations import request_log

    app.state.request_log.flush()
    with engine.begin() as conn:
        rows = conn.execute(
            select(request_log.c.method, request_log.c.ignored).order_by(request_log.c.id)
        ).all()
    return [(method, json.loads(ignored) if ignored else []) for method, ignored in rows]
