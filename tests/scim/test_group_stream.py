"""A Group larger than one page of members is streamed page by page, with the same content."""

from __future__ import annotations

from typing import Any

import pytest

from scimgate.settings import Settings
from tests.helpers.scim import user_body

PATCH = "urn:ietf:params:scim:api:messages:2.0:PatchOp"


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return settings.model_copy(update={"group_member_page": 4})


def _group_with(scim: Any, n: int) -> tuple[str, list[str]]:
    ids = [
        scim.post("/Users", json=user_body(f"u{i:02d}@example.com")).json()["id"] for i in range(n)
    ]
    gid = scim.post(
        "/Groups",
        json={"schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"], "displayName": f"G{n}"},
    ).json()["id"]
    ops = [{"op": "Add", "path": "members", "value": [{"value": i} for i in ids]}]
    assert (
        scim.patch(f"/Groups/{gid}", json={"schemas": [PATCH], "Operations": ops}).status_code
        == 204
    )
    return gid, ids


@pytest.mark.parametrize("n", [0, 3, 4, 5, 8, 9, 13])
def test_members_streamed_across_pages_are_all_there_once_in_order(scim: Any, n: int) -> None:
    gid, ids = _group_with(scim, n)
    response = scim.get(f"/Groups/{gid}")
    assert response.status_code == 200
    body = response.json()
    assert body["id"] == gid and body["displayName"] == f"G{n}"
    assert [m["value"] for m in body.get("members", [])] == sorted(ids)
    assert all(
        m["type"] == "User" and m["display"] == "Barbara Jensen" for m in body.get("members", [])
    )
    assert all(m["$ref"].endswith(f"/Users/{m['value']}") for m in body.get("members", []))
    assert body["meta"]["location"].endswith(f"/Groups/{gid}")
    assert response.headers["etag"] == body["meta"]["version"]
    assert response.headers["content-type"].startswith("application/scim+json")
    assert ("content-length" in response.headers) == (n < 4)  # a full first page: streamed


def test_streamed_and_whole_answers_are_the_same_document(scim: Any) -> None:
    gid, _ = _group_with(scim, 9)
    streamed = scim.get(f"/Groups/{gid}").json()
    whole = scim.get(f"/Groups/{gid}", params={"excludedAttributes": "externalId"}).json()
    assert whole == streamed  # built at once (a projection), the same members and attributes


def test_a_projection_on_members_is_still_applied(scim: Any) -> None:
    gid, ids = _group_with(scim, 6)
    body = scim.get(f"/Groups/{gid}", params={"attributes": "members.value"}).json()
    assert body["members"] == [{"value": i} for i in sorted(ids)]
    assert (
        "members" not in scim.get(f"/Groups/{gid}", params={"excludedAttributes": "members"}).json()
    )
