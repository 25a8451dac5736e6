"""`scimgate property show|rename|rename-attribute|options|delete` and `team list|show`: the
command-line contract (one stderr line and exit 1 on error; --json is one document)."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from scimgate.audit import service as audit
from scimgate.cli import app
from scimgate.group_rules import service as rules
from scimgate.mapping import service as mapping
from scimgate.members import service as members
from scimgate.store import events as event_store
from tests.helpers.sync import create_group, create_user, sync


@pytest.fixture
def cli(database_url, monkeypatch):
    monkeypatch.setenv("SCIMGATE_DATABASE_URL", database_url)
    runner = CliRunner()

    def run(*args):
        return runner.invoke(app, list(args))

    return run


def ok(result):
    assert result.exit_code == 0, (result.stdout, result.stderr)
    return result.stdout


def error(result):
    """Exit 1, nothing on stdout, one line on stderr."""
    assert result.exit_code == 1, (result.exit_code, result.stdout, result.stderr)
    assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    return lines[0]


@pytest.fixture
def tier(scim, engine, cli):
    """A select Property `Tier` with two manual members holding Gold and one Silver."""
    ok(cli("property", "create", scim.slug, "Tier", "--type", "select",
           "--option", "Gold", "--option", "Silver"))  # fmt: skip
    with engine.begin() as conn:
        for email, value in (("a@x.example", "Gold"), ("b@x.example", "Gold"),
                             ("c@x.example", "Silver")):  # fmt: skip
            members.create_member(conn, scim.account_id, email, properties={"Tier": value})
    return scim.slug


def values(engine, account_id):
    with engine.connect() as conn:
        return {
            m["email"]: m["properties"].get("Tier")
            for m in members.member_documents(conn, account_id)
        }


def test_show_counts_each_option(cli, tier):
    out = ok(cli("property", "show", tier, "tier"))
    assert "Tier (select" in out and "members with a value: 3" in out
    doc = json.loads(ok(cli("property", "show", tier, "Tier", "--json")))
    assert doc["usage"] == {"members": 3, "options": {"Gold": 2, "Silver": 1}}


def test_rename_keeps_mapping_and_refuses_a_taken_name(cli, scim, engine):
    slug = scim.slug
    ok(cli("property", "create", slug, "Dept", "--type", "text"))
    ok(cli("mapping", "set", slug, "Dept", "title"))
    assert "renamed Property 'Dept' to 'Team name'" in ok(
        cli("property", "rename", slug, "Dept", "Team name")
    )
    with engine.connect() as conn:
        rows = {m["target"]: m["source"] for m in mapping.list_mappings(conn, scim.account_id)}
    assert rows["Team name"] == "title" and "Dept" not in rows
    assert "already exists" in error(cli("property", "rename", slug, "Team name", "job TITLE"))
    assert "built-in" in error(cli("property", "rename", slug, "Team name", "email"))
    assert "No Property 'Nope'" in error(cli("property", "rename", slug, "Nope", "X"))


def test_rename_attribute_changes_the_scim_name_and_keeps_values(cli, tier, scim, engine):
    ext = "urn:ietf:params:scim:schemas:extension:scimgate:2.0:User"
    out = ok(cli("property", "rename-attribute", tier, "tier", "plan"))
    assert out.splitlines() == [
        f"Property 'Tier': SCIM attribute {ext}:tier is now {ext}:plan",
        "update your identity provider's mapping: values sent under the old name are left out",
    ]
    assert f"IdP extension attribute: {ext}:plan" in ok(cli("property", "show", tier, "Tier"))
    assert values(engine, scim.account_id)["a@x.example"] == "Gold"
    assert f"Property 'Tier' already has the SCIM attribute {ext}:plan" in ok(
        cli("property", "rename-attribute", tier, "Tier", "plan")
    )
    ok(cli("property", "create", tier, "Level", "--type", "text"))
    assert "Property 'Tier' already has the SCIM attribute 'plan'" in error(
        cli("property", "rename-attribute", tier, "Level", "PLAN")
    )
    assert "ATTRNAME" in error(cli("property", "rename-attribute", tier, "Level", "2nd level"))
    assert "No Property 'Nope'" in error(cli("property", "rename-attribute", tier, "Nope", "x"))


def test_options_add_rename_and_list(cli, tier, scim, engine):
    out = ok(
        cli("property", "options", tier, "Tier", "--add", "Bronze", "--rename", "Gold=Platinum")
    )
    assert out.splitlines() == [
        f"{'Platinum':<30} 2 members",
        f"{'Silver':<30} 1 member",
        f"{'Bronze':<30} 0 members",
    ]
    assert values(engine, scim.account_id) == {
        "a@x.example": "Platinum",
        "b@x.example": "Platinum",
        "c@x.example": "Silver",
    }
    assert ok(cli("property", "options", tier, "Tier")) == out  # no change: just the list


def test_removing_a_held_option_needs_clear(cli, tier, scim, engine):
    message = error(cli("property", "options", tier, "Tier", "--remove", "Gold"))
    assert "'Gold' (2 members)" in message and "--clear" in message
    assert values(engine, scim.account_id)["a@x.example"] == "Gold"
    with engine.connect() as conn:
        seq = event_store.read(conn, scim.account_id, after=0, limit=10_000)[-1]["seq"]
    ok(cli("property", "options", tier, "Tier", "--remove", "Gold", "--clear"))
    assert values(engine, scim.account_id) == {
        "a@x.example": None,
        "b@x.example": None,
        "c@x.example": "Silver",
    }
    with engine.connect() as conn:
        new = event_store.read(conn, scim.account_id, after=seq, limit=100)
    updated = [e for e in new if e["type"] == "member.updated"]
    assert len(updated) == 2 and all(
        e["data"]["changes"] == {"Tier": ["Gold", None]} for e in updated
    )


@pytest.mark.parametrize(
    "args, message",
    [
        (("--rename", "Gold"), "OLD=NEW"),
        (("--rename", "Nope=X"), "'Nope' is not an option"),
        (("--remove", "Nope"), "'Nope' is not an option"),
        (("--add", "gold"), "given twice"),
        (("--rename", "Gold=X", "--remove", "Gold"), "renamed and removed"),
    ],
)
def test_bad_option_changes_are_one_line(cli, tier, args, message):
    assert message in error(cli("property", "options", tier, "Tier", *args))


def test_options_of_a_text_property_are_refused(cli, scim):
    ok(cli("property", "create", scim.slug, "Notes", "--type", "text"))
    assert "only select" in error(cli("property", "options", scim.slug, "Notes"))
    assert "only select" in error(cli("property", "options", scim.slug, "Notes", "--add", "A"))


def test_delete_says_what_goes_and_needs_yes(cli, tier, scim, engine):
    ok(cli("mapping", "set", tier, "Tier", "title"))
    message = error(cli("property", "delete", tier, "Tier"))
    assert message == (
        "error: deleting Property 'Tier', its mapping from title and the values of 3 members: "
        "run again with --yes to confirm"
    )
    assert values(engine, scim.account_id)["a@x.example"] == "Gold"  # nothing happened
    assert "deleted Property 'Tier'" in ok(cli("property", "delete", tier, "Tier", "--yes"))
    assert values(engine, scim.account_id) == dict.fromkeys(
        ("a@x.example", "b@x.example", "c@x.example")
    )
    with engine.connect() as conn:
        assert "Tier" not in {m["target"] for m in mapping.list_mappings(conn, scim.account_id)}
    assert "No Property 'Tier'" in error(cli("property", "delete", tier, "Tier", "--yes"))


@pytest.fixture
def ruled(tier, scim, engine):
    """Two group rules set `Tier`: Board members get Gold (priority 5), Staff get Silver."""
    ada = create_user(scim, "ada@example.com")
    create_group(scim, "Board", [ada])
    create_group(scim, "Staff", [ada])
    with engine.begin() as conn:
        staff = rules.add_rule(conn, scim.account_id, group="Staff", prop="Tier", value="silver")
        board = rules.add_rule(
            conn, scim.account_id, group="Board", prop="Tier", value="Gold", priority=5
        )
    return tier, board["id"], staff["id"]


def test_show_lists_the_rules_that_set_it(cli, ruled):
    slug, board, staff = ruled
    lines = ok(cli("property", "show", slug, "Tier")).splitlines()
    at = lines.index("set by group rules (in the order they apply):")
    assert lines[at + 1 : at + 3] == [
        f"  rule {board}: members of Board get Tier = Gold (priority 5)",
        f"  rule {staff}: members of Staff get Tier = Silver (priority 100)",
    ]
    doc = json.loads(ok(cli("property", "show", slug, "Tier", "--json")))
    assert [(r["id"], r["group_name"], r["value"], r["priority"]) for r in doc["group_rules"]] == [
        (board, "Board", "Gold", 5),
        (staff, "Staff", "Silver", 100),
    ]
    ok(cli("property", "create", slug, "Notes", "--type", "text"))
    assert "set by group rules: -" in ok(cli("property", "show", slug, "Notes"))
    assert json.loads(ok(cli("property", "show", slug, "Notes", "--json")))["group_rules"] == []


def test_delete_names_the_rules_that_go_with_it(cli, ruled, scim, engine):
    slug, board, staff = ruled
    message = error(cli("property", "delete", slug, "Tier"))
    assert message == (
        f"error: deleting Property 'Tier', the 2 group rules that set it (rule {board}: "
        f"Board = Gold; rule {staff}: Staff = Silver) and the values of 3 members: run again "
        "with --yes to confirm"
    )
    with engine.connect() as conn:
        assert len(rules.list_rules(conn, scim.account_id)) == 2  # nothing happened
    assert ok(cli("property", "delete", slug, "Tier", "--yes")).startswith(
        "deleted Property 'Tier', the 2 group rules that set it"
    )
    with engine.connect() as conn:
        assert rules.list_rules(conn, scim.account_id) == []
        entry = audit.list_page(conn, scim.account_id, limit=1)[0][0]
    assert entry["action"] == "property.deleted" and entry["actor"].startswith("cli:")
    assert entry["details"]["group_rules_removed"] == 2
    assert [(r["rule_id"], r["group"], r["value"]) for r in entry["details"]["group_rules"]] == [
        (board, "Board", "Gold"),
        (staff, "Staff", "Silver"),
    ]


def test_delete_names_at_most_ten_rules(cli, tier, scim, engine):
    for n in range(12):
        create_group(scim, f"G{n:02d}", [])
    with engine.begin() as conn:
        for n in range(12):
            rules.add_rule(conn, scim.account_id, group=f"G{n:02d}", prop="Tier", value="Gold")
    message = error(cli("property", "delete", tier, "Tier"))
    assert "the 12 group rules that set it (rule " in message
    assert "G09 = Gold; and 2 more) and the values of 3 members" in message
    assert "G10" not in message


def test_team_list_one_line_each_and_show(cli, scim, engine):
    ids = [create_user(scim, f"p{i:02d}@example.com") for i in range(12)]
    create_group(scim, "Engineering", ids)
    create_group(scim, "Ops", ids[:1])
    create_group(scim, "Empty", [])
    assert sync(engine, scim.account_id).status == "succeeded"
    out = ok(cli("team", "list", scim.slug))
    assert out.splitlines() == ["Empty\t0 members", "Engineering\t12 members", "Ops\t1 member"]
    listed = ok(cli("team", "list", scim.slug, "--members")).splitlines()
    assert listed[:3] == ["Empty\t0 members", "Engineering\t12 members", "  p00@example.com"]
    assert len(listed) == 16 and listed[-2:] == ["Ops\t1 member", "  p00@example.com"]
    shown = ok(cli("team", "show", scim.slug, "engineering")).splitlines()
    assert shown[0].startswith("Engineering (12 members, id ")
    assert [line.split("\t")[0] for line in shown[1:]] == [
        f"p{i:02d}@example.com" for i in range(12)
    ]
    doc = json.loads(ok(cli("team", "show", scim.slug, "Ops", "--json")))
    assert doc["member_count"] == 1 and [m["email"] for m in doc["members"]] == ["p00@example.com"]
    assert "No team 'Nope'" in error(cli("team", "show", scim.slug, "Nope"))
