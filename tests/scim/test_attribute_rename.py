"""Changing a Property's SCIM attribute name on purpose: the service's checks, and what
the IdP sees at once (/Schemas, values accepted under the new name, the old one left out
and listed in the request log),
with members' values and staged users' values kept."""

from __future__ import annotations

import json
from urllib.parse import quote

import pytest
from sqlalchemy import text

from scimgate.errors import ConflictError, InvalidValueError
from scimgate.mapping import service as mapping
from scimgate.members import properties
from scimgate.scim.account_extension import (
    NOT_A_PROPERTY,
    rename_in_document,
    rename_in_source,
)
from scimgate.scim.render import etag
from scimgate.store import property_attributes
from scimgate.store.database import utcnow
from tests.helpers.audit import entries
from tests.helpers.scim import logged_ignored, user_body
from tests.helpers.sync import add_property, create_user, member_docs, ops, sync

EXT = "urn:ietf:params:scim:schemas:extension:scimgate:2.0:User"


@pytest.fixture
def cost(engine, scim):
    """A text Property `Cost center` (attribute costCenter) and a number `Seats`."""
    add_property(engine, scim.account_id, "Seats", "number")
    return add_property(engine, scim.account_id, "Cost center", "text")


def rename_attribute(engine, account_id, prop_id, new, **kw):
    with engine.begin() as conn:
        return properties.rename_attribute(conn, account_id, prop_id, new, **kw)


def attribute_names(scim):
    r = scim.get("/Schemas/" + EXT)
    assert r.status_code == 200, r.text
    return {a["name"] for a in r.json()["attributes"]}


def revision(engine, account_id):
    with engine.connect() as conn:
        return property_attributes.properties_revision(conn, account_id)


# ---- the service's checks ----


@pytest.mark.parametrize(
    "new, message",
    [
        ("", "1-64"),
        ("   ", "1-64"),
        ("x" * 65, "1-64"),
        ("2ndCost", "ATTRNAME"),
        ("cost center", "ATTRNAME"),
        ("cost.center", "ATTRNAME"),
        ("cost:center", "ATTRNAME"),
        ("coûtCentre", "ATTRNAME"),
        ("$ref", "ATTRNAME"),
        ("-cost", "ATTRNAME"),
        ("costCenter\n", None),  # trimmed: the same name, no change
    ],
)
def test_only_an_attrname_of_1_to_64_characters_is_accepted(engine, scim, cost, new, message):
    before = revision(engine, scim.account_id)
    if message is None:
        assert rename_attribute(engine, scim.account_id, cost, new)["scim_path"].endswith(
            ":costCenter"
        )
    else:
        with pytest.raises(InvalidValueError, match=message):
            rename_attribute(engine, scim.account_id, cost, new)
    assert revision(engine, scim.account_id) == before
    assert "costCenter" in attribute_names(scim)


@pytest.mark.parametrize("new", ["c", "costCode", "cost_code-2", "X" * 64, f"{EXT}:costCode"])
def test_an_attrname_is_taken_and_the_full_path_works_too(engine, scim, cost, new):
    row = rename_attribute(engine, scim.account_id, cost, new)
    expected = new.removeprefix(f"{EXT}:")
    assert row["scim_path"] == f"{EXT}:{expected}"
    assert expected in attribute_names(scim)


@pytest.mark.parametrize("new", ["seats", "SEATS", "Seats"])
def test_a_name_another_property_has_in_any_case_is_a_conflict(engine, scim, cost, new):
    with pytest.raises(ConflictError, match="Property 'Seats' already has the SCIM attribute"):
        rename_attribute(engine, scim.account_id, cost, new)
    assert {"costCenter", "seats"} <= attribute_names(scim)


def test_a_refused_rename_leaves_nothing_behind_in_the_callers_transaction(engine, scim, cost):
    before = revision(engine, scim.account_id)
    # The caller (a console page) catches the refusal and commits its transaction.
    with engine.begin() as conn, pytest.raises(ConflictError):
        properties.rename_attribute(conn, scim.account_id, cost, "seats")
    assert revision(engine, scim.account_id) == before
    assert not [e for e in entries(engine, scim.account_id) if "attribute" in e["action"]]


def test_a_case_change_of_its_own_name_is_allowed(engine, scim, cost):
    create_user(scim, "ada@example.com", **{EXT: {"costCenter": "CC-7"}})
    row = rename_attribute(engine, scim.account_id, cost, "CostCenter")
    assert row["scim_path"] == f"{EXT}:CostCenter"
    user = scim.get("/Users?filter=" + quote('userName eq "ada@example.com"')).json()
    assert user["Resources"][0][EXT] == {"CostCenter": "CC-7"}


def test_a_member_reference_has_no_attribute_to_rename(engine, scim):
    buddy = add_property(engine, scim.account_id, "Buddy", "member")
    with pytest.raises(InvalidValueError, match="member reference"):
        rename_attribute(engine, scim.account_id, buddy, "buddy")


def test_the_same_name_again_changes_nothing(engine, scim, cost):
    before = revision(engine, scim.account_id)
    rename_attribute(engine, scim.account_id, cost, "costCenter")
    assert revision(engine, scim.account_id) == before
    assert not [e for e in entries(engine, scim.account_id) if "attribute" in e["action"]]


def test_the_change_is_audited_and_moves_the_revision(engine, scim, cost):
    create_user(scim, "ada@example.com", **{EXT: {"costCenter": "CC-7"}})
    create_user(scim, "bob@example.com")
    before = revision(engine, scim.account_id)
    rename_attribute(engine, scim.account_id, cost, "costCode", actor="cli:ops")
    assert revision(engine, scim.account_id) > before
    (entry,) = [e for e in entries(engine, scim.account_id) if "attribute" in e["action"]]
    assert entry["action"] == "property.attribute_renamed"
    assert entry["actor"] == "cli:ops" and entry["target"] == "Property Cost center"
    assert entry["details"]["changes"] == {"scim_attribute": ["costCenter", "costCode"]}
    assert entry["details"]["staged_users_rewritten"] == 1


# ---- what the IdP sees ----


def test_schemas_mapping_and_scim_writes_follow_at_once(engine, app, scim, cost):
    ada = create_user(scim, "ada@example.com", **{EXT: {"costCenter": "CC-7", "seats": 2}})
    sync(engine, scim.account_id)
    assert attribute_names(scim) >= {"costCenter"}  # the cached extension is warm
    rename_attribute(engine, scim.account_id, cost, "costCode")
    names = attribute_names(scim)
    assert "costCode" in names and "costCenter" not in names
    with engine.connect() as conn:
        listed = {m["target"]: m for m in mapping.list_mappings(conn, scim.account_id)}
    assert (
        listed["Cost center"]["source"] == f"{EXT}:costCode" and listed["Cost center"]["implicit"]
    )

    # The old name is left out, not refused (Entra would quarantine the app), and listed with
    # what to fix: in a POST body, and as a PATCH path or URN-qualified key.
    r = scim.post("/Users", json=user_body("eve@example.com", **{EXT: {"costCenter": "X"}}))
    assert r.status_code == 201, r.text
    assert EXT not in r.json()
    r = scim.patch(
        f"/Users/{ada}", json=ops({"op": "replace", "path": f"{EXT}:costCenter", "value": "X"})
    )
    assert r.status_code == 200, r.text
    r = scim.patch(f"/Users/{ada}", json=ops({"op": "Replace", "value": {f"{EXT}:costCenter": 1}}))
    assert r.status_code == 200, r.text
    left_out = [i for m, i in logged_ignored(app, engine) if m in ("POST", "PATCH")][-3:]
    assert left_out == [[f"{EXT}:costCenter {NOT_A_PROPERTY}"]] * 3

    # The staged value moved to the new name: the sync keeps the member's value.
    assert scim.get(f"/Users/{ada}").json()[EXT] == {"costCode": "CC-7", "seats": 2}
    sync(engine, scim.account_id)
    assert member_docs(engine, scim.account_id)["ada@example.com"]["properties"]["Cost center"] == (
        "CC-7"
    )

    # The new name fills the Property, in a POST and in a PATCH.
    create_user(scim, "bob@example.com", **{EXT: {"costCode": "CC-8"}})
    r = scim.patch(
        f"/Users/{ada}", json=ops({"op": "replace", "path": f"{EXT}:costCode", "value": "CC-9"})
    )
    assert r.status_code == 200, r.text
    sync(engine, scim.account_id)
    values = member_docs(engine, scim.account_id)
    assert values["ada@example.com"]["properties"]["Cost center"] == "CC-9"
    assert values["bob@example.com"]["properties"]["Cost center"] == "CC-8"
    r = scim.get("/Users?filter=" + quote(f'{EXT}:costCode eq "cc-8"'))
    assert [u["userName"] for u in r.json()["Resources"]] == ["bob@example.com"]


def test_a_name_with_dash_and_underscore_works_in_paths_and_filters(engine, scim, cost):
    ada = create_user(scim, "ada@example.com")
    rename_attribute(engine, scim.account_id, cost, "cost_code-2")
    r = scim.patch(
        f"/Users/{ada}", json=ops({"op": "add", "path": f"{EXT}:cost_code-2", "value": "CC-1"})
    )
    assert r.status_code == 200, r.text
    r = scim.get("/Users?filter=" + quote(f'{EXT}:cost_code-2 eq "CC-1"'))
    assert r.status_code == 200, r.text
    assert [u["userName"] for u in r.json()["Resources"]] == ["ada@example.com"]
    sync(engine, scim.account_id)
    values = member_docs(engine, scim.account_id)["ada@example.com"]["properties"]
    assert values["Cost center"] == "CC-1"


def test_staged_users_get_a_new_version_and_a_leftover_under_the_new_name_goes(engine, scim, cost):
    floor = add_property(engine, scim.account_id, "Floor", "number")
    ada = create_user(scim, "ada@example.com", **{EXT: {"costCenter": "CC-7"}})
    bob = create_user(scim, "bob@example.com", **{EXT: {"floor": 3}})
    carol = create_user(scim, "carol@example.com")
    with engine.begin() as conn:
        properties.delete(conn, scim.account_id, floor)  # bob keeps a leftover `floor`
    etags = {u: scim.get(f"/Users/{u}").headers.get("etag") for u in (ada, bob, carol)}
    rename_attribute(engine, scim.account_id, cost, "floor")
    assert scim.get(f"/Users/{ada}").json()[EXT] == {"floor": "CC-7"}
    bob_doc = scim.get(f"/Users/{bob}").json()
    assert EXT not in bob_doc and EXT not in bob_doc["schemas"]  # not Cost center's value
    assert scim.get(f"/Users/{ada}").headers.get("etag") != etags[ada]
    assert scim.get(f"/Users/{carol}").headers.get("etag") == etags[carol]  # untouched
    sync(engine, scim.account_id)
    values = member_docs(engine, scim.account_id)
    assert values["ada@example.com"]["properties"]["Cost center"] == "CC-7"
    assert "Cost center" not in values["bob@example.com"]["properties"]


def test_a_mapping_written_on_the_old_path_follows_it(engine, scim, cost):
    create_user(scim, "ada@example.com", **{EXT: {"costCenter": "CC-7"}})
    with engine.begin() as conn:
        mapping.set_mapping(conn, scim.account_id, "Job title", f"{EXT}:costCenter || title")
    rename_attribute(engine, scim.account_id, cost, "costCode")
    with engine.connect() as conn:
        listed = {m["target"]: m for m in mapping.list_mappings(conn, scim.account_id)}
    assert listed["Job title"]["source"] == f"{EXT}:costCode || title"
    (entry,) = [e for e in entries(engine, scim.account_id) if "attribute" in e["action"]]
    assert entry["details"]["mappings_followed"] == {
        "Job title": [f"{EXT}:costCenter || title", f"{EXT}:costCode || title"]
    }
    sync(engine, scim.account_id)
    values = member_docs(engine, scim.account_id)["ada@example.com"]["properties"]
    assert values["Job title"] == "CC-7" and values["Cost center"] == "CC-7"


def test_another_accounts_attribute_of_the_same_name_is_no_conflict(engine, scim, other, cost):
    add_property(engine, other.account_id, "Cost code", "text")
    rename_attribute(engine, scim.account_id, cost, "costCode")
    assert "costCode" in attribute_names(other) and "costCode" in attribute_names(scim)


# ---- the pure rewrites ----


def test_rename_in_document_moves_only_the_extension_attribute():
    doc = {"schemas": ["core", EXT], "title": "costCenter", EXT: {"costcenter": 1, "seats": 2}}
    assert rename_in_document(doc, "costCenter", "costCode") == {
        "schemas": ["core", EXT],
        "title": "costCenter",
        EXT: {"costCode": 1, "seats": 2},
    }
    assert doc[EXT] == {"costcenter": 1, "seats": 2}  # the input is not changed
    assert rename_in_document(doc, "floor", "costCode") is None
    assert rename_in_document({"schemas": ["core"]}, "a", "b") is None


def test_rename_in_source_names_whole_attributes_only():
    source = f"{EXT.upper()}:COSTCENTER || {EXT}:costCenter2 || title"
    assert rename_in_source(source, "costCenter", "code") == (
        f"{EXT}:code || {EXT}:costCenter2 || title"
    )


def test_a_staged_user_written_meanwhile_is_read_again(engine, scim, cost):
    """The rewrite writes a user only at the version it read: one a SCIM write changed in
    between is read again, and its new value moves (not the one read first)."""
    ada = create_user(scim, "ada@example.com", **{EXT: {"costCenter": "CC-7"}})
    with engine.connect() as conn:
        stale = conn.execute(
            text("SELECT doc, version FROM directory_user WHERE account_id = :a AND id = :id"),
            {"a": scim.account_id, "id": ada},
        ).one()
    r = scim.patch(
        f"/Users/{ada}", json=ops({"op": "replace", "path": f"{EXT}:costCenter", "value": "CC-8"})
    )
    assert r.status_code == 200, r.text
    doc = stale[0] if isinstance(stale[0], str) else json.dumps(stale[0])
    with engine.begin() as conn:
        written = property_attributes._rewrite_one(
            conn,
            scim.account_id,
            ada,
            (doc, stale[1]),
            lambda doc: rename_in_document(doc, "costCenter", "costCode"),
            utcnow(),
        )
    assert written == 1
    user = scim.get(f"/Users/{ada}").json()
    assert user[EXT] == {"costCode": "CC-8"} and user["meta"]["version"] == etag(stale[1] + 2)
