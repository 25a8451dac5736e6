"""The console's Property pages (rename, SCIM attribute, options, delete after confirmation)
and the members list's sort orders."""

from __future__ import annotations

import re

import pytest

from scimgate.group_rules import service as rules
from scimgate.mapping import service as mapping
from scimgate.members import service as members
from tests.helpers.console import stage


@pytest.fixture
def tier(make_console, engine):
    """A console and a select Property `Tier` held by two members (Gold) and one (Silver)."""
    console = make_console()
    with engine.begin() as conn:
        prop = members.create_property(
            conn, console.account_id, "Tier", "select", ["Gold", "Silver"]
        )
        for email, value in (("a@x.example", "Gold"), ("b@x.example", "Gold"),
                             ("c@x.example", "Silver")):  # fmt: skip
            members.create_member(conn, console.account_id, email, properties={"Tier": value})
    return console, prop["id"]


def values(engine, account_id):
    with engine.connect() as conn:
        return {
            m["email"]: m["properties"].get("Tier")
            for m in members.member_documents(conn, account_id)
        }


def test_the_list_links_to_each_property(tier):
    console, prop_id = tier
    page = console.get("/properties").text
    assert f'href="/console/properties/{prop_id}">Tier</a>' in page
    detail = console.get(f"/properties/{prop_id}").text
    assert "3 members hold a value" in detail
    assert 'value="Gold"' in detail and '<td data-label="Members">2</td>' in detail


def test_rename_and_its_errors(tier, engine):
    console, prop_id = tier
    with engine.begin() as conn:
        members.create_property(conn, console.account_id, "Level", "text")
        mapping.set_mapping(conn, console.account_id, "Tier", "title")
    path = f"/properties/{prop_id}"
    taken = console.post(f"{path}/rename", {"name": "level"}, page=path)
    assert taken.status_code == 400 and 'id="name-error"' in taken.text
    assert "already exists" in taken.text
    done = console.post(f"{path}/rename", {"name": "Plan"}, page=path)
    assert done.status_code == 303
    page = console.get(done.headers["location"].removeprefix("/console")).text
    assert "<h1>Plan" in page and "Property renamed" in page
    assert "Filled from SCIM <code>title</code>" in page  # the mapping followed
    assert values(engine, console.account_id)["a@x.example"] is None  # keyed by the old name
    with engine.connect() as conn:
        docs = members.member_documents(conn, console.account_id)
    assert {d["email"]: d["properties"].get("Plan") for d in docs}["a@x.example"] == "Gold"


def test_scim_attribute_form_warns_renames_and_shows_errors(tier, engine):
    console, prop_id = tier
    ext = "urn:ietf:params:scim:schemas:extension:scimgate:2.0:User"
    with engine.begin() as conn:
        members.create_property(conn, console.account_id, "Level", "text")
    path = f"/properties/{prop_id}"
    page = console.get(path).text
    assert 'action="/console/properties/' + prop_id + '/attribute"' in page
    assert 'name="scim_attribute" value="tier"' in page
    assert (
        f"IdP mappings that send the old name (<code>{ext}:tier</code>) will have that value "
        "left out (listed as ignored in the Provisioning log) until updated in the IdP" in page
    )
    bad = console.post(f"{path}/attribute", {"scim_attribute": "2nd tier"}, page=path)
    assert bad.status_code == 400 and 'id="scim_attribute-error"' in bad.text
    assert "is not a SCIM attribute name" in bad.text and 'value="2nd tier"' in bad.text
    taken = console.post(f"{path}/attribute", {"scim_attribute": "LEVEL"}, page=path)
    assert taken.status_code == 400 and 'id="scim_attribute-error"' in taken.text
    assert "Property &#39;Level&#39; already has the SCIM attribute &#39;level&#39;" in taken.text
    done = console.post(f"{path}/attribute", {"scim_attribute": "plan"}, page=path)
    assert done.status_code == 303 and done.headers["location"].endswith("?done=attribute")
    page = console.get(done.headers["location"].removeprefix("/console")).text
    assert "SCIM attribute name changed" in page and f"<code>{ext}:plan</code>" in page
    assert 'name="scim_attribute" value="plan"' in page
    assert values(engine, console.account_id)["a@x.example"] == "Gold"  # values stay


def test_a_member_reference_has_no_scim_attribute_form(make_console, engine):
    console = make_console()
    with engine.begin() as conn:
        prop = members.create_property(conn, console.account_id, "Buddy", "member")
    page = console.get(f"/properties/{prop['id']}").text
    assert "/attribute" not in page and "SCIM attribute name" not in page


def test_options_rename_and_add(tier, engine):
    console, prop_id = tier
    path = f"/properties/{prop_id}"
    r = console.post(
        f"{path}/options",
        {"option_0": "Platinum", "option_1": "Silver", "add": "Bronze\n"},
        page=path,
    )
    assert r.status_code == 303, r.text
    assert values(engine, console.account_id)["a@x.example"] == "Platinum"
    page = console.get(f"{path}?done=options").text
    assert "Options saved" in page and 'value="Bronze"' in page


def test_removing_a_held_option_asks_first_with_the_count(tier, engine):
    console, prop_id = tier
    path = f"/properties/{prop_id}"
    form = {"option_0": "Gold", "option_1": "Silver", "remove_0": "1", "add": ""}
    asked = console.post(f"{path}/options", form, page=path)
    assert asked.status_code == 200
    assert "Clear members' values?" in asked.text
    assert "<strong>Gold</strong>: 2 members" in asked.text
    assert "Remove and clear 2 values" in asked.text
    assert values(engine, console.account_id)["a@x.example"] == "Gold"  # nothing yet
    # the confirmation form carries the same fields
    assert 'type="hidden" name="remove_0" value="1"' in asked.text
    confirmed = console.post(f"{path}/options", {**form, "confirm": "clear"}, page=path)
    assert confirmed.status_code == 303
    assert values(engine, console.account_id) == {
        "a@x.example": None,
        "b@x.example": None,
        "c@x.example": "Silver",
    }


def test_bad_options_are_form_errors(tier):
    console, prop_id = tier
    path = f"/properties/{prop_id}"
    dup = console.post(
        f"{path}/options", {"option_0": "Gold", "option_1": "Silver", "add": "gold"}, page=path
    )
    assert dup.status_code == 400 and 'id="options-error"' in dup.text and "twice" in dup.text
    same = console.post(f"{path}/options", {"option_0": "Gold", "option_1": "Silver"}, page=path)
    assert same.status_code == 400 and "Nothing to change" in same.text


def test_delete_shows_what_goes_then_deletes(tier, engine):
    console, prop_id = tier
    with engine.begin() as conn:
        mapping.set_mapping(conn, console.account_id, "Tier", "title")
    path = f"/properties/{prop_id}/delete"
    page = console.get(path).text
    assert "removes its mapping from SCIM <code>title</code>" in page
    assert "clears its value on <strong>3</strong> members" in page
    unconfirmed = console.post(path, {})
    assert unconfirmed.status_code == 200 and "Delete Tier?" in unconfirmed.text
    assert values(engine, console.account_id)["a@x.example"] == "Gold"
    done = console.post(path, {"confirm": "delete"})
    assert done.status_code == 303 and done.headers["location"].endswith("/properties?deleted=1")
    assert "Property deleted" in console.get("/properties?deleted=1").text
    assert set(values(engine, console.account_id).values()) == {None}
    assert console.get(f"/properties/{prop_id}").status_code == 404


def test_the_page_and_the_delete_confirmation_list_the_group_rules(tier, engine):
    console, prop_id = tier
    assert "No group rule sets Tier." in console.get(f"/properties/{prop_id}").text
    ada = stage(console, "ada@example.com")
    groups = {}
    for name in ("Board", "Gone"):
        r = console.scim("POST", "/Groups", json={"displayName": name, "members": [{"value": ada}]})
        assert r.status_code == 201, r.text
        groups[name] = r.json()["id"]
    with engine.begin() as conn:
        board = rules.add_rule(
            conn, console.account_id, group="Board", prop="Tier", value="Gold", priority=5
        )
        gone = rules.add_rule(conn, console.account_id, group="Gone", prop="Tier", value="Silver")
    assert console.scim("DELETE", f"/Groups/{groups['Gone']}").status_code == 204
    board_item = (
        f'<li><a href="/console/group-rules#rule-{board["id"]}">Members of Board</a> get '
        "<strong>Gold</strong> (priority 5)</li>"
    )
    gone_item = (
        f'<li><a href="/console/group-rules#rule-{gone["id"]}">Members of Gone</a> '
        '<span class="badge">no longer in staging</span> get <strong>Silver</strong> '
        "(priority 100)</li>"
    )
    page = console.get(f"/properties/{prop_id}").text
    assert "2 rules set Tier for the members of a group" in page
    assert board_item + gone_item in page  # in the order they apply
    assert "the 2 group rules that set it," in page  # the Delete card says so too
    confirm = console.get(f"/properties/{prop_id}/delete").text
    assert "removes the <strong>2</strong> group rules that set it" in confirm
    assert board_item + gone_item in confirm
    assert console.post(f"/properties/{prop_id}/delete", {"confirm": "delete"}).status_code == 303
    with engine.connect() as conn:
        assert rules.list_rules(conn, console.account_id) == []


def test_another_accounts_property_is_404(tier, make_console):
    _console, prop_id = tier
    stranger = make_console()
    assert stranger.get(f"/properties/{prop_id}").status_code == 404
    r = stranger.post(f"/properties/{prop_id}/delete", {"confirm": "delete"}, page="/properties")
    assert r.status_code == 404


def test_members_sort_by_name_email_and_status(make_console, engine):
    console = make_console()
    with engine.begin() as conn:
        for email, name in [
            ("zed@x.example", "alice"),
            ("amy@x.example", "Carol"),
            ("mid@x.example", "bob"),
        ] + [(f"n{i:02d}@x.example", f"Name {i:02d}") for i in range(55)]:
            members.create_member(conn, console.account_id, email, name=name)

    def names(html):
        return re.findall(r'href="/console/members/[^"]+">([^<]+)</a>', html)

    by_name = console.get("/members?sort=name").text
    assert names(by_name)[:3] == ["alice", "bob", "Carol"]
    assert 'aria-sort="ascending"' in by_name
    by_email = names(console.get("/members?sort=email").text)
    assert by_email[:2] == ["Carol", "bob"]
    desc = console.get("/members?sort=-name").text
    assert names(desc)[0] == "Name 54" and 'aria-sort="descending"' in desc
    # the next page continues in the same order
    nxt = re.search(r'href="(/console/members\?[^"]*after=[^"]+)"', by_name).group(1)
    second = names(console.get(nxt.removeprefix("/console").replace("&amp;", "&")).text)
    assert len(second) == 8 and second[-1] == "Name 54"
    assert console.get("/members?sort=name&after=garbage").status_code == 400
