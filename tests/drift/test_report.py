"""The drift report's four sections, each with rows that belong in it and rows that do not,
read through the service (scimgate.drift.report) on the test database."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import Engine

from scimgate.drift import report
from scimgate.drift.report import Drift
from scimgate.errors import InvalidValueError
from scimgate.mapping import service as mapping
from scimgate.members import service as members
from scimgate.store import members as member_store
from scimgate.store import property_values, sync_runs
from scimgate.store.database import utcnow
from tests.helpers.sync import (
    ENT,
    add_property,
    create_user,
    items,
    member_docs,
    patch_user,
    property_id,
    set_active,
    sync,
)

SCIMGATE_EXT = "urn:ietf:params:scim:schemas:extension:scimgate:2.0:User"


def section(engine: Engine, account_id: int, name: str, **kw: Any) -> list[dict[str, Any]]:
    """Every row of one section, paged two at a time through small batches."""
    out: list[dict[str, Any]] = []
    cursor = None
    with engine.connect() as conn:
        while True:
            data, cursor = Drift(conn, account_id, batch=2).page(name, cursor=cursor, limit=2)
            out.extend(data)
            if cursor is None:
                return out


def by(rows: list[dict[str, Any]], key: str) -> dict[str, dict[str, Any]]:
    return {r[key]: r for r in rows}


def hand_edit(engine: Engine, account_id: int, who: str, **columns: Any) -> None:
    """What the host product does behind the sync's back: write a member's row directly."""
    member_id = member_docs(engine, account_id)[who]["id"]
    with engine.begin() as conn:
        member_store.update_member(conn, account_id, member_id, **columns)


def hand_set_value(engine: Engine, account_id: int, email: str, prop: str, value: Any) -> None:
    """A Property value rewritten directly, keeping its source (scim)."""
    member_id = member_docs(engine, account_id)[email]["id"]
    with engine.begin() as conn:
        property_values.set_value(
            conn,
            account_id,
            member_id,
            property_id(engine, account_id, prop),
            value,
            source="scim",
            now=utcnow(),
        )


# ---- staged users never synchronized ----


def test_before_any_run_every_staged_user_waits_for_the_first(scim, engine):
    create_user(scim, "ann@example.com", displayName="Ann Lee")
    (row,) = section(engine, scim.account_id, "unsynced")
    assert row["reason"] == "never_run" and row["detail"] == "no Synchronize has run yet"
    assert row["person"] == "Ann Lee (ann@example.com)" and row["email"] == "ann@example.com"
    sync(engine, scim.account_id)
    assert section(engine, scim.account_id, "unsynced") == []


def test_an_inactive_user_never_synchronized_is_listed_a_deactivated_member_is_not(scim, engine):
    gone = create_user(scim, "gone@example.com")
    was = create_user(scim, "was@example.com")
    set_active(scim, gone)
    sync(engine, scim.account_id)
    set_active(scim, was)
    sync(engine, scim.account_id)  # was@ is now a deactivated member: it was synchronized
    rows = section(engine, scim.account_id, "unsynced")
    assert [(r["directory_user_id"], r["reason"]) for r in rows] == [(gone, "inactive")]
    assert rows[0]["detail"] == "inactive in the identity provider" and rows[0]["active"] is False


def test_an_email_claimed_by_another_person_gives_the_runs_own_error(scim, engine):
    # Users are compared in id order (random ids): either may be the one left out.
    create_user(scim, "dana@example.com", displayName="Dana First")
    create_user(
        scim,
        "dana.two@example.com",
        displayName="Dana Second",
        emails=[{"type": "work", "value": "dana@example.com"}],
    )
    result = sync(engine, scim.account_id)
    (item,) = [i for i in items(engine, scim.account_id, result.run_id) if i["error"]]
    (row,) = section(engine, scim.account_id, "unsynced")
    assert row["directory_user_id"] == item["directory_id"] and row["reason"] == "email_taken"
    assert row["detail"] == item["error"]  # the very sentence the run recorded
    assert "is already used by directory user Dana" in row["detail"]


def test_an_error_the_last_run_recorded_is_shown_when_it_no_longer_applies(scim, engine):
    create_user(scim, "dana@example.com")
    create_user(
        scim, "dana.two@example.com", emails=[{"type": "work", "value": "dana@example.com"}]
    )
    result = sync(engine, scim.account_id)
    (item,) = [i for i in items(engine, scim.account_id, result.run_id) if i["error"]]
    hand_edit(engine, scim.account_id, "dana@example.com", email="dana.first@example.com")
    (row,) = section(engine, scim.account_id, "unsynced")
    assert row["directory_user_id"] == item["directory_id"] and row["reason"] == "failed"
    assert row["detail"].startswith(f"the last run ({result.run_id}) recorded an error: ")
    assert "already used by" in row["detail"]


def test_users_staged_after_the_last_run_wait_for_the_next_one(scim, engine):
    create_user(scim, "ann@example.com")
    result = sync(engine, scim.account_id)
    new = create_user(scim, "bob@example.com")
    (row,) = section(engine, scim.account_id, "unsynced")
    assert row["directory_user_id"] == new and row["reason"] == "waiting"
    assert (
        row["detail"] == f"waiting for the next run (staged or changed since run {result.run_id})"
    )


def test_a_user_the_next_run_links_to_a_manual_member_says_so(scim, engine):
    with engine.begin() as conn:
        members.add_member(conn, scim.account_id, "eve@example.com", name="Eve Manual")
    create_user(scim, "eve@example.com")
    (row,) = section(engine, scim.account_id, "unsynced")
    assert row["reason"] == "never_run"
    sync(engine, scim.account_id, dry_run=True)  # a plan is not a run
    with engine.begin() as conn:
        members.add_member(conn, scim.account_id, "fay@example.com", name="Fay Manual")
    create_user(scim, "ann@example.com")
    sync(engine, scim.account_id)
    create_user(scim, "fay@example.com")
    (row,) = section(engine, scim.account_id, "unsynced")
    assert row["reason"] == "waiting"
    assert "linked to the existing member Fay Manual (fay@example.com)" in row["detail"]


def test_a_user_the_failed_last_run_never_reached_says_why(scim, engine):
    create_user(scim, "ann@example.com")
    with engine.begin() as conn:
        run_id = sync_runs.insert_run(
            conn, scim.account_id, trigger="cli", status="failed", owner=None, now=utcnow()
        )
        sync_runs.set_run(conn, scim.account_id, run_id, detail="OperationalError: gone")
    (row,) = section(engine, scim.account_id, "unsynced")
    assert row["reason"] == "run_failed"
    assert (
        row["detail"]
        == f"the last run ({run_id}) failed before reaching them: OperationalError: gone"
    )


def test_after_a_failed_run_only_users_staged_before_it_began_are_run_failed(scim, engine):
    ann = create_user(scim, "ann@example.com")
    eve = create_user(scim, "eve@example.com")
    with engine.begin() as conn:
        run_id = sync_runs.insert_run(
            conn, scim.account_id, trigger="cli", status="running", owner=None, now=utcnow()
        )
        sync_runs.set_run(conn, scim.account_id, run_id, status="failed", detail="gone")
    bob = create_user(scim, "bob@example.com")  # staged while (or after) the run ran
    patch_user(scim, eve, "displayName", "Eve Two")
    rows = by(section(engine, scim.account_id, "unsynced"), "directory_user_id")
    assert rows[ann]["reason"] == "run_failed"
    assert rows[bob]["reason"] == rows[eve]["reason"] == "waiting"
    assert rows[bob]["detail"] == f"waiting for the next run (staged or changed since run {run_id})"


# ---- manual members with no IdP counterpart ----


def test_manual_members_without_a_staged_user_are_listed_matched_ones_are_not(scim, engine):
    with engine.begin() as conn:
        for email in ("solo@example.com", "Mail@Example.com", "login@example.com"):
            members.add_member(conn, scim.account_id, email)
    create_user(scim, "someone@example.com", emails=[{"type": "work", "value": "mail@example.com"}])
    create_user(scim, "LOGIN@example.com", emails=[])
    rows = section(engine, scim.account_id, "manual")
    assert [r["email"] for r in rows] == ["solo@example.com"]
    assert rows[0]["name"] == "solo" and rows[0]["status"] == "active"


def test_a_provisioned_member_is_never_a_manual_one_without_counterpart(scim, engine):
    create_user(scim, "ann@example.com")
    sync(engine, scim.account_id)
    assert section(engine, scim.account_id, "manual") == []


# ---- provisioned members changed by hand ----


def test_a_property_and_the_name_changed_by_hand_are_listed_with_both_values(scim, engine):
    create_user(scim, "ann@example.com", displayName="Ann Lee", title="Engineer")
    create_user(scim, "bob@example.com", title="Designer")
    sync(engine, scim.account_id)
    hand_set_value(engine, scim.account_id, "ann@example.com", "Job title", "CEO")
    hand_edit(engine, scim.account_id, "ann@example.com", name="Annie")
    (row,) = section(engine, scim.account_id, "edited")
    assert row["email"] == "ann@example.com" and row["name"] == "Annie"
    assert row["person"] == "Ann Lee (ann@example.com)"
    assert by(row["fields"], "field") == {
        "name": {"field": "name", "member_value": "Annie", "mapped_value": "Ann Lee"},
        "Job title": {"field": "Job title", "member_value": "CEO", "mapped_value": "Engineer"},
    }


def test_a_cleared_value_and_a_hand_deactivation_are_hand_edits(scim, engine):
    create_user(scim, "ann@example.com", title="Engineer")
    sync(engine, scim.account_id)
    hand_set_value(engine, scim.account_id, "ann@example.com", "Job title", None)
    hand_edit(engine, scim.account_id, "ann@example.com", status="deactivated")
    (row,) = section(engine, scim.account_id, "edited")
    assert by(row["fields"], "field") == {
        "Job title": {"field": "Job title", "member_value": None, "mapped_value": "Engineer"},
        "status": {"field": "status", "member_value": "deactivated", "mapped_value": "active"},
    }


def test_a_manager_changed_by_hand_shows_both_people_by_email(scim, engine):
    boss = create_user(scim, "boss@example.com")
    create_user(scim, "other.boss@example.com")
    create_user(scim, "ann@example.com", **{ENT: {"manager": {"value": boss}}})
    sync(engine, scim.account_id)
    other = member_docs(engine, scim.account_id)["other.boss@example.com"]["id"]
    hand_set_value(engine, scim.account_id, "ann@example.com", "Manager", other)
    (row,) = section(engine, scim.account_id, "edited")
    assert row["fields"] == [
        {
            "field": "Manager",
            "member_value": "other.boss@example.com",
            "mapped_value": "boss@example.com",
        }
    ]


def test_a_pending_identity_provider_change_is_not_a_hand_edit(scim, engine):
    ann = create_user(scim, "ann@example.com", title="Engineer")
    sync(engine, scim.account_id)
    hand_set_value(engine, scim.account_id, "ann@example.com", "Job title", "CEO")
    patch_user(scim, ann, "title", "Staff engineer")  # the staged user moved: a sync will fix it
    assert section(engine, scim.account_id, "edited") == []


def test_a_mapping_change_since_the_sync_is_not_a_hand_edit(scim, engine):
    create_user(scim, "ann@example.com", title="Engineer")
    sync(engine, scim.account_id)
    hand_set_value(engine, scim.account_id, "ann@example.com", "Job title", "CEO")
    with engine.begin() as conn:  # bumps the mapping revision: every member is recomputed
        mapping.remove_mapping(conn, scim.account_id, "Department")
    assert section(engine, scim.account_id, "edited") == []


def test_manual_values_of_unmapped_properties_and_untouched_members_are_not_listed(scim, engine):
    create_user(scim, "ann@example.com", title="Engineer")
    add_property(engine, scim.account_id, "Desk", "text")
    sync(engine, scim.account_id)
    ann = member_docs(engine, scim.account_id)["ann@example.com"]["id"]
    with engine.begin() as conn:
        members.update_member(conn, scim.account_id, ann, properties={"Desk": "4B"})
    assert section(engine, scim.account_id, "edited") == []


# ---- Properties the mapping never fills ----


def test_properties_never_filled_say_why_filled_ones_are_not_listed(scim, engine):
    create_user(scim, "ann@example.com", title="Engineer", userType="Permanent")
    add_property(engine, scim.account_id, "Desk", "text")
    add_property(engine, scim.account_id, "Buddy", "member")
    add_property(engine, scim.account_id, "Kind", "select", ["Employee", "Contractor"])
    with engine.begin() as conn:
        mapping.set_mapping(conn, scim.account_id, "Kind", "userType")
    rows = by(section(engine, scim.account_id, "unfilled"), "property")
    assert set(rows) == {"Department", "Manager", "Desk", "Buddy", "Kind"}  # Job title is filled
    # A member reference has no attribute in the IdP extension: nothing fills it unmapped.
    assert rows["Buddy"]["reason"] == "not_mapped" and rows["Buddy"]["source"] is None
    # Unmapped, Desk is filled from its extension attribute, which no user carries yet.
    assert rows["Desk"]["reason"] == "no_attribute"
    assert rows["Desk"]["source"] == f"{SCIMGATE_EXT}:desk"
    assert rows["Department"]["reason"] == "no_attribute"
    # A Property mapped by hand falls back on its extension attribute: both paths are named.
    both = f"{ENT}:department || {SCIMGATE_EXT}:department"
    assert rows["Department"]["detail"] == f"no staged user has a value at {both}"
    assert rows["Kind"]["reason"] == "no_fit" and "'Permanent'" in rows["Kind"]["detail"]


def test_a_property_filled_by_any_one_user_is_not_listed(scim, engine):
    create_user(scim, "ann@example.com")
    create_user(scim, "bob@example.com", **{ENT: {"department": "Sales"}})
    rows = by(section(engine, scim.account_id, "unfilled"), "property")
    assert "Department" not in rows and set(rows) == {"Job title", "Manager"}


# ---- the account's own data only, counts and pages ----


def test_another_accounts_data_never_appears(make_scim_client, engine):
    mine, theirs = make_scim_client("mine"), make_scim_client("theirs")
    for scim in (mine, theirs):
        create_user(scim, "ann@example.com", title="Engineer")
        sync(engine, scim.account_id)
    hand_set_value(engine, theirs.account_id, "ann@example.com", "Job title", "CEO")
    create_user(theirs, "late@example.com")
    with engine.begin() as conn:
        members.add_member(conn, theirs.account_id, "solo@example.com")
    with engine.connect() as conn:
        doc = report.summary(conn, mine.account_id)
    assert {k: s["count"] for k, s in doc["sections"].items()} == {
        "unsynced": 0,
        "manual": 0,
        "edited": 0,
        "unfilled": 2,
    }
    with engine.connect() as conn:
        doc = report.summary(conn, theirs.account_id)
    assert {k: s["count"] for k, s in doc["sections"].items()} == {
        "unsynced": 1,
        "manual": 1,
        "edited": 1,
        "unfilled": 2,
    }


def test_summary_counts_every_row_and_pages_continue_where_it_stopped(scim, engine):
    for i in range(7):
        create_user(scim, f"user{i}@example.com")
    with engine.connect() as conn:
        doc = report.summary(conn, scim.account_id, limit=3)
    unsynced = doc["sections"]["unsynced"]
    assert unsynced["count"] == 7 and len(unsynced["data"]) == 3 and unsynced["next_cursor"]
    seen = [r["directory_user_id"] for r in unsynced["data"]]
    cursor = unsynced["next_cursor"]
    with engine.connect() as conn:
        while cursor:
            data, cursor = report.section_page(
                conn, scim.account_id, "unsynced", cursor=cursor, limit=3
            )
            seen.extend(r["directory_user_id"] for r in data)
    assert len(seen) == 7 == len(set(seen)) and seen == sorted(seen)
    assert [r["directory_user_id"] for r in section(engine, scim.account_id, "unsynced")] == seen


@pytest.mark.parametrize("cursor", ["nope", "x" * 64, "'; DROP TABLE member; --"])
def test_a_cursor_the_report_did_not_hand_out_is_refused(scim, engine, cursor):
    with engine.connect() as conn, pytest.raises(InvalidValueError, match="cursor"):
        report.section_page(conn, scim.account_id, "manual", cursor=cursor)


def test_an_unknown_section_is_refused(scim, engine):
    with engine.connect() as conn, pytest.raises(InvalidValueError, match="unsynced, manual"):
        report.section_page(conn, scim.account_id, "everything")
