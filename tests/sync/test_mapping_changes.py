"""A mapping change bumps the revision: the next sync recomputes every member."""

from __future__ import annotations

from scimgate.mapping import service as mapping
from tests.helpers.sync import (
    ENT,
    create_user,
    items,
    member_docs,
    property_id,
    set_manual_value,
    sync,
)


def test_changing_a_mapping_recomputes_and_updates_everyone(scim, engine):
    for i in range(5):
        create_user(scim, f"u{i}@example.com", title=f"Title {i}", nickName=f"nick{i}")
    sync(engine, scim.account_id, batch_size=2)
    assert sync(engine, scim.account_id).counts["unchanged"] == 5
    with engine.begin() as conn:
        mapping.set_mapping(conn, scim.account_id, "Job title", "nickName || title")
    result = sync(engine, scim.account_id, batch_size=2)
    assert result.status == "succeeded"
    assert result.counts["updated"] == 5 and result.counts["unchanged"] == 0, result.counts
    changes = {i["label"]: i["changes"] for i in items(engine, scim.account_id, result.run_id)}
    assert changes["U3 (u3@example.com)"] == {"Job title": ["Title 3", "nick3"]}
    assert {
        d["properties"]["Job title"] for d in member_docs(engine, scim.account_id).values()
    } == {f"nick{i}" for i in range(5)}
    assert sync(engine, scim.account_id).counts["unchanged"] == 5


def test_a_mapping_change_that_changes_nothing_reports_unchanged(scim, engine):
    create_user(scim, "ada@example.com", title="Engineer")
    sync(engine, scim.account_id)
    with engine.begin() as conn:
        mapping.set_mapping(conn, scim.account_id, "Job title", "title || nickName")
    result = sync(engine, scim.account_id)
    assert result.counts["unchanged"] == 1 and result.counts["updated"] == 0
    assert items(engine, scim.account_id, result.run_id) == []


def test_removing_a_mapping_clears_scim_values_on_the_next_sync_and_keeps_manual_ones(scim, engine):
    create_user(scim, "ada@example.com", title="Engineer", **{ENT: {"department": "Sales"}})
    create_user(scim, "bob@example.com", title="Analyst", **{ENT: {"department": "Finance"}})
    create_user(scim, "eve@example.com", title="Designer")
    sync(engine, scim.account_id)
    docs = member_docs(engine, scim.account_id)
    dept = property_id(engine, scim.account_id, "Department")
    set_manual_value(engine, scim.account_id, docs["eve@example.com"]["id"], dept, "Design")

    with engine.begin() as conn:
        mapping.remove_mapping(conn, scim.account_id, "Department")
        remaining = {
            m["target"] for m in mapping.list_mappings(conn, scim.account_id) if not m["implicit"]
        }
    assert "Department" not in remaining and "Job title" in remaining
    # nothing is cleared until the next sync
    assert (
        member_docs(engine, scim.account_id)["ada@example.com"]["properties"]["Department"]
        == "Sales"
    )

    result = sync(engine, scim.account_id)
    assert result.status == "succeeded"
    assert result.counts["updated"] == 2 and result.counts["unchanged"] == 1, result.counts
    changes = {i["label"]: i["changes"] for i in items(engine, scim.account_id, result.run_id)}
    assert changes == {
        "Ada (ada@example.com)": {"Department": ["Sales", None]},
        "Bob (bob@example.com)": {"Department": ["Finance", None]},
    }
    docs = member_docs(engine, scim.account_id)
    assert docs["ada@example.com"]["properties"] == {"Job title": "Engineer"}
    assert docs["bob@example.com"]["properties"] == {"Job title": "Analyst"}
    assert docs["eve@example.com"]["properties"] == {
        "Job title": "Designer",
        "Department": "Design",
    }
    assert docs["eve@example.com"]["property_sources"]["Department"] == "manual"
    assert sync(engine, scim.account_id).counts["unchanged"] == 3


def test_a_mapping_onto_a_manual_value_overwrites_it_when_the_idp_sends_one(scim, engine):
    create_user(scim, "ada@example.com", nickName="Ada")
    create_user(scim, "bob@example.com")
    sync(engine, scim.account_id)
    docs = member_docs(engine, scim.account_id)
    title = property_id(engine, scim.account_id, "Job title")
    for key in docs:
        set_manual_value(engine, scim.account_id, docs[key]["id"], title, "Manual")
    with engine.begin() as conn:
        mapping.set_mapping(conn, scim.account_id, "Job title", "nickName")
    result = sync(engine, scim.account_id)
    assert result.counts["updated"] == 1 and result.counts["unchanged"] == 1
    docs = member_docs(engine, scim.account_id)
    assert docs["ada@example.com"]["properties"]["Job title"] == "Ada"
    assert docs["ada@example.com"]["property_sources"]["Job title"] == "scim"
    assert docs["bob@example.com"]["properties"]["Job title"] == "Manual"
    assert docs["bob@example.com"]["property_sources"]["Job title"] == "manual"
