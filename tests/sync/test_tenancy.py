"""A sync of one account never touches another account's members, teams or runs."""

from __future__ import annotations

import pytest

from scimgate.errors import NotFoundError
from scimgate.members import service as members
from scimgate.sync import schedule
from tests.helpers.sync import (
    create_group,
    create_users,
    delete_user,
    member_docs,
    runs,
    set_active,
    sync,
    teams,
)


def view(engine, account_id):
    docs = member_docs(engine, account_id)
    return (
        {
            k: (d["id"], d["status"], d["source"], d["directory_user_id"], d["properties"])
            for k, d in docs.items()
        },
        teams(engine, account_id),
    )


def test_accounts_with_the_same_emails_stay_apart(scim, other, engine):
    mine = create_users(scim, 4, title="Mine")
    theirs = create_users(other, 4, title="Theirs")
    create_group(scim, "Eng", mine[:2])
    create_group(other, "Eng", theirs)
    with engine.begin() as conn:  # a manual member in the other account with one of the emails
        members.add_member(conn, other.account_id, "user03@example.com", name="Manual")

    result = sync(engine, scim.account_id)
    assert result.counts["created"] == 4 and result.counts["memberships_added"] == 2
    assert member_docs(engine, other.account_id)["user03@example.com"]["source"] == "manual"
    assert len(member_docs(engine, other.account_id)) == 1
    assert teams(engine, other.account_id) == {}
    assert runs(engine, other.account_id) == []

    result = sync(engine, other.account_id)
    assert (
        result.counts["created"] == 3 and result.counts["updated"] == 1
    )  # user03 linked, not created
    mine_before = view(engine, scim.account_id)
    ids_mine = {d[0] for d in mine_before[0].values()}
    ids_theirs = {d[0] for d in view(engine, other.account_id)[0].values()}
    assert not ids_mine & ids_theirs
    assert {d[4]["Job title"] for d in view(engine, other.account_id)[0].values()} == {"Theirs"}

    # the other account loses everyone; mine is untouched
    for uid in theirs[:3]:
        delete_user(other, uid)
    set_active(other, theirs[3], "False")
    assert (
        other.delete(f"/Groups/{other.get('/Groups').json()['Resources'][0]['id']}").status_code
        == 204
    )
    with engine.begin() as conn:
        schedule.configure(conn, other.account_id, hold_percent=100)
    result = sync(engine, other.account_id)
    assert result.status == "succeeded"
    assert result.counts["deactivated"] == 4 and result.counts["teams_removed"] == 1
    assert view(engine, scim.account_id) == mine_before
    again = sync(engine, scim.account_id)
    assert again.counts["unchanged"] == 4 and again.counts["deactivated"] == 0


def test_a_run_of_another_account_cannot_be_confirmed(scim, other, engine):
    ids = create_users(other, 12)
    sync(engine, other.account_id)
    for uid in ids[:11]:
        set_active(other, uid, "False")
    held = sync(engine, other.account_id)
    assert held.status == "held"
    with pytest.raises(NotFoundError):
        sync(engine, scim.account_id, confirm=held.run_id)
    assert runs(engine, other.account_id)[0]["status"] == "held"
    assert runs(engine, scim.account_id) == []
