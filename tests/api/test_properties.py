"""/api/v1/properties and /api/v1/mappings: create, rename, options, delete, the mapping's
read and write, and what each does to member values and Events."""

from __future__ import annotations

import pytest

from tests.helpers.api import assert_invalid, assert_problem
from tests.helpers.sync import create_user, sync

SCIMGATE_EXT = "urn:ietf:params:scim:schemas:extension:scimgate:2.0:User"
ENT = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"


def create(api, name, kind="text", options=None, status=201):
    body = {"name": name, "type": kind}
    if options is not None:
        body["options"] = options
    return api.ok("POST", "/properties", status, json=body)


def member(api, email, **properties):
    return api.ok("POST", "/members", 201, json={"email": email, "properties": properties})


def events_since(api, after):
    return api.ok("GET", f"/events?after={after}&limit=1000")["data"]


def last_seq(api):
    data = api.ok("GET", "/events?after=0&limit=1000")["data"]
    return data[-1]["seq"] if data else 0


# ---- create and list ----


def test_create_list_and_get(api):
    made = create(api, "Tier", "select", ["Gold", "Silver"])
    assert made["name"] == "Tier" and made["type"] == "select"
    assert made["options"] == ["Gold", "Silver"]
    assert made["usage"] == {"members": 0, "options": {"Gold": 0, "Silver": 0}}
    assert made["group_rules"] == []
    page = api.ok("GET", "/properties")
    assert set(page) == {"data", "next_cursor"} and page["next_cursor"] is None
    assert "Tier" in [p["name"] for p in page["data"]]
    assert api.ok("GET", f"/properties/{made['id']}")["id"] == made["id"]


@pytest.mark.parametrize(
    "body, status, contains",
    [
        ({"name": "", "type": "text"}, 400, "1-64"),
        ({"name": "email", "type": "text"}, 400, "built-in"),
        ({"name": "Level", "type": "select"}, 400, "at least one"),
        ({"name": "Level", "type": "select", "options": ["a", "A"]}, 400, "twice"),
        ({"name": "Level", "type": "text", "options": ["a"]}, 400, "only select"),
    ],
)
def test_create_refuses_bad_input(api, body, status, contains):
    assert_problem(api.post("/properties", json=body), status, contains=contains)


def test_create_refuses_an_unknown_type_and_unknown_fields(api):
    assert_invalid(api.post("/properties", json={"name": "X", "type": "colour"}))
    assert_invalid(api.post("/properties", json={"name": "X", "type": "text", "extra": 1}))


def test_names_are_unique_per_account_case_insensitively(api, make_api):
    create(api, "Cost center")
    assert_problem(api.post("/properties", json={"name": "cost CENTER", "type": "text"}), 409)
    other = make_api()
    create(other, "Cost center")  # another account may use the name


def test_properties_page_with_cursors(api):
    for i in range(5):
        create(api, f"P{i}")
    ids = sorted(p["id"] for p in api.ok("GET", "/properties?limit=200")["data"])
    assert len(ids) >= 5
    seen, cursor = [], None
    while True:
        page = api.ok("GET", "/properties?limit=2" + (f"&cursor={cursor}" if cursor else ""))
        seen += [p["id"] for p in page["data"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == ids


@pytest.mark.parametrize(
    "path",
    [
        "/properties?cursor=bogus",
        "/members?cursor=bogus",
        "/members?sort=name&cursor=bogus",
        "/teams?cursor=bogus",
        "/members?cursor=00000000-0000-4000-8000-00000000000G",
    ],
)
def test_a_cursor_the_list_did_not_give_is_a_400_problem(api, path):
    assert_problem(api.get(path), 400, contains="cursor")


def test_a_team_members_cursor_is_checked_too(api, engine):
    users = [create_user(api.scim, f"u{i}@example.com") for i in range(2)]
    group = api.scim.post(
        "/Groups",
        json={
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"],
            "displayName": "Eng",
            "members": [{"value": u} for u in users],
        },
    )
    assert group.status_code == 201
    assert sync(engine, api.account_id).status == "succeeded"
    team = api.ok("GET", "/teams")["data"][0]
    assert_problem(api.get(f"/teams/{team['id']}/members?cursor=zz"), 400, contains="cursor")


# ---- rename ----


def test_rename_keeps_the_mapping_and_the_values(api):
    prop = create(api, "Dept")
    api.ok("PATCH", "/mappings", json={"Dept": f"{ENT}:department"})
    ann = member(api, "ann@example.com", Dept="R&D")
    renamed = api.ok("PATCH", f"/properties/{prop['id']}", json={"name": "Department team"})
    assert renamed["name"] == "Department team"
    assert renamed["mapped_from"] == f"{ENT}:department"
    mapped = {m["target"]: m for m in api.ok("GET", "/mappings")["data"]}
    assert mapped["Department team"]["source"] == f"{ENT}:department"
    assert mapped["Department team"]["property_id"] == prop["id"]
    assert "Dept" not in mapped
    assert api.ok("GET", f"/members/{ann['id']}")["properties"] == {"Department team": "R&D"}


def test_rename_onto_a_taken_name_is_a_conflict_and_changes_nothing(api):
    create(api, "Level")
    prop = create(api, "Grade")
    r = api.patch(f"/properties/{prop['id']}", json={"name": "LEVEL"})
    assert_problem(r, 409, contains="already exists")
    assert api.ok("GET", f"/properties/{prop['id']}")["name"] == "Grade"
    # a change of case of its own name is fine
    assert api.ok("PATCH", f"/properties/{prop['id']}", json={"name": "GRADE"})["name"] == "GRADE"


def test_scim_attribute_renames_the_extension_attribute_and_keeps_values(api):
    prop = create(api, "Cost center")
    assert prop["scim_path"] == f"{SCIMGATE_EXT}:costCenter"
    ann = member(api, "ann@example.com", **{"Cost center": "CC-7"})
    row = api.ok("PATCH", f"/properties/{prop['id']}", json={"scim_attribute": "costCode"})
    assert row["scim_path"] == f"{SCIMGATE_EXT}:costCode" and row["name"] == "Cost center"
    assert api.ok("GET", f"/members/{ann['id']}")["properties"] == {"Cost center": "CC-7"}
    mapped = {m["target"]: m for m in api.ok("GET", "/mappings")["data"]}
    assert mapped["Cost center"]["source"] == f"{SCIMGATE_EXT}:costCode"
    # the full path is accepted; a name and an attribute change in one PATCH
    both = {"name": "Cost code", "scim_attribute": f"{SCIMGATE_EXT}:cost_code"}
    row = api.ok("PATCH", f"/properties/{prop['id']}", json=both)
    assert row["name"] == "Cost code" and row["scim_path"] == f"{SCIMGATE_EXT}:cost_code"
    entries = api.ok("GET", "/audit-log?limit=10")["data"]
    renamed = [e for e in entries if e["action"] == "property.attribute_renamed"]
    assert [e["details"]["changes"]["scim_attribute"] for e in renamed] == [
        ["costCode", "cost_code"],
        ["costCenter", "costCode"],
    ]
    assert all(e["actor"].startswith("apikey:") for e in renamed)


@pytest.mark.parametrize(
    "value, status, contains",
    [
        ("2nd", 400, "ATTRNAME"),
        ("cost center", 400, "ATTRNAME"),
        ("", 400, "1-64"),
        ("x" * 65, 400, "1-64"),
        ("SEATS", 409, "Property 'Seats' already has the SCIM attribute 'seats'"),
    ],
)
def test_a_bad_or_taken_scim_attribute_is_refused_and_nothing_changes(api, value, status, contains):
    create(api, "Seats", "number")
    prop = create(api, "Cost center")
    body = {"name": "Renamed", "scim_attribute": value}
    assert_problem(api.patch(f"/properties/{prop['id']}", json=body), status, contains=contains)
    row = api.ok("GET", f"/properties/{prop['id']}")
    assert row["name"] == "Cost center" and row["scim_path"] == f"{SCIMGATE_EXT}:costCenter"


def test_a_member_reference_has_no_scim_attribute_to_rename(api):
    prop = create(api, "Buddy", "member")
    r = api.patch(f"/properties/{prop['id']}", json={"scim_attribute": "buddy"})
    assert_problem(r, 400, contains="member reference")


def test_unknown_property_is_404(api):
    missing = "00000000-0000-4000-8000-000000000000"
    assert_problem(api.get(f"/properties/{missing}"), 404)
    assert_problem(api.patch(f"/properties/{missing}", json={"name": "X"}), 404)
    assert_problem(api.request("DELETE", f"/properties/{missing}"), 404)


def test_another_accounts_property_is_404(api, make_api):
    other = make_api()
    theirs = create(other, "Secret")
    assert_problem(api.get(f"/properties/{theirs['id']}"), 404)
    assert_problem(api.patch(f"/properties/{theirs['id']}", json={"name": "Mine"}), 404)
    assert_problem(api.request("DELETE", f"/properties/{theirs['id']}"), 404)
    assert other.ok("GET", f"/properties/{theirs['id']}")["name"] == "Secret"


# ---- options ----


def test_add_and_rename_options_members_follow_with_events(api):
    prop = create(api, "Tier", "select", ["Gold", "Silver"])
    ann = member(api, "ann@example.com", Tier="gold")
    bob = member(api, "bob@example.com", Tier="Silver")
    after = last_seq(api)
    changed = api.ok(
        "PATCH",
        f"/properties/{prop['id']}",
        json={"options": ["Platinum", "Silver", "Bronze"], "renamed_options": {"Gold": "Platinum"}},
    )
    assert changed["options"] == ["Platinum", "Silver", "Bronze"]
    assert changed["usage"]["options"] == {"Platinum": 1, "Silver": 1, "Bronze": 0}
    assert api.ok("GET", f"/members/{ann['id']}")["properties"]["Tier"] == "Platinum"
    assert api.ok("GET", f"/members/{bob['id']}")["properties"]["Tier"] == "Silver"
    new = [e for e in events_since(api, after) if e["type"] == "member.updated"]
    assert [(e["subject_id"], e["data"]["changes"]) for e in new] == [
        (ann["id"], {"Tier": ["Gold", "Platinum"]})
    ]


def test_removing_a_held_option_is_refused_with_the_count(api):
    prop = create(api, "Tier", "select", ["Gold", "Silver", "Bronze"])
    member(api, "ann@example.com", Tier="Gold")
    member(api, "bob@example.com", Tier="Gold")
    r = api.patch(f"/properties/{prop['id']}", json={"options": ["Silver"]})
    doc = assert_problem(r, 409, contains="'Gold' (2 members)")
    assert "clear_removed_options" in doc["detail"]
    assert doc["errors"] == [{"loc": ["body", "options", "Gold"], "msg": "held by 2 members"}]
    assert api.ok("GET", f"/properties/{prop['id']}")["options"] == ["Gold", "Silver", "Bronze"]


def test_removing_an_unheld_option_needs_no_confirmation(api):
    prop = create(api, "Tier", "select", ["Gold", "Silver"])
    member(api, "ann@example.com", Tier="Gold")
    done = api.ok("PATCH", f"/properties/{prop['id']}", json={"options": ["Gold"]})
    assert done["options"] == ["Gold"]


def test_clear_removed_options_clears_those_members_with_events(api):
    prop = create(api, "Tier", "select", ["Gold", "Silver"])
    ann = member(api, "ann@example.com", Tier="Gold")
    bob = member(api, "bob@example.com", Tier="Silver")
    after = last_seq(api)
    done = api.ok(
        "PATCH",
        f"/properties/{prop['id']}",
        json={"options": ["Silver"], "clear_removed_options": True},
    )
    assert done["usage"] == {"members": 1, "options": {"Silver": 1}}
    assert "Tier" not in api.ok("GET", f"/members/{ann['id']}")["properties"]
    assert api.ok("GET", f"/members/{bob['id']}")["properties"]["Tier"] == "Silver"
    new = [e for e in events_since(api, after) if e["type"] == "member.updated"]
    assert [(e["subject_id"], e["data"]["changes"]) for e in new] == [
        (ann["id"], {"Tier": ["Gold", None]})
    ]


@pytest.mark.parametrize(
    "body, contains",
    [
        ({"options": ["A", "a"]}, "twice"),
        ({"options": []}, "at least one"),
        ({"options": ["A"], "renamed_options": {"Nope": "A"}}, "not an option"),
        ({"options": ["A"], "renamed_options": {"Gold": "B"}}, "not in the options"),
        ({"renamed_options": {"Gold": "B"}}, "goes with options"),
    ],
)
def test_bad_option_changes_are_400(api, body, contains):
    prop = create(api, "Tier", "select", ["Gold"])
    assert_problem(api.patch(f"/properties/{prop['id']}", json=body), 400, contains=contains)


def test_only_a_select_has_options(api):
    prop = create(api, "Notes")
    r = api.patch(f"/properties/{prop['id']}", json={"options": ["A"]})
    assert_problem(r, 400, contains="only select")


def test_an_option_added_lets_the_next_sync_fill_the_value(api, engine):
    """The case that had no way out: the IdP sends a value the select does not have."""
    prop = create(api, "Level", "select", ["Junior", "Senior"])
    api.ok("PATCH", "/mappings", json={"Level": "title"})
    create_user(api.scim, "ann@example.com", title="Principal")
    first = sync(engine, api.account_id)
    assert first.counts["errors"] == 1
    api.ok(
        "PATCH", f"/properties/{prop['id']}", json={"options": ["Junior", "Senior", "Principal"]}
    )
    second = sync(engine, api.account_id)
    assert second.status == "succeeded" and second.counts["errors"] == 0
    (ann,) = api.ok("GET", "/members")["data"]
    assert ann["properties"]["Level"] == "Principal"


# ---- delete ----


def test_delete_removes_mapping_and_values_with_events(api):
    prop = create(api, "Cost center")
    keep = create(api, "Notes")
    api.ok("PATCH", "/mappings", json={"Cost center": "title"})
    ann = member(api, "ann@example.com", **{"Cost center": "CC-7", "Notes": "hi"})
    assert api.ok("GET", f"/properties/{prop['id']}")["usage"]["members"] == 1
    after = last_seq(api)
    gone = api.ok("DELETE", f"/properties/{prop['id']}")
    assert gone == {
        "id": prop["id"],
        "name": "Cost center",
        "mapped_from": "title",
        "members": 1,
        "group_rules": [],
    }
    assert_problem(api.get(f"/properties/{prop['id']}"), 404)
    assert "Cost center" not in {m["target"] for m in api.ok("GET", "/mappings")["data"]}
    assert api.ok("GET", f"/members/{ann['id']}")["properties"] == {"Notes": "hi"}
    new = [e for e in events_since(api, after) if e["type"] == "member.updated"]
    assert [(e["subject_id"], e["data"]["changes"]) for e in new] == [
        (ann["id"], {"Cost center": ["CC-7", None]})
    ]
    assert api.ok("GET", f"/properties/{keep['id']}")["usage"]["members"] == 1
    create(api, "Cost center")  # the name is free again


# ---- the mapping ----


def test_mappings_read_and_merge_patch(api):
    prop = create(api, "Dept")
    data = api.ok("GET", "/mappings")["data"]
    targets = {m["target"]: m for m in data}
    assert {"name", "email"} <= set(targets) and targets["name"]["kind"] == "field"
    after = api.ok(
        "PATCH",
        "/mappings",
        json={prop["id"]: f"{ENT}:department", "Job title": None},
    )["data"]
    by_target = {m["target"]: m for m in after}
    assert by_target["Dept"]["source"] == f"{ENT}:department"
    assert by_target["Dept"]["implicit"] is False
    assert by_target["Dept"]["fallback"] == f"{SCIMGATE_EXT}:dept"  # read when department is not
    # unmapped, Job title is filled from its attribute in scimgate's extension
    assert by_target["Job title"]["implicit"] is True
    assert by_target["Job title"]["source"] == f"{SCIMGATE_EXT}:jobTitle"
    # removing what is not mapped is no change; a merge patch can be re-sent
    again = api.ok("PATCH", "/mappings", json={"Job title": None})["data"]
    assert {m["target"] for m in again} == set(by_target)


def test_mappings_patch_is_all_or_nothing(api):
    create(api, "Dept")
    before = api.ok("GET", "/mappings")["data"]
    r = api.patch("/mappings", json={"Dept": "title", "Nope": "title"})
    assert_problem(r, 404, contains="Nope")
    r = api.patch("/mappings", json={"Dept": "emails[type eq"})
    assert_problem(r, 400, contains="Dept")
    r = api.patch("/mappings", json={"email": None})
    assert_problem(r, 400, contains="always mapped")
    assert api.ok("GET", "/mappings")["data"] == before


def test_mappings_patch_refuses_non_object_bodies(api):
    assert_invalid(api.patch("/mappings", json=["title"]))
    assert_invalid(api.patch("/mappings", json={"Dept": 3}))


def test_property_changes_are_in_the_audit_log(api):
    prop = create(api, "Tier", "select", ["Gold", "Silver"])
    member(api, "ann@example.com", Tier="Gold")
    api.ok("PATCH", f"/properties/{prop['id']}", json={"name": "Plan"})
    api.ok(
        "PATCH",
        f"/properties/{prop['id']}",
        json={"options": ["Silver"], "clear_removed_options": True},
    )
    api.ok("DELETE", f"/properties/{prop['id']}")
    entries = api.ok("GET", "/audit-log?limit=10")["data"]
    by_action = {e["action"]: e for e in entries}
    assert by_action["property.renamed"]["details"]["changes"] == {"name": ["Tier", "Plan"]}
    changed = by_action["property.options_changed"]["details"]
    assert changed["removed"] == {"Gold": 1} and changed["values_cleared"] == 1
    assert by_action["property.deleted"]["details"]["values_cleared"] == 0
    assert all(
        e["actor"].startswith("apikey:") for a, e in by_action.items() if a.startswith("property.")
    )


def test_the_same_options_again_change_nothing(api):
    prop = create(api, "Tier", "select", ["Gold", "Silver"])
    before = [e["id"] for e in api.ok("GET", "/audit-log?limit=200")["data"]]
    same = api.ok("PATCH", f"/properties/{prop['id']}", json={"options": ["Gold", "Silver"]})
    assert same["options"] == ["Gold", "Silver"]
    assert [e["id"] for e in api.ok("GET", "/audit-log?limit=200")["data"]] == before
