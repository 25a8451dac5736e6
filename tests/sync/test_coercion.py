"""Values coerced onto typed Properties; a value that does not fit is an item error, never a
failed run; mapping paths are checked when set."""

from __future__ import annotations

import pytest

from scimgate.errors import InvalidValueError, NotFoundError
from scimgate.mapping import service as mapping
from tests.helpers.sync import (
    ACME,
    add_property,
    create_user,
    items,
    member_docs,
    patch_user,
    set_manual_value,
    sync,
)


def set_map(engine, account_id, target, source):
    with engine.begin() as conn:
        return mapping.set_mapping(conn, account_id, target, source)


def errors_of(engine, account_id, run_id):
    return items(engine, account_id, run_id, errors_only=True)


def test_number_property_fed_text_is_an_item_error_and_the_member_is_still_written(scim, engine):
    add_property(engine, scim.account_id, "Level", "number")
    set_map(engine, scim.account_id, "Level", "nickName")
    create_user(scim, "ada@example.com", displayName="Ada", title="Engineer", nickName="abc")
    create_user(scim, "bob@example.com", displayName="Bob")
    result = sync(engine, scim.account_id)
    assert result.status == "succeeded"
    assert result.counts["created"] == 2 and result.counts["errors"] == 1, result.counts
    (error,) = errors_of(engine, scim.account_id, result.run_id)
    assert error["label"] == "Ada (ada@example.com)" and error["action"] == "create"
    assert "Level" in error["error"] and "'abc' is not a number" in error["error"]
    ada = member_docs(engine, scim.account_id)["ada@example.com"]
    assert ada["name"] == "Ada" and ada["status"] == "active"
    assert ada["properties"] == {"Job title": "Engineer"}
    run = items(engine, scim.account_id, result.run_id)
    assert len(run) == 2  # the error is on the create item itself, not an extra one


def test_a_member_in_error_is_looked_at_again_on_the_next_run(scim, engine):
    create_user(scim, "ada@example.com", nickName="abc")
    add_property(engine, scim.account_id, "Tier", "select", ["Gold", "Silver"])
    set_map(engine, scim.account_id, "Tier", "nickName")
    sync(engine, scim.account_id)
    again = sync(engine, scim.account_id)
    assert again.status == "succeeded"
    assert again.counts["errors"] == 1 and again.counts["created"] == 0
    assert "Tier" in errors_of(engine, scim.account_id, again.run_id)[0]["error"]


def test_select_option_unknown_is_an_error_known_is_matched_case_insensitively(scim, engine):
    create_user(scim, "ada@example.com", nickName="GOLD")
    create_user(scim, "bob@example.com", nickName="Platinum")
    add_property(engine, scim.account_id, "Tier", "select", ["Gold", "Silver"])
    set_map(engine, scim.account_id, "Tier", "nickName")
    result = sync(engine, scim.account_id)
    assert result.status == "succeeded"
    assert result.counts["created"] == 2 and result.counts["errors"] == 1
    (error,) = errors_of(engine, scim.account_id, result.run_id)
    assert error["label"] == "Bob (bob@example.com)"
    assert "Tier" in error["error"] and "'Platinum' is not one of the options" in error["error"]
    docs = member_docs(engine, scim.account_id)
    assert docs["ada@example.com"]["properties"]["Tier"] == "Gold"
    assert "Tier" not in docs["bob@example.com"]["properties"]


def test_a_value_that_stops_fitting_keeps_the_previous_value(scim, engine):
    uid = create_user(scim, "ada@example.com", nickName="Silver")
    add_property(engine, scim.account_id, "Tier", "select", ["Gold", "Silver"])
    set_map(engine, scim.account_id, "Tier", "nickName")
    sync(engine, scim.account_id)
    patch_user(scim, uid, "nickName", "Bronze")
    patch_user(scim, uid, "title", "Lead")
    result = sync(engine, scim.account_id)
    assert result.status == "succeeded"
    assert result.counts["errors"] == 1 and result.counts["updated"] == 1
    (item,) = items(engine, scim.account_id, result.run_id)
    assert item["changes"] == {"Job title": [None, "Lead"]} and "Tier" in item["error"]
    assert member_docs(engine, scim.account_id)["ada@example.com"]["properties"] == {
        "Tier": "Silver",
        "Job title": "Lead",
    }


def test_date_property(scim, engine):
    create_user(scim, "ada@example.com", **{ACME: {"hired": "2024-05-01T09:30:00Z"}})
    create_user(scim, "bob@example.com", **{ACME: {"hired": "2023-01-15"}})
    create_user(scim, "eve@example.com", **{ACME: {"hired": "last tuesday"}})
    add_property(engine, scim.account_id, "Hired", "date")
    set_map(engine, scim.account_id, "Hired", f"{ACME}:hired")
    result = sync(engine, scim.account_id)
    assert result.status == "succeeded"
    assert result.counts["created"] == 3 and result.counts["errors"] == 1
    (error,) = errors_of(engine, scim.account_id, result.run_id)
    assert error["label"] == "Eve (eve@example.com)" and "is not a date" in error["error"]
    docs = member_docs(engine, scim.account_id)
    assert docs["ada@example.com"]["properties"]["Hired"] == "2024-05-01"
    assert docs["bob@example.com"]["properties"]["Hired"] == "2023-01-15"
    assert "Hired" not in docs["eve@example.com"]["properties"]


def test_boolean_property_takes_entras_string_false(scim, engine):
    create_user(scim, "ada@example.com", **{ACME: {"remote": "False"}})
    create_user(scim, "bob@example.com", **{ACME: {"remote": "True"}})
    create_user(scim, "eve@example.com", **{ACME: {"remote": "maybe"}})
    add_property(engine, scim.account_id, "Remote", "boolean")
    set_map(engine, scim.account_id, "Remote", f"{ACME}:remote")
    result = sync(engine, scim.account_id)
    assert result.status == "succeeded" and result.counts["errors"] == 1
    docs = member_docs(engine, scim.account_id)
    assert docs["ada@example.com"]["properties"]["Remote"] is False
    assert docs["bob@example.com"]["properties"]["Remote"] is True
    assert "Remote" not in docs["eve@example.com"]["properties"]
    assert sync(engine, scim.account_id).counts["updated"] == 0


def test_custom_extension_attribute_onto_a_number_property(scim, engine):
    create_user(scim, "ada@example.com", **{ACME: {"costCenter": "42"}})
    create_user(scim, "bob@example.com", **{ACME: {"costCenter": "1,234.5"}})
    add_property(engine, scim.account_id, "Cost center", "number")
    assert set_map(engine, scim.account_id, "Cost center", f"{ACME}:costCenter") == {
        "target": "Cost center",
        "source": f"{ACME}:costCenter",
    }
    result = sync(engine, scim.account_id)
    assert result.status == "succeeded" and result.counts["errors"] == 0
    docs = member_docs(engine, scim.account_id)
    assert docs["ada@example.com"]["properties"]["Cost center"] == 42
    assert docs["bob@example.com"]["properties"]["Cost center"] == 1234.5
    again = sync(engine, scim.account_id)
    assert again.status == "succeeded" and again.counts["unchanged"] == 2


def test_custom_extension_attribute_is_read_by_the_mapping(scim, engine):
    """The same custom path, seen through the preview and a text Property."""
    create_user(scim, "ada@example.com", **{ACME: {"costCenter": "42"}})
    add_property(engine, scim.account_id, "Cost center", "number")
    add_property(engine, scim.account_id, "Cost center code", "text")
    set_map(engine, scim.account_id, "Cost center", f"{ACME}:costCenter")
    set_map(engine, scim.account_id, "Cost center code", f"{ACME}:costCenter")
    with engine.connect() as conn:
        (preview,) = mapping.preview(conn, scim.account_id)
    assert preview["values"]["Cost center"] == 42 and preview["errors"] == {}
    # only the text Property is synced here
    with engine.begin() as conn:
        mapping.remove_mapping(conn, scim.account_id, "Cost center")
    result = sync(engine, scim.account_id)
    assert result.counts["errors"] == 0
    assert member_docs(engine, scim.account_id)["ada@example.com"]["properties"] == {
        "Cost center code": "42"
    }


def test_number_values_can_be_read_back_and_resynced(scim, engine):
    """Regression (SQLite): property_value has NUMERIC affinity, so a number came back as an
    SQL integer that raw.load_value() tried to JSON-decode; every later read failed."""
    create_user(scim, "ada@example.com")
    sync(engine, scim.account_id)
    member_id = member_docs(engine, scim.account_id)["ada@example.com"]["id"]
    size = add_property(engine, scim.account_id, "Shoe size", "number")
    set_manual_value(engine, scim.account_id, member_id, size, 38)
    assert member_docs(engine, scim.account_id)["ada@example.com"]["properties"] == {
        "Shoe size": 38
    }
    result = sync(
        engine, scim.account_id
    )  # the property created above bumps nothing; re-read anyway
    assert result.status == "succeeded"


def test_filtered_value_path(scim, engine):
    create_user(
        scim,
        "ada@example.com",
        addresses=[
            {"type": "home", "locality": "Brighton"},
            {"type": "work", "locality": "London", "country": "GB"},
        ],
    )
    create_user(scim, "bob@example.com", addresses=[{"type": "home", "locality": "Leeds"}])
    add_property(engine, scim.account_id, "Office", "text")
    assert set_map(engine, scim.account_id, "office", 'addresses[type eq "work"].locality') == {
        "target": "Office",
        "source": 'addresses[type eq "work"].locality',
    }
    result = sync(engine, scim.account_id)
    assert result.counts["errors"] == 0
    docs = member_docs(engine, scim.account_id)
    assert docs["ada@example.com"]["properties"]["Office"] == "London"
    assert "Office" not in docs["bob@example.com"]["properties"]


def test_setting_a_custom_path_no_staged_user_has_is_refused(scim, engine):
    create_user(scim, "ada@example.com", **{ACME: {"costCenter": "42"}})
    add_property(engine, scim.account_id, "Cost center", "text")
    with pytest.raises(InvalidValueError, match="no staged user has this attribute"):
        set_map(engine, scim.account_id, "Cost center", f"{ACME}:costCentre")


def test_setting_a_path_that_does_not_parse_is_refused(scim, engine):
    add_property(engine, scim.account_id, "Office", "text")
    for bad in ('addresses[type eq "work".locality', "", "title ||", "noSuchAttribute"):
        with pytest.raises(InvalidValueError):
            set_map(engine, scim.account_id, "Office", bad)


def test_setting_a_mapping_onto_an_unknown_property_is_not_found(scim, engine):
    with pytest.raises(NotFoundError):
        set_map(engine, scim.account_id, "No such property", "title")
    with pytest.raises(NotFoundError), engine.begin() as conn:
        mapping.remove_mapping(conn, scim.account_id, "No such property")


def test_refused_mappings_do_not_bump_the_revision(scim, engine):
    create_user(scim, "ada@example.com")
    sync(engine, scim.account_id)
    with pytest.raises(InvalidValueError):
        set_map(engine, scim.account_id, "Job title", "not a path ((")
    result = sync(engine, scim.account_id)
    assert result.counts["unchanged"] == 1 and result.counts["updated"] == 0
