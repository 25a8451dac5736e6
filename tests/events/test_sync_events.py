"""What a Synchronize tells the host product through Events: one per member change, each
naming its member, never one for a user that did not become a member, and member
references (the manager) shown the way /api/v1/members shows them."""

from __future__ import annotations

from scimgate.members import service as members
from scimgate.store import events as event_store
from tests.helpers.sync import ENT, create_user, items, patch_user, sync


def member_events(engine, account_id, after=0):
    with engine.connect() as conn:
        found = event_store.read(conn, account_id, after=after, limit=100_000)
    return [e for e in found if e["type"].startswith("member.")]


def last_seq(engine, account_id):
    with engine.connect() as conn:
        return event_store.last_seq(conn, account_id)


def test_a_user_kept_out_by_a_duplicate_email_writes_no_event_run_after_run(scim, engine):
    """Regression: the error item of a user whose work email is another's was turned into
    `member.created` with `member_id: null` and `changes: {}`, in every run, and delivered."""
    first = create_user(scim, "dup@example.com", displayName="Dana First")
    second = create_user(
        scim,
        "dup.alias@example.com",
        displayName="Dana Alias",
        emails=[{"type": "work", "value": "DUP@example.com"}],
    )
    for _ in range(3):
        before = last_seq(engine, scim.account_id)
        result = sync(engine, scim.account_id)
        assert result.counts["errors"] == 1, result.counts
        found = member_events(engine, scim.account_id, after=before)
        assert all(e["data"]["member_id"] and e["subject_id"] for e in found), found
        assert all(e["data"]["changes"] for e in found), found
        (error,) = items(engine, scim.account_id, result.run_id, errors_only=True)
        # reported once per run, naming both people as an admin knows them
        loser, winner = (second, first) if error["directory_id"] == second else (first, second)
        names = {
            first: "Dana First (dup@example.com)",
            second: "Dana Alias (dup.alias@example.com)",
        }
        assert error["label"] == names[loser]
        assert error["error"] == (
            f"the e-mail {'DUP@example.com' if loser == second else 'dup@example.com'} "
            f"is already used by directory user {names[winner]}"
        )
        assert error["subject_id"] is None
    created = member_events(engine, scim.account_id)
    assert [e["type"] for e in created] == ["member.created"]


def test_member_created_with_a_manager_carries_it_and_a_later_manager_is_an_update(scim, engine):
    """Regression: the first Manager was never in `member.created` (resolved later, with no
    Event), and later changes gave it as a member id where /api/v1/members gives an email."""
    boss = create_user(scim, "boss@example.com", displayName="The Boss")
    ada = create_user(scim, "ada@example.com", **{ENT: {"manager": {"value": boss}}})
    sync(engine, scim.account_id)
    (ada_created,) = [
        e for e in member_events(engine, scim.account_id) if e["data"]["email"] == "ada@example.com"
    ]
    assert ada_created["type"] == "member.created"
    assert ada_created["data"]["changes"]["Manager"] == [None, "boss@example.com"]

    # a manager who is created in a later batch than their report (ids are random: the
    # report is the one that sorts first) is resolved at the end of the run: member.updated
    report, late = sorted(
        [create_user(scim, "rey@example.com"), create_user(scim, "zed@example.com")]
    )
    patch_user(scim, report, f"{ENT}:manager", late)
    late_email = scim.get(f"/Users/{late}").json()["userName"]
    report_email = scim.get(f"/Users/{report}").json()["userName"]
    before = last_seq(engine, scim.account_id)
    result = sync(engine, scim.account_id, batch_size=1)
    assert result.counts["created"] == 2 and result.counts["errors"] == 0, result.counts
    found = member_events(engine, scim.account_id, after=before)
    mine = [e for e in found if e["data"]["email"] == report_email]
    assert [e["type"] for e in mine] == ["member.created", "member.updated"]
    assert "Manager" not in mine[0]["data"]["changes"]
    assert mine[1]["data"]["changes"] == {"Manager": [None, late_email]}
    assert mine[1]["subject_id"] == mine[0]["subject_id"] == mine[1]["data"]["member_id"]

    # a change of manager: emails on both sides, as the API shows members
    patch_user(scim, ada, f"{ENT}:manager", late)
    before = last_seq(engine, scim.account_id)
    sync(engine, scim.account_id)
    (changed,) = member_events(engine, scim.account_id, after=before)
    assert changed["type"] == "member.updated"
    assert changed["data"]["changes"] == {"Manager": ["boss@example.com", late_email]}
    with engine.connect() as conn:
        doc = members.get_member(conn, scim.account_id, changed["subject_id"])
    assert doc["properties"]["Manager"] == late_email
