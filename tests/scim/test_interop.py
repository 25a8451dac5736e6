"""What outside SCIM test suites expect (issue 13): endpoint names in any case, the RFC's
schema descriptions, member display names everywhere, value filters in `attributes`, and
read-only attributes that a PATCH or PUT may echo but not change."""

from __future__ import annotations

from typing import Any

import pytest

from tests.helpers.scim import user_body

ERROR = "urn:ietf:params:scim:api:messages:2.0:Error"
PATCH = "urn:ietf:params:scim:api:messages:2.0:PatchOp"
USER = "urn:ietf:params:scim:schemas:core:2.0:User"
GROUP = "urn:ietf:params:scim:schemas:core:2.0:Group"
ENTERPRISE = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"


def ops(*operations: dict[str, Any]) -> dict[str, Any]:
    return {"schemas": [PATCH], "Operations": list(operations)}


def mutability_error(r: Any) -> None:
    assert r.status_code == 400, r.text
    body = r.json()
    assert body["schemas"] == [ERROR] and body["scimType"] == "mutability", body


# -- 11. endpoints in any case ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "schema"),
    [
        ("/users", "urn:ietf:params:scim:api:messages:2.0:ListResponse"),
        ("/USERS", "urn:ietf:params:scim:api:messages:2.0:ListResponse"),
        ("/groups", "urn:ietf:params:scim:api:messages:2.0:ListResponse"),
        ("/serviceproviderconfig", "urn:ietf:params:scim:schemas:core:2.0:ServiceProviderConfig"),
        ("/serviceConfiguration", "urn:ietf:params:scim:schemas:core:2.0:ServiceProviderConfig"),
        ("/schemas", "urn:ietf:params:scim:api:messages:2.0:ListResponse"),
        ("/resourcetypes", "urn:ietf:params:scim:api:messages:2.0:ListResponse"),
        ("/resourcetypes/user", "urn:ietf:params:scim:schemas:core:2.0:ResourceType"),
        (f"/schemas/{USER.lower()}", "urn:ietf:params:scim:schemas:core:2.0:Schema"),
    ],
)
def test_endpoint_names_match_in_any_case(scim: Any, path: str, schema: str) -> None:
    r = scim.get(path)
    assert r.status_code == 200, r.text
    assert r.json()["schemas"] == [schema]


def test_resource_ids_stay_exact_while_the_endpoint_name_does_not(scim: Any) -> None:
    uid = scim.post("/Users", json=user_body()).json()["id"]
    assert scim.get(f"/USERS/{uid}").json()["id"] == uid
    assert scim.get(f"/users/{uid.upper()}").status_code == 404
    r = scim.patch(f"/uSeRs/{uid}", json=ops({"op": "replace", "path": "title", "value": "T"}))
    assert r.status_code == 200 and r.json()["title"] == "T"
    gid = scim.post("/GROUPS", json={"displayName": "G"}).json()["id"]
    assert scim.post("/groups/.SEARCH", json={}).json()["totalResults"] == 1
    assert scim.delete(f"/Groups/{gid}").status_code == 204
    r = scim.request("DELETE", "/users")
    assert r.status_code == 405 and r.json()["schemas"] == [ERROR]


def test_schema_descriptions_are_rfc_7643_section_8_7(scim: Any) -> None:
    listed = scim.get("/Schemas").json()["Resources"]
    described = {item["id"]: item["description"] for item in listed}
    assert described == {
        USER: "User Account",
        GROUP: "Group",
        ENTERPRISE: "Enterprise User",
        # the account's own extension: its member Properties (docs/scim.md)
        "urn:ietf:params:scim:schemas:extension:scimgate:2.0:User": "This account's member Properties",
    }
    assert scim.get(f"/Schemas/{USER}").json()["description"] == "User Account"


# -- 11. members carry display ------------------------------------------------------------------


def test_every_group_representation_carries_member_display(scim: Any) -> None:
    named = scim.post("/Users", json=user_body("n@x.com", displayName="Named")).json()["id"]
    bare = scim.post("/Users", json={"userName": "bare@x.com"}).json()["id"]
    inner = scim.post("/Groups", json={"displayName": "Inner"}).json()["id"]
    wanted = {named: "Named", bare: "bare@x.com", inner: "Inner"}
    members = [{"value": i} for i in wanted]

    def check(group: dict[str, Any]) -> None:
        assert {m["value"]: m["display"] for m in group["members"]} == wanted

    created = scim.post("/Groups", json={"displayName": "Outer", "members": members})
    check(created.json())
    gid = created.json()["id"]
    check(scim.get(f"/Groups/{gid}").json())
    check(scim.get(f"/Groups/{gid}", params={"attributes": "members"}).json())
    listed = scim.get("/Groups", params={"filter": 'displayName eq "Outer"'}).json()
    check(listed["Resources"][0])
    check(next(g for g in scim.get("/Groups").json()["Resources"] if g["id"] == gid))
    searched = scim.post("/.search", json={"filter": 'displayName eq "Outer"'}).json()
    check(searched["Resources"][0])
    r = scim.patch(
        f"/Groups/{gid}?attributes=members,displayName",
        json=ops({"op": "replace", "path": "displayName", "value": "Outer"}),
    )
    check(r.json())
    check(scim.put(f"/Groups/{gid}", json={"displayName": "Outer", "members": members}).json())


def test_member_display_follows_the_members_display_name(scim: Any) -> None:
    uid = scim.post("/Users", json=user_body("r@x.com", displayName="Before")).json()["id"]
    gid = scim.post("/Groups", json={"displayName": "G", "members": [{"value": uid}]}).json()["id"]
    scim.patch(
        f"/Users/{uid}", json=ops({"op": "replace", "path": "displayName", "value": "After"})
    )
    assert scim.get(f"/Groups/{gid}").json()["members"][0]["display"] == "After"


# -- 11. a value filter in attributes / excludedAttributes --------------------------------------


def test_value_filter_in_attributes_reads_as_the_attribute(scim: Any) -> None:
    body = user_body(
        "f@x.com",
        emails=[{"type": "work", "value": "f@x.com"}, {"type": "home", "value": "h@x.com"}],
    )
    uid = scim.post("/Users", json=body).json()["id"]
    wanted = 'emails[type eq "work"]'
    got = scim.get(f"/Users/{uid}", params={"attributes": wanted}).json()
    assert set(got) == {"schemas", "id", "emails"} and len(got["emails"]) == 2
    listed = scim.get("/Users", params={"attributes": f"{wanted},userName"}).json()
    assert set(listed["Resources"][0]) == {"schemas", "id", "emails", "userName"}
    got = scim.get(f"/Users/{uid}", params={"attributes": f"{wanted}.value"}).json()
    assert got["emails"] == [{"value": "f@x.com"}, {"value": "h@x.com"}]
    got = scim.get(f"/Users/{uid}", params={"excludedAttributes": wanted}).json()
    assert "emails" not in got and got["userName"] == "f@x.com"
    found = scim.post("/Users/.search", json={"attributes": [wanted]}).json()
    assert set(found["Resources"][0]) == {"schemas", "id", "emails"}


# -- 13. read-only attributes: an echo passes, a change is 400 mutability ------------------------


def test_patch_replacing_id_with_another_value_is_mutability(scim: Any) -> None:
    uid = scim.post("/Users", json=user_body()).json()["id"]
    for operation in (
        {"op": "replace", "path": "id", "value": "another"},
        {"op": "Replace", "value": {"id": "another", "title": "T"}},
        {"op": "add", "path": USER, "value": {"id": "another"}},
        {"op": "remove", "path": "id"},
    ):
        mutability_error(scim.patch(f"/Users/{uid}", json=ops(operation)))
    assert "title" not in scim.get(f"/Users/{uid}").json(), "nothing of a refused PATCH is kept"
    gid = scim.post("/Groups", json={"displayName": "G"}).json()["id"]
    mutability_error(
        scim.patch(f"/Groups/{gid}", json=ops({"op": "replace", "path": "id", "value": "x"}))
    )


def test_patch_echoing_the_same_id_and_meta_is_accepted(scim: Any) -> None:
    created = scim.post("/Users", json=user_body()).json()
    uid, meta = created["id"], created["meta"]
    r = scim.patch(
        f"/Users/{uid}",
        json=ops(
            {"op": "replace", "path": "id", "value": uid},
            {"op": "Replace", "value": {"id": uid, "meta": meta, "title": "T"}},
        ),
    )
    assert r.status_code == 200 and r.json()["title"] == "T", r.text
    assert r.json()["id"] == uid


def test_patch_changing_meta_is_mutability(scim: Any) -> None:
    created = scim.post("/Users", json=user_body()).json()
    uid = created["id"]
    for operation in (
        {"op": "replace", "path": "meta.created", "value": "2018-01-01T00:00:00Z"},
        {"op": "replace", "path": "meta", "value": {"resourceType": "Group"}},
        {"op": "replace", "value": {"meta": {"version": 'W/"99"'}}},
        {"op": "remove", "path": "meta"},
    ):
        mutability_error(scim.patch(f"/Users/{uid}", json=ops(operation)))
    same = {"op": "replace", "path": "meta.created", "value": created["meta"]["created"]}
    assert scim.patch(f"/Users/{uid}", json=ops(same)).status_code == 200


def test_patch_changing_a_users_groups_is_mutability(scim: Any) -> None:
    uid = scim.post("/Users", json=user_body()).json()["id"]
    gid = scim.post("/Groups", json={"displayName": "G", "members": [{"value": uid}]}).json()["id"]
    other = scim.post("/Groups", json={"displayName": "Other"}).json()["id"]
    for operation in (
        {"op": "add", "path": "groups", "value": [{"value": other}]},
        {"op": "replace", "path": "groups", "value": []},
        {"op": "remove", "path": f'groups[value eq "{gid}"]'},
    ):
        mutability_error(scim.patch(f"/Users/{uid}", json=ops(operation)))
    echo = {"op": "replace", "path": "groups", "value": [{"value": gid, "display": "G"}]}
    assert scim.patch(f"/Users/{uid}", json=ops(echo)).status_code == 200
    assert [g["value"] for g in scim.get(f"/Users/{uid}").json()["groups"]] == [gid]


def test_patch_of_a_members_immutable_sub_attribute_is_mutability(scim: Any) -> None:
    uid = scim.post("/Users", json=user_body()).json()["id"]
    gid = scim.post("/Groups", json={"displayName": "G", "members": [{"value": uid}]}).json()["id"]
    r = scim.patch(
        f"/Groups/{gid}", json=ops({"op": "replace", "path": "members.value", "value": "x"})
    )
    mutability_error(r)
    assert [m["value"] for m in scim.get(f"/Groups/{gid}").json()["members"]] == [uid]


def test_put_with_another_id_is_mutability_and_the_same_id_passes(scim: Any) -> None:
    uid = scim.post("/Users", json=user_body("p@x.com")).json()["id"]
    mutability_error(scim.put(f"/Users/{uid}", json={**user_body("p@x.com"), "id": "another"}))
    r = scim.put(f"/Users/{uid}", json={**user_body("p@x.com", title="T"), "id": uid})
    assert r.status_code == 200 and r.json()["title"] == "T"
    gid = scim.post("/Groups", json={"displayName": "G"}).json()["id"]
    mutability_error(scim.put(f"/Groups/{gid}", json={"displayName": "G2", "id": uid}))
    assert scim.get(f"/Groups/{gid}").json()["displayName"] == "G"
