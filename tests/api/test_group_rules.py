"""/api/v1/group-rules: create, read, change and delete rules (problem+json on bad input),
scoped by the API key's account, and what the next sync does with them."""

from __future__ import annotations

import pytest

from tests.helpers.api import assert_invalid, assert_problem
from tests.helpers.sync import create_group, create_user, sync


@pytest.fixture
def staged(api):
    ada = create_user(api.scim, "ada@example.com")
    group = create_group(api.scim, "Engineering-Admins", [ada])
    role = api.ok("POST", "/properties", 201, json={"name": "Role", "type": "select",
                                                    "options": ["Admin", "Viewer"]})  # fmt: skip
    api.ok("POST", "/properties", 201, json={"name": "VIP", "type": "boolean"})
    return {"ada": ada, "group": group, "role": role["id"]}


def test_crud_and_the_next_sync(api, engine, staged):
    made = api.ok(
        "POST",
        "/group-rules",
        201,
        json={"group": staged["group"], "property": "role", "value": "admin", "priority": 7},
    )
    assert made["group_id"] == staged["group"] and made["group_name"] == "Engineering-Admins"
    assert (made["property_id"], made["value"], made["priority"]) == (staged["role"], "Admin", 7)
    assert made["group_present"] is True and made["created_at"]
    vip = api.ok(
        "POST",
        "/group-rules",
        201,
        json={"group": "engineering-admins", "property": "VIP", "value": True},
    )
    assert vip["value"] is True and vip["priority"] == 100
    listed = api.ok("GET", "/group-rules")["data"]
    assert [r["id"] for r in listed] == [made["id"], vip["id"]]
    assert api.ok("GET", f"/group-rules/{made['id']}") == made

    sync(engine, api.account_id)
    ada = api.ok("GET", "/members")["data"][0]
    assert ada["properties"] == {"Role": "Admin", "VIP": True}
    assert ada["property_sources"] == {"Role": "group", "VIP": "group"}

    changed = api.ok("PATCH", f"/group-rules/{made['id']}", json={"value": "Viewer", "priority": 3})
    assert (changed["value"], changed["priority"]) == ("Viewer", 3)
    r = api.request("DELETE", f"/group-rules/{vip['id']}")
    assert r.status_code == 204 and r.content == b""
    sync(engine, api.account_id)
    ada = api.ok("GET", "/members")["data"][0]
    assert ada["properties"] == {"Role": "Viewer"}
    assert_problem(api.get(f"/group-rules/{vip['id']}"), 404)
    assert_problem(api.request("DELETE", f"/group-rules/{vip['id']}"), 404)


@pytest.mark.parametrize(
    ("body", "status", "contains"),
    [
        ({"group": "Nobody", "property": "Role", "value": "Admin"}, 404, "No staged group"),
        ({"group": "Engineering-Admins", "property": "Nope", "value": "Admin"}, 404, "No Property"),
        ({"group": "Engineering-Admins", "property": "Role", "value": "Owner"}, 400, "Role:"),
        ({"group": "Engineering-Admins", "property": "VIP", "value": "maybe"}, 400, "VIP:"),
        (
            {"group": "Engineering-Admins", "property": "Role", "value": "Admin", "priority": -1},
            400,
            None,
        ),
        (
            {"group": "Engineering-Admins", "property": "Role", "value": "Admin", "extra": 1},
            400,
            None,
        ),
        ({"group": "Engineering-Admins", "property": "Role", "value": "A\u0000"}, 400, "NUL"),
        ({"group": "Engineering-Admins", "property": "Role"}, 400, None),
    ],
)
def test_bad_input_is_a_problem(api, staged, body, status, contains):
    assert_problem(api.post("/group-rules", json=body), status, contains=contains)


def test_a_second_rule_for_the_same_group_and_property_conflicts(api, staged):
    body = {"group": "Engineering-Admins", "property": "Role", "value": "Admin"}
    api.ok("POST", "/group-rules", 201, json=body)
    assert_problem(api.post("/group-rules", json={**body, "value": "Viewer"}), 409)
    assert_invalid(api.patch("/group-rules/1", json={"priority": "high"}))


def test_rules_belong_to_the_key_s_account(api, make_api, staged):
    made = api.ok(
        "POST",
        "/group-rules",
        201,
        json={"group": "Engineering-Admins", "property": "Role", "value": "Admin"},
    )
    other = make_api("other")
    other.ok(
        "POST", "/properties", 201, json={"name": "Role", "type": "select", "options": ["Admin"]}
    )
    assert other.ok("GET", "/group-rules")["data"] == []
    assert_problem(other.get(f"/group-rules/{made['id']}"), 404)
    assert_problem(other.patch(f"/group-rules/{made['id']}", json={"priority": 1}), 404)
    assert_problem(other.request("DELETE", f"/group-rules/{made['id']}"), 404)
    # the other account cannot name this account's group, by id or by name
    for group in (staged["group"], "Engineering-Admins"):
        body = {"group": group, "property": "Role", "value": "Admin"}
        assert_problem(other.post("/group-rules", json=body), 404)
    assert api.ok("GET", f"/group-rules/{made['id']}")["priority"] == 100


def test_a_property_lists_its_rules_and_its_deletion_removes_them(api, staged):
    made = api.ok(
        "POST",
        "/group-rules",
        201,
        json={"group": "Engineering-Admins", "property": "Role", "value": "Admin"},
    )
    plan = api.ok("POST", "/sync-runs", json={"dry_run": True})
    (ada,) = [i for i in plan["items"] if i["kind"] == "member"]
    assert ada["notes"] == ["Role = Admin: from group Engineering-Admins"]
    assert plan["items_total"] == len(plan["items"]) == 2  # Ada and her team
    role = api.ok("GET", f"/properties/{staged['role']}")
    assert role["group_rules"] == [made]  # what a deletion takes along
    assert api.ok("GET", "/properties")["data"][0].keys() == {
        "id", "name", "type", "options", "mapped_from", "scim_path"
    }  # fmt: skip
    gone = api.ok("DELETE", f"/properties/{staged['role']}")
    assert gone["group_rules"] == [made]
    assert api.ok("GET", "/group-rules")["data"] == []
    entry = api.ok("GET", "/audit-log?limit=1")["data"][0]
    assert entry["action"] == "property.deleted"
    assert entry["details"]["group_rules_removed"] == 1
    assert entry["details"]["group_rules"] == [
        {
            "rule_id": made["id"],
            "group_id": staged["group"],
            "group": "Engineering-Admins",
            "value": "Admin",
            "priority": 100,
        }
    ]
