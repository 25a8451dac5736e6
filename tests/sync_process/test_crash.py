"""A `scimgate sync` killed with SIGKILL half-way: the next run takes the dead process's lease
over at once and ends in exactly the state an uninterrupted run reaches."""

from __future__ import annotations

import json
import signal
import time
import uuid
from typing import Any

import pytest
from sqlalchemy import Engine, text

from scimgate.members import service as members
from scimgate.store.tables import metadata
from tests.helpers.processes import (
    all_runs,
    cli_env,
    count_rows,
    finish,
    gate,
    reap,
    seed,
    start,
    sync_json,
    user_doc,
)

pytestmark = pytest.mark.process

N_USERS = 5000
N_GROUPS = 50
BATCH = 100
MANUAL = 7  # user00007 is first added by hand: the sync links it, never duplicates it
DIRECTORY = (  # the staging directory's tables, parents first
    "directory_user",
    "directory_user_email",
    "directory_group",
    "directory_membership",
    "directory_count",
)


def inactive(i: int) -> bool:
    return i % 53 == 0  # never a member: inactive in the IdP before the first sync


def manager_of(i: int) -> int | None:
    if i % 10 == 5:
        return None
    m = (i * 7 + 13) % N_USERS  # often a user with a later id: resolved in the reference pass
    if inactive(m):
        m = (m + 1) % N_USERS
    return None if m == i else m


def group_members(g: int) -> list[int]:
    return [j for j in range(N_USERS) if j % N_GROUPS == g]  # 100 each


def directory_data() -> tuple[list[tuple[str, dict[str, Any]]], list[dict[str, Any]]]:
    """The same directory for any account, under fresh resource ids."""
    ids = [str(uuid.uuid4()) for _ in range(N_USERS)]
    users = []
    for i in range(N_USERS):
        m = manager_of(i)
        body = user_doc(i, manager=None if m is None else ids[m], active=not inactive(i))
        users.append((ids[i], body))
    groups = [
        {
            "displayName": f"Team {g:02d}",
            "externalId": f"grp-{g}",
            "members": [{"value": ids[j]} for j in group_members(g)],
        }
        for g in range(N_GROUPS)
    ]
    return users, groups


def prepare(engine: Engine, account_ids: list[int]) -> None:
    """The same manual member and staged directory in each account: staged in the first
    (through the directory store), copied to the others by SQL (same resource ids)."""
    with engine.begin() as conn:
        for account_id in account_ids:
            members.add_member(conn, account_id, f"USER{MANUAL:05d}@example.com", name="By hand")
    source, *targets = account_ids
    seed(engine, source, *directory_data())
    with engine.begin() as conn:
        for target in targets:
            for name in DIRECTORY:
                columns = [c.name for c in metadata.tables[name].columns]
                values = ", ".join(
                    "CAST(:target AS INTEGER)" if c == "account_id" else c for c in columns
                )
                conn.execute(
                    text(
                        f"INSERT INTO {name} ({', '.join(columns)}) "
                        f"SELECT {values} FROM {name} WHERE account_id = :source"
                    ),
                    {"source": source, "target": target},
                )


def state(engine: Engine, account_id: int) -> tuple[dict[str, Any], dict[str, list[str]]]:
    """Members by email (name, status, source, Property values) and teams with member emails."""
    with engine.connect() as conn:
        docs = members.member_documents(conn, account_id)
        teams = members.list_teams(conn, account_id)
    by_email = {d["email"]: (d["name"], d["status"], d["source"], d["properties"]) for d in docs}
    assert len(by_email) == len(docs), "two members with one email"
    linked = [d["directory_user_id"] for d in docs if d["directory_user_id"]]
    assert len(set(linked)) == len(linked), "two members for one directory user"
    by_team = {t["name"]: sorted(t["members"]) for t in teams}
    assert len(by_team) == len(teams), "two teams with one name"
    return by_email, by_team


def expected_members() -> int:
    return sum(1 for i in range(N_USERS) if not inactive(i))


def expected_memberships() -> int:
    return sum(1 for g in range(N_GROUPS) for j in group_members(g) if not inactive(j))


@pytest.mark.slow
def test_a_killed_sync_is_taken_over_and_converges_on_the_uninterrupted_result(
    make_account, engine, database_url, tmp_path
):
    _slug, _t, reference_id = make_account("reference")
    slug, _t, account_id = make_account("crashed")
    prepare(engine, [reference_id, account_id])
    # No takeover by age: the lease of a dead process must be taken over because it is dead.
    env = cli_env(
        database_url, SCIMGATE_SYNC_BATCH_SIZE=str(BATCH), SCIMGATE_SYNC_STALE_SECONDS="3600"
    )
    reference = first = second = None
    try:
        # The uninterrupted run, on the other account, meanwhile.
        reference = start(["sync", "reference", "--json"], env, tmp_path)

        # 1. Killed in the member pass, in the middle of a batch: that batch is lost whole.
        first = start(["sync", slug, "--json"], env, tmp_path)
        with gate(database_url, "member", account_id, first, until=lambda n: n > 1) as seen:
            first.send_signal(signal.SIGKILL)  # (1: the manual member was there already)
            assert finish(first)[0] == -signal.SIGKILL
        after_first = count_rows(engine, "member", account_id)
        assert after_first == seen and 1 < after_first < expected_members(), after_first
        (killed,) = all_runs(engine, account_id)
        assert killed["status"] == "running"  # nobody has noticed yet

        # 2. The next run takes the lease over at once, and is itself killed while adding
        #    team memberships.
        second = start(["sync", slug, "--json"], env, tmp_path)
        with gate(database_url, "team_member", account_id, second) as memberships:
            # Mid-way as a rule: the poll stops it at the first batch it sees (on a badly
            # loaded machine that could be the last one, hence <=).
            assert 0 < memberships <= expected_memberships()
            second.send_signal(signal.SIGKILL)
            assert finish(second)[0] == -signal.SIGKILL
        assert count_rows(engine, "member", account_id) == expected_members()
        first_run, second_run = all_runs(engine, account_id)
        assert first_run["id"] == killed["id"] and first_run["status"] == "failed"
        assert "interrupted" in first_run["detail"] and first_run["finished_at"] is not None
        assert second_run["status"] == "running"

        code, out, err = finish(reference)
        assert code == 0, err
        uninterrupted = json.loads(out)
        assert uninterrupted["status"] == "succeeded" and uninterrupted["errors"] == 0, (
            uninterrupted
        )
        want_members, want_teams = state(engine, reference_id)
        assert len(want_members) == expected_members()
        assert len(want_teams) == N_GROUPS
        assert sum(map(len, want_teams.values())) == expected_memberships()
        manual = want_members[f"user{MANUAL:05d}@example.com"]
        assert manual[0] == f"User {MANUAL:05d}" and manual[2] == "scim"  # linked, not duplicated

        # 3. A third run finishes the job.
        started = time.monotonic()
        third = sync_json(env, tmp_path, slug)
        assert time.monotonic() - started < 60  # not after SCIMGATE_SYNC_STALE_SECONDS
        assert third["status"] == "succeeded" and third["errors"] == 0, third
        assert third["created"] == 0  # every member was already there
        assert third["memberships_added"] == expected_memberships() - memberships
        runs = all_runs(engine, account_id)
        assert [r["status"] for r in runs] == ["failed", "failed", "succeeded"]
        assert all("interrupted" in r["detail"] for r in runs[:2])

        got_members, got_teams = state(engine, account_id)
        assert got_members == want_members
        assert got_teams == want_teams

        # 4. And a fourth has nothing left to do.
        fourth = sync_json(env, tmp_path, slug)
        changes = {
            k: v
            for k, v in fourth.items()
            if isinstance(v, int) and k not in ("run_id", "unchanged")
        }
        assert set(changes.values()) == {0}, fourth
        assert fourth["unchanged"] == N_USERS
        assert state(engine, account_id) == (want_members, want_teams)
    finally:
        reap(reference, first, second)
    with engine.connect() as conn:
        assert members.member_documents(conn, account_id, status="deactivated") == []
