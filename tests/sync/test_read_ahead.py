"""The member pass reads the next batch's staged users ahead and maps them in a helper
thread while the current batch is written: batch boundaries, what one batch writes and
the next reads (emails, managers), and a batch redone after a conflict must give what a
batch-by-batch run gives."""

from __future__ import annotations

import pytest
from sqlalchemy.exc import IntegrityError

from scimgate.store import bulk, sync_members
from tests.helpers.sync import ENT, create_user, create_users, items, member_docs, sync


@pytest.mark.parametrize("n", [4, 5])
def test_every_batch_is_written_whether_the_last_one_is_full_or_not(scim, engine, n):
    create_users(scim, n)
    result = sync(engine, scim.account_id, batch_size=2)
    assert result.status == "succeeded"
    assert result.counts["created"] == n and result.counts["errors"] == 0, result.counts
    assert len(member_docs(engine, scim.account_id)) == n
    assert len(items(engine, scim.account_id, result.run_id)) == n
    again = sync(engine, scim.account_id, batch_size=2)
    assert again.counts["unchanged"] == n and again.counts["created"] == 0, again.counts


def test_a_later_batch_sees_the_emails_and_members_an_earlier_batch_wrote(scim, engine):
    ids = create_users(scim, 4)
    # the same email as another user, and a manager, whichever batch each falls in
    dup = create_user(
        scim, "alias@example.com", emails=[{"type": "work", "value": "USER01@example.com"}]
    )
    boss = ids[0]
    create_user(scim, "report@example.com", **{ENT: {"manager": {"value": boss}}})
    result = sync(engine, scim.account_id, batch_size=1)
    assert result.status == "succeeded"
    assert result.counts["created"] == 5 and result.counts["errors"] == 1, result.counts
    docs = member_docs(engine, scim.account_id)
    assert len(docs) == 5
    assert docs["report@example.com"]["properties"]["Manager"] == "user00@example.com"
    errors = items(engine, scim.account_id, result.run_id, errors_only=True)
    assert [e["directory_id"] for e in errors] in ([dup], [ids[1]])
    again = sync(engine, scim.account_id, batch_size=1)
    assert (again.counts["created"], again.counts["updated"], again.counts["errors"]) == (0, 0, 1)


def test_a_batch_redone_after_a_conflict_reads_the_next_batch_again(scim, engine, monkeypatch):
    create_users(scim, 5)
    insert = bulk.insert_rows
    calls = {"n": 0}

    def failing_once(conn, table, columns, rows):
        # The database refusing the batch's members: the store raises a ConflictError.
        if table == "member":
            calls["n"] += 1
            if calls["n"] == 1:
                raise IntegrityError("INSERT INTO member", None, Exception("simulated conflict"))
        return insert(conn, table, columns, rows)

    monkeypatch.setattr(sync_members.bulk, "insert_rows", failing_once)
    result = sync(engine, scim.account_id, batch_size=2)
    assert result.status == "succeeded"
    assert result.counts["created"] == 5 and result.counts["errors"] == 0, result.counts
    assert len(member_docs(engine, scim.account_id)) == 5
    found = items(engine, scim.account_id, result.run_id)
    assert len(found) == 5
    assert [i["seq"] for i in found] == [1, 2, 3, 4, 5]
    monkeypatch.setattr(sync_members.bulk, "insert_rows", insert)
    again = sync(engine, scim.account_id, batch_size=2)
    assert again.counts["unchanged"] == 5, again.counts
