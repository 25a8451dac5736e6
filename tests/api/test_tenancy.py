"""Two accounts, each with its own key: A's key never reads or changes B's data."""

from __future__ import annotations

import pytest

from scimgate.sync import schedule
from tests.helpers.api import assert_problem
from tests.helpers.sync import add_property, create_group, create_users, set_active, sync


@pytest.fixture
def accounts(make_api, engine):
    """A and B, each with provisioned members, a team, a manual member and a held run (B)."""
    a, b = make_api("alpha"), make_api("beta")
    out = {}
    for client, prefix in ((a, "a"), (b, "b")):
        users = create_users(client.scim, 4, prefix=prefix, domain="shared.example")
        create_group(client.scim, f"{prefix}-team", users[:2])
        assert sync(engine, client.account_id).status == "succeeded"
        add_property(engine, client.account_id, "Notes", "text")
        manual = client.ok("POST", "/members", 201, json={"email": f"{prefix}-manual@x.example"})
        out[prefix] = {"client": client, "users": users, "manual": manual}
    with engine.begin() as conn:
        schedule.configure(conn, b.account_id, hold_percent=10, hold_minimum=1)
    set_active(b.scim, out["b"]["users"][0], "False")
    r = b.post("/sync-runs")
    assert r.status_code == 202, r.text
    out["b"]["held"] = b.wait_run(r.json()["id"])
    assert out["b"]["held"]["status"] == "held"
    for side in out.values():
        client = side["client"]
        side["members"] = client.ok("GET", "/members")["data"]
        side["teams"] = client.ok("GET", "/teams")["data"]
        side["runs"] = client.ok("GET", "/sync-runs")["data"]
        side["properties"] = client.ok("GET", "/properties")["data"]
    return out


def test_lists_hold_only_the_callers_data(accounts):
    a, b = accounts["a"], accounts["b"]
    api = a["client"]
    a_ids = {m["id"] for m in a["members"]}
    b_ids = {m["id"] for m in b["members"]}
    assert len(a_ids) == len(b_ids) == 5 and not a_ids & b_ids
    assert all(m["email"].startswith("a") for m in a["members"])
    assert {t["name"] for t in a["teams"]} == {"a-team"}
    assert not {r["id"] for r in a["runs"]} & {r["id"] for r in b["runs"]}
    assert not {p["id"] for p in a["properties"]} & {p["id"] for p in b["properties"]}
    # filters and searches do not reach across either
    assert api.ok("GET", "/members?q=b0")["data"] == []
    assert api.ok("GET", "/members?q=shared.example&source=scim")["data"] != []
    assert all(
        m["id"] in a_ids for m in api.ok("GET", "/members?q=shared.example&limit=200")["data"]
    )
    assert api.ok("GET", "/teams?q=b-team")["data"] == []
    # a cursor taken from B's ids still pages only over A's members
    lowest_b = min(b_ids)
    page = api.ok("GET", f"/members?cursor={lowest_b}&limit=200")["data"]
    assert {m["id"] for m in page} <= a_ids


def test_bs_ids_are_404_for_a(accounts):
    a, b = accounts["a"], accounts["b"]
    api = a["client"]
    for member in b["members"]:
        assert_problem(api.get(f"/members/{member['id']}"), 404)
        assert_problem(api.patch(f"/members/{member['id']}", json={"name": "Mine"}), 404)
        r = api.patch(f"/members/{member['id']}", json={"properties": {"Notes": "mine"}})
        assert_problem(r, 404)
    for team in b["teams"]:
        assert_problem(api.get(f"/teams/{team['id']}"), 404)
        assert_problem(api.get(f"/teams/{team['id']}/members"), 404)
    for run in b["runs"]:
        assert_problem(api.get(f"/sync-runs/{run['id']}"), 404)
        assert_problem(api.post(f"/sync-runs/{run['id']}/confirm"), 404)


def test_a_cannot_change_bs_data(accounts):
    a, b = accounts["a"], accounts["b"]
    api = a["client"]
    held = b["held"]
    assert_problem(api.post(f"/sync-runs/{held['id']}/confirm"), 404)
    assert_problem(api.patch(f"/members/{b['manual']['id']}", json={"email": "x@x.example"}), 404)
    # B sees everything exactly as before
    bclient = b["client"]
    assert bclient.ok("GET", "/members")["data"] == b["members"]
    assert bclient.ok("GET", "/teams")["data"] == b["teams"]
    assert bclient.ok("GET", f"/sync-runs/{held['id']}")["status"] == "held"
    assert bclient.ok("GET", "/sync-runs")["data"] == b["runs"]
    # A's own trigger runs A's sync, never B's held one
    r = api.post("/sync-runs")
    assert r.status_code == 202, r.text
    assert api.wait_run(r.json()["id"])["status"] == "succeeded"
    assert bclient.ok("GET", f"/sync-runs/{held['id']}")["status"] == "held"
    assert bclient.ok("GET", "/members?status=deactivated")["data"] == []


def test_a_member_reference_cannot_point_into_another_account(accounts):
    a, b = accounts["a"], accounts["b"]
    api = a["client"]
    # "Manager" is a member-typed Property in both accounts (the default mapping)
    for ref in (b["manual"]["id"], b["manual"]["email"]):
        body = {"email": "new@x.example", "properties": {"Manager": ref}}
        assert_problem(api.post("/members", json=body), 400, contains="Manager")
    assert len(api.ok("GET", "/members")["data"]) == 5


@pytest.mark.slow
def test_the_same_email_in_two_accounts_is_no_conflict(accounts):
    a, b = accounts["a"], accounts["b"]
    doc = a["client"].ok("POST", "/members", 201, json={"email": b["manual"]["email"]})
    assert doc["email"] == b["manual"]["email"] and doc["id"] != b["manual"]["id"]
    # and A renaming its own to B's other address is fine too
    r = a["client"].patch(f"/members/{a['manual']['id']}", json={"email": "b-other@x.example"})
    assert r.status_code == 200, r.text


def test_a_dry_run_plans_only_the_callers_account(accounts):
    plan = accounts["a"]["client"].ok("POST", "/sync-runs", json={"dry_run": True})
    assert plan["counts"]["deactivated"] == 0 and plan["would_hold"] is False
    labels = {i.get("label") or "" for i in plan["items"]}
    assert not any(label.startswith("b") for label in labels)
