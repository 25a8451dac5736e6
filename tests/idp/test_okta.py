"""Okta's SCIM 2.0 client habits, replayed (docs/entra-provisioning.md §5 "Okta (for contrast)").

Okta differs from Entra: it pages every lookup (`startIndex=1&count=100`), updates users
with a full PUT (the whole user it read back, with `id`, `groups`, `password`, `meta`),
deprovisions with PUT `active:false` or a path-less PATCH `{"active":false}`, and pushes
groups with PATCH (rename as a path-less replace carrying the group's `id`, members as
add/remove/replace) or PUT. Bodies follow Okta's SCIM 2.0 protocol reference examples.
"""

from __future__ import annotations

import copy
from typing import Any
from urllib.parse import quote

import pytest

PATCH_OP = "urn:ietf:params:scim:api:messages:2.0:PatchOp"
LIST = "urn:ietf:params:scim:api:messages:2.0:ListResponse"
ERROR = "urn:ietf:params:scim:api:messages:2.0:Error"
CORE_USER = "urn:ietf:params:scim:schemas:core:2.0:User"
CORE_GROUP = "urn:ietf:params:scim:schemas:core:2.0:Group"

OKTA_USER = {  # Okta SCIM 2.0 reference, "Create the user"
    "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
    "userName": "test.user@okta.local",
    "name": {"givenName": "Test", "familyName": "User"},
    "emails": [{"primary": True, "value": "test.user@okta.local", "type": "work"}],
    "displayName": "Test User",
    "locale": "en-US",
    "externalId": "00ujl29u0le5T6Aj10h7",
    "groups": [],
    "password": "1mz050nq",
    "active": True,
}

OKTA_AGENT = {"User-Agent": "Okta SCIM Client 1.0.0"}  # on every request Okta sends

OKTA_GROUP = {  # Okta SCIM 2.0 reference, "Create Groups"
    "schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"],
    "displayName": "Test SCIMv2",
    "members": [],
}


def scim_json(r: Any, status: int | tuple[int, ...]) -> Any:
    statuses = status if isinstance(status, tuple) else (status,)
    assert r.status_code in statuses, r.text
    assert r.headers["content-type"].split(";")[0].strip() == "application/scim+json", (
        r.headers.get("content-type")
    )
    return r.json()


def assert_error(r: Any, status: int, scim_type: str | None = None) -> dict[str, Any]:
    body = scim_json(r, status)
    assert body["schemas"] == [ERROR] and body["status"] == str(status)
    assert isinstance(body.get("detail"), str) and body["detail"]
    if scim_type is not None:
        assert body.get("scimType") == scim_type
    return body


def listed(r: Any, total: int, start_index: int = 1) -> list[dict[str, Any]]:
    body = scim_json(r, 200)
    assert body["schemas"] == [LIST]
    assert body["totalResults"] == total, body
    assert body["startIndex"] == start_index
    assert body["itemsPerPage"] == len(body["Resources"])
    return body["Resources"]


def okta_lookup(scim: Any, user_name: str) -> str:
    """Okta's lookup: `GET /Users?filter=userName eq "x"&startIndex=1&count=100` (spaces as %20)."""
    expression = f'userName eq "{user_name}"'
    return f"/Users?filter={quote(expression, safe='')}&startIndex=1&count=100"


def patch_body(*operations: dict[str, Any]) -> dict[str, Any]:
    return {"schemas": [PATCH_OP], "Operations": list(operations)}


def okta_create(scim: Any, **changes: Any) -> dict[str, Any]:
    body = copy.deepcopy(OKTA_USER)
    body.update(changes)
    return scim_json(scim.post("/Users", json=body), 201)


def okta_put_body(current: dict[str, Any], **changes: Any) -> dict[str, Any]:
    """What Okta PUTs: the user as read back, with its changes, plus `password` and `groups: []`."""
    body = copy.deepcopy(current)
    body.update(changes)
    body["groups"] = []
    body["password"] = "1mz050nq"
    return body


# -- users ----------------------------------------------------------------------------------------


def test_test_connection_and_lookup_of_a_missing_user(scim):
    """§5 Okta: test connection `GET /Users?startIndex=1&count=2` and a userName lookup of a new user answer ListResponses."""
    listed(scim.get("/Users?startIndex=1&count=2"), 0)
    assert listed(scim.get(okta_lookup(scim, "test.user@okta.local")), 0) == []
    for i in range(3):
        okta_create(scim, userName=f"u{i}@okta.local", externalId=f"x{i}")
    page = listed(scim.get("/Users?startIndex=1&count=2"), 3)
    assert len(page) == 2


def test_create_user(scim):
    """§5 Okta "Create the user": 201 with id and Location; password and groups never echoed."""
    r = scim.post("/Users", json=copy.deepcopy(OKTA_USER))
    body = scim_json(r, 201)
    uid = body["id"]
    assert r.headers["location"] == f"https://scim.example.test/scim/v2/Users/{uid}"
    assert body["userName"] == "test.user@okta.local"
    assert body["name"] == {"givenName": "Test", "familyName": "User"}
    assert body["emails"] == [{"primary": True, "value": "test.user@okta.local", "type": "work"}]
    assert body["displayName"] == "Test User"
    assert body["locale"] == "en-US"
    assert body["externalId"] == "00ujl29u0le5T6Aj10h7"
    assert body["active"] is True
    assert "password" not in body, "RFC 7643 §4.1.1: password is returned never"
    assert body.get("groups", []) == []
    assert body["meta"]["resourceType"] == "User"
    assert scim_json(scim.get(f"/Users/{uid}"), 200) == body


def test_lookup_after_create_with_paging(scim):
    """§5 Okta: the paged userName lookup finds the user, case-insensitively (RFC 7643 userName caseExact false)."""
    uid = okta_create(scim)["id"]
    for name in ("test.user@okta.local", "Test.User@Okta.Local"):
        (found,) = listed(scim.get(okta_lookup(scim, name)), 1)
        assert found["id"] == uid and found["userName"] == "test.user@okta.local"


def test_duplicate_user_is_409(scim):
    """§5 Okta / RFC 7644 §3.3: creating an existing userName answers 409 uniqueness."""
    okta_create(scim)
    assert_error(scim.post("/Users", json=copy.deepcopy(OKTA_USER)), 409, "uniqueness")


def test_get_unknown_user_is_404(scim):
    """§5 Okta SPEC test: `GET /Users/<random>` answers a SCIM 404 with a string status."""
    assert_error(scim.get("/Users/010101001010101010"), 404)


def test_put_full_user_update(scim):
    """§5 Okta "Update a specific user (PUT)": the whole user read back, changed; 200 with the new values and same id."""
    created = okta_create(scim)
    uid = created["id"]
    current = scim_json(scim.get(f"/Users/{uid}"), 200)
    body = okta_put_body(
        current,
        name={"givenName": "Another", "middleName": "Excited", "familyName": "User"},
        emails=[
            {
                "primary": True,
                "value": "test.user@okta.local",
                "type": "work",
                "display": "test.user@okta.local",
            }
        ],
        displayName="Another User",
    )
    updated = scim_json(scim.put(f"/Users/{uid}", json=body), 200)
    assert updated["id"] == uid
    assert updated["name"] == {
        "givenName": "Another",
        "middleName": "Excited",
        "familyName": "User",
    }
    assert updated["emails"] == [
        {
            "primary": True,
            "value": "test.user@okta.local",
            "type": "work",
            "display": "test.user@okta.local",
        }
    ]
    assert updated["displayName"] == "Another User"
    assert updated["userName"] == "test.user@okta.local" and updated["active"] is True
    assert updated["meta"]["created"] == created["meta"]["created"], "meta in a PUT body is ignored"
    assert "password" not in updated
    assert scim_json(scim.get(f"/Users/{uid}"), 200) == updated


def test_put_with_empty_groups_keeps_memberships(scim):
    """§5 Okta PUT carries `"groups": []`; groups is readOnly (RFC 7643 §4.1.2), so memberships stay."""
    uid = okta_create(scim)["id"]
    gid = scim_json(
        scim.post("/Groups", json={**copy.deepcopy(OKTA_GROUP), "members": [{"value": uid}]}), 201
    )["id"]
    current = scim_json(scim.get(f"/Users/{uid}"), 200)
    assert [g["value"] for g in current["groups"]] == [gid]
    updated = scim_json(
        scim.put(f"/Users/{uid}", json=okta_put_body(current, displayName="Renamed")), 200
    )
    assert [g["value"] for g in updated["groups"]] == [gid]
    assert [m["value"] for m in scim_json(scim.get(f"/Groups/{gid}"), 200)["members"]] == [uid]


def test_deprovision_with_put_active_false(scim):
    """§5 Okta: deactivation by PUT with `active:false`; the user stays readable and findable."""
    uid = okta_create(scim)["id"]
    current = scim_json(scim.get(f"/Users/{uid}"), 200)
    updated = scim_json(scim.put(f"/Users/{uid}", json=okta_put_body(current, active=False)), 200)
    assert updated["active"] is False
    assert scim_json(scim.get(f"/Users/{uid}"), 200)["active"] is False
    (found,) = listed(scim.get(okta_lookup(scim, "test.user@okta.local")), 1)
    assert found["active"] is False
    current = scim_json(scim.get(f"/Users/{uid}"), 200)
    assert (
        scim_json(scim.put(f"/Users/{uid}", json=okta_put_body(current, active=True)), 200)[
            "active"
        ]
        is True
    )


def test_deprovision_and_reactivate_with_pathless_patch(scim):
    """§5 Okta: `{"op":"replace","value":{"active":false}}` answers 200 with active false; `true` reactivates."""
    uid = okta_create(scim)["id"]
    body = {
        "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
        "Operations": [{"op": "replace", "value": {"active": False}}],
    }
    patched = scim_json(scim.patch(f"/Users/{uid}", json=body), 200)
    assert patched["id"] == uid and patched["active"] is False
    assert patched["userName"] == "test.user@okta.local", (
        "a path-less replace touches only the attributes it names"
    )
    assert patched["name"] == {"givenName": "Test", "familyName": "User"}
    (found,) = listed(scim.get(okta_lookup(scim, "test.user@okta.local")), 1)
    assert found["active"] is False
    patched = scim_json(
        scim.patch(f"/Users/{uid}", json=patch_body({"op": "replace", "value": {"active": True}})),
        200,
    )
    assert patched["active"] is True


def test_password_sync_patch_is_accepted_and_never_returned(scim):
    """§5 Okta password sync: `{"op":"replace","value":{"password":"…"}}` answers 200 and the password is never returned."""
    uid = okta_create(scim)["id"]
    patched = scim_json(
        scim.patch(
            f"/Users/{uid}",
            json=patch_body({"op": "replace", "value": {"password": "t1meMa$heen"}}),
        ),
        200,
    )
    assert "password" not in patched
    assert "t1meMa$heen" not in scim.get(f"/Users/{uid}").text


def test_user_pagination_at_okta_page_size(scim):
    """§5 Okta imports with `startIndex=1&count=100`: a page covers all users when fewer than 100; count limits otherwise."""
    ids = {
        okta_create(scim, userName=f"p{i}@okta.local", externalId=f"e{i}")["id"] for i in range(7)
    }
    page = listed(scim.get("/Users?startIndex=1&count=100"), 7)
    assert {u["id"] for u in page} == ids
    page = listed(scim.get("/Users?startIndex=6&count=100"), 7, start_index=6)
    assert len(page) == 2


# -- groups (Group Push) ---------------------------------------------------------------------------------


def test_group_push_lifecycle(scim):
    """§5 Okta Group Push: create, list with `startIndex=1&count=100`, rename (path-less with id), members add/remove/replace, delete."""
    alice = okta_create(scim, userName="alice@okta.local", externalId="a")["id"]
    bob = okta_create(scim, userName="bob@okta.local", externalId="b")["id"]
    carol = okta_create(scim, userName="carol@okta.local", externalId="c")["id"]

    r = scim.post("/Groups", json=copy.deepcopy(OKTA_GROUP))
    group = scim_json(r, 201)
    gid = group["id"]
    assert r.headers["location"] == f"https://scim.example.test/scim/v2/Groups/{gid}"
    assert group["displayName"] == "Test SCIMv2" and group.get("members", []) == []

    (found,) = listed(scim.get("/Groups?startIndex=1&count=100"), 1)
    assert found["id"] == gid and found["displayName"] == "Test SCIMv2"
    expression = quote('displayName eq "Test SCIMv2"', safe="")
    (found,) = listed(scim.get(f"/Groups?filter={expression}&startIndex=1&count=100"), 1)
    assert found["id"] == gid

    # Rename: Okta's path-less replace carries the group's id in the value.
    body = {
        "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
        "Operations": [
            {"op": "replace", "value": {"id": gid, "displayName": "Test SCIMv2 renamed"}}
        ],
    }
    r = scim.patch(f"/Groups/{gid}", json=body, headers=OKTA_AGENT)
    # Okta's answer: 200 and the group without its members ("Okta doesn't require the list
    # of users to be returned").
    patched = scim_json(r, 200)
    assert patched["id"] == gid and "members" not in patched
    got = scim_json(scim.get(f"/Groups/{gid}"), 200)
    assert got["id"] == gid and got["displayName"] == "Test SCIMv2 renamed"

    # Members: add with display, then Okta's remove-by-filter + add in one request.
    r = scim.patch(
        f"/Groups/{gid}",
        headers=OKTA_AGENT,
        json=patch_body(
            {
                "op": "add",
                "path": "members",
                "value": [
                    {"value": alice, "display": "alice@okta.local"},
                    {"value": bob, "display": "bob@okta.local"},
                ],
            }
        ),
    )
    # Okta's answer: 200 and the group without its members ("Okta doesn't require the list
    # of users to be returned").
    patched = scim_json(r, 200)
    assert patched["id"] == gid and "members" not in patched
    assert sorted(
        m["value"] for m in scim_json(scim.get(f"/Groups/{gid}"), 200)["members"]
    ) == sorted([alice, bob])
    r = scim.patch(
        f"/Groups/{gid}",
        headers=OKTA_AGENT,
        json={
            "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
            "Operations": [
                {"op": "remove", "path": f'members[value eq "{alice}"]'},
                {
                    "op": "add",
                    "path": "members",
                    "value": [{"value": carol, "display": "carol@okta.local"}],
                },
            ],
        },
    )
    # Okta's answer: 200 and the group without its members ("Okta doesn't require the list
    # of users to be returned").
    patched = scim_json(r, 200)
    assert patched["id"] == gid and "members" not in patched
    assert sorted(
        m["value"] for m in scim_json(scim.get(f"/Groups/{gid}"), 200)["members"]
    ) == sorted([bob, carol])

    # Replace the whole member list.
    r = scim.patch(
        f"/Groups/{gid}",
        headers=OKTA_AGENT,
        json=patch_body(
            {
                "op": "replace",
                "path": "members",
                "value": [{"value": alice, "display": "alice@okta.local"}],
            }
        ),
    )
    # Okta's answer: 200 and the group without its members ("Okta doesn't require the list
    # of users to be returned").
    patched = scim_json(r, 200)
    assert patched["id"] == gid and "members" not in patched
    members = scim_json(scim.get(f"/Groups/{gid}"), 200)["members"]
    assert [m["value"] for m in members] == [alice]
    assert [g["value"] for g in scim_json(scim.get(f"/Users/{alice}"), 200)["groups"]] == [gid]
    assert scim_json(scim.get(f"/Users/{bob}"), 200).get("groups", []) == []

    # Delete.
    r = scim.delete(f"/Groups/{gid}")
    assert r.status_code == 204 and r.content == b""
    assert_error(scim.get(f"/Groups/{gid}"), 404)
    listed(scim.get("/Groups?startIndex=1&count=100"), 0)
    assert scim_json(scim.get(f"/Users/{alice}"), 200)["active"] is True, (
        "deleting a group never deletes its members"
    )


def test_group_put_replaces_name_and_members(scim):
    """§5 Okta (PUT /Groups/{id}): the full group with its members answers 200 with exactly those members."""
    alice = okta_create(scim, userName="alice@okta.local", externalId="a")["id"]
    bob = okta_create(scim, userName="bob@okta.local", externalId="b")["id"]
    gid = scim_json(
        scim.post("/Groups", json={**copy.deepcopy(OKTA_GROUP), "members": [{"value": alice}]}), 201
    )["id"]
    body = {
        "schemas": [CORE_GROUP],
        "id": gid,
        "displayName": "Test SCIMv2",
        "members": [{"value": bob, "display": "bob@okta.local"}],
    }
    updated = scim_json(scim.put(f"/Groups/{gid}", json=body), 200)
    assert updated["id"] == gid and updated["displayName"] == "Test SCIMv2"
    assert [m["value"] for m in updated["members"]] == [bob]
    assert [m["value"] for m in scim_json(scim.get(f"/Groups/{gid}"), 200)["members"]] == [bob]


def test_duplicate_group_push_is_409(scim):
    """§5 Okta Group Push of a name that exists answers 409 uniqueness (Okta then offers to link)."""
    scim_json(scim.post("/Groups", json=copy.deepcopy(OKTA_GROUP)), 201)
    assert_error(scim.post("/Groups", json=copy.deepcopy(OKTA_GROUP)), 409, "uniqueness")


@pytest.mark.parametrize("start", [1, 3])
def test_group_list_paging(scim, start):
    """§5 Okta imports groups with `GET /Groups?startIndex=N&count=100`; startIndex is echoed, totalResults counts all."""
    for i in range(4):
        scim_json(
            scim.post(
                "/Groups", json={"schemas": [CORE_GROUP], "displayName": f"G{i}", "members": []}
            ),
            201,
        )
    page = listed(scim.get(f"/Groups?startIndex={start}&count=100"), 4, start_index=start)
    assert len(page) == 4 - (start - 1)
