"""The dry run (the plan) writes nothing and predicts the real run; a second run is a no-op."""

from __future__ import annotations

import json

from sqlalchemy import func, select

from scimgate.store.tables.members import member, property_value, team, team_member
from scimgate.store.tables.sync import sync_item, sync_run
from tests.helpers.sync import (
    ENT,
    ZERO_MEMBER_CHANGES,
    create_group,
    create_user,
    create_users,
    delete_user,
    items,
    member_docs,
    patch_group,
    patch_user,
    runs,
    set_active,
    sync,
    teams,
)

TABLES = (member, property_value, team, team_member, sync_run, sync_item)


def row_counts(engine, account_id):
    with engine.connect() as conn:
        return {
            t.name: conn.execute(
                select(func.count()).select_from(t).where(t.c.account_id == account_id)
            ).scalar_one()
            for t in TABLES
        }


def snapshot(engine, account_id):
    docs = member_docs(engine, account_id)
    return (
        {
            k: {
                f: d[f]
                for f in ("id", "name", "status", "source", "directory_user_id", "properties")
            }
            for k, d in docs.items()
        },
        teams(engine, account_id),
        row_counts(engine, account_id),
    )


def outcomes(found):
    """Member items as an admin reads them, without the ids a plan cannot know (members it
    would create), in order. (A plan counts memberships without listing them per team.)"""
    keys = ("action", "label", "directory_id", "changes", "error")
    return [
        tuple(json.dumps(i.get(k) or None, sort_keys=True) for k in keys)
        for i in found
        if i["kind"] == "member"
    ]


def build_directory(scim):
    """Users with titles, departments and managers (some managers sort after their report), and groups."""
    ids = create_users(scim, 12, title="Engineer", **{ENT: {"department": "R&D"}})
    for k, uid in enumerate(ids[1:], start=1):  # ids are random UUIDs: managers sort either way
        patch_user(scim, uid, f"{ENT}:manager", ids[(k + 5) % 12])
    create_group(scim, "Eng", ids[:6])
    create_group(scim, "Ops", ids[4:9])
    create_group(scim, "Empty")
    return ids


def test_dry_run_writes_nothing_and_predicts_the_first_run(scim, engine):
    build_directory(scim)
    create_user(scim, "inactive@example.com", active=False)
    before = row_counts(engine, scim.account_id)
    plan = sync(engine, scim.account_id, dry_run=True, batch_size=5)
    assert plan.status == "planned" and plan.run_id is None and plan.would_hold is False
    assert plan.counts["created"] == 13 - 1
    assert row_counts(engine, scim.account_id) == before
    assert all(v == 0 for v in before.values()), before
    assert runs(engine, scim.account_id) == []
    assert member_docs(engine, scim.account_id) == {}
    # the plan carries a sample of its items: the run's, one for one
    assert {i["action"] for i in plan.items if i["kind"] == "member"} == {"create", "update"}

    real = sync(engine, scim.account_id, batch_size=5)
    assert real.status == "succeeded"
    assert real.counts == plan.counts
    assert outcomes(plan.items) == outcomes(items(engine, scim.account_id, real.run_id))


def test_dry_run_predicts_a_run_with_every_kind_of_change(scim, engine):
    ids = build_directory(scim)
    extra = create_users(scim, 30, prefix="bulk")  # a large base keeps this below the hold
    sync(engine, scim.account_id, batch_size=5)
    groups = {g["displayName"]: g["id"] for g in scim.get("/Groups").json()["Resources"]}

    patch_user(scim, ids[2], "title", "Lead")  # update
    patch_user(scim, ids[3], f"{ENT}:manager", extra[0])  # manager changes
    set_active(scim, ids[5], "False")  # deactivate
    delete_user(scim, extra[1])  # deactivate (removed)
    newbie = create_user(scim, "newbie@example.com", title="Intern")  # create
    patch_user(scim, ids[7], f"{ENT}:manager", newbie)  # manager created in this run
    patch_group(
        scim, groups["Eng"], {"op": "Replace", "path": "displayName", "value": "Engineering"}
    )
    patch_group(scim, groups["Ops"], {"op": "Add", "path": "members", "value": [{"value": newbie}]})
    patch_group(scim, groups["Ops"], {"op": "Remove", "path": f'members[value eq "{ids[4]}"]'})
    assert scim.delete(f"/Groups/{groups['Empty']}").status_code == 204
    create_group(scim, "New", [ids[0], newbie])

    before = snapshot(engine, scim.account_id)
    plan = sync(engine, scim.account_id, dry_run=True, batch_size=5)
    assert plan.status == "planned" and plan.run_id is None
    assert snapshot(engine, scim.account_id) == before

    real = sync(engine, scim.account_id, batch_size=5)
    assert real.status == "succeeded"
    assert real.counts == plan.counts
    assert outcomes(plan.items) == outcomes(items(engine, scim.account_id, real.run_id))
    assert real.counts["created"] == 1 and real.counts["deactivated"] == 2
    assert real.counts["updated"] == 3 and real.counts["teams_removed"] == 1


def test_dry_run_predicts_removing_a_group_that_has_members(scim, engine):
    """Regression: the plan counted the removed team's memberships as removed; the real run
    deletes the team (memberships by cascade) and counted none."""
    users = create_users(scim, 3)
    gid = create_group(scim, "Eng", users)
    sync(engine, scim.account_id)
    assert scim.delete(f"/Groups/{gid}").status_code == 204
    plan = sync(engine, scim.account_id, dry_run=True)
    real = sync(engine, scim.account_id)
    assert real.counts["teams_removed"] == 1
    assert real.counts == plan.counts


def test_dry_run_predicts_memberships_of_a_user_in_error(scim, engine):
    first = create_user(scim, "dup@example.com")
    second = create_user(
        scim, "dup2@example.com", emails=[{"type": "work", "value": "dup@example.com"}]
    )
    create_group(scim, "Eng", [first, second])
    plan = sync(engine, scim.account_id, dry_run=True)
    real = sync(engine, scim.account_id)
    assert (real.counts["errors"], real.counts["memberships_added"]) == (1, 1)
    assert real.counts == plan.counts


def test_second_run_reports_everything_unchanged(scim, engine):
    build_directory(scim)
    create_user(scim, "inactive@example.com", active=False)
    first = sync(engine, scim.account_id, batch_size=5)
    assert first.counts["errors"] == 0, items(
        engine, scim.account_id, first.run_id, errors_only=True
    )
    assert first.counts["teams_created"] == 3 and first.counts["memberships_added"] == 11
    state = snapshot(engine, scim.account_id)

    second = sync(engine, scim.account_id, batch_size=5)
    assert second.status == "succeeded"
    assert {k: second.counts[k] for k in ZERO_MEMBER_CHANGES} == ZERO_MEMBER_CHANGES
    assert second.counts["unchanged"] == 13
    assert {k: v for k, v in second.counts.items() if k.startswith(("teams_", "memberships_"))} == {
        "teams_created": 0,
        "teams_renamed": 0,
        "teams_removed": 0,
        "memberships_added": 0,
        "memberships_removed": 0,
    }
    assert items(engine, scim.account_id, second.run_id) == []
    after = snapshot(engine, scim.account_id)
    assert after[0] == state[0] and after[1] == state[1]
    # and so does the plan
    plan = sync(engine, scim.account_id, dry_run=True, batch_size=5)
    assert plan.counts == second.counts


def test_idempotent_after_deactivations_and_reactivations(scim, engine):
    ids = create_users(scim, 4)
    sync(engine, scim.account_id)
    set_active(scim, ids[0], "False")
    delete_user(scim, ids[1])
    sync(engine, scim.account_id)
    again = sync(engine, scim.account_id)
    assert {k: again.counts[k] for k in ZERO_MEMBER_CHANGES} == ZERO_MEMBER_CHANGES
    assert again.counts["unchanged"] == 3  # the deleted user is no longer staged
    set_active(scim, ids[0], "True")
    create_user(scim, "user01@example.com", externalId="back")
    back = sync(engine, scim.account_id)
    assert back.counts["reactivated"] == 2
    again = sync(engine, scim.account_id)
    assert {k: again.counts[k] for k in ZERO_MEMBER_CHANGES} == ZERO_MEMBER_CHANGES
    assert again.counts["unchanged"] == 4
