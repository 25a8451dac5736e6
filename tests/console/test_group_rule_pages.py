"""The console's Group rules page (add with form messages, change a priority, remove), the
plan's note, and the member page naming the group a value comes from."""

from __future__ import annotations

import re

import pytest

from scimgate.members import service as members
from tests.helpers.console import stage, synchronize


@pytest.fixture
def staged(make_console, engine):
    console = make_console()
    ada = stage(console, "ada@example.com")
    r = console.scim("POST", "/Groups", json={"displayName": "Engineering-Admins",
                                              "members": [{"value": ada}]})  # fmt: skip
    assert r.status_code == 201, r.text
    with engine.begin() as conn:
        role = members.create_property(
            conn, console.account_id, "Role", "select", ["Admin", "Viewer"]
        )
        members.create_property(conn, console.account_id, "Level", "number")
    return console, r.json()["id"], role["id"]


def test_add_a_rule_see_it_in_the_plan_and_on_the_member(staged):
    console, group, role = staged
    page = console.get("/group-rules").text
    assert "No group rules yet." in page
    assert f'<option value="{group}">Engineering-Admins</option>' in page
    assert f'<option value="{role}">Role</option>' in page
    assert "Level" not in page.split('id="property"')[1].split("</select>")[0]  # a number
    r = console.post(
        "/group-rules", {"group": group, "property": role, "value": "admin", "priority": "5"}
    )
    assert r.status_code == 200, r.text
    assert "Members of Engineering-Admins get Role = Admin from the next Synchronize." in r.text
    assert re.search(r'id="rule-\d+">', r.text)

    plan = console.get("/sync").text
    assert "Role = Admin: from group Engineering-Admins" in plan
    synchronize(console)
    member_id = re.search(r'href="/console/members/([^"]+)"', console.get("/members").text)[1]
    detail = console.get(f"/members/{member_id}").text
    assert re.search(
        r'group <a href="/console/group-rules#rule-\d+">Engineering-Admins</a>', detail
    )


@pytest.mark.parametrize(
    ("fields", "field", "message"),
    [
        ({"group": "", "value": "Admin"}, "group", "Choose a group."),
        ({"value": "Owner"}, "value", "is not one of the options"),
        ({"value": "Admin", "priority": "soon"}, "priority", "priority is a whole number"),
        ({"value": "Admin", "priority": "-1"}, "priority", "priority is 0-1000000"),
        ({"value": ""}, "value", "Enter the value"),
    ],
)
def test_form_messages(staged, fields, field, message):
    console, group, role = staged
    form = {"group": group, "property": role, "priority": "100", **fields}
    r = console.post("/group-rules", form)
    assert r.status_code == 400
    assert f'id="{field}-error"' in r.text and message in r.text
    assert "No group rules yet." in r.text


def test_change_the_priority_and_remove(staged):
    console, group, role = staged
    console.post(
        "/group-rules", {"group": group, "property": role, "value": "Admin", "priority": "100"}
    )
    rule_id = re.search(r'id="rule-(\d+)"', console.get("/group-rules").text)[1]
    r = console.post(f"/group-rules/{rule_id}/priority", {"priority": "7"}, page="/group-rules")
    assert r.status_code == 303 and r.headers["location"].endswith("done=priority")
    assert 'value="7"' in console.get("/group-rules").text
    bad = console.post(f"/group-rules/{rule_id}/priority", {"priority": "x"}, page="/group-rules")
    assert bad.status_code == 400 and "priority is a whole number" in bad.text
    r = console.post(f"/group-rules/{rule_id}/remove", page="/group-rules")
    assert r.status_code == 303
    page = console.get("/group-rules?done=removed").text
    assert "Rule removed" in page and "No group rules yet." in page
    gone = console.post(f"/group-rules/{rule_id}/remove", page="/group-rules")
    assert gone.status_code == 404 and f"No group rule {rule_id}" in gone.text


def test_another_account_s_rule_is_not_found(staged, make_console):
    console, group, role = staged
    console.post(
        "/group-rules", {"group": group, "property": role, "value": "Admin", "priority": "1"}
    )
    rule_id = re.search(r'id="rule-(\d+)"', console.get("/group-rules").text)[1]
    other = make_console("other")
    r = other.post(f"/group-rules/{rule_id}/remove", page="/group-rules")
    assert r.status_code == 404
    assert f'id="rule-{rule_id}"' in console.get("/group-rules").text
