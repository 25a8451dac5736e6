"""Directory groups become teams with their user members."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from scimgate.store.tables.members import team_member
from tests.helpers.sync import (
    create_group,
    create_users,
    delete_user,
    items,
    patch_group,
    set_active,
    sync,
    team_rows,
    teams,
)


def emails(n, prefix="user"):
    return sorted(f"{prefix}{i:02d}@example.com" for i in n)


def test_groups_become_teams_with_their_user_members(scim, engine):
    users = create_users(scim, 4)
    eng = create_group(scim, "Engineering", users[:3])
    create_group(scim, "Empty")
    result = sync(engine, scim.account_id)
    assert result.status == "succeeded"
    assert result.counts["teams_created"] == 2
    assert result.counts["memberships_added"] == 3
    assert teams(engine, scim.account_id) == {"Empty": [], "Engineering": emails(range(3))}
    row = next(t for t in team_rows(engine, scim.account_id) if t["name"] == "Engineering")
    assert row["directory_group_id"] == eng
    team_items = [i for i in items(engine, scim.account_id, result.run_id) if i["kind"] == "team"]
    by_label = {i["label"]: i for i in team_items}
    assert by_label["Engineering"]["action"] == "create"
    assert by_label["Engineering"]["changes"]["name"] == [None, "Engineering"]
    assert by_label["Engineering"]["changes"]["members_added"][1] == 3


def test_renamed_group_renames_its_team(scim, engine):
    users = create_users(scim, 2)
    gid = create_group(scim, "Eng", users)
    sync(engine, scim.account_id)
    team_id = team_rows(engine, scim.account_id)[0]["id"]
    patch_group(scim, gid, {"op": "Replace", "path": "displayName", "value": "Engineering"})
    result = sync(engine, scim.account_id)
    assert result.counts["teams_renamed"] == 1 and result.counts["teams_created"] == 0
    (row,) = team_rows(engine, scim.account_id)
    assert (row["id"], row["name"]) == (team_id, "Engineering")
    assert row["members"] == emails(range(2))
    (item,) = items(engine, scim.account_id, result.run_id)
    assert (item["kind"], item["action"], item["changes"]) == (
        "team",
        "rename",
        {"name": ["Eng", "Engineering"]},
    )


@pytest.mark.slow
def test_deleted_group_removes_its_team(scim, engine):
    users = create_users(scim, 2)
    gid = create_group(scim, "Eng", users)
    create_group(scim, "Ops", users[:1])
    sync(engine, scim.account_id)
    assert scim.delete(f"/Groups/{gid}").status_code == 204
    result = sync(engine, scim.account_id)
    assert result.status == "succeeded"
    assert result.counts["teams_removed"] == 1
    assert teams(engine, scim.account_id) == {"Ops": emails([0])}
    with engine.connect() as conn:  # the removed team's memberships went with it
        left = conn.execute(
            select(func.count())
            .select_from(team_member)
            .where(team_member.c.account_id == scim.account_id)
        ).scalar_one()
    assert left == 1
    (item,) = [i for i in items(engine, scim.account_id, result.run_id) if i["action"] == "remove"]
    assert item["kind"] == "team" and item["label"] == "Eng" and item["directory_id"] == gid


def test_membership_add_and_remove_by_entra_patch(scim, engine):
    users = create_users(scim, 4)
    gid = create_group(scim, "Eng", users[:2])
    sync(engine, scim.account_id)
    patch_group(
        scim,
        gid,
        {"op": "Add", "path": "members", "value": [{"value": users[2]}, {"value": users[3]}]},
    )
    result = sync(engine, scim.account_id)
    assert result.counts["memberships_added"] == 2 and result.counts["memberships_removed"] == 0
    assert teams(engine, scim.account_id) == {"Eng": emails(range(4))}
    (item,) = items(engine, scim.account_id, result.run_id)
    assert item["action"] == "update" and item["changes"] == {"members_added": [0, 2]}

    patch_group(scim, gid, {"op": "Remove", "path": f'members[value eq "{users[0]}"]'})
    patch_group(scim, gid, {"op": "Remove", "path": "members", "value": [{"value": users[3]}]})
    result = sync(engine, scim.account_id)
    assert result.counts["memberships_removed"] == 2 and result.counts["memberships_added"] == 0
    assert teams(engine, scim.account_id) == {"Eng": emails([1, 2])}


def test_nested_group_members_are_ignored(scim, engine):
    users = create_users(scim, 3)
    inner = create_group(scim, "Inner", users[1:])
    r = scim.post(
        "/Groups",
        json={
            "displayName": "Outer",
            "members": [{"value": users[0]}, {"value": inner, "type": "Group"}],
        },
    )
    assert r.status_code == 201, r.text
    result = sync(engine, scim.account_id)
    assert result.status == "succeeded" and result.counts["errors"] == 0
    assert result.counts["memberships_added"] == 3  # 1 in Outer, 2 in Inner
    assert teams(engine, scim.account_id) == {"Inner": emails([1, 2]), "Outer": emails([0])}


def test_members_deactivated_or_deleted(scim, engine):
    users = create_users(scim, 3)
    create_group(scim, "Eng", users)
    sync(engine, scim.account_id)
    # unassigned in Entra but still listed in the group: still on the team (deactivated)
    set_active(scim, users[0], "False")
    # deleted from staging: its memberships go with it
    delete_user(scim, users[1])
    result = sync(engine, scim.account_id)
    assert result.counts["deactivated"] == 2
    assert result.counts["memberships_removed"] == 1
    assert teams(engine, scim.account_id) == {"Eng": emails([0, 2])}


def test_a_group_member_that_is_not_a_member_yet_joins_when_created(scim, engine):
    users = create_users(scim, 1)
    gid = create_group(scim, "Eng", users)
    sync(engine, scim.account_id)
    (late,) = create_users(scim, 1, prefix="late")
    patch_group(scim, gid, {"op": "Add", "path": "members", "value": [{"value": late}]})
    result = sync(engine, scim.account_id)
    assert result.counts["created"] == 1 and result.counts["memberships_added"] == 1
    assert teams(engine, scim.account_id) == {"Eng": ["late00@example.com", "user00@example.com"]}
