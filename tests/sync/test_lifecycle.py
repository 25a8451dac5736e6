"""Members through their life: created, updated field by field, deactivated (unassigned or
deleted from staging), reactivated; manual members linked; duplicate emails."""

from __future__ import annotations

from scimgate.members import service as members
from scimgate.store import members as member_store
from tests.helpers.sync import (
    ENT,
    add_property,
    create_user,
    delete_user,
    items,
    member_docs,
    patch_user,
    property_id,
    set_active,
    set_manual_value,
    sync,
)


def deactivated_at(engine, account_id, member_id):
    with engine.connect() as conn:
        (row,) = [m for m in member_store.list_members(conn, account_id) if m["id"] == member_id]
    return row["deactivated_at"]


def only_item(engine, account_id, run_id):
    found = items(engine, account_id, run_id)
    assert len(found) == 1, found
    return found[0]


def test_create_records_an_item_with_every_field(scim, engine):
    uid = create_user(scim, "ada@example.com", displayName="Ada", title="Engineer")
    result = sync(engine, scim.account_id)
    assert result.status == "succeeded" and result.run_id is not None
    assert result.counts["created"] == 1
    item = only_item(engine, scim.account_id, result.run_id)
    member = member_docs(engine, scim.account_id)["ada@example.com"]
    assert item["kind"] == "member" and item["action"] == "create"
    assert item["subject_id"] == member["id"] and item["directory_id"] == uid
    assert item["label"] == "Ada (ada@example.com)" and item["error"] is None
    assert item["changes"] == {
        "name": [None, "Ada"],
        "email": [None, "ada@example.com"],
        "Job title": [None, "Engineer"],
    }


def test_renaming_an_active_member_succeeds(scim, engine):
    """Regression (PostgreSQL): the member UPDATE bound an untyped NULL in `CASE WHEN ? IS NULL`
    (IndeterminateDatatype), so any write to an existing active member failed the run."""
    uid = create_user(scim, "ada@example.com", displayName="Ada")
    sync(engine, scim.account_id)
    patch_user(scim, uid, "displayName", "Ada L.")
    result = sync(engine, scim.account_id)
    assert result.status == "succeeded" and result.counts["updated"] == 1
    assert member_docs(engine, scim.account_id)["ada@example.com"]["name"] == "Ada L."


def test_update_records_field_by_field_changes(scim, engine):
    uid = create_user(
        scim,
        "ada@example.com",
        displayName="Ada",
        title="Engineer",
        **{ENT: {"department": "Sales"}},
    )
    sync(engine, scim.account_id)
    before = member_docs(engine, scim.account_id)["ada@example.com"]
    patch_user(scim, uid, "displayName", "Ada L.")
    patch_user(scim, uid, f"{ENT}:department", "Marketing")
    result = sync(engine, scim.account_id)
    assert result.counts["updated"] == 1 and result.counts["created"] == 0
    item = only_item(engine, scim.account_id, result.run_id)
    assert item["action"] == "update" and item["subject_id"] == before["id"]
    assert item["changes"] == {"name": ["Ada", "Ada L."], "Department": ["Sales", "Marketing"]}
    after = member_docs(engine, scim.account_id)["ada@example.com"]
    assert after["id"] == before["id"]
    assert after["name"] == "Ada L."
    assert after["properties"] == {"Job title": "Engineer", "Department": "Marketing"}


def test_clearing_a_value_in_the_idp_clears_it(scim, engine):
    uid = create_user(scim, "ada@example.com", title="Engineer")
    sync(engine, scim.account_id)
    r = scim.patch(
        f"/Users/{uid}",
        json={
            "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
            "Operations": [{"op": "Remove", "path": "title"}],
        },
    )
    assert r.status_code in (200, 204)
    result = sync(engine, scim.account_id)
    assert result.counts["updated"] == 1
    assert only_item(engine, scim.account_id, result.run_id)["changes"] == {
        "Job title": ["Engineer", None]
    }
    assert member_docs(engine, scim.account_id)["ada@example.com"]["properties"] == {}


def test_entra_unassign_deactivates_and_reassign_reactivates_the_same_member(scim, engine):
    uid = create_user(scim, "ada@example.com")
    create_user(scim, "bob@example.com")
    sync(engine, scim.account_id)
    member_id = member_docs(engine, scim.account_id)["ada@example.com"]["id"]

    set_active(scim, uid, "False")
    result = sync(engine, scim.account_id)
    assert result.status == "succeeded"
    assert result.counts["deactivated"] == 1 and result.counts["unchanged"] == 1
    item = only_item(engine, scim.account_id, result.run_id)
    assert item["action"] == "deactivate" and item["subject_id"] == member_id
    assert item["changes"] == {"status": ["active", "deactivated"]}
    ada = member_docs(engine, scim.account_id)["ada@example.com"]
    assert ada["status"] == "deactivated" and ada["directory_user_id"] == uid
    assert deactivated_at(engine, scim.account_id, member_id) is not None

    set_active(scim, uid, "True")
    result = sync(engine, scim.account_id)
    assert result.counts["reactivated"] == 1 and result.counts["deactivated"] == 0
    item = only_item(engine, scim.account_id, result.run_id)
    assert item["action"] == "reactivate" and item["subject_id"] == member_id
    docs = member_docs(engine, scim.account_id)
    assert len(docs) == 2
    assert docs["ada@example.com"]["id"] == member_id
    assert docs["ada@example.com"]["status"] == "active"
    assert deactivated_at(engine, scim.account_id, member_id) is None


def test_a_user_inactive_from_the_start_never_becomes_a_member(scim, engine):
    create_user(scim, "never@example.com", active=False)
    result = sync(engine, scim.account_id)
    assert result.counts["created"] == 0 and result.counts["unchanged"] == 1
    assert member_docs(engine, scim.account_id) == {}


def test_delete_from_staging_deactivates_and_recreate_links_back(scim, engine):
    uid = create_user(scim, "ada@example.com", title="Engineer")
    create_user(scim, "bob@example.com")
    sync(engine, scim.account_id)
    member_id = member_docs(engine, scim.account_id)["ada@example.com"]["id"]

    delete_user(scim, uid)
    result = sync(engine, scim.account_id)
    assert result.status == "succeeded"
    assert result.counts["deactivated"] == 1 and result.counts["unchanged"] == 1
    item = only_item(engine, scim.account_id, result.run_id)
    assert item["action"] == "deactivate" and item["subject_id"] == member_id
    assert item["changes"]["status"] == ["active", "deactivated"]
    ada = member_docs(engine, scim.account_id)["ada@example.com"]
    assert ada["status"] == "deactivated"
    assert ada["directory_user_id"] is None  # unlinked, the row kept
    assert ada["properties"] == {"Job title": "Engineer"}  # data kept

    # a second run does not deactivate it again
    again = sync(engine, scim.account_id)
    assert again.counts["deactivated"] == 0 and items(engine, scim.account_id, again.run_id) == []

    # Entra re-creates the user (a new directory id) with the same email: linked back
    new_uid = create_user(scim, "ADA@example.com", externalId="ext-ada-2", title="Lead")
    assert new_uid != uid
    result = sync(engine, scim.account_id)
    assert result.counts["reactivated"] == 1 and result.counts["created"] == 0, result.counts
    item = only_item(engine, scim.account_id, result.run_id)
    assert item["action"] == "reactivate" and item["subject_id"] == member_id
    docs = member_docs(engine, scim.account_id)
    assert len(docs) == 2
    ada = docs["ada@example.com"]
    assert ada["id"] == member_id and ada["status"] == "active"
    assert ada["directory_user_id"] == new_uid and ada["source"] == "scim"
    assert ada["properties"] == {"Job title": "Lead"}


def test_manual_values_on_an_unmapped_property_survive_deactivation_and_reactivation(scim, engine):
    uid = create_user(scim, "ada@example.com", title="Engineer")
    other_uid = create_user(scim, "bob@example.com")
    sync(engine, scim.account_id)
    docs = member_docs(engine, scim.account_id)
    desk = add_property(engine, scim.account_id, "Desk", "text")
    set_manual_value(engine, scim.account_id, docs["ada@example.com"]["id"], desk, "B-38")
    set_manual_value(engine, scim.account_id, docs["bob@example.com"]["id"], desk, "C-44")
    # a manual value on a mapped Property the IdP sends nothing for is kept too
    dept = property_id(engine, scim.account_id, "Department")
    set_manual_value(engine, scim.account_id, docs["ada@example.com"]["id"], dept, "Finance")

    set_active(scim, uid, "False")
    delete_user(scim, other_uid)
    result = sync(engine, scim.account_id)
    assert result.counts["deactivated"] == 2
    docs = member_docs(engine, scim.account_id)
    assert docs["ada@example.com"]["properties"] == {
        "Department": "Finance",
        "Job title": "Engineer",
        "Desk": "B-38",
    }
    assert docs["ada@example.com"]["property_sources"]["Desk"] == "manual"
    assert docs["bob@example.com"]["properties"] == {"Desk": "C-44"}

    set_active(scim, uid, "True")
    create_user(scim, "bob@example.com", externalId="ext-bob-2")
    result = sync(engine, scim.account_id)
    assert result.counts["reactivated"] == 2
    docs = member_docs(engine, scim.account_id)
    assert docs["ada@example.com"]["properties"]["Desk"] == "B-38"
    assert docs["ada@example.com"]["properties"]["Department"] == "Finance"
    assert docs["ada@example.com"]["property_sources"]["Department"] == "manual"
    assert docs["bob@example.com"]["properties"] == {"Desk": "C-44"}
    assert {d["status"] for d in docs.values()} == {"active"}


def test_manual_member_is_linked_by_email_case_insensitively(scim, engine):
    with engine.begin() as conn:
        manual = members.add_member(conn, scim.account_id, "Ada@Example.COM", name="Ada (manual)")
    uid = create_user(
        scim,
        "ada.login@example.com",
        displayName="Ada Lovelace",
        emails=[{"type": "work", "value": "ada@example.com", "primary": True}],
    )
    result = sync(engine, scim.account_id)
    assert result.status == "succeeded"
    assert result.counts["created"] == 0 and result.counts["updated"] == 1, result.counts
    item = only_item(engine, scim.account_id, result.run_id)
    assert item["subject_id"] == manual["id"]
    assert item["changes"]["source"] == ["manual", "scim"]
    assert item["changes"]["name"] == ["Ada (manual)", "Ada Lovelace"]
    docs = member_docs(engine, scim.account_id)
    assert len(docs) == 1
    ada = docs["ada@example.com"]
    assert ada["id"] == manual["id"]
    assert ada["source"] == "scim" and ada["directory_user_id"] == uid
    assert ada["email"] == "ada@example.com"


def test_manual_members_without_a_staged_user_are_left_alone(scim, engine):
    with engine.begin() as conn:
        members.add_member(conn, scim.account_id, "solo@example.com")
    create_user(scim, "ada@example.com")
    result = sync(engine, scim.account_id)
    assert result.counts["created"] == 1 and result.counts["deactivated"] == 0
    solo = member_docs(engine, scim.account_id)["solo@example.com"]
    assert (solo["source"], solo["status"], solo["directory_user_id"]) == ("manual", "active", None)


def test_two_staged_users_with_one_email_make_one_member_and_one_error(scim, engine):
    first = create_user(scim, "dup@example.com")
    second = create_user(
        scim, "dup.alias@example.com", emails=[{"type": "work", "value": "DUP@example.com"}]
    )
    result = sync(engine, scim.account_id)
    assert result.status == "succeeded"
    assert result.counts["created"] == 1 and result.counts["errors"] == 1, result.counts
    docs = member_docs(engine, scim.account_id)
    assert list(docs) == ["dup@example.com"]
    linked = docs["dup@example.com"]["directory_user_id"]
    assert linked in (first, second)
    errors = items(engine, scim.account_id, result.run_id, errors_only=True)
    assert len(errors) == 1
    assert errors[0]["directory_id"] == ({first, second} - {linked}).pop()
    assert "dup@example.com" in errors[0]["error"].lower()
    # the conflict stays reported, and nothing else moves
    again = sync(engine, scim.account_id)
    assert again.status == "succeeded"
    assert (again.counts["created"], again.counts["updated"], again.counts["errors"]) == (0, 0, 1)
    assert len(member_docs(engine, scim.account_id)) == 1
