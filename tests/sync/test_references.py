"""Member references (the manager) to people who are not members: the plan and the run
apply one rule (left empty, with a note in the plan), and one run reaches "nothing to do"."""

from __future__ import annotations

import json

from tests.helpers.sync import ENT, ZERO_MEMBER_CHANGES, create_user, items, set_active, sync


def outcomes(found):
    keys = ("action", "label", "directory_id", "changes", "error")
    return [
        tuple(json.dumps(i.get(k) or None, sort_keys=True) for k in keys)
        for i in found
        if i["kind"] == "member"
    ]


def nothing_to_do(result):
    return {k: result.counts[k] for k in ZERO_MEMBER_CHANGES} == ZERO_MEMBER_CHANGES


def test_a_manager_deactivated_before_the_first_sync(scim, engine):
    """Regression: the plan showed "Manager: — → (new member …)", the run recorded
    "directory user … is not a member" for each report, and from then on every plan said
    "3 changed" and every run "0 updated, 3 errors"."""
    mona = create_user(scim, "mona@example.com", displayName="Mona Lisa")
    for name in ("ann", "bob", "cid"):
        create_user(scim, f"{name}@example.com", **{ENT: {"manager": {"value": mona}}})
    set_active(scim, mona, "False")
    note = "Manager left empty: Mona Lisa (mona@example.com) is not a member (inactive in the identity provider)"

    plan = sync(engine, scim.account_id, dry_run=True, batch_size=2)
    assert plan.counts["created"] == 3 and plan.counts["errors"] == 0, plan.counts
    assert all("Manager" not in i["changes"] for i in plan.items), plan.items
    assert [i["notes"] for i in plan.items] == [[note]] * 3

    run = sync(engine, scim.account_id, batch_size=2)
    assert run.counts == plan.counts
    assert outcomes(plan.items) == outcomes(items(engine, scim.account_id, run.run_id))

    for _ in range(2):  # nothing left to do, and the plan agrees
        plan = sync(engine, scim.account_id, dry_run=True, batch_size=2)
        assert nothing_to_do(plan) and plan.items == [], plan.counts
        again = sync(engine, scim.account_id, batch_size=2)
        assert nothing_to_do(again) and again.counts == plan.counts, again.counts
        assert items(engine, scim.account_id, again.run_id) == []

    # Mona comes back: she becomes a member and is everyone's manager, in plan and run
    set_active(scim, mona, "True")
    plan = sync(engine, scim.account_id, dry_run=True, batch_size=2)
    back = sync(engine, scim.account_id, batch_size=2)
    assert (back.counts["created"], back.counts["updated"], back.counts["errors"]) == (1, 3, 0)
    assert back.counts == plan.counts
    assert outcomes(plan.items) == outcomes(items(engine, scim.account_id, back.run_id))
    managers = [
        i["changes"]["Manager"]
        for i in items(engine, scim.account_id, back.run_id)
        if i["action"] == "update"
    ]
    assert managers == [[None, "mona@example.com"]] * 3
    assert nothing_to_do(sync(engine, scim.account_id, batch_size=2))


def test_a_manager_kept_out_by_an_error_is_reported_once(scim, engine):
    """A manager whose email is another user's is one error (theirs); their reports are
    created without a manager, with a note, not an error each."""
    create_user(scim, "max@example.com", displayName="Max One")
    boss = create_user(
        scim,
        "max.two@example.com",
        displayName="Max Two",
        emails=[{"type": "work", "value": "max@example.com"}],
    )
    for name in ("ann", "bob"):
        create_user(scim, f"{name}@example.com", **{ENT: {"manager": {"value": boss}}})
    plan = sync(engine, scim.account_id, dry_run=True, batch_size=1)
    run = sync(engine, scim.account_id, batch_size=1)
    assert run.counts == plan.counts
    assert outcomes(plan.items) == outcomes(items(engine, scim.account_id, run.run_id))
    errors = items(engine, scim.account_id, run.run_id, errors_only=True)
    assert len(errors) == run.counts["errors"] == 1, errors
    if errors[0]["directory_id"] == boss:  # else Max One lost the email to the boss
        notes = [i.get("notes") for i in plan.items if i["label"].startswith(("Ann", "Bob"))]
        expected = (
            "Manager left empty: Max Two (max.two@example.com) could not become a member "
            "(see the error on their row)"
        )
        assert notes and all(n == [expected] for n in notes), plan.items
    again = sync(engine, scim.account_id, batch_size=1)
    assert (again.counts["created"], again.counts["updated"], again.counts["errors"]) == (0, 0, 1)


def test_the_plan_sees_what_earlier_batches_would_write(scim, engine):
    """A plan writes nothing, yet a later batch must see the emails and members an earlier
    batch would have created: the same errors, managers and counts as the run."""
    users = [create_user(scim, f"p{i}@example.com") for i in range(4)]
    create_user(scim, "alias@example.com", emails=[{"type": "work", "value": "p1@example.com"}])
    for k in range(len(users)):
        create_user(scim, f"r{k}@example.com", **{ENT: {"manager": {"value": users[(k + 1) % 4]}}})
    plan = sync(engine, scim.account_id, dry_run=True, batch_size=1)
    run = sync(engine, scim.account_id, batch_size=1)
    assert run.counts == plan.counts and run.counts["errors"] == 1, run.counts
    assert outcomes(plan.items) == outcomes(items(engine, scim.account_id, run.run_id))
