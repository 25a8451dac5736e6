"""A Property mapped by hand that is also advertised in the account extension: the mapping is
read first and the extension attribute when it gives a user no value, in Synchronize, the
dry-run plan, the preview and the drift report alike; every surface says so."""

from __future__ import annotations

from scimgate.drift.report import Drift
from scimgate.mapping import service as mapping
from scimgate.members import service as members
from tests.helpers.console import stage
from tests.helpers.sync import create_user, member_docs, sync

EXT = "urn:ietf:params:scim:schemas:extension:scimgate:2.0:User"
ENT = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"


def test_the_extension_fills_a_property_whose_mapping_gives_no_value(engine, scim):
    # Job title is mapped from `title` by default, Department from the enterprise extension.
    create_user(scim, "ada@example.com", title="Engineer", **{EXT: {"jobTitle": "Boss"}})
    create_user(scim, "bob@example.com", **{EXT: {"jobTitle": "Chef", "department": "R&D"}})
    with engine.begin() as conn:
        shown = {p["userName"]: p["values"] for p in mapping.preview(conn, scim.account_id)}
    assert shown["ada@example.com"]["Job title"] == "Engineer"  # the mapping comes first
    assert shown["bob@example.com"]["Job title"] == "Chef"
    assert shown["bob@example.com"]["Department"] == "R&D"
    plan = sync(engine, scim.account_id, dry_run=True)
    planned = {i["email"]: i["changes"] for i in plan.items}
    assert planned["bob@example.com"]["Job title"] == [None, "Chef"]
    assert planned["ada@example.com"]["Job title"] == [None, "Engineer"]
    sync(engine, scim.account_id)
    docs = member_docs(engine, scim.account_id)
    assert docs["ada@example.com"]["properties"]["Job title"] == "Engineer"
    assert docs["bob@example.com"]["properties"] == {"Job title": "Chef", "Department": "R&D"}
    again = sync(engine, scim.account_id)
    assert again.counts["updated"] == 0 and again.counts["unchanged"] == 2, again.counts


def test_the_drift_report_counts_a_property_the_extension_fills(engine, scim):
    create_user(scim, "ada@example.com", **{EXT: {"jobTitle": "Boss"}})
    with engine.connect() as conn:
        rows, _cursor = Drift(conn, scim.account_id).page("unfilled", cursor=None, limit=50)
    unfilled = {r["property"]: r for r in rows}
    assert "Job title" not in unfilled  # filled through the fallback
    department = unfilled["Department"]
    assert department["source"] == f"{ENT}:department || {EXT}:department"
    assert department["detail"] == f"no staged user has a value at {department['source']}"


def test_mapping_list_shows_the_fallback(engine, scim):
    with engine.begin() as conn:
        mapping.set_mapping(conn, scim.account_id, "Department", f"{ENT}:department || title")
        listed = {m["target"]: m for m in mapping.list_mappings(conn, scim.account_id)}
    assert listed["Job title"]["source"] == "title"
    assert listed["Job title"]["fallback"] == f"{EXT}:jobTitle"
    assert listed["Job title"]["implicit"] is False
    assert listed["Department"]["fallback"] == f"{EXT}:department"
    assert listed["Manager"]["fallback"] is None  # a member reference is not advertised
    assert listed["name"]["fallback"] is None and listed["email"]["fallback"] is None


def test_a_mapping_that_names_the_extension_itself_gets_no_second_fallback(engine, scim):
    create_user(scim, "ada@example.com", **{EXT: {"jobTitle": "Boss"}})
    with engine.begin() as conn:
        mapping.set_mapping(conn, scim.account_id, "Job title", f"{EXT}:jobTitle || title")
        listed = {m["target"]: m for m in mapping.list_mappings(conn, scim.account_id)}
        shown = mapping.preview(conn, scim.account_id)
    assert listed["Job title"]["fallback"] is None
    assert shown[0]["values"]["Job title"] == "Boss"


def test_five_alternatives_and_the_fallback_still_compile(engine, scim):
    create_user(scim, "ada@example.com", **{EXT: {"jobTitle": "Boss"}})
    source = " || ".join(["title", "nickName", "userType", "profileUrl", "locale"])
    with engine.begin() as conn:
        mapping.set_mapping(conn, scim.account_id, "Job title", source)
        shown = mapping.preview(conn, scim.account_id)
    assert shown[0]["values"]["Job title"] == "Boss"


def test_the_member_page_names_where_a_value_came_from(make_console, engine):
    console = make_console()
    stage(console, "ada@example.com", **{EXT: {"jobTitle": "Boss", "department": "R&D"}})
    with engine.begin() as conn:  # Job title keeps its default mapping (title)
        mapping.remove_mapping(conn, console.account_id, "Department")
    sync(engine, console.account_id)
    member = member_docs(engine, console.account_id)["ada@example.com"]
    with engine.begin() as conn:
        detail = members.member_detail(conn, console.account_id, member["id"])
    paths = {r["name"]: r["scim_path"] for r in detail["property_rows"]}
    assert paths["Job title"] == f"title || {EXT}:jobTitle"  # the fallback gave it
    assert paths["Department"] == f"{EXT}:department"  # implicit: no mapping names it
    page = console.get(f"/members/{member['id']}").text
    assert "mapping since removed" not in page
    assert f"<code>title || {EXT}:jobTitle</code>" in page
    assert f"<code>{EXT}:department</code>" in page


def test_the_mapping_page_shows_the_fallback(make_console):
    console = make_console()
    page = console.get("/mapping").text
    row = next(r for r in page.split("<tr>") if "Job title" in r)
    assert "<code>title</code>" in row and f"<code>{EXT}:jobTitle</code>" in row
    assert "else, from the IdP extension," in row
