"""Microsoft Entra ID provisioning replayed request by request (docs: /work/shared/docs/entra-provisioning.md).

Bodies marked "verbatim" are copied from the document (which copies Microsoft Learn). Each
journey runs twice: in the default style (no flag: `Replace`/`Add`/`Remove`, `"False"`)
and in the `aadOptscim062020` style (lower-case ops, real booleans, path-less replace with
dotted and URN-qualified keys, `members[value eq "…"]` removal), the latter with the flag
appended to every URL as Entra's admins paste it into the Tenant URL.
"""

from __future__ import annotations

import copy
from typing import Any
from urllib.parse import quote

import pytest

from tests.helpers.scim import user_body

PATCH_OP = "urn:ietf:params:scim:api:messages:2.0:PatchOp"
LIST = "urn:ietf:params:scim:api:messages:2.0:ListResponse"
ERROR = "urn:ietf:params:scim:api:messages:2.0:Error"
CORE_USER = "urn:ietf:params:scim:schemas:core:2.0:User"
CORE_GROUP = "urn:ietf:params:scim:schemas:core:2.0:Group"
SCIMGATE_EXT = "urn:ietf:params:scim:schemas:extension:scimgate:2.0:User"
ENT = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
ENT_TYPO = "urn:ietf:params:scim:schemas:extension:enterprise:2.0User"
MS_GROUP = "http://schemas.microsoft.com/2006/11/ResourceManagement/ADSCIM/2.0/Group"
CUSTOM = "urn:ietf:params:scim:schemas:extension:CustomExtensionName:2.0:User"
FLAG = "aadOptscim062020"
GUID = "2c5d3f0e-6a0b-4c8e-9d2a-1f7b3e9a4c11"


# -- helpers ---------------------------------------------------------------------------------


def url(path: str, flag: bool = False, **params: str) -> str:
    """A path with its query written out by hand (httpx's params= would drop a bare `?aadOptscim062020`)."""
    parts = [f"{k}={quote(v, safe='')}" for k, v in params.items()]
    if flag:
        parts.append(FLAG)
    return path + ("?" + "&".join(parts) if parts else "")


def ops(*operations: dict[str, Any]) -> dict[str, Any]:
    return {"schemas": [PATCH_OP], "Operations": list(operations)}


def scim_json(r: Any, status: int) -> Any:
    """Status, the SCIM media type (§1.10: on all responses), a JSON body."""
    assert r.status_code == status, r.text
    assert r.headers["content-type"].split(";")[0].strip() == "application/scim+json", (
        r.headers.get("content-type")
    )
    return r.json()


def no_content(r: Any) -> None:
    assert r.status_code == 204, r.text
    assert r.content == b""


def assert_error(r: Any, status: int, scim_type: str | None = None) -> dict[str, Any]:
    """RFC 7644 §3.12 Error; §1.4/§1.10: `status` is a JSON string."""
    body = scim_json(r, status)
    assert body["schemas"] == [ERROR]
    assert body["status"] == str(status)
    assert isinstance(body.get("detail"), str) and body["detail"]
    if scim_type is not None:
        assert body.get("scimType") == scim_type, body
    return body


def listed(r: Any, total: int, start_index: int = 1) -> list[dict[str, Any]]:
    """A ListResponse (§1.2: "Query and filter responses are always a ListResponse")."""
    body = scim_json(r, 200)
    assert body["schemas"] == [LIST]
    assert body["totalResults"] == total, body
    assert isinstance(body["Resources"], list)
    assert body["startIndex"] == start_index
    assert body["itemsPerPage"] == len(body["Resources"])
    for resource in body["Resources"]:
        assert resource["id"], "§1.3: id is required on every returned resource"
    return body["Resources"]


def find_users(
    scim: Any, expression: str, flag: bool = False, **params: str
) -> list[dict[str, Any]]:
    r = scim.get(url("/Users", flag, filter=expression, **params))
    body = scim_json(r, 200)
    return listed(r, body["totalResults"])


def no_nulls(value: Any, where: str = "$") -> None:
    if isinstance(value, dict):
        for k, v in value.items():
            assert v is not None, f"{where}.{k} is null"
            no_nulls(v, f"{where}.{k}")
    elif isinstance(value, list):
        for i, v in enumerate(value):
            assert v is not None, f"{where}[{i}] is null"
            no_nulls(v, f"{where}[{i}]")


def work_email(resource: dict[str, Any]) -> dict[str, Any]:
    (found,) = [e for e in resource.get("emails", []) if e.get("type") == "work"]
    return found


def create_user(scim: Any, user_name: str, **extra: Any) -> dict[str, Any]:
    return scim_json(scim.post("/Users", json=user_body(user_name, **extra)), 201)


def bare_user(user_name: str, **extra: Any) -> dict[str, Any]:
    """A user with no emails, addresses or phone numbers (for `add` creating the element)."""
    body = user_body(user_name, **extra)
    if "emails" not in extra:
        body.pop("emails")
    return body


# Verbatim bodies -----------------------------------------------------------------------------

CREATE_USER = {  # §1.3 "Create User", verbatim
    "schemas": [
        "urn:ietf:params:scim:schemas:core:2.0:User",
        "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User",
    ],
    "externalId": "0a21f0f2-8d2a-4f8e-bf98-7363c4aed4ef",
    "userName": "Test_User_00aa00aa-bb11-cc22-dd33-44ee44ee44ee",
    "active": True,
    "emails": [
        {
            "primary": True,
            "type": "work",
            "value": "Test_User_11bb11bb-cc22-dd33-ee44-55ff55ff55ff@testuser.com",
        }
    ],
    "meta": {"resourceType": "User"},
    "name": {
        "formatted": "givenName familyName",
        "familyName": "familyName",
        "givenName": "givenName",
    },
    "roles": [],
}

CREATE_USER_EXAMPLE_2 = {  # §1.3 second form, verbatim: typo'd URI, nulls, top-level department/manager
    "schemas": [
        "urn:ietf:params:scim:schemas:core:2.0:User",
        "urn:ietf:params:scim:schemas:extension:enterprise:2.0User",
    ],
    "externalId": "jyoung",
    "userName": "jyoung@testuser.com",
    "active": True,
    "addresses": None,
    "displayName": "Joy Young",
    "emails": [{"type": "work", "value": "jyoung@Contoso.com", "primary": True}],
    "meta": {"resourceType": "User"},
    "name": {"familyName": "Young", "givenName": "Joy"},
    "phoneNumbers": None,
    "preferredLanguage": None,
    "title": None,
    "department": None,
    "manager": None,
}

CREATE_GROUP = {  # §1.9 "Create", verbatim
    "schemas": [
        "urn:ietf:params:scim:schemas:core:2.0:Group",
        "http://schemas.microsoft.com/2006/11/ResourceManagement/ADSCIM/2.0/Group",
    ],
    "externalId": "8aa1a0c0-c4c3-4bc0-b4a5-2ef676900159",
    "displayName": "displayName",
    "meta": {"resourceType": "Group"},
}


def replace_several_no_flag() -> dict[str, Any]:
    """§1.5 "Replace several attributes", no flag, verbatim."""
    return {
        "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
        "Operations": [
            {"op": "Replace", "path": "displayName", "value": "Pvlo"},
            {
                "op": "Replace",
                "path": 'emails[type eq "work"].value',
                "value": "TestBcwqnm@test.microsoft.com",
            },
            {"op": "Replace", "path": "name.givenName", "value": "Gtfd"},
            {"op": "Replace", "path": "name.familyName", "value": "Pkqf"},
            {"op": "Replace", "path": "externalId", "value": "Eqpj"},
            {
                "op": "Replace",
                "path": "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:employeeNumber",
                "value": "Eqpj",
            },
        ],
    }


def replace_several_flag() -> dict[str, Any]:
    """§1.5 "Replace several attributes", with flag, verbatim (path-less, dotted and URN-qualified keys)."""
    return {
        "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
        "Operations": [
            {
                "op": "replace",
                "path": 'emails[type eq "work"].value',
                "value": "TestMhvaes@test.microsoft.com",
            },
            {
                "op": "replace",
                "value": {
                    "displayName": "Bjfe",
                    "name.givenName": "Kkom",
                    "name.familyName": "Unua",
                    "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:employeeNumber": "Aklq",
                },
            },
        ],
    }


# -- §1.1 Test Connection ------------------------------------------------------------------------


@pytest.mark.parametrize("flag", [False, True], ids=["no-flag", "flag"])
@pytest.mark.parametrize("attribute", ["userName", "externalId"])
def test_test_connection_user_leg_is_an_empty_list(scim, flag, attribute):
    """§1.1: a filter on a random GUID answers 200 with an empty ListResponse (never 404)."""
    create_user(scim, "someone@example.com")
    r = scim.get(url("/Users", flag, filter=f'{attribute} eq "{GUID}"'))
    body = scim_json(r, 200)
    assert body == {
        "schemas": [LIST],
        "totalResults": 0,
        "Resources": [],
        "startIndex": 1,
        "itemsPerPage": 0,
    }


@pytest.mark.parametrize("flag", [False, True], ids=["no-flag", "flag"])
def test_test_connection_group_leg_is_an_empty_list(scim, flag):
    """§1.1: the group leg `excludedAttributes=members&filter=displayName eq "<guid>"` answers an empty ListResponse."""
    scim_json(scim.post("/Groups", json={"displayName": "Existing"}), 201)
    r = scim.get(
        url("/Groups", flag, excludedAttributes="members", filter=f'displayName eq "{GUID}"')
    )
    assert scim_json(r, 200) == {
        "schemas": [LIST],
        "totalResults": 0,
        "Resources": [],
        "startIndex": 1,
        "itemsPerPage": 0,
    }


def test_schemas_are_served_as_a_list_response(scim):
    """§1.1 (derived): GET /Schemas is a ListResponse naming User, the enterprise extension and Group."""
    resources = listed(scim.get("/Schemas"), 4)
    assert {s["id"] for s in resources} == {CORE_USER, ENT, CORE_GROUP, SCIMGATE_EXT}


# -- §1.2 lookup -----------------------------------------------------------------------------------


def test_lookup_by_username_is_case_insensitive_and_returns_the_full_user(scim):
    """§1.2: `userName eq "…"` finds the user whatever the case (validator "different case"), with id and attributes."""
    created = scim_json(scim.post("/Users", json=copy.deepcopy(CREATE_USER)), 201)
    for value in (
        CREATE_USER["userName"],
        CREATE_USER["userName"].upper(),
        CREATE_USER["userName"].lower(),
    ):
        (found,) = find_users(scim, f'userName eq "{value}"')
        assert found["id"] == created["id"]
        assert found["userName"] == CREATE_USER["userName"], "stored as sent"
        assert found["externalId"] == CREATE_USER["externalId"]
        assert found["active"] is True
        assert found["name"] == CREATE_USER["name"]
        assert found["emails"] == CREATE_USER["emails"]
        assert found["meta"]["resourceType"] == "User"
    assert find_users(scim, 'userName eq "non-existent user"') == []


def test_lookup_by_external_id_quoted_and_unquoted(scim):
    """§1.2/§0: `externalId eq "<guid>"` and the docs' unquoted `externalId eq jyoung` both match; externalId is caseExact."""
    jyoung = scim_json(scim.post("/Users", json=copy.deepcopy(CREATE_USER_EXAMPLE_2)), 201)
    guid_user = create_user(
        scim, "guid@example.com", externalId="7fce0092-d52e-4f76-b727-3955bd72c939"
    )
    assert [u["id"] for u in find_users(scim, 'externalId eq "jyoung"')] == [jyoung["id"]]
    assert [u["id"] for u in find_users(scim, "externalId eq jyoung")] == [jyoung["id"]]
    assert [
        u["id"] for u in find_users(scim, 'externalId eq "7fce0092-d52e-4f76-b727-3955bd72c939"')
    ] == [guid_user["id"]]
    assert [
        u["id"] for u in find_users(scim, "externalId eq 7fce0092-d52e-4f76-b727-3955bd72c939")
    ] == [guid_user["id"]]
    assert find_users(scim, 'externalId eq "JYOUNG"') == []


def test_lookup_by_work_email(scim):
    """§1.2: `emails[type eq "work"].value eq "…"` finds the user by its work email only."""
    user = create_user(
        scim,
        "alias@contoso.com",
        emails=[
            {"type": "work", "value": "user@contoso.com", "primary": True},
            {"type": "home", "value": "home@contoso.com"},
        ],
    )
    assert [
        u["id"] for u in find_users(scim, 'emails[type eq "work"].value eq "user@contoso.com"')
    ] == [user["id"]]
    assert [
        u["id"] for u in find_users(scim, 'emails[type eq "work"].value eq "USER@contoso.com"')
    ] == [user["id"]], "RFC 7643 §4.1.2: emails.value is caseExact false"
    assert find_users(scim, 'emails[type eq "work"].value eq "home@contoso.com"') == []
    assert find_users(scim, 'emails[type eq "work"].value eq "nobody@contoso.com"') == []


def test_plus_in_a_raw_query_string_is_a_space(scim):
    """§0: the validator sends `?filter=userName+eq+"dale.mohr%40romaguera.uk"`; `+` decodes as a space."""
    user = create_user(scim, "dale.mohr@romaguera.uk")
    r = scim.get("/Users?filter=userName+eq+%22dale.mohr%40romaguera.uk%22")
    assert [u["id"] for u in listed(r, 1)] == [user["id"]]
    r = scim.get('/Users?filter=userName+eq+"dale.mohr%40romaguera.uk"')
    assert [u["id"] for u in listed(r, 1)] == [user["id"]]
    r = scim.get("/Users?filter=userName%20eq%20%22dale.mohr%40romaguera.uk%22&aadOptscim062020")
    assert [u["id"] for u in listed(r, 1)] == [user["id"]]
    r = scim.get("/Users?filter=userName+eq+%22nobody%40romaguera.uk%22")
    listed(r, 0)


def test_encoded_plus_in_a_value_stays_a_plus(scim):
    """§0: `+` is a space but `%2B` is a literal plus, so `userName+eq+"first%2Btag%40x.com"` finds first+tag@x.com."""
    user = create_user(scim, "first+tag@x.com")
    r = scim.get("/Users?filter=userName+eq+%22first%2Btag%40x.com%22")
    assert [u["id"] for u in listed(r, 1)] == [user["id"]]


def test_duplicate_matches_are_all_reported(scim):
    """§1.2: more than one hit is Entra's `DuplicateTargetEntries`, so a lookup must count and return every match."""
    a = create_user(scim, "a@example.com", externalId="shared-object-id")["id"]
    b = create_user(scim, "b@example.com", externalId="shared-object-id")["id"]
    assert sorted(u["id"] for u in find_users(scim, 'externalId eq "shared-object-id"')) == sorted(
        [a, b]
    )
    r = scim.get(
        url("/Users", filter='externalId eq "shared-object-id"', startIndex="1", count="1")
    )
    assert len(listed(r, 2)) == 1


def test_lookup_past_the_only_match_still_counts_it(scim):
    """§1.2/RFC 7644 §3.4.2.4: `startIndex` past the single hit answers totalResults 1 and no Resources."""
    create_user(scim, "only@example.com")
    r = scim.get(url("/Users", filter='userName eq "only@example.com"', startIndex="2", count="5"))
    assert listed(r, 1, start_index=2) == []


def test_filter_attribute_names_and_operators_are_case_insensitive(scim):
    """§6.7 / RFC 7644 §3.4.2.2: attribute names and operators in filters are case-insensitive; the core URN prefix works."""
    uid = create_user(scim, "ci@example.com", externalId="ci-ext")["id"]
    for expression in (
        'USERNAME eq "ci@example.com"',
        'userName EQ "ci@example.com"',
        'ExternalId eq "ci-ext"',
        f'{CORE_USER}:userName eq "ci@example.com"',
        'userName eq "ci@example.com" AND externalId eq "ci-ext"',
    ):
        assert [u["id"] for u in find_users(scim, expression)] == [uid], expression


def test_membership_lookup_over_many_groups_pages(scim):
    """§1.9/§4: `members[value eq "<uid>"]` over more groups than a page counts all and pages by startIndex."""
    uid = create_user(scim, "joiner@example.com")["id"]
    gids = {
        scim_json(
            scim.post("/Groups", json={"displayName": f"Team {i}", "members": [{"value": uid}]}),
            201,
        )["id"]
        for i in range(7)
    }
    scim_json(scim.post("/Groups", json={"displayName": "Not mine"}), 201)
    expression = f'members[value eq "{uid}"]'
    first = listed(
        scim.get(
            url(
                "/Groups",
                excludedAttributes="members",
                filter=expression,
                startIndex="1",
                count="5",
            )
        ),
        7,
    )
    second = listed(
        scim.get(
            url(
                "/Groups",
                excludedAttributes="members",
                filter=expression,
                startIndex="6",
                count="5",
            )
        ),
        7,
        start_index=6,
    )
    assert len(first) == 5 and len(second) == 2
    assert {g["id"] for g in first + second} == gids
    assert all("members" not in g for g in first + second)


def test_unknown_query_parameters_are_harmless(scim):
    """§0/§6.9: `?aadOptscim062020` (and the mistaken `AzureAdScimPatch062020`) on any request changes nothing."""
    created = scim_json(
        scim.post("/Users?aadOptscim062020", json=user_body("flag@example.com")), 201
    )
    uid = created["id"]
    assert scim_json(scim.get(f"/Users/{uid}?aadOptscim062020"), 200)["id"] == uid
    assert scim_json(scim.get(f"/Users/{uid}?AzureAdScimPatch062020=1"), 200)["id"] == uid
    listed(scim.get("/Users?aadOptscim062020"), 1)
    patched = scim_json(
        scim.patch(
            f"/Users/{uid}?aadOptscim062020",
            json=ops({"op": "replace", "path": "title", "value": "T"}),
        ),
        200,
    )
    assert patched["title"] == "T"
    no_content(scim.delete(f"/Users/{uid}?aadOptscim062020"))


@pytest.mark.parametrize(
    "content_type",
    ["application/scim+json", "application/json", "application/scim+json; charset=utf-8"],
)
def test_request_content_types_entra_and_the_validator_send(scim, content_type):
    """§0: requests arrive as application/scim+json, application/json or with `; charset=utf-8`; all accepted."""
    import json

    r = scim.post(
        "/Users",
        content=json.dumps(user_body("ct@example.com")).encode(),
        headers={"Content-Type": content_type},
    )
    uid = scim_json(r, 201)["id"]
    r = scim.patch(
        f"/Users/{uid}",
        content=json.dumps(ops({"op": "Replace", "path": "active", "value": "False"})).encode(),
        headers={"Content-Type": content_type},
    )
    assert scim_json(r, 200)["active"] is False


# -- §1.3 create ---------------------------------------------------------------------------------------


def test_create_user_verbatim(scim):
    """§1.3 "Create User" verbatim: 201, Location, id, meta; `meta` in input ignored; `roles: []` accepted."""
    r = scim.post("/Users", json=copy.deepcopy(CREATE_USER))
    body = scim_json(r, 201)
    uid = body["id"]
    assert isinstance(uid, str) and uid
    assert r.headers["location"] == f"https://scim.example.test/scim/v2/Users/{uid}"
    assert CORE_USER in body["schemas"]
    assert body["externalId"] == CREATE_USER["externalId"]
    assert body["userName"] == CREATE_USER["userName"]
    assert body["name"] == CREATE_USER["name"]
    assert body["active"] is True
    assert body["emails"] == CREATE_USER["emails"]
    assert body.get("roles", []) == []
    assert body["meta"]["resourceType"] == "User"
    assert body["meta"]["location"] == r.headers["location"]
    assert body["meta"]["created"] and body["meta"]["lastModified"]
    no_nulls(body)
    # Entra caches the id; the next GET by id returns the same resource.
    assert scim_json(scim.get(f"/Users/{uid}"), 200) == body


def test_create_user_example_2_with_typo_schema_and_nulls(scim):
    """§1.3 Example 2 verbatim: typo'd `…enterprise:2.0User`, nulls and top-level department/manager are tolerated."""
    r = scim.post("/Users", json=copy.deepcopy(CREATE_USER_EXAMPLE_2))
    body = scim_json(r, 201)
    assert body["id"]
    assert body["userName"] == "jyoung@testuser.com"
    assert body["externalId"] == "jyoung"
    assert body["displayName"] == "Joy Young"
    assert body["active"] is True
    assert body["emails"] == [{"type": "work", "value": "jyoung@Contoso.com", "primary": True}], (
        "stored as sent"
    )
    assert body["name"] == {"familyName": "Young", "givenName": "Joy"}
    for unassigned in (
        "addresses",
        "phoneNumbers",
        "preferredLanguage",
        "title",
        "department",
        "manager",
    ):
        assert unassigned not in body, unassigned
    assert ENT_TYPO not in body["schemas"], (
        "RFC 7643 §3: schemas names the schemas whose attributes are present"
    )
    no_nulls(body)


@pytest.mark.parametrize(
    "value, expected", [("True", True), ("true", True), ("False", False), (True, True)]
)
def test_create_user_with_string_active(scim, value, expected):
    """§1.3: Microsoft's Postman test posts `"active":"True"` and expects 201 with a boolean."""
    body = scim_json(scim.post("/Users", json=user_body("str@example.com", active=value)), 201)
    assert body["active"] is expected
    assert scim_json(scim.get(f"/Users/{body['id']}"), 200)["active"] is expected


def test_create_user_with_roles_and_custom_extension(scim):
    """§1.3: role mappings and a custom extension (not declared in `schemas`) are kept and returned."""
    body = user_body("roles@example.com")
    body["roles"] = [{"primary": True, "type": "WindowsAzureActiveDirectoryRole", "value": "Admin"}]
    body[CUSTOM] = {"CustomAttribute": "custom-value"}
    created = scim_json(scim.post("/Users", json=body), 201)
    assert created["roles"] == [
        {"primary": True, "type": "WindowsAzureActiveDirectoryRole", "value": "Admin"}
    ]
    assert created[CUSTOM] == {"CustomAttribute": "custom-value"}
    assert CUSTOM in created["schemas"], (
        "RFC 7643 §3: an extension present in the resource is named in schemas"
    )
    fetched = scim_json(scim.get(f"/Users/{created['id']}"), 200)
    assert fetched[CUSTOM] == {"CustomAttribute": "custom-value"}
    assert fetched["roles"] == created["roles"]


def test_custom_extension_attribute_patched_by_urn_path_and_pathless(scim):
    """§2/§1.5: `urn:…:CustomExtensionName:2.0:User:CustomAttribute` as a path and as a path-less key updates the value."""
    body = user_body("custom@example.com")
    body[CUSTOM] = {"CustomAttribute": "one"}
    uid = scim_json(scim.post("/Users", json=body), 201)["id"]
    r = scim.patch(
        f"/Users/{uid}",
        json=ops({"op": "Replace", "path": f"{CUSTOM}:CustomAttribute", "value": "two"}),
    )
    assert scim_json(r, 200)[CUSTOM] == {"CustomAttribute": "two"}
    r = scim.patch(
        f"/Users/{uid}",
        json=ops({"op": "replace", "value": {f"{CUSTOM}:CustomAttribute": "three"}}),
    )
    patched = scim_json(r, 200)
    assert patched[CUSTOM] == {"CustomAttribute": "three"}
    assert f"{CUSTOM}:CustomAttribute" not in patched
    assert scim_json(scim.get(f"/Users/{uid}"), 200)[CUSTOM] == {"CustomAttribute": "three"}


def test_roles_with_a_json_string_value_are_stored_as_sent(scim):
    """§1.5 "Roles" verbatim: SingleAppRoleAssignment puts a JSON document in the string `value`; kept byte for byte."""
    uid = create_user(scim, "approle@example.com")["id"]
    op = {
        "op": "Add",
        "path": "roles",
        "value": [
            {
                "value": '{"id":"06b07648-ecfe-589f-9d2f-6325724a46ee","value":"25","displayName":"Role1234"}'
            }
        ],
    }
    patched = scim_json(scim.patch(f"/Users/{uid}", json=ops(op)), 200)
    assert patched["roles"] == [
        {
            "value": '{"id":"06b07648-ecfe-589f-9d2f-6325724a46ee","value":"25","displayName":"Role1234"}'
        }
    ]
    complex_op = {
        "op": "replace",
        "path": "roles",
        "value": [
            {
                "primary": False,
                "type": "WindowsAzureActiveDirectoryRole",
                "display": "User",
                "value": "User",
            },
            {
                "primary": False,
                "type": "WindowsAzureActiveDirectoryRole",
                "display": "Admin",
                "value": "Admin",
            },
        ],
    }
    patched = scim_json(scim.patch(f"/Users/{uid}", json=ops(complex_op)), 200)
    assert patched["roles"] == complex_op["value"]


def test_validator_string_primary_in_roles(scim):
    """§4: the validator sends `"primary":"True"` in roles; accepted and returned as a boolean."""
    body = user_body(
        "prim@example.com",
        roles=[{"primary": "True", "type": "WindowsAzureActiveDirectoryRole", "value": "Admin"}],
    )
    created = scim_json(scim.post("/Users", json=body), 201)
    assert created["roles"] == [
        {"primary": True, "type": "WindowsAzureActiveDirectoryRole", "value": "Admin"}
    ]


def test_meta_in_input_is_ignored(scim):
    """§6.8: `meta` (and `id`) in a POST body never override the server's."""
    body = user_body("meta@example.com")
    body["id"] = "client-chosen-id"
    body["meta"] = {
        "resourceType": "Group",
        "created": "2018-03-27T19:59:26.000Z",
        "lastModified": "2018-03-27T19:59:26.000Z",
    }
    created = scim_json(scim.post("/Users", json=body), 201)
    assert created["id"] != "client-chosen-id"
    assert created["meta"]["resourceType"] == "User"
    assert not created["meta"]["created"].startswith("2018")
    assert not created["meta"]["lastModified"].startswith("2018")


@pytest.mark.parametrize(
    "second",
    [
        "Test_User_00aa00aa-bb11-cc22-dd33-44ee44ee44ee",
        "TEST_USER_00AA00AA-BB11-CC22-DD33-44EE44EE44EE",
    ],
)
def test_duplicate_username_is_409_uniqueness(scim, second):
    """§1.3: POST of an existing userName answers 409, `"status":"409"` (a string), scimType uniqueness and a detail."""
    scim_json(scim.post("/Users", json=copy.deepcopy(CREATE_USER)), 201)
    again = copy.deepcopy(CREATE_USER)
    again["userName"] = second
    again["externalId"] = "another"
    assert_error(scim.post("/Users", json=again), 409, "uniqueness")
    listed(scim.get(url("/Users", filter=f'userName eq "{CREATE_USER["userName"]}"')), 1)


# -- §1.4 get by id -----------------------------------------------------------------------------------------


def test_get_unknown_user_is_a_scim_404(scim):
    """§1.4: an unknown id answers 404 with an Error body whose status is the string "404"."""
    assert_error(scim.get("/Users/23B51B0E5D7AE9110A49411D@7cca31655d49f3640a494224"), 404)
    assert_error(scim.get("/Users/54D382A4-2050-4C03-94D1-E769F1D15682"), 404)
    assert_error(scim.get("/Groups/40734ae655284ad3abcc?excludedAttributes=members"), 404)


def test_other_accounts_users_are_invisible(scim, other):
    """§3 (one job per tenant): a lookup or GET from another account never sees this account's user."""
    uid = scim_json(scim.post("/Users", json=copy.deepcopy(CREATE_USER)), 201)["id"]
    assert find_users(other, f'userName eq "{CREATE_USER["userName"]}"') == []
    assert_error(other.get(f"/Users/{uid}"), 404)
    assert scim_json(other.post("/Users", json=copy.deepcopy(CREATE_USER)), 201)["id"] != uid


# -- §1.5 PATCH user ------------------------------------------------------------------------------------------


def test_patch_multi_valued_and_complex_no_flag(scim):
    """§1.5 "Multi-valued and complex (no flag)" verbatim: 200 with the work email and familyName replaced."""
    uid = scim_json(scim.post("/Users", json=copy.deepcopy(CREATE_USER)), 201)["id"]
    body = {
        "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
        "Operations": [
            {
                "op": "Replace",
                "path": 'emails[type eq "work"].value',
                "value": "updatedEmail@microsoft.com",
            },
            {"op": "Replace", "path": "name.familyName", "value": "updatedFamilyName"},
        ],
    }
    patched = scim_json(scim.patch(f"/Users/{uid}", json=body), 200)
    assert patched["id"] == uid
    assert patched["emails"] == [
        {"value": "updatedEmail@microsoft.com", "type": "work", "primary": True}
    ]
    assert patched["name"]["familyName"] == "updatedFamilyName"
    assert patched["name"]["givenName"] == "givenName"
    assert scim_json(scim.get(f"/Users/{uid}"), 200) == patched
    assert [
        u["id"]
        for u in find_users(scim, 'emails[type eq "work"].value eq "updatedEmail@microsoft.com"')
    ] == [uid]


@pytest.mark.parametrize("op", ["Replace", "replace"])
def test_patch_rename_username(scim, op):
    """§1.5 "Single-valued (rename)" verbatim: 200 with the new userName; lookups follow it."""
    uid = scim_json(scim.post("/Users", json=copy.deepcopy(CREATE_USER)), 201)["id"]
    body = {
        "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
        "Operations": [
            {
                "op": op,
                "path": "userName",
                "value": "5b50642d-79fc-4410-9e90-4c077cdd1a59@testuser.com",
            }
        ],
    }
    patched = scim_json(scim.patch(f"/Users/{uid}", json=body), 200)
    assert patched["userName"] == "5b50642d-79fc-4410-9e90-4c077cdd1a59@testuser.com"
    assert [
        u["id"]
        for u in find_users(scim, 'userName eq "5b50642d-79fc-4410-9e90-4c077cdd1a59@testuser.com"')
    ] == [uid]
    assert find_users(scim, f'userName eq "{CREATE_USER["userName"]}"') == []


def test_validator_pathless_username_update(scim):
    """§4 "Update User userName": a path-less `replace` `{"userName": …}`."""
    uid = create_user(scim, "old@example.com")["id"]
    patched = scim_json(
        scim.patch(
            f"/Users/{uid}", json=ops({"op": "replace", "value": {"userName": "new@example.com"}})
        ),
        200,
    )
    assert patched["userName"] == "new@example.com"


def test_patch_replace_several_no_flag(scim):
    """§1.5 "Replace several attributes", no flag, verbatim: every attribute changes, enterprise employeeNumber included."""
    uid = create_user(scim, "several@example.com")["id"]
    patched = scim_json(scim.patch(f"/Users/{uid}", json=replace_several_no_flag()), 200)
    assert patched["displayName"] == "Pvlo"
    assert work_email(patched)["value"] == "TestBcwqnm@test.microsoft.com"
    assert len(patched["emails"]) == 1
    assert patched["name"]["givenName"] == "Gtfd" and patched["name"]["familyName"] == "Pkqf"
    assert patched["externalId"] == "Eqpj"
    assert patched[ENT]["employeeNumber"] == "Eqpj"
    assert ENT in patched["schemas"]
    assert scim_json(scim.get(f"/Users/{uid}"), 200) == patched


def test_patch_replace_several_flag_pathless_dotted_and_urn_keys(scim):
    """§1.5 "Replace several attributes", with flag, verbatim: dotted and URN-qualified keys in a path-less replace."""
    uid = create_user(scim, "several@example.com")["id"]
    patched = scim_json(scim.patch(url(f"/Users/{uid}", True), json=replace_several_flag()), 200)
    assert patched["displayName"] == "Bjfe"
    assert work_email(patched)["value"] == "TestMhvaes@test.microsoft.com"
    assert len(patched["emails"]) == 1
    assert patched["name"]["givenName"] == "Kkom" and patched["name"]["familyName"] == "Unua"
    assert patched["name"]["formatted"] == "Barbara Jensen", "untouched sub-attributes stay"
    assert patched[ENT]["employeeNumber"] == "Aklq"
    assert "name.givenName" not in patched and "name.familyName" not in patched
    assert f"{ENT}:employeeNumber" not in patched
    assert scim_json(scim.get(f"/Users/{uid}"), 200) == patched


def test_patch_urn_qualified_enterprise_attributes(scim):
    """§2/§6.3: `urn:…:enterprise:2.0:User:department` as a path (Replace/Add) and path-less key."""
    uid = create_user(scim, "dept@example.com")["id"]
    patched = scim_json(
        scim.patch(
            f"/Users/{uid}", json=ops({"op": "Add", "path": f"{ENT}:department", "value": "Sales"})
        ),
        200,
    )
    assert patched[ENT]["department"] == "Sales"
    patched = scim_json(
        scim.patch(
            f"/Users/{uid}",
            json=ops({"op": "Replace", "path": f"{ENT}:department", "value": "R&D"}),
        ),
        200,
    )
    assert patched[ENT]["department"] == "R&D"
    patched = scim_json(
        scim.patch(
            f"/Users/{uid}",
            json=ops({"op": "add", "value": {f"{ENT}:department": "Ops", "title": "Boss"}}),
        ),
        200,
    )
    assert patched[ENT]["department"] == "Ops" and patched["title"] == "Boss"


@pytest.mark.parametrize("op", ["Add", "add"])
def test_add_single_valued_attribute(scim, op):
    """§1.5 "Add a single-valued attribute": `{"op":"Add","path":"nickName","value":"Babs"}` (flag: `add`) sets it."""
    uid = create_user(scim, "babs@example.com")["id"]
    patched = scim_json(
        scim.patch(f"/Users/{uid}", json=ops({"op": op, "path": "nickName", "value": "Babs"})), 200
    )
    assert patched["nickName"] == "Babs"
    patched = scim_json(
        scim.patch(f"/Users/{uid}", json=ops({"op": op, "path": "nickName", "value": "Barb"})), 200
    )
    assert patched["nickName"] == "Barb", "add on a single-valued attribute replaces it"


@pytest.mark.parametrize("op", ["Add", "add", "Replace", "replace"])
def test_work_email_is_created_when_absent(scim, op):
    """§1.5/§6.3: add or replace on `emails[type eq "work"].value` with no work email creates `{"type":"work","value":…}`."""
    uid = scim_json(scim.post("/Users", json=bare_user("noemail@example.com")), 201)["id"]
    patched = scim_json(
        scim.patch(
            f"/Users/{uid}",
            json=ops(
                {"op": op, "path": 'emails[type eq "work"].value', "value": "created@contoso.com"}
            ),
        ),
        200,
    )
    assert patched["emails"] == [{"type": "work", "value": "created@contoso.com"}]
    assert [
        u["id"] for u in find_users(scim, 'emails[type eq "work"].value eq "created@contoso.com"')
    ] == [uid]


def test_work_email_is_created_next_to_another_type(scim):
    """§1.5/§6.3: with only a home email, `Replace` on the work value adds a work email and keeps the home one."""
    body = bare_user("home@example.com", emails=[{"type": "home", "value": "me@home.org"}])
    uid = scim_json(scim.post("/Users", json=body), 201)["id"]
    patched = scim_json(
        scim.patch(
            f"/Users/{uid}",
            json=ops(
                {"op": "Replace", "path": 'emails[type eq "work"].value', "value": "me@work.com"}
            ),
        ),
        200,
    )
    assert sorted((e["type"], e["value"]) for e in patched["emails"]) == [
        ("home", "me@home.org"),
        ("work", "me@work.com"),
    ]


def test_work_address_and_phones_are_created_then_updated_in_place(scim):
    """§2/§6.3: `addresses[type eq "work"].streetAddress` etc. create one work address, later ops update that element."""
    uid = scim_json(scim.post("/Users", json=bare_user("addr@example.com")), 201)["id"]
    body = ops(
        {
            "op": "Add",
            "path": 'addresses[type eq "work"].streetAddress',
            "value": "1 Microsoft Way",
        },
        {"op": "Add", "path": 'addresses[type eq "work"].locality', "value": "Redmond"},
        {"op": "Add", "path": 'addresses[type eq "work"].postalCode', "value": "98052"},
        {"op": "Add", "path": 'phoneNumbers[type eq "work"].value', "value": "+1 425 555 0100"},
        {"op": "Add", "path": 'phoneNumbers[type eq "mobile"].value', "value": "+1 425 555 0101"},
    )
    patched = scim_json(scim.patch(f"/Users/{uid}", json=body), 200)
    assert patched["addresses"] == [
        {
            "type": "work",
            "streetAddress": "1 Microsoft Way",
            "locality": "Redmond",
            "postalCode": "98052",
        }
    ]
    assert sorted((p["type"], p["value"]) for p in patched["phoneNumbers"]) == [
        ("mobile", "+1 425 555 0101"),
        ("work", "+1 425 555 0100"),
    ], "values stored in the format sent"
    patched = scim_json(
        scim.patch(
            f"/Users/{uid}",
            json=ops(
                {
                    "op": "replace",
                    "path": 'addresses[type eq "work"].streetAddress',
                    "value": "2 Main St",
                }
            ),
        ),
        200,
    )
    assert patched["addresses"] == [
        {"type": "work", "streetAddress": "2 Main St", "locality": "Redmond", "postalCode": "98052"}
    ]


def test_null_update_empties_attributes(scim):
    """§4 SCIM_Null_Update: PATCH with "" then null leaves the attributes empty (unassigned, not "" or null)."""
    uid = create_user(
        scim, "nulls@example.com", title="Boss", nickName="B", **{ENT: {"department": "Sales"}}
    )["id"]
    patched = scim_json(
        scim.patch(
            f"/Users/{uid}",
            json=ops(
                {"op": "replace", "path": "title", "value": ""},
                {"op": "replace", "path": f"{ENT}:department", "value": ""},
            ),
        ),
        200,
    )
    assert "title" not in patched and "department" not in patched.get(ENT, {})
    patched = scim_json(
        scim.patch(f"/Users/{uid}", json=ops({"op": "replace", "path": "nickName", "value": None})),
        200,
    )
    assert "nickName" not in patched
    no_nulls(patched)
    assert scim_json(scim.get(f"/Users/{uid}"), 200) == patched


def test_default_mapping_paths_with_capitalised_sub_attributes(scim):
    """§2 default mappings: `addresses[type eq "other"].Formatted` and `emails[type eq "other"].Value` (capitals) work."""
    uid = scim_json(scim.post("/Users", json=bare_user("caps@example.com")), 201)["id"]
    patched = scim_json(
        scim.patch(
            f"/Users/{uid}",
            json=ops(
                {
                    "op": "Add",
                    "path": 'addresses[type eq "other"].Formatted',
                    "value": "Building 4",
                },
                {
                    "op": "Add",
                    "path": 'emails[type eq "other"].Value',
                    "value": "smtp:alias@contoso.com",
                },
                {"op": "Add", "path": 'emails[type eq "work"].value', "value": "caps@contoso.com"},
            ),
        ),
        200,
    )
    assert patched["addresses"] == [{"type": "other", "formatted": "Building 4"}]
    assert sorted((e["type"], e["value"]) for e in patched["emails"]) == [
        ("other", "smtp:alias@contoso.com"),
        ("work", "caps@contoso.com"),
    ]
    patched = scim_json(
        scim.patch(
            f"/Users/{uid}",
            json=ops(
                {
                    "op": "Replace",
                    "path": 'emails[type eq "other"].Value',
                    "value": "smtp:alias2@contoso.com",
                }
            ),
        ),
        200,
    )
    assert sorted((e["type"], e["value"]) for e in patched["emails"]) == [
        ("other", "smtp:alias2@contoso.com"),
        ("work", "caps@contoso.com"),
    ]
    assert [
        u["id"] for u in find_users(scim, 'emails[type eq "work"].value eq "caps@contoso.com"')
    ] == [uid]
    assert find_users(scim, 'emails[type eq "work"].value eq "smtp:alias2@contoso.com"') == []


# -- §1.6 manager ------------------------------------------------------------------------------------------


def manager_check(scim: Any, uid: str, mid: str, *, quoted: bool = True) -> list[dict[str, Any]]:
    """§1.6 step 1: `filter=id eq X and manager eq Y&attributes=id`; the hits may only carry id (and schemas)."""
    q = (lambda v: f'"{v}"') if quoted else (lambda v: v)
    resources = find_users(scim, f"id eq {q(uid)} and manager eq {q(mid)}", attributes="id")
    for resource in resources:
        assert resource["id"] == uid
        assert set(resource) <= {"id", "schemas"}, resource
    return resources


def manager_of(resource: dict[str, Any]) -> Any:
    return resource.get(ENT, {}).get("manager")


def assert_manager(resource: dict[str, Any], mid: str) -> None:
    """§1.6/§6.5: `manager` is `{"value": id}` in the extension; a `$ref`, if kept, must point at that same manager."""
    manager = manager_of(resource)
    assert isinstance(manager, dict), manager
    assert manager["value"] == mid, manager
    assert set(manager) <= {"value", "$ref", "displayName"}, manager
    if "$ref" in manager:
        assert manager["$ref"].endswith(f"/Users/{mid}"), (
            f"stale $ref {manager['$ref']!r} for manager {mid!r}"
        )


def test_manager_flows(scim):
    """§1.6: check, Add `[{"$ref","value"}]`, replace `{"value"}`, add bare id, remove; always returned as `{"value": id}`."""
    uid = scim_json(scim.post("/Users", json=copy.deepcopy(CREATE_USER)), 201)["id"]
    m1 = create_user(scim, "manager1@example.com")["id"]
    m2 = create_user(scim, "manager2@example.com")["id"]
    m3 = create_user(scim, "manager3@example.com")["id"]

    assert manager_check(scim, uid, m1) == []

    # Verbatim shape of the tutorial's update (Add, path "manager", a list with $ref).
    body = {
        "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
        "Operations": [
            {
                "op": "Add",
                "path": "manager",
                "value": [{"$ref": f"http://.../scim/Users/{m1}", "value": m1}],
            }
        ],
    }
    patched = scim_json(scim.patch(f"/Users/{uid}", json=body), 200)
    assert_manager(patched, m1)
    assert ENT in patched["schemas"]
    assert [r["id"] for r in manager_check(scim, uid, m1)] == [uid]
    assert [r["id"] for r in manager_check(scim, uid, m1, quoted=False)] == [uid], (
        "the historical request is unquoted"
    )
    assert manager_check(scim, uid, m2) == []

    # Validator: replace with {"value": id} on the URN-qualified path.
    patched = scim_json(
        scim.patch(
            f"/Users/{uid}",
            json=ops({"op": "replace", "path": f"{ENT}:manager", "value": {"value": m2}}),
        ),
        200,
    )
    assert_manager(patched, m2)
    assert manager_check(scim, uid, m1) == []
    assert [r["id"] for r in manager_check(scim, uid, m2)] == [uid]

    # Wire: a bare string id.
    patched = scim_json(
        scim.patch(f"/Users/{uid}", json=ops({"op": "add", "path": f"{ENT}:manager", "value": m3})),
        200,
    )
    assert_manager(patched, m3)
    assert_manager(scim_json(scim.get(f"/Users/{uid}"), 200), m3)
    assert [r["id"] for r in manager_check(scim, uid, m3)] == [uid]

    # Validator: remove.
    patched = scim_json(
        scim.patch(f"/Users/{uid}", json=ops({"op": "remove", "path": f"{ENT}:manager"})), 200
    )
    assert manager_of(patched) is None
    assert manager_check(scim, uid, m3) == []
    assert manager_of(scim_json(scim.get(f"/Users/{uid}"), 200)) is None


MANAGER_FORMS = [
    pytest.param(
        lambda mid: {
            "op": "Add",
            "path": "manager",
            "value": [{"$ref": f"http://.../scim/Users/{mid}", "value": mid}],
        },
        id="tutorial-ref-list",
    ),
    pytest.param(
        lambda mid: {"op": "add", "path": f"{ENT}:manager", "value": {"value": mid}},
        id="validator-add-object",
    ),
    pytest.param(
        lambda mid: {"op": "replace", "path": f"{ENT}:manager", "value": {"value": mid}},
        id="validator-replace-object",
    ),
    pytest.param(
        lambda mid: {"op": "add", "path": f"{ENT}:manager", "value": mid}, id="wire-bare-string"
    ),
    pytest.param(
        lambda mid: {"op": "Replace", "value": {f"{ENT}:manager": mid}}, id="pathless-urn-key"
    ),
]


@pytest.mark.parametrize("make_op", MANAGER_FORMS)
def test_manager_set_then_changed_then_removed(scim, make_op):
    """§1.6: each wire form sets the manager on a fresh user and changes it to another; remove clears it."""
    uid = create_user(scim, "report@example.com")["id"]
    m1 = create_user(scim, "boss1@example.com")["id"]
    m2 = create_user(scim, "boss2@example.com")["id"]
    assert_manager(scim_json(scim.patch(f"/Users/{uid}", json=ops(make_op(m1))), 200), m1)
    assert [r["id"] for r in manager_check(scim, uid, m1)] == [uid]
    assert_manager(scim_json(scim.patch(f"/Users/{uid}", json=ops(make_op(m2))), 200), m2)
    assert manager_check(scim, uid, m1) == []
    assert [r["id"] for r in manager_check(scim, uid, m2)] == [uid]
    assert_manager(scim_json(scim.get(f"/Users/{uid}"), 200), m2)
    patched = scim_json(
        scim.patch(f"/Users/{uid}", json=ops({"op": "remove", "path": f"{ENT}:manager"})), 200
    )
    assert manager_of(patched) is None
    assert manager_check(scim, uid, m2) == []


def test_manager_in_post_extension_as_a_bare_string(scim):
    """§1.6: a POST extension body carrying `"manager": "<id>"` is stored and returned as `{"value": id}`."""
    mid = create_user(scim, "boss@example.com")["id"]
    body = user_body("report@example.com", **{ENT: {"department": "Sales", "manager": mid}})
    created = scim_json(scim.post("/Users", json=body), 201)
    assert created[ENT]["manager"] == {"value": mid}
    assert created[ENT]["department"] == "Sales"
    assert [r["id"] for r in manager_check(scim, created["id"], mid)] == [created["id"]]


# -- §1.7 disable / re-enable ---------------------------------------------------------------------------------

DISABLE_VARIANTS = [
    pytest.param(
        {
            "Operations": [{"op": "Replace", "path": "active", "value": False}],
            "schemas": [PATCH_OP],
        },
        id="tutorial",
    ),
    pytest.param(
        {
            "schemas": [PATCH_OP],
            "Operations": [{"op": "Replace", "path": "active", "value": "False"}],
        },
        id="no-flag",
    ),
    pytest.param(
        {
            "schemas": [PATCH_OP],
            "Operations": [{"op": "replace", "path": "active", "value": False}],
        },
        id="flag",
    ),
    pytest.param(ops({"op": "replace", "path": "active", "value": "false"}), id="lower-string"),
    pytest.param(ops({"op": "Add", "path": "active", "value": "False"}), id="Add-string"),
    pytest.param(ops({"op": "add", "path": "active", "value": False}), id="add-bool"),
    pytest.param(ops({"op": "Replace", "value": {"active": "False"}}), id="pathless-string"),
]


@pytest.mark.parametrize("body", DISABLE_VARIANTS)
def test_disable_user_then_still_readable_then_reenable(scim, body):
    """§1.7: every disable variant answers 200 with active false; GET and lookups still return the user; re-enable works."""
    uid = scim_json(scim.post("/Users", json=copy.deepcopy(CREATE_USER)), 201)["id"]
    patched = scim_json(scim.patch(f"/Users/{uid}", json=body), 200)
    assert patched["id"] == uid and patched["active"] is False
    assert scim_json(scim.get(f"/Users/{uid}"), 200)["active"] is False
    (found,) = find_users(scim, f'userName eq "{CREATE_USER["userName"]}"')
    assert found["id"] == uid and found["active"] is False
    (found,) = find_users(scim, f'externalId eq "{CREATE_USER["externalId"]}"')
    assert found["active"] is False
    # Re-enable on reassignment: "True" (no flag) and true (flag).
    patched = scim_json(
        scim.patch(f"/Users/{uid}", json=ops({"op": "Replace", "path": "active", "value": "True"})),
        200,
    )
    assert patched["active"] is True
    scim_json(
        scim.patch(f"/Users/{uid}", json=ops({"op": "replace", "path": "active", "value": False})),
        200,
    )
    patched = scim_json(
        scim.patch(f"/Users/{uid}", json=ops({"op": "replace", "path": "active", "value": True})),
        200,
    )
    assert patched["active"] is True
    assert scim_json(scim.get(f"/Users/{uid}"), 200)["active"] is True


def test_inactive_user_keeps_its_group_memberships(scim):
    """§1.7: on restore memberships are not re-sent, so a disabled user stays a member."""
    uid = create_user(scim, "member@example.com")["id"]
    gid = scim_json(
        scim.post("/Groups", json={"displayName": "Keepers", "members": [{"value": uid}]}), 201
    )["id"]
    scim_json(
        scim.patch(
            f"/Users/{uid}", json=ops({"op": "Replace", "path": "active", "value": "False"})
        ),
        200,
    )
    listed(
        scim.get(
            url(
                "/Groups",
                excludedAttributes="members",
                filter=f'id eq "{gid}" and members[value eq "{uid}"]',
            )
        ),
        1,
    )


# -- §1.8 delete -------------------------------------------------------------------------------------------------


def test_delete_user(scim):
    """§1.8: DELETE answers 204; GET then 404; a second DELETE 404; lookups find nothing (200, empty)."""
    uid = scim_json(scim.post("/Users", json=copy.deepcopy(CREATE_USER)), 201)["id"]
    no_content(scim.delete(f"/Users/{uid}"))
    assert_error(scim.get(f"/Users/{uid}"), 404)
    assert_error(scim.delete(f"/Users/{uid}"), 404)
    assert find_users(scim, f'userName eq "{CREATE_USER["userName"]}"') == []
    assert_error(scim.delete("/Users/5171a35d82074e068ce2"), 404)
    # A hard-deleted user can be provisioned again with the same userName.
    scim_json(scim.post("/Users", json=copy.deepcopy(CREATE_USER)), 201)


# -- §1.9 groups ------------------------------------------------------------------------------------------------


def test_create_group_verbatim_with_microsoft_schema(scim):
    """§1.9 "Create" verbatim (Microsoft group schema URI, meta): 201 with id, Location and no members."""
    r = scim.post("/Groups", json=copy.deepcopy(CREATE_GROUP))
    body = scim_json(r, 201)
    gid = body["id"]
    assert r.headers["location"] == f"https://scim.example.test/scim/v2/Groups/{gid}"
    assert body["schemas"] == [CORE_GROUP]
    assert body["externalId"] == "8aa1a0c0-c4c3-4bc0-b4a5-2ef676900159"
    assert body["displayName"] == "displayName"
    assert body.get("members", []) == []
    assert body["meta"]["resourceType"] == "Group"
    assert body["meta"]["location"] == r.headers["location"]
    no_nulls(body)


def test_create_group_with_empty_members(scim):
    """§1.9: the create is also seen with `"members":[]`."""
    body = copy.deepcopy(CREATE_GROUP)
    body["members"] = []
    created = scim_json(scim.post("/Groups", json=body), 201)
    assert created.get("members", []) == []
    assert created["displayName"] == "displayName"


def test_group_lookup_and_get_exclude_members(scim):
    """§1.9: `excludedAttributes=members&filter=displayName eq` (any case) and GET /Groups/{id}?excludedAttributes=members omit members."""
    uid = create_user(scim, "m@example.com")["id"]
    body = copy.deepcopy(CREATE_GROUP)
    body["members"] = [{"value": uid}]
    gid = scim_json(scim.post("/Groups", json=body), 201)["id"]
    for value in ("displayName", "DISPLAYNAME"):
        (found,) = listed(
            scim.get(
                url("/Groups", excludedAttributes="members", filter=f'displayName eq "{value}"')
            ),
            1,
        )
        assert found["id"] == gid
        assert found["displayName"] == "displayName"
        assert found["externalId"] == "8aa1a0c0-c4c3-4bc0-b4a5-2ef676900159"
        assert found["schemas"] == [CORE_GROUP]
        assert "members" not in found
    got = scim_json(scim.get(f"/Groups/{gid}?excludedAttributes=members"), 200)
    assert got["id"] == gid and got["displayName"] == "displayName" and "members" not in got
    full = scim_json(scim.get(f"/Groups/{gid}"), 200)
    assert [m["value"] for m in full["members"]] == [uid]
    listed(
        scim.get(
            url("/Groups", excludedAttributes="members", filter='displayName eq "nothing like it"')
        ),
        0,
    )


def test_group_rename_is_204(scim):
    """§1.9 "Rename" verbatim: `Replace` displayName answers 204 No Content."""
    gid = scim_json(scim.post("/Groups", json=copy.deepcopy(CREATE_GROUP)), 201)["id"]
    body = {
        "schemas": [PATCH_OP],
        "Operations": [
            {
                "op": "Replace",
                "path": "displayName",
                "value": "1879db59-3bdf-4490-ad68-ab880a269474updatedDisplayName",
            }
        ],
    }
    no_content(scim.patch(f"/Groups/{gid}", json=body))
    got = scim_json(scim.get(f"/Groups/{gid}?excludedAttributes=members"), 200)
    assert got["displayName"] == "1879db59-3bdf-4490-ad68-ab880a269474updatedDisplayName"
    listed(
        scim.get(
            url("/Groups", excludedAttributes="members", filter='displayName eq "displayName"')
        ),
        0,
    )


def test_group_pathless_replace_external_id(scim):
    """§4 "Patch Group - Replace Attributes": path-less `replace` `{"externalId": …}` applies.
    The validator's lowercase request names no client: 200 and the group (RFC 7644 §3.5.2)."""
    gid = scim_json(scim.post("/Groups", json=copy.deepcopy(CREATE_GROUP)), 201)["id"]
    patched = scim_json(
        scim.patch(
            f"/Groups/{gid}",
            json=ops(
                {"op": "replace", "value": {"externalId": "new-ext", "displayName": "renamed"}}
            ),
        ),
        200,
    )
    assert patched["externalId"] == "new-ext" and patched["members"] == []
    got = scim_json(scim.get(f"/Groups/{gid}?excludedAttributes=members"), 200)
    assert got["externalId"] == "new-ext" and got["displayName"] == "renamed"


def membership(scim: Any, gid: str, uid: str, form: str) -> int:
    """§1.9 "Membership check" in one of its three accepted forms; returns totalResults (members never listed)."""
    expression = {
        "value-path": f'id eq "{gid}" and members[value eq "{uid}"]',
        "members-eq": f'id eq "{gid}" and members eq "{uid}"',
        "members.value": f'id eq "{gid}" and members.value eq "{uid}"',
    }[form]
    r = scim.get(url("/Groups", excludedAttributes="members", filter=expression))
    body = scim_json(r, 200)
    resources = listed(r, body["totalResults"])
    assert body["totalResults"] in (0, 1)
    for resource in resources:
        assert resource["id"] == gid and "members" not in resource
    return body["totalResults"]


FORMS = ["value-path", "members-eq", "members.value"]


def test_group_members_add_check_and_remove(scim):
    """§1.9: Add several members per op (`"$ref": null`) → 204; check 1/0 in three forms; remove by list and by filter → 204."""
    users = [create_user(scim, f"u{i}@example.com")["id"] for i in range(4)]
    stranger = create_user(scim, "stranger@example.com")["id"]
    gid = scim_json(scim.post("/Groups", json=copy.deepcopy(CREATE_GROUP)), 201)["id"]

    # Verbatim add (one member), then several per op.
    body = {
        "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
        "Operations": [
            {"op": "Add", "path": "members", "value": [{"$ref": None, "value": users[0]}]}
        ],
    }
    no_content(scim.patch(f"/Groups/{gid}", json=body))
    no_content(
        scim.patch(
            f"/Groups/{gid}",
            json=ops(
                {
                    "op": "Add",
                    "path": "members",
                    "value": [
                        {"$ref": None, "value": users[1]},
                        {"$ref": None, "value": users[2]},
                        {"$ref": None, "value": users[3]},
                    ],
                }
            ),
        )
    )
    members = scim_json(scim.get(f"/Groups/{gid}"), 200)["members"]
    assert sorted(m["value"] for m in members) == sorted(users)
    for form in FORMS:
        assert membership(scim, gid, users[0], form) == 1, form
        assert membership(scim, gid, stranger, form) == 0, form

    # No flag, tutorial verbatim: remove by value list with "$ref": null.
    body = {
        "schemas": [PATCH_OP],
        "Operations": [
            {"op": "Remove", "path": "members", "value": [{"$ref": None, "value": users[0]}]}
        ],
    }
    no_content(scim.patch(f"/Groups/{gid}", json=body))
    # No flag, compat variant verbatim shape.
    no_content(
        scim.patch(
            f"/Groups/{gid}",
            json=ops({"op": "Remove", "path": "members", "value": [{"value": users[1]}]}),
        )
    )
    # With flag, verbatim shape.
    no_content(
        scim.patch(
            url(f"/Groups/{gid}", True),
            json={
                "schemas": [PATCH_OP],
                "Operations": [{"op": "remove", "path": f'members[value eq "{users[2]}"]'}],
            },
        )
    )
    for form in FORMS:
        for gone in users[:3]:
            assert membership(scim, gid, gone, form) == 0, form
        assert membership(scim, gid, users[3], form) == 1, form
    assert [m["value"] for m in scim_json(scim.get(f"/Groups/{gid}"), 200)["members"]] == [users[3]]
    # Removing someone who is not a member is not an error for Entra's purposes.
    no_content(
        scim.patch(
            f"/Groups/{gid}",
            json=ops(
                {"op": "Remove", "path": "members", "value": [{"$ref": None, "value": stranger}]}
            ),
        )
    )


def test_duplicate_group_display_name_is_409(scim):
    """§1.9: a second group with the same displayName answers 409 uniqueness (validator "Create a duplicate Group")."""
    scim_json(scim.post("/Groups", json=copy.deepcopy(CREATE_GROUP)), 201)
    again = copy.deepcopy(CREATE_GROUP)
    again["externalId"] = "other-object-id"
    assert_error(scim.post("/Groups", json=again), 409, "uniqueness")


def test_delete_group(scim):
    """§1.9 "Delete" verbatim: 204; GET then 404; a second DELETE 404; members stay as users."""
    uid = create_user(scim, "stays@example.com")["id"]
    gid = scim_json(
        scim.post("/Groups", json={**copy.deepcopy(CREATE_GROUP), "members": [{"value": uid}]}), 201
    )["id"]
    no_content(scim.delete(f"/Groups/{gid}"))
    assert_error(scim.get(f"/Groups/{gid}?excludedAttributes=members"), 404)
    assert_error(scim.delete(f"/Groups/{gid}"), 404)
    listed(
        scim.get(
            url("/Groups", excludedAttributes="members", filter='displayName eq "displayName"')
        ),
        0,
    )
    assert scim_json(scim.get(f"/Users/{uid}"), 200).get("groups", []) == []


# -- §4 pagination --------------------------------------------------------------------------------------------------


def test_user_pagination_by_five(scim):
    """§4 SCIM_User_Pagination: `startIndex=N&count=5` pages echo startIndex, count all matches and cover every user once."""
    ids = {create_user(scim, f"page{i:02d}@example.com")["id"] for i in range(12)}
    seen: list[str] = []
    for start, size in ((1, 5), (6, 5), (11, 2)):
        r = scim.get(f"/Users?startIndex={start}&count=5")
        page = listed(r, 12, start_index=start)
        assert len(page) == size
        seen += [u["id"] for u in page]
    assert len(seen) == len(set(seen)) == 12
    assert set(seen) == ids
    listed(scim.get("/Users?startIndex=13&count=5"), 12, start_index=13)
    # Filtered and paged together.
    page = listed(
        scim.get(url("/Users", filter='userName sw "page0"', startIndex="1", count="5")), 10
    )
    assert len(page) == 5


def test_group_pagination_by_five(scim):
    """§4 SCIM_Group_Pagination (optional): the same contract on /Groups with excludedAttributes=members."""
    for i in range(7):
        scim_json(scim.post("/Groups", json={"displayName": f"G{i}"}), 201)
    first = listed(scim.get("/Groups?excludedAttributes=members&startIndex=1&count=5"), 7)
    second = listed(
        scim.get("/Groups?excludedAttributes=members&startIndex=6&count=5"), 7, start_index=6
    )
    assert len(first) == 5 and len(second) == 2
    assert len({g["id"] for g in first + second}) == 7
    assert all("members" not in g for g in first + second)


# -- whole journeys, replayed in order -------------------------------------------------------------------------------


@pytest.mark.parametrize("flag", [False, True], ids=["no-flag", "flag"])
def test_full_entra_cycle(scim, flag):
    """§1.1–§1.9 in Entra's order: test connection, lookup, create, link manager, update, group sync, disable, delete."""

    def u(path: str, **params: str) -> str:
        return url(path, flag, **params)

    # §1.1 Test connection.
    listed(scim.get(u("/Users", filter=f'userName eq "{GUID}"')), 0)
    listed(
        scim.get(u("/Groups", excludedAttributes="members", filter=f'displayName eq "{GUID}"')), 0
    )

    # §1.2–§1.3 lookup, then create; the manager first, then the report.
    listed(scim.get(u("/Users", filter='userName eq "boss@contoso.com"')), 0)
    manager = scim_json(
        scim.post(u("/Users"), json=user_body("boss@contoso.com", externalId="boss", roles=[])), 201
    )
    listed(scim.get(u("/Users", filter=f'userName eq "{CREATE_USER["userName"]}"')), 0)
    r = scim.post(u("/Users"), json=copy.deepcopy(CREATE_USER))
    user = scim_json(r, 201)
    uid, mid = user["id"], manager["id"]
    assert r.headers["location"].endswith(f"/Users/{uid}")

    # §1.6 link the manager after a check.
    assert manager_check(scim, uid, mid) == []
    if flag:
        op = {"op": "add", "path": f"{ENT}:manager", "value": mid}
    else:
        op = {
            "op": "Add",
            "path": "manager",
            "value": [{"$ref": f"https://scim.example.test/scim/v2/Users/{mid}", "value": mid}],
        }
    patched = scim_json(scim.patch(u(f"/Users/{uid}"), json=ops(op)), 200)
    assert_manager(patched, mid)
    assert len(manager_check(scim, uid, mid)) == 1

    # §1.5 next cycle: lookup, then PATCH of the changed attributes only.
    (found,) = listed(scim.get(u("/Users", filter=f'userName eq "{CREATE_USER["userName"]}"')), 1)
    assert found["id"] == uid
    patched = scim_json(
        scim.patch(
            u(f"/Users/{uid}"), json=replace_several_flag() if flag else replace_several_no_flag()
        ),
        200,
    )
    assert patched["displayName"] == ("Bjfe" if flag else "Pvlo")
    assert patched[ENT]["employeeNumber"] == ("Aklq" if flag else "Eqpj")
    assert_manager(patched, mid)  # an unrelated update keeps the manager

    # §1.9 group sync: lookup, create empty, then memberships.
    listed(
        scim.get(u("/Groups", excludedAttributes="members", filter='displayName eq "displayName"')),
        0,
    )
    group = scim_json(scim.post(u("/Groups"), json=copy.deepcopy(CREATE_GROUP)), 201)
    gid = group["id"]
    assert (
        scim_json(scim.get(u(f"/Groups/{gid}", excludedAttributes="members")), 200).get("members")
        is None
    )
    add = "add" if flag else "Add"
    no_content(
        scim.patch(
            u(f"/Groups/{gid}"),
            json=ops(
                {
                    "op": add,
                    "path": "members",
                    "value": [{"$ref": None, "value": uid}, {"$ref": None, "value": mid}],
                }
            ),
        )
    )
    assert membership(scim, gid, uid, "value-path") == 1
    no_content(
        scim.patch(
            u(f"/Groups/{gid}"),
            json=ops(
                {
                    "op": "Replace" if not flag else "replace",
                    "path": "displayName",
                    "value": "renamed",
                }
            ),
        )
    )
    if flag:
        remove = {"op": "remove", "path": f'members[value eq "{mid}"]'}
    else:
        remove = {"op": "Remove", "path": "members", "value": [{"$ref": None, "value": mid}]}
    no_content(scim.patch(u(f"/Groups/{gid}"), json=ops(remove)))
    assert membership(scim, gid, mid, "value-path") == 0
    assert membership(scim, gid, uid, "value-path") == 1

    # §1.7 unassign → disable; the user stays readable and in its group.
    value: Any = False if flag else "False"
    patched = scim_json(
        scim.patch(
            u(f"/Users/{uid}"),
            json=ops({"op": "replace" if flag else "Replace", "path": "active", "value": value}),
        ),
        200,
    )
    assert patched["active"] is False
    (found,) = listed(scim.get(u("/Users", filter=f'userName eq "{CREATE_USER["userName"]}"')), 1)
    assert found["active"] is False
    assert membership(scim, gid, uid, "value-path") == 1

    # §1.8 hard delete, then the group.
    no_content(scim.delete(u(f"/Users/{uid}")))
    assert_error(scim.get(u(f"/Users/{uid}")), 404)
    assert membership(scim, gid, uid, "value-path") == 0
    no_content(scim.delete(u(f"/Groups/{gid}")))
    assert_error(scim.get(u(f"/Groups/{gid}", excludedAttributes="members")), 404)
