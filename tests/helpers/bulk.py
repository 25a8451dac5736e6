"""What the SCIM Bulk tests share: request bodies, running one, and the error check."""

from __future__ import annotations

from typing import Any

from scim2_models import BulkResponse, Group, User

from tests.helpers.scim import ScimClient

BULK = "urn:ietf:params:scim:api:messages:2.0:BulkRequest"
BULK_RESPONSE = "urn:ietf:params:scim:api:messages:2.0:BulkResponse"
ERROR = "urn:ietf:params:scim:api:messages:2.0:Error"


def bulk(*operations: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {"schemas": [BULK], "Operations": list(operations), **extra}


def post(kind: str, bulk_id: str, data: dict[str, Any]) -> dict[str, Any]:
    return {"method": "POST", "path": f"/{kind}", "bulkId": bulk_id, "data": data}


def run(scim: ScimClient, body: dict[str, Any]) -> list[dict[str, Any]]:
    r = scim.post("/Bulk", json=body)
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("application/scim+json")
    assert r.json()["schemas"] == [BULK_RESPONSE]
    BulkResponse[User | Group].model_validate(r.json())  # scim2-models reads it as RFC 7644's
    return r.json()["Operations"]


def assert_scim_error(r: Any, status: int, scim_type: str | None = None) -> dict[str, Any]:
    assert r.status_code == status, r.text
    body = r.json()
    assert body["schemas"] == [ERROR] and body["status"] == str(status)
    if scim_type is not None:
        assert body.get("scimType") == scim_type, body
    return body
