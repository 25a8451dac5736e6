"""Group rules in Synchronize: members of a group get a Property value; precedence over the
mapping, priorities and ties, membership changes, renames, plan == run, tenancy."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import Engine

from scimgate import audit
from scimgate.errors import ConflictError, InvalidValueError, NotFoundError
from scimgate.group_rules import service as rules
from scimgate.mapping import service as mapping
from scimgate.members import properties
from tests.helpers.sync import (
    add_property,
    create_group,
    create_user,
    items,
    member_docs,
    ops,
    set_manual_value,
    sync,
)


def add_rule(engine: Engine, account_id: int, group: str, prop: str, value: Any, **kw: Any) -> int:
    with engine.begin() as conn:
        return int(
            rules.add_rule(conn, account_id, group=group, prop=prop, value=value, **kw)["id"]
        )


def patch_group(scim: Any, group_id: str, *operations: dict[str, Any]) -> None:
    """A Group PATCH, answered 204 or 200 with the group (the answer follows the client)."""
    r = scim.patch(f"/Groups/{group_id}", json=ops(*operations))
    assert r.status_code in (200, 204), r.text


def remove_member(scim: Any, group_id: str, user_id: str) -> None:
    patch_group(scim, group_id, {"op": "remove", "path": f'members[value eq "{user_id}"]'})


def add_member(scim: Any, group_id: str, user_id: str) -> None:
    patch_group(scim, group_id, {"op": "add", "path": "members", "value": [{"value": user_id}]})


def props(engine: Engine, account_id: int, email: str) -> tuple[dict[str, Any], dict[str, str]]:
    doc = member_docs(engine, account_id)[email]
    return doc["properties"], doc["property_sources"]


@pytest.fixture
def role(engine, scim):
    return add_property(engine, scim.account_id, "Role", "select", ["Admin", "Editor", "Viewer"])


def test_a_rule_sets_the_value_and_wins_over_the_mapping(scim, engine, role):
    with engine.begin() as conn:
        mapping.set_mapping(conn, scim.account_id, "Role", "userType")
    ada = create_user(scim, "ada@example.com", userType="Viewer")
    create_user(scim, "bob@example.com", userType="Editor")
    admins = create_group(scim, "Engineering-Admins", [ada])
    add_rule(engine, scim.account_id, "engineering-admins", "role", "admin")

    plan = sync(engine, scim.account_id, dry_run=True)
    shown = {i["label"]: i for i in plan.items if i["kind"] == "member"}
    assert shown["Ada (ada@example.com)"]["changes"]["Role"] == [None, "Admin"]
    assert "Role = Admin: from group Engineering-Admins" in shown["Ada (ada@example.com)"]["notes"]
    result = sync(engine, scim.account_id)
    assert result.counts["created"] == 2
    assert props(engine, scim.account_id, "ada@example.com") == (
        {"Role": "Admin"},
        {"Role": "group"},
    )
    assert props(engine, scim.account_id, "bob@example.com")[0] == {"Role": "Editor"}
    assert sync(engine, scim.account_id).counts["unchanged"] == 2

    # Leaving the group: the mapping's value replaces the rule's, on the next sync only.
    remove_member(scim, admins, ada)
    assert props(engine, scim.account_id, "ada@example.com")[0] == {"Role": "Admin"}
    result = sync(engine, scim.account_id)
    assert result.counts["updated"] == 1 and result.counts["unchanged"] == 1, result.counts
    run_items = items(engine, scim.account_id, result.run_id)
    changed = {i["label"]: i["changes"] for i in run_items if i["kind"] == "member"}
    assert changed == {"Ada (ada@example.com)": {"Role": ["Admin", "Viewer"]}}
    assert props(engine, scim.account_id, "ada@example.com") == (
        {"Role": "Viewer"},
        {"Role": "scim"},
    )
    assert sync(engine, scim.account_id).counts["unchanged"] == 2


def test_leaving_the_group_clears_a_value_only_a_rule_set(scim, engine, role):
    ada = create_user(scim, "ada@example.com")
    bob = create_user(scim, "bob@example.com")
    group = create_group(scim, "Admins", [ada, bob])
    add_rule(engine, scim.account_id, "Admins", "Role", "Admin")
    sync(engine, scim.account_id)
    remove_member(scim, group, bob)
    plan = sync(engine, scim.account_id, dry_run=True)
    result = sync(engine, scim.account_id)
    assert result.counts["updated"] == 1 and result.counts["unchanged"] == 1
    assert props(engine, scim.account_id, "bob@example.com")[0] == {}
    assert props(engine, scim.account_id, "ada@example.com")[0] == {"Role": "Admin"}
    # Joining again sets it again (a membership change alone moves nothing else).
    add_member(scim, group, bob)
    assert sync(engine, scim.account_id).counts["updated"] == 1
    assert props(engine, scim.account_id, "bob@example.com")[0] == {"Role": "Admin"}
    # The plan named the same member change the run made.
    run_items = items(engine, scim.account_id, result.run_id)
    assert [(i["label"], i["changes"]) for i in plan.items if i["kind"] == "member"] == [
        (i["label"], i["changes"]) for i in run_items if i["kind"] == "member"
    ]


def test_a_deleted_group_clears_its_values(scim, engine, role):
    ada = create_user(scim, "ada@example.com")
    group = create_group(scim, "Admins", [ada])
    add_rule(engine, scim.account_id, "Admins", "Role", "Admin")
    sync(engine, scim.account_id)
    assert scim.delete(f"/Groups/{group}").status_code == 204
    result = sync(engine, scim.account_id)
    assert result.counts["updated"] == 1
    assert props(engine, scim.account_id, "ada@example.com")[0] == {}
    with engine.connect() as conn:
        (rule,) = rules.list_rules(conn, scim.account_id)
    assert rule["group_name"] == "Admins" and rule["group_present"] is False


def test_lower_priority_wins_and_a_tie_goes_to_the_older_rule(scim, engine, role):
    ada = create_user(scim, "ada@example.com")
    bob = create_user(scim, "bob@example.com")
    create_group(scim, "Editors", [ada, bob])
    create_group(scim, "Admins", [ada])
    create_group(scim, "Viewers", [bob])
    add_rule(engine, scim.account_id, "Editors", "Role", "Editor", priority=20)
    admins = add_rule(engine, scim.account_id, "Admins", "Role", "Admin", priority=10)
    add_rule(engine, scim.account_id, "Viewers", "Role", "Viewer", priority=20)
    sync(engine, scim.account_id)
    assert props(engine, scim.account_id, "ada@example.com")[0] == {"Role": "Admin"}
    # Editors and Viewers tie at 20: Editors' rule is older.
    assert props(engine, scim.account_id, "bob@example.com")[0] == {"Role": "Editor"}

    with engine.begin() as conn:
        rules.update_rule(conn, scim.account_id, admins, priority=30)
    result = sync(engine, scim.account_id)
    assert result.counts["updated"] == 1
    assert props(engine, scim.account_id, "ada@example.com")[0] == {"Role": "Editor"}
    with engine.connect() as conn:
        listed = [(r["group_name"], r["priority"]) for r in rules.list_rules(conn, scim.account_id)]
    assert listed == [("Editors", 20), ("Viewers", 20), ("Admins", 30)]


def test_a_renamed_group_keeps_its_rule(scim, engine, role):
    ada = create_user(scim, "ada@example.com")
    group = create_group(scim, "Admins", [ada])
    add_rule(engine, scim.account_id, "Admins", "Role", "Admin")
    patch_group(scim, group, {"op": "replace", "path": "displayName", "value": "Platform Admins"})
    plan = sync(engine, scim.account_id, dry_run=True)
    member = next(i for i in plan.items if i["kind"] == "member")
    assert "Role = Admin: from group Platform Admins" in member["notes"]
    sync(engine, scim.account_id)
    assert props(engine, scim.account_id, "ada@example.com")[0] == {"Role": "Admin"}
    with engine.connect() as conn:
        (rule,) = rules.list_rules(conn, scim.account_id)
        assert rule["group_name"] == "Platform Admins" and rule["group_present"] is True
        # the member page names the group the value comes from, by its current name
        doc = member_docs(engine, scim.account_id)["ada@example.com"]
        origin = rules.member_origins(conn, scim.account_id, ada, {role: "Admin"})
    assert origin[role]["group_name"] == "Platform Admins" and doc["id"]


def test_rules_overwrite_manual_values_only_for_group_members(scim, engine):
    vip = add_property(engine, scim.account_id, "VIP", "boolean")
    ada = create_user(scim, "ada@example.com")
    create_user(scim, "bob@example.com")
    create_group(scim, "Board", [ada])
    sync(engine, scim.account_id)
    docs = member_docs(engine, scim.account_id)
    for email in ("ada@example.com", "bob@example.com"):
        set_manual_value(engine, scim.account_id, docs[email]["id"], vip, False)
    add_rule(engine, scim.account_id, "Board", "VIP", "yes")
    sync(engine, scim.account_id)
    assert props(engine, scim.account_id, "ada@example.com") == ({"VIP": True}, {"VIP": "group"})
    assert props(engine, scim.account_id, "bob@example.com") == ({"VIP": False}, {"VIP": "manual"})


def test_removing_a_rule_clears_its_values_on_the_next_sync(scim, engine, role):
    ada = create_user(scim, "ada@example.com")
    create_group(scim, "Admins", [ada])
    rule = add_rule(engine, scim.account_id, "Admins", "Role", "Admin")
    sync(engine, scim.account_id)
    with engine.begin() as conn:
        removed = rules.remove_rule(conn, scim.account_id, rule)
        with pytest.raises(NotFoundError):
            rules.remove_rule(conn, scim.account_id, rule)
    assert removed["group_name"] == "Admins"
    result = sync(engine, scim.account_id)
    assert result.counts["updated"] == 1
    assert props(engine, scim.account_id, "ada@example.com")[0] == {}


def test_values_are_checked_against_the_property(scim, engine, role):
    ada = create_user(scim, "ada@example.com")
    create_group(scim, "Admins", [ada])
    add_property(engine, scim.account_id, "Level", "number")
    add_property(engine, scim.account_id, "Note", "text")
    bad = [
        ("Admins", "Role", "Owner", InvalidValueError),  # not an option
        ("Admins", "Level", "3", InvalidValueError),  # not a select, boolean or text
        ("Admins", "Note", "", InvalidValueError),
        ("Nobody", "Role", "Admin", NotFoundError),
        ("Admins", "Nothing", "Admin", NotFoundError),
        ("Admins", "Role", "Admin", None),
        ("Admins", "Role", "Editor", ConflictError),  # one rule per group and Property
    ]
    for group, prop, value, error in bad:
        if error is None:
            add_rule(engine, scim.account_id, group, prop, value)
            continue
        with pytest.raises(error):
            add_rule(engine, scim.account_id, group, prop, value)
    with engine.begin() as conn, pytest.raises(InvalidValueError):
        rules.add_rule(conn, scim.account_id, group="Admins", prop="Note", value="x", priority=-1)


def test_options_a_rule_uses_cannot_be_removed_and_follow_a_rename(scim, engine, role):
    ada = create_user(scim, "ada@example.com")
    create_group(scim, "Admins", [ada])
    add_rule(engine, scim.account_id, "Admins", "Role", "Admin")
    with engine.begin() as conn, pytest.raises(ConflictError, match="group rules"):
        properties.update_options(
            conn, scim.account_id, role, ["Editor", "Viewer"], clear_removed=True
        )
    with engine.begin() as conn:
        properties.update_options(
            conn,
            scim.account_id,
            role,
            ["Administrator", "Editor", "Viewer"],
            renamed={"Admin": "Administrator"},
        )
        (rule,) = rules.list_rules(conn, scim.account_id)
    assert rule["value"] == "Administrator"
    sync(engine, scim.account_id)
    assert props(engine, scim.account_id, "ada@example.com")[0] == {"Role": "Administrator"}
    with engine.begin() as conn:
        properties.delete(conn, scim.account_id, role)
        assert rules.list_rules(conn, scim.account_id) == []
        entry = audit.list_page(conn, scim.account_id, limit=1)[0][0]
    assert entry["action"] == "property.deleted"
    assert entry["details"]["group_rules_removed"] == 1


def test_rules_stay_in_their_account(scim, other, engine, role):
    ada = create_user(scim, "ada@example.com")
    create_group(scim, "Admins", [ada])
    bob = create_user(other, "bob@example.com")
    create_group(other, "Admins", [bob])
    add_property(engine, other.account_id, "Role", "select", ["Admin", "Editor"])
    rule = add_rule(engine, scim.account_id, "Admins", "Role", "Admin")
    sync(engine, scim.account_id)
    sync(engine, other.account_id)
    assert props(engine, other.account_id, "bob@example.com")[0] == {}
    with engine.begin() as conn:
        assert rules.list_rules(conn, other.account_id) == []
        with pytest.raises(NotFoundError):
            rules.get_rule(conn, other.account_id, rule)
        with pytest.raises(NotFoundError):
            rules.remove_rule(conn, other.account_id, rule)
        with pytest.raises(NotFoundError):  # a group of the other account is not staged here
            rules.add_rule(conn, other.account_id, group=ada, prop="Role", value="Admin")


def test_the_drift_report_reads_rules_as_the_sync_does(scim, engine, role):
    from scimgate.drift.report import Drift

    def sections() -> dict[str, list[Any]]:
        with engine.connect() as conn:
            drift = Drift(conn, scim.account_id)
            return {s: list(drift.rows(s)) for s in ("edited", "unfilled")}

    with engine.begin() as conn:
        mapping.set_mapping(conn, scim.account_id, "Role", "userType")
    ada = create_user(scim, "ada@example.com", userType="Viewer")
    group = create_group(scim, "Admins", [ada])
    add_property(engine, scim.account_id, "VIP", "boolean")
    add_rule(engine, scim.account_id, "Admins", "Role", "Admin")
    add_rule(engine, scim.account_id, "Admins", "VIP", True)
    sync(engine, scim.account_id)
    found = sections()
    assert found["edited"] == []  # a rule's value is no hand edit
    assert "VIP" not in [r["property"] for _k, r in found["unfilled"]]  # a rule fills it
    remove_member(scim, group, ada)
    assert sections()["edited"] == []  # pending for the next sync, not an edit
