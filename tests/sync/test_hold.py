"""The safety hold: a run that would deactivate too many members stops until confirmed."""

from __future__ import annotations

import pytest

from scimgate.errors import InvalidValueError, NotFoundError
from scimgate.sync import schedule
from tests.helpers.sync import (
    create_users,
    delete_user,
    get_run,
    items,
    member_docs,
    runs,
    set_active,
    sync,
)


@pytest.fixture
def thirty(scim, engine):
    """30 provisioned active members."""
    ids = create_users(scim, 30)
    first = sync(engine, scim.account_id, batch_size=10)
    assert first.counts["created"] == 30
    return ids


def statuses(engine, account_id):
    return {d["status"] for d in member_docs(engine, account_id).values()}


def deactivate(scim, ids, how):
    for uid in ids:
        if how == "patch":
            set_active(scim, uid, "False")
        else:
            delete_user(scim, uid)


@pytest.mark.parametrize("how", ["patch", "delete"])
def test_too_many_deactivations_hold_the_run_and_change_nothing(scim, engine, thirty, how):
    deactivate(scim, thirty[:12], how)
    before = member_docs(engine, scim.account_id)
    result = sync(engine, scim.account_id, batch_size=10)
    assert result.status == "held"
    assert result.run_id is not None
    assert result.counts["deactivated"] == 12 and result.counts["unchanged"] == 18
    assert "12 of 30" in result.detail and "40%" in result.detail
    assert "10%" in result.detail and "confirm" in result.detail.lower()
    assert member_docs(engine, scim.account_id) == before
    assert statuses(engine, scim.account_id) == {"active"}
    run = get_run(engine, scim.account_id, result.run_id)
    assert run["status"] == "held" and run["detail"] == result.detail
    assert run["counts"]["deactivated"] == 12
    # the held run lists who it would deactivate, for the admin deciding on it
    held_items = items(engine, scim.account_id, result.run_id)
    assert len(held_items) == 12 and {i["action"] for i in held_items} == {"deactivate"}
    assert {i["label"] for i in held_items} == {
        f"User{i:02d} (user{i:02d}@example.com)" for i in range(12)
    }


@pytest.mark.parametrize("how", ["patch", "delete"])
def test_confirming_a_held_run_applies_it(scim, engine, thirty, how):
    deactivate(scim, thirty[:12], how)
    held = sync(engine, scim.account_id, batch_size=10)
    assert held.status == "held"
    result = sync(engine, scim.account_id, confirm=held.run_id, batch_size=10)
    assert result.status == "succeeded" and result.run_id == held.run_id
    assert result.counts["deactivated"] == 12 and result.counts["unchanged"] == 18
    docs = member_docs(engine, scim.account_id)
    assert sum(d["status"] == "deactivated" for d in docs.values()) == 12
    assert get_run(engine, scim.account_id, held.run_id)["status"] == "succeeded"
    # the run's items are now what it did, not the plan it was held with
    done = items(engine, scim.account_id, held.run_id)
    assert len(done) == 12 and {i["action"] for i in done} == {"deactivate"}
    assert [i["seq"] for i in done] == list(range(1, 13))
    # confirming it again is refused: it is not held any more
    with pytest.raises(InvalidValueError, match="not held"):
        sync(engine, scim.account_id, confirm=held.run_id)


def test_a_confirmation_facing_more_deactivations_is_held_again(scim, engine, thirty):
    deactivate(scim, thirty[:12], "patch")
    held = sync(engine, scim.account_id)
    deactivate(scim, thirty[12:14], "patch")  # two more since the admin looked
    again = sync(engine, scim.account_id, confirm=held.run_id)
    assert again.status == "held" and again.run_id == held.run_id
    assert again.counts["deactivated"] == 14
    assert statuses(engine, scim.account_id) == {"active"}
    run = get_run(engine, scim.account_id, held.run_id)
    assert run["status"] == "held" and run["counts"]["deactivated"] == 14
    done = sync(engine, scim.account_id, confirm=held.run_id)
    assert done.status == "succeeded" and done.counts["deactivated"] == 14


def test_a_confirmation_leaves_no_running_lease_behind(scim, engine, thirty):
    """Regression: the confirmation restarted item seq at 1 over the held run's stored plan
    items (primary key violation), failed, and could not even record its failure."""
    deactivate(scim, thirty[:12], "patch")
    held = sync(engine, scim.account_id)
    sync(engine, scim.account_id, confirm=held.run_id)
    assert [r["id"] for r in runs(engine, scim.account_id) if r["status"] == "running"] == []
    assert sync(engine, scim.account_id).status == "succeeded"


def test_confirming_a_run_that_is_not_held_or_not_there(scim, engine, thirty):
    done = sync(engine, scim.account_id)
    assert done.status == "succeeded"
    with pytest.raises(InvalidValueError):
        sync(engine, scim.account_id, confirm=done.run_id)
    with pytest.raises(NotFoundError):
        sync(engine, scim.account_id, confirm=9999)
    # a refused confirmation leaves no running lease behind
    assert [r for r in runs(engine, scim.account_id) if r["status"] == "running"] == []


def test_below_the_threshold_is_not_held(scim, engine, thirty):
    deactivate(scim, thirty[:2], "patch")
    result = sync(engine, scim.account_id)
    assert result.status == "succeeded" and result.counts["deactivated"] == 2


def test_at_least_the_minimum_is_needed(scim, engine, thirty):
    # 9 of 30 is 30% but fewer than 10
    deactivate(scim, thirty[:9], "patch")
    assert sync(engine, scim.account_id).status == "succeeded"


def test_hold_percent_100_disables_the_hold(scim, engine, thirty):
    with engine.begin() as conn:
        settings = schedule.configure(conn, scim.account_id, hold_percent=100)
    assert settings["hold_percent"] == 100
    deactivate(scim, thirty[:25], "delete")
    result = sync(engine, scim.account_id)
    assert result.status == "succeeded" and result.counts["deactivated"] == 25


def test_configured_threshold_applies(scim, engine, thirty):
    with engine.begin() as conn:
        schedule.configure(conn, scim.account_id, hold_percent=5, hold_minimum=2)
    deactivate(scim, thirty[:2], "patch")
    assert sync(engine, scim.account_id).status == "held"


def test_dry_run_of_a_held_plan_says_would_hold_and_writes_nothing(scim, engine, thirty):
    deactivate(scim, thirty[:12], "patch")
    plan = sync(engine, scim.account_id, dry_run=True)
    assert plan.status == "planned" and plan.run_id is None
    assert plan.would_hold is True and plan.counts["deactivated"] == 12
    assert len(runs(engine, scim.account_id)) == 1  # only the initial run
    assert statuses(engine, scim.account_id) == {"active"}
    below = sync(engine, scim.account_id, dry_run=True)
    assert below.would_hold is True  # nothing moved
    with engine.begin() as conn:
        schedule.configure(conn, scim.account_id, hold_percent=100)
    assert sync(engine, scim.account_id, dry_run=True).would_hold is False


def test_a_later_held_run_supersedes_an_older_one(scim, engine, thirty):
    deactivate(scim, thirty[:12], "patch")
    first = sync(engine, scim.account_id)
    second = sync(engine, scim.account_id)
    assert (first.status, second.status) == ("held", "held")
    assert get_run(engine, scim.account_id, first.run_id)["status"] == "superseded"
    with pytest.raises(InvalidValueError):
        sync(engine, scim.account_id, confirm=first.run_id)
    assert statuses(engine, scim.account_id) == {"active"}


def test_a_held_run_does_not_apply_other_changes_either(scim, engine, thirty):
    deactivate(scim, thirty[:12], "patch")
    create_users(scim, 1, prefix="newbie")
    r = scim.post("/Groups", json={"displayName": "Eng", "members": [{"value": thirty[20]}]})
    assert r.status_code == 201
    result = sync(engine, scim.account_id)
    assert result.status == "held"
    assert result.counts["created"] == 1 and result.counts["teams_created"] == 1
    docs = member_docs(engine, scim.account_id)
    assert "newbie00@example.com" not in docs and len(docs) == 30
