"""The default mapping installed at activation, and what a sync fills from it."""

from __future__ import annotations

from scimgate.mapping import service as mapping
from tests.helpers.sync import ENT, create_user, create_users, items, member_docs, patch_user, sync


def test_activation_installs_the_default_mapping(scim, engine):
    with engine.connect() as conn:
        listed = {m["target"]: m for m in mapping.list_mappings(conn, scim.account_id)}
    assert listed["name"]["source"] == "displayName || name.formatted || userName"
    assert listed["email"]["source"] == 'emails[type eq "work"].value || emails.value || userName'
    assert (listed["Job title"]["type"], listed["Job title"]["source"]) == ("text", "title")
    assert (listed["Department"]["type"], listed["Department"]["source"]) == (
        "text",
        f"{ENT}:department",
    )
    assert (listed["Manager"]["type"], listed["Manager"]["source"]) == ("member", f"{ENT}:manager")
    assert {m["kind"] for m in listed.values()} == {"field", "property"}


def test_sync_fills_name_email_and_default_properties(scim, engine):
    boss = create_user(scim, "boss@example.com", displayName="The Boss")
    create_user(
        scim,
        "ada@example.com",
        displayName="Ada Lovelace",
        title="Engineer",
        **{ENT: {"department": "R&D", "manager": {"value": boss}}},
    )
    result = sync(engine, scim.account_id)
    assert result.status == "succeeded", result
    assert result.counts["created"] == 2 and result.counts["errors"] == 0
    docs = member_docs(engine, scim.account_id)
    ada = docs["ada@example.com"]
    assert ada["name"] == "Ada Lovelace"
    assert ada["status"] == "active" and ada["source"] == "scim"
    assert ada["properties"] == {
        "Job title": "Engineer",
        "Department": "R&D",
        "Manager": "boss@example.com",  # shown by the manager member's email
    }
    assert set(ada["property_sources"].values()) == {"scim"}
    assert docs["boss@example.com"]["name"] == "The Boss"
    assert docs["boss@example.com"]["properties"] == {}


def test_email_is_the_work_email_else_the_user_name_when_it_is_an_email(scim, engine):
    # work email wins over userName
    create_user(
        scim,
        "login1@example.com",
        emails=[
            {"type": "home", "value": "home1@example.net"},
            {"type": "work", "value": "work1@example.com"},
        ],
    )
    # no emails at all: the userName, since it is an email address
    create_user(scim, "plain@example.com", emails=[])
    # no emails and a userName that is not an email: the userName fallback does not fit,
    # which is no error ("else the userName if it is an email"); created without an email
    create_user(scim, "jdoe", emails=[], displayName="John Doe")
    result = sync(engine, scim.account_id)
    assert result.status == "succeeded"
    assert result.counts["created"] == 3 and result.counts["errors"] == 0, result.counts
    assert items(engine, scim.account_id, result.run_id, errors_only=True) == []
    # ... but a work email that is not an address is reported: it is the first choice.
    create_user(
        scim, "bad", emails=[{"type": "work", "value": "not-an-address"}], displayName="Bad Address"
    )
    result = sync(engine, scim.account_id)
    errors = items(engine, scim.account_id, result.run_id, errors_only=True)
    assert [e["action"] for e in errors] == ["create"]
    assert "'not-an-address' is not an email address" in errors[0]["error"]
    docs = member_docs(engine, scim.account_id)
    assert set(docs) == {"work1@example.com", "plain@example.com", "john doe", "bad address"}
    assert docs["john doe"]["email"] is None
    assert docs["plain@example.com"]["name"] == "Plain"


def test_name_falls_back_to_formatted_name_then_user_name(scim, engine):
    create_user(scim, "a@example.com", displayName=None)
    create_user(scim, "b@example.com", displayName=None, name={"givenName": "B"})
    sync(engine, scim.account_id)
    docs = member_docs(engine, scim.account_id)
    assert docs["a@example.com"]["name"] == "Barbara Jensen"  # name.formatted of user_body
    assert docs["b@example.com"]["name"] == "b@example.com"  # no formatted name: the userName


def test_manager_resolved_across_batches_even_when_sorting_after_the_report(scim, engine):
    ids = sorted(create_users(scim, 50, prefix="emp"))
    email_of = {}
    for uid in ids:
        email_of[uid] = scim.get(f"/Users/{uid}").json()["userName"]
    # Every report's manager sorts after it (so is written in a later batch, or later in the
    # same batch); the last one reports to the first.
    managers = {uid: ids[(k + 1) % len(ids)] for k, uid in enumerate(ids)}
    for uid, mid in managers.items():
        patch_user(scim, uid, f"{ENT}:manager", mid)

    result = sync(engine, scim.account_id, batch_size=10)
    assert result.status == "succeeded"
    assert result.counts["created"] == 50
    assert result.counts["errors"] == 0, items(
        engine, scim.account_id, result.run_id, errors_only=True
    )
    assert (
        result.counts["updated"] == 0
    )  # resolving the manager of a member created in this run is part of its creation
    docs = member_docs(engine, scim.account_id)
    by_du = {d["directory_user_id"]: d for d in docs.values()}
    for uid, mid in managers.items():
        assert by_du[uid]["properties"]["Manager"] == email_of[mid], uid
        assert by_du[uid]["property_sources"]["Manager"] == "scim"

    # Everything resolved: the next run has nothing to do.
    again = sync(engine, scim.account_id, batch_size=10)
    assert again.counts["unchanged"] == 50
    assert again.counts["updated"] == again.counts["errors"] == 0, again.counts


def test_manager_that_is_not_staged_is_left_empty_with_a_note_and_no_error(scim, engine):
    """Entra sends the manager of users whose manager is not assigned to the app: the
    member is created without one (the plan says why), and nothing is left to do."""
    create_user(scim, "orphan@example.com", **{ENT: {"manager": {"value": "no-such-user"}}})
    plan = sync(engine, scim.account_id, dry_run=True)
    (item,) = plan.items
    assert "Manager" not in item["changes"]
    assert item["notes"] == [
        "Manager left empty: directory user no-such-user is not in the staging directory"
    ]
    result = sync(engine, scim.account_id)
    assert result.status == "succeeded"
    assert result.counts["created"] == 1 and result.counts["errors"] == 0, result.counts
    assert member_docs(engine, scim.account_id)["orphan@example.com"]["properties"] == {}
    again = sync(engine, scim.account_id)
    assert (again.counts["updated"], again.counts["errors"], again.counts["unchanged"]) == (0, 0, 1)
