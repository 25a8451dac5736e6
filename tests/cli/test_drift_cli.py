"""`scimgate drift SLUG`: the human table, --json, --section/--all, and one stderr line on
an unknown slug, through the installed console script on the test database."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from scimgate.members import service as members
from scimgate.store import property_values
from scimgate.store.database import utcnow
from tests.helpers.processes import cli_env, finish, one_line_error, run, start
from tests.helpers.sync import create_user, member_docs, property_id, sync

pytestmark = pytest.mark.process


@pytest.fixture
def drifted(scim, engine):
    """A staged user never synchronized, a lone manual member, a hand edit, unfilled Properties."""
    create_user(scim, "ann@example.com", displayName="Ann Lee", title="Engineer")
    sync(engine, scim.account_id)
    create_user(scim, "bob@example.com", displayName="Bob Stone")
    ann = member_docs(engine, scim.account_id)["ann@example.com"]["id"]
    with engine.begin() as conn:
        members.add_member(conn, scim.account_id, "solo@example.com", name="Solo Manual")
        property_values.set_value(
            conn,
            scim.account_id,
            ann,
            property_id(engine, scim.account_id, "Job title"),
            "CEO",
            source="scim",
            now=utcnow(),
        )
    return scim


def test_the_table_names_people_and_the_json_is_one_document(drifted, database_url, tmp_path: Path):
    env = cli_env(database_url)
    procs = [
        start(["drift", drifted.slug], env, tmp_path),
        start(["drift", drifted.slug, "--json"], env, tmp_path),
    ]
    (code, out, err), (jcode, jout, jerr) = [finish(p) for p in procs]
    assert code == 0 and "Traceback" not in err, err
    assert "Staged users never synchronized: 1" in out
    assert "Bob Stone (bob@example.com)\tbob@example.com\twaiting for the next run" in out
    assert "Manual members with no identity-provider counterpart: 1" in out
    assert "solo@example.com\tSolo Manual\tactive" in out
    assert "Ann Lee (ann@example.com)\tJob title\tmember: CEO\tmapped: Engineer" in out
    assert "Properties the mapping never fills: 2" in out and "Department\ttext" in out
    assert jcode == 0 and jout.count("\n") == 1, jerr
    doc = json.loads(jout)
    assert {k: s["count"] for k, s in doc["sections"].items()} == {
        "unsynced": 1,
        "manual": 1,
        "edited": 1,
        "unfilled": 2,
    }


def test_one_section_every_row_and_refusals(drifted, database_url, tmp_path: Path):
    env = cli_env(database_url)
    args = [
        ["drift", drifted.slug, "--section", "manual", "--all", "--json"],
        ["drift", drifted.slug, "--section", "unfilled", "--limit", "1"],
        ["drift", "no-such-account"],
        ["drift", drifted.slug, "--section", "everything"],
        ["drift", drifted.slug, "--all"],
    ]
    procs = [start(a, env, tmp_path) for a in args]
    (every, one, unknown, bad_section, bare_all) = [finish(p) for p in procs]
    assert every[0] == 0 and [r["email"] for r in json.loads(every[1])] == ["solo@example.com"]
    assert one[0] == 0 and one[1].startswith("Properties the mapping never fills: 2\n")
    assert f"… 1 more: scimgate drift {drifted.slug} --section unfilled --all" in one[1]
    for code, out, err in (unknown, bad_section, bare_all):
        assert code == 1 and out == "", (out, err)
        assert one_line_error(err).startswith("error: ")
    assert "no-such-account" in unknown[2]
    assert "unsynced, manual, edited, unfilled" in bad_section[2]
    assert "--all needs --section" in bare_all[2]


def test_an_account_without_drift_says_zero_everywhere(scim, engine, database_url, tmp_path):
    create_user(
        scim,
        "ann@example.com",
        title="Engineer",
        **{"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User": {"department": "R&D"}},
    )
    sync(engine, scim.account_id)
    code, out, err = run(["drift", scim.slug, "--json"], cli_env(database_url), tmp_path)
    assert code == 0, err
    counts = {k: s["count"] for k, s in json.loads(out)["sections"].items()}
    assert counts == {"unsynced": 0, "manual": 0, "edited": 0, "unfilled": 1}  # Manager
