"""Properties the IdP can see: the account extension in /Schemas and /ResourceTypes, values
sent in it (POST, PUT, PATCH in Entra's and Okta's shapes) checked against the Property
type, filters on it, and Synchronize filling Properties from it without a mapping."""

from __future__ import annotations

import re
from urllib.parse import quote

import pytest

from scimgate.errors import NotFoundError
from scimgate.mapping import service as mapping
from scimgate.members import properties
from scimgate.scim.account_extension import NOT_A_PROPERTY, attribute_name
from tests.helpers.scim import assert_error, logged_ignored, user_body
from tests.helpers.sync import add_property, create_user, items, member_docs, ops, sync

EXT = "urn:ietf:params:scim:schemas:extension:scimgate:2.0:User"
ENT = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"


@pytest.fixture
def props(engine, scim):
    """Properties of every advertised type (and a member reference, which is not)."""
    made = {
        "Cost center": add_property(engine, scim.account_id, "Cost center", "text"),
        "Seats": add_property(engine, scim.account_id, "Seats", "number"),
        "Remote": add_property(engine, scim.account_id, "Remote", "boolean"),
        "Start date": add_property(engine, scim.account_id, "Start date", "date"),
        "Tier": add_property(engine, scim.account_id, "Tier", "select", ["Gold", "Silver"]),
        "Buddy": add_property(engine, scim.account_id, "Buddy", "member"),
    }
    return made


def extension_doc(scim):
    r = scim.get("/Schemas/" + EXT)
    assert r.status_code == 200, r.text
    return r.json()


def test_schemas_advertise_each_property_typed(scim, props):
    doc = extension_doc(scim)
    by_name = {a["name"]: a for a in doc["attributes"]}
    assert doc["id"] == EXT and doc["meta"]["location"].endswith("/Schemas/" + EXT)
    assert {n: a["type"] for n, a in by_name.items()}.items() >= {
        "costCenter": "string",
        "seats": "decimal",
        "remote": "boolean",
        "startDate": "dateTime",
        "tier": "string",
        "jobTitle": "string",  # the default Properties are there too
        "department": "string",
    }.items()
    assert "buddy" not in by_name and "manager" not in by_name  # member references are not
    assert by_name["tier"]["canonicalValues"] == ["Gold", "Silver"]
    assert all(a["required"] is False and a["multiValued"] is False for a in by_name.values())
    listed = scim.get("/Schemas").json()["Resources"]
    assert EXT in [s["id"] for s in listed]


def test_resource_types_name_the_extension_as_optional(scim):
    user = scim.get("/ResourceTypes/User").json()
    assert {"schema": EXT, "required": False} in user["schemaExtensions"]
    listed = scim.get("/ResourceTypes").json()["Resources"]
    assert {"schema": EXT, "required": False} in listed[0]["schemaExtensions"]


def test_each_account_sees_its_own_properties(engine, scim, other, props):
    add_property(engine, other.account_id, "Badge", "text")
    mine = {a["name"] for a in extension_doc(scim)["attributes"]}
    theirs = {a["name"] for a in extension_doc(other)["attributes"]}
    assert "costCenter" in mine and "costCenter" not in theirs
    assert "badge" in theirs and "badge" not in mine


def test_schema_follows_a_new_property_and_a_rename_keeps_the_attribute(engine, scim, props):
    assert "floor" not in {a["name"] for a in extension_doc(scim)["attributes"]}
    floor = add_property(engine, scim.account_id, "Floor", "number")
    attrs = {a["name"]: a for a in extension_doc(scim)["attributes"]}
    assert "floor" in attrs
    with engine.begin() as conn:
        properties.rename(conn, scim.account_id, floor, "Office floor")
    attrs = {a["name"]: a for a in extension_doc(scim)["attributes"]}
    assert "floor" in attrs and "officeFloor" not in attrs
    assert "Office floor" in attrs["floor"]["description"]


def test_a_clashing_name_gets_a_number(engine, scim):
    add_property(engine, scim.account_id, "Cost center", "text")
    add_property(engine, scim.account_id, "Cost-Center", "text")
    names = {a["name"] for a in extension_doc(scim)["attributes"]}
    assert {"costCenter", "costCenter2"} <= names


def test_post_stores_typed_values_and_sync_fills_properties_without_a_mapping(engine, scim, props):
    user_id = create_user(
        scim,
        "ada@example.com",
        schemas=["urn:ietf:params:scim:schemas:core:2.0:User", EXT],
        **{
            EXT: {
                "costCenter": "CC-7",
                "seats": 3,
                "remote": "True",
                "startDate": "2024-05-01",
                "tier": "gold",
            }
        },
    )
    user = scim.get(f"/Users/{user_id}").json()
    assert user[EXT] == {
        "costCenter": "CC-7",
        "seats": 3,
        "remote": True,
        "startDate": "2024-05-01",
        "tier": "gold",
    }
    assert EXT in user["schemas"]
    sync(engine, scim.account_id)
    values = member_docs(engine, scim.account_id)["ada@example.com"]["properties"]
    assert values["Cost center"] == "CC-7"
    assert values["Seats"] == 3
    assert values["Remote"] is True
    assert values["Start date"] == "2024-05-01"
    assert values["Tier"] == "Gold"


@pytest.mark.parametrize(
    "attrs, wrong",
    [
        ({"seats": "three"}, "seats"),
        ({"remote": "maybe"}, "remote"),
        ({"startDate": "next monday"}, "startDate"),
        ({"costCenter": 7}, "costCenter"),
        ({"costCenter": ["a", "b"]}, "costCenter"),
    ],
)
def test_a_wrong_type_is_400_invalid_value(scim, props, attrs, wrong):
    r = scim.post("/Users", json=user_body("bad@example.com", **{EXT: attrs}))
    assert_error(r, 400, "invalidValue")
    body = r.json()
    assert wrong in body["detail"]


def noted(name):
    """How the request log lists an attribute of the extension the account does not have."""
    return f"{EXT}:{name} {NOT_A_PROPERTY}"


def test_an_unknown_attribute_of_the_extension_is_left_out_and_logged(scim, app, engine, props):
    """A Property deleted (or its attribute renamed) while the IdP still sends it must not
    fail the user's writes: Entra quarantines the whole app after repeated 400s."""
    body = user_body("ada@example.com", **{EXT: {"shoeSize": "44", "costCenter": "CC-1"}})
    r = scim.post("/Users", json=body)
    assert r.status_code == 201, r.text
    assert r.json()[EXT] == {"costCenter": "CC-1"}
    user = r.json()
    r = scim.post("/Users", json=user_body("bob@example.com", **{f"{EXT}:shoeSize": "44"}))
    assert r.status_code == 201, r.text
    assert EXT not in r.json() and EXT not in r.json()["schemas"]
    user[EXT] = {"tier": "Gold", "SHOESIZE": 45}
    r = scim.put(f"/Users/{user['id']}", json=user)
    assert r.status_code == 200, r.text
    assert r.json()[EXT] == {"tier": "Gold"}
    logged = [(m, i) for m, i in logged_ignored(app, engine) if m != "GET"]
    assert logged == [
        ("POST", [noted("shoeSize")]),
        ("POST", [noted("shoeSize")]),
        ("PUT", [noted("SHOESIZE")]),
    ]


def test_another_idps_own_extension_is_still_kept_as_sent(scim, props):
    acme = "urn:ietf:params:scim:schemas:extension:acme:2.0:User"
    user_id = create_user(scim, "ok@example.com", **{acme: {"shoeSize": "44"}})
    assert scim.get(f"/Users/{user_id}").json()[acme] == {"shoeSize": "44"}


def test_entra_patch_shapes(engine, scim, props):
    user_id = create_user(scim, "ada@example.com")
    r = scim.patch(
        f"/Users/{user_id}",
        json=ops(
            {"op": "Add", "path": f"{EXT}:costCenter", "value": "CC-1"},
            # Entra (aadOptscim062020): path-less, URN-qualified keys
            {"op": "Replace", "value": {f"{EXT}:seats": 4, "displayName": "Ada L"}},
            {"op": "replace", "path": f"{EXT}:remote", "value": "False"},
        ),
    )
    assert r.status_code == 200, r.text
    assert r.json()[EXT] == {"costCenter": "CC-1", "seats": 4, "remote": False}
    r = scim.patch(f"/Users/{user_id}", json=ops({"op": "Remove", "path": f"{EXT}:seats"}))
    assert r.json()[EXT] == {"costCenter": "CC-1", "remote": False}
    sync(engine, scim.account_id)
    values = member_docs(engine, scim.account_id)["ada@example.com"]["properties"]
    assert values["Cost center"] == "CC-1" and values["Remote"] is False
    assert "Seats" not in values


def test_okta_shapes_whole_extension_in_put_and_patch(engine, scim, props):
    user_id = create_user(scim, "ada@example.com")
    user = scim.get(f"/Users/{user_id}").json()
    user[EXT] = {"tier": "Silver", "seats": 2.5}
    r = scim.put(f"/Users/{user_id}", json=user)
    assert r.status_code == 200, r.text
    assert r.json()[EXT] == {"tier": "Silver", "seats": 2.5}
    r = scim.patch(
        f"/Users/{user_id}", json=ops({"op": "replace", "value": {EXT: {"costCenter": "X"}}})
    )
    assert r.json()[EXT] == {"tier": "Silver", "seats": 2.5, "costCenter": "X"}
    sync(engine, scim.account_id)
    values = member_docs(engine, scim.account_id)["ada@example.com"]["properties"]
    assert values["Tier"] == "Silver" and values["Seats"] == 2.5 and values["Cost center"] == "X"
    user = scim.get(f"/Users/{user_id}").json()
    user[EXT] = {"tier": "Gold", "seats": "many"}
    assert_error(scim.put(f"/Users/{user_id}", json=user), 400, "invalidValue")


def test_patch_naming_an_unknown_attribute_leaves_it_out_and_applies_the_rest(
    scim, app, engine, props
):
    user_id = create_user(scim, "ada@example.com")
    r = scim.patch(
        f"/Users/{user_id}",
        json=ops(
            {"op": "add", "path": f"{EXT}:shoeSize", "value": "4"},
            # Entra (aadOptscim062020): path-less, URN-qualified keys
            {"op": "Replace", "value": {f"{EXT}:hatSize": "7", f"{EXT}:seats": 2}},
            # Okta: the whole extension as one object
            {"op": "replace", "path": EXT, "value": {"beltSize": "M", "costCenter": "CC-9"}},
            {"op": "remove", "path": f"{EXT}:gloveSize"},
            {"op": "replace", "path": f'{EXT}:ringSize[value eq "x"]', "value": "y"},
        ),
    )
    assert r.status_code == 200, r.text
    assert r.json()[EXT] == {"seats": 2, "costCenter": "CC-9"}
    (patched,) = [i for m, i in logged_ignored(app, engine) if m == "PATCH"]
    assert patched[:4] == [noted(n) for n in ("shoeSize", "hatSize", "beltSize", "gloveSize")]
    assert patched[4].startswith(f"{EXT}:ringSize") and patched[4].endswith(NOT_A_PROPERTY)
    # A known attribute's wrong type is still refused: that is a value to fix, not a leftover.
    r = scim.patch(
        f"/Users/{user_id}", json=ops({"op": "replace", "path": f"{EXT}:seats", "value": "x"})
    )
    assert_error(r, 400, "invalidValue")
    r = scim.patch(
        f"/Users/{user_id}",
        json=ops({"op": "replace", "value": {f"{EXT}:shoeSize": "4", f"{EXT}:seats": "x"}}),
    )
    assert_error(r, 400, "invalidValue")


def test_a_deleted_propertys_stored_value_does_not_block_later_patches(engine, app, scim, props):
    ada = create_user(scim, "ada@example.com", **{EXT: {"costCenter": "A", "seats": 1}})
    bob = create_user(scim, "bob@example.com", **{EXT: {"costCenter": "A", "seats": 1}})
    with engine.begin() as conn:
        properties.delete(conn, scim.account_id, props["Seats"])
    r = scim.patch(
        f"/Users/{ada}", json=ops({"op": "replace", "path": f"{EXT}:costCenter", "value": "B"})
    )
    assert r.status_code == 200, r.text
    assert r.json()[EXT] == {"costCenter": "B"}
    # Entra keeps sending the deleted Property's attribute: left out, listed once with its
    # note (not again as the stored value dropped with it).
    r = scim.patch(
        f"/Users/{bob}",
        json=ops({"op": "Replace", "value": {f"{EXT}:seats": 3, f"{EXT}:costCenter": "C"}}),
    )
    assert r.status_code == 200, r.text
    assert r.json()[EXT] == {"costCenter": "C"}
    patches = [i for m, i in logged_ignored(app, engine) if m == "PATCH"]
    assert patches == [[f"{EXT}:seats"], [noted("seats")]]


def test_filters_on_extension_attributes(scim, props):
    create_user(scim, "ada@example.com", **{EXT: {"costCenter": "CC-7", "seats": 10}})
    create_user(scim, "bob@example.com", **{EXT: {"costCenter": "CC-8", "seats": 2}})

    def names(expression):
        r = scim.get("/Users?filter=" + quote(expression))
        assert r.status_code == 200, r.text
        return sorted(u["userName"] for u in r.json()["Resources"])

    assert names(f'{EXT}:costCenter eq "cc-7"') == ["ada@example.com"]
    assert names(f"{EXT}:seats gt 5") == ["ada@example.com"]  # a number, not text
    assert names(f"{EXT}:costCenter pr") == ["ada@example.com", "bob@example.com"]
    r = scim.get("/Users?filter=" + quote(f'{EXT}:shoeSize eq "4"'))
    assert_error(r, 400, "invalidFilter")


def test_a_hand_written_mapping_comes_before_the_extension(engine, scim, props):
    create_user(scim, "ada@example.com", title="Engineer", **{EXT: {"jobTitle": "Boss"}})
    with engine.begin() as conn:
        listed = {m["target"]: m for m in mapping.list_mappings(conn, scim.account_id)}
    assert listed["Job title"]["source"] == "title" and not listed["Job title"]["implicit"]
    assert listed["Job title"]["fallback"] == f"{EXT}:jobTitle"
    assert listed["Cost center"]["source"] == f"{EXT}:costCenter"
    assert listed["Cost center"]["implicit"] is True
    assert "Buddy" not in listed
    sync(engine, scim.account_id)
    values = member_docs(engine, scim.account_id)["ada@example.com"]["properties"]
    assert values["Job title"] == "Engineer"
    with engine.begin() as conn:
        mapping.remove_mapping(conn, scim.account_id, "Job title")
    sync(engine, scim.account_id)
    values = member_docs(engine, scim.account_id)["ada@example.com"]["properties"]
    assert values["Job title"] == "Boss"
    with engine.begin() as conn, pytest.raises(NotFoundError, match="from the IdP extension"):
        mapping.remove_mapping(conn, scim.account_id, "Job title")


def test_preview_shows_extension_values(engine, scim, props):
    create_user(scim, "ada@example.com", **{EXT: {"tier": "silver"}})
    with engine.begin() as conn:
        shown = mapping.preview(conn, scim.account_id)
    assert shown[0]["values"]["Tier"] == "Silver"


def test_a_value_outside_the_options_is_stored_and_reported_by_the_sync(engine, scim, props):
    user_id = create_user(scim, "ada@example.com", **{EXT: {"tier": "Bronze", "seats": 1}})
    assert scim.get(f"/Users/{user_id}").json()[EXT]["tier"] == "Bronze"
    result = sync(engine, scim.account_id)
    assert result.counts["created"] == 1 and result.counts["errors"] == 1
    (error,) = [i for i in items(engine, scim.account_id, result.run_id) if i["error"]]
    assert "Tier" in error["error"] and "'Bronze' is not one of the options" in error["error"]
    values = member_docs(engine, scim.account_id)["ada@example.com"]["properties"]
    assert "Tier" not in values and values["Seats"] == 1


@pytest.mark.parametrize(
    "label, taken, expected",
    [
        ("Cost center", (), "costCenter"),
        ("COST CENTER ID", (), "costCenterId"),
        ("Date d'entrée", (), "dateDEntree"),
        ("2nd phone", (), "property2ndPhone"),
        ("部署", (), "property"),
        ("Job title", ("JOBTITLE",), "jobTitle2"),
        ("Job title", ("jobtitle", "jobTitle2"), "jobTitle3"),
        ("x" * 64, (), "x" * 60),
    ],
)
def test_attribute_names_are_attrnames(label, taken, expected):
    name = attribute_name(label, taken)
    assert name == expected
    assert re.fullmatch(r"[A-Za-z][A-Za-z0-9_-]*", name)
