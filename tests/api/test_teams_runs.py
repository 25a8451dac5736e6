"""/api/v1 teams, Properties and sync runs: after staging through SCIM and synchronizing,
and through the API's own trigger, dry run, hold and confirmation."""

from __future__ import annotations

import pytest

from scimgate.store import sync as sync_store
from scimgate.store.database import utcnow
from scimgate.sync import schedule
from tests.helpers.api import assert_invalid, assert_problem
from tests.helpers.sync import create_group, create_users, runs, set_active, sync


@pytest.fixture
def staged(api):
    """Eight staged users; Engineering has five of them, Sales two, Empty none."""
    users = create_users(api.scim, 8)
    groups = {
        "Engineering": create_group(api.scim, "Engineering", users[:5]),
        "Sales": create_group(api.scim, "Sales", users[5:7]),
        "Empty": create_group(api.scim, "Empty", []),
    }
    return {"users": users, "groups": groups}


@pytest.fixture
def synced(api, engine, staged):
    result = sync(engine, api.account_id)
    assert result.status == "succeeded" and result.counts["created"] == 8, result.counts
    return {**staged, "run_id": result.run_id}


def team_by_name(api):
    return {t["name"]: t for t in api.ok("GET", "/teams")["data"]}


# ---- teams ----


def test_teams_list_with_member_counts(api, synced):
    page = api.ok("GET", "/teams")
    assert page["next_cursor"] is None
    teams = {t["name"]: t for t in page["data"]}
    assert {n: t["member_count"] for n, t in teams.items()} == {
        "Engineering": 5,
        "Sales": 2,
        "Empty": 0,
    }
    for name, team in teams.items():
        assert team["directory_group_id"] == synced["groups"][name]
        assert set(team) == {
            "id",
            "name",
            "directory_group_id",
            "member_count",
            "created_at",
            "updated_at",
        }
    assert [t["name"] for t in api.ok("GET", "/teams?q=ENG")["data"]] == ["Engineering"]
    assert api.ok("GET", "/teams?q=zzz")["data"] == []


def test_teams_pages(api, synced):
    seen, cursor = [], None
    while True:
        page = api.ok("GET", "/teams?limit=2" + (f"&cursor={cursor}" if cursor else ""))
        seen += [t["id"] for t in page["data"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert len(seen) == len(set(seen)) == 3
    assert set(seen) == {t["id"] for t in team_by_name(api).values()}


def test_one_team_and_its_members(api, synced):
    eng = team_by_name(api)["Engineering"]
    assert api.ok("GET", f"/teams/{eng['id']}") == eng
    first = api.ok("GET", f"/teams/{eng['id']}/members?limit=2")
    assert len(first["data"]) == 2 and first["next_cursor"] == first["data"][-1]["id"]
    seen, cursor = [], None
    while True:
        page = api.ok(
            "GET", f"/teams/{eng['id']}/members?limit=2" + (f"&cursor={cursor}" if cursor else "")
        )
        seen += page["data"]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert sorted(m["email"] for m in seen) == [f"user{i:02d}@example.com" for i in range(5)]
    assert len({m["id"] for m in seen}) == 5
    assert all(m["status"] == "active" and m["source"] == "scim" for m in seen)
    assert set(seen[0]) == {"id", "email", "name", "status", "source"}
    # the members listed are the account's members
    members = {m["id"] for m in api.ok("GET", "/members")["data"]}
    assert {m["id"] for m in seen} <= members
    empty = team_by_name(api)["Empty"]
    assert api.ok("GET", f"/teams/{empty['id']}/members") == {"data": [], "next_cursor": None}


@pytest.mark.parametrize("team_id", ["00000000-0000-0000-0000-000000000000", "nope", "x" * 200])
def test_an_unknown_team_is_404(api, synced, team_id):
    assert_problem(api.get(f"/teams/{team_id}"), 404)
    assert_problem(api.get(f"/teams/{team_id}/members"), 404)


def test_a_directory_group_id_is_not_a_team_id(api, synced):
    assert_problem(api.get(f"/teams/{synced['groups']['Sales']}"), 404)


@pytest.mark.parametrize("query", ["limit=0", "limit=201", "limit=x", "cursor=" + "c" * 65])
def test_invalid_team_queries_are_400(api, synced, query):
    eng = team_by_name(api)["Engineering"]
    assert_invalid(api.get("/teams?" + query))
    assert_invalid(api.get(f"/teams/{eng['id']}/members?" + query))


# ---- Properties ----


def test_properties_with_what_fills_them(api, engine, synced):
    props = {p["name"]: p for p in api.ok("GET", "/properties")["data"]}
    assert set(props) == {"Job title", "Department", "Manager"}
    assert props["Job title"]["type"] == "text" and props["Job title"]["mapped_from"] == "title"
    assert props["Manager"]["type"] == "member"
    assert props["Department"]["mapped_from"].endswith(":department")
    assert all(p["options"] == [] for p in props.values())


def test_an_unmapped_property_shows_its_options_and_no_source(api, engine, synced):
    from tests.helpers.sync import add_property

    add_property(engine, api.account_id, "Tier", "select", ["Gold", "Silver"])
    props = {p["name"]: p for p in api.ok("GET", "/properties")["data"]}
    assert props["Tier"]["options"] == ["Gold", "Silver"]
    assert props["Tier"]["mapped_from"] is None and props["Tier"]["type"] == "select"


# ---- sync runs: reading ----


def test_sync_runs_list_and_get(api, synced):
    listed = api.ok("GET", "/sync-runs")["data"]
    assert [r["id"] for r in listed] == [synced["run_id"]]
    (run,) = listed
    assert run["status"] == "succeeded" and run["trigger"] == "cli"
    assert run["counts"]["created"] == 8 and run["counts"]["teams_created"] == 3
    assert run["finished_at"] is not None and run["items"] is None
    doc = api.ok("GET", f"/sync-runs/{run['id']}")
    assert {k: v for k, v in doc.items() if k != "items"} == {
        k: v for k, v in run.items() if k != "items"
    }
    actions = [(i["kind"], i["action"]) for i in doc["items"]]
    assert actions.count(("member", "create")) == 8
    assert ("team", "create") in actions
    labels = {i["label"] for i in doc["items"] if i["kind"] == "member"}
    assert labels == {f"User{i:02d} (user{i:02d}@example.com)" for i in range(8)}


def test_sync_runs_newest_first_with_limit(api, engine, synced):
    second = sync(engine, api.account_id).run_id
    third = sync(engine, api.account_id).run_id
    assert [r["id"] for r in api.ok("GET", "/sync-runs")["data"]] == [
        third,
        second,
        synced["run_id"],
    ]
    first = api.ok("GET", "/sync-runs?limit=2")
    assert [r["id"] for r in first["data"]] == [third, second]
    rest = api.ok("GET", f"/sync-runs?limit=2&cursor={first['next_cursor']}")
    assert [r["id"] for r in rest["data"]] == [synced["run_id"]] and rest["next_cursor"] is None
    assert api.ok("GET", "/sync-runs?limit=3")["next_cursor"] is None
    assert_invalid(api.get("/sync-runs?limit=0"))


@pytest.mark.parametrize("cursor", ["abc", "0", "-3", "1.5", "9" * 30, "%00", "x" * 65])
def test_a_cursor_sync_runs_did_not_hand_out_is_400(api, synced, cursor):
    """Regression: /sync-runs was a bare array and took no cursor; a made-up one must not
    pass for the first page."""
    doc = assert_problem(api.get(f"/sync-runs?cursor={cursor}"), 400)
    assert "cursor" in doc["detail"]


@pytest.mark.parametrize("run_id", ["999999", str(2**62)])
def test_an_unknown_run_is_404(api, synced, run_id):
    assert_problem(api.get(f"/sync-runs/{run_id}"), 404)
    assert_problem(api.post(f"/sync-runs/{run_id}/confirm"), 404)


@pytest.mark.parametrize("run_id", ["0", "-1", "abc", "1.5", str(2**62 + 1), "9" * 40])
def test_a_malformed_run_id_is_400(api, run_id):
    assert_invalid(api.get(f"/sync-runs/{run_id}"))
    assert_invalid(api.post(f"/sync-runs/{run_id}/confirm"))


# ---- sync runs: dry run and trigger ----


def test_a_dry_run_answers_the_plan_and_writes_nothing(api, staged):
    properties = api.ok("GET", "/properties")
    r = api.post("/sync-runs", json={"dry_run": True})
    assert r.status_code == 200, r.text
    plan = r.json()
    assert plan["status"] == "planned" and plan["would_hold"] is False
    assert plan["counts"]["created"] == 8 and plan["counts"]["teams_created"] == 3
    assert plan["counts"]["errors"] == 0
    assert [(i["kind"], i["action"]) for i in plan["items"]].count(("member", "create")) == 8
    # nothing written: no member, no team, no run, no Property
    assert api.ok("GET", "/members")["data"] == []
    assert api.ok("GET", "/teams")["data"] == []
    assert api.ok("GET", "/sync-runs")["data"] == []
    assert api.ok("GET", "/properties") == properties
    assert "location" not in r.headers


def test_a_dry_run_after_a_sync_plans_nothing(api, synced):
    plan = api.ok("POST", "/sync-runs", json={"dry_run": True})
    assert plan["counts"]["created"] == 0 and plan["counts"]["unchanged"] == 8
    assert [r["id"] for r in api.ok("GET", "/sync-runs")["data"]] == [synced["run_id"]]


@pytest.mark.parametrize(
    "kwargs",
    [
        pytest.param({"json": {}}, id="empty-object"),
        pytest.param({"json": {"dry_run": False}}, id="dry-run-false"),
        pytest.param({}, id="no-body"),
    ],
)
def test_trigger_answers_202_with_location_and_the_run_succeeds(api, staged, kwargs):
    r = api.post("/sync-runs", **kwargs)
    assert r.status_code == 202, r.text
    started = r.json()
    assert started["trigger"] == "api" and started["status"] in ("running", "succeeded")
    assert r.headers["location"] == f"/api/v1/sync-runs/{started['id']}"
    run = api.wait_run(started["id"])
    assert run["status"] == "succeeded", run
    assert run["counts"]["created"] == 8 and run["finished_at"] is not None
    assert len(api.ok("GET", "/members")["data"]) == 8
    # the Location is where the run is
    assert api.ok("GET", r.headers["location"].removeprefix("/api/v1"))["id"] == started["id"]


@pytest.mark.parametrize(
    "body",
    [
        {"dry_run": True, "extra": 1},
        {"confirm": 1},
        {"dry_run": "perhaps"},
        {"dry_run": [True]},
        [],
        "dry",
    ],
)
def test_a_malformed_trigger_body_is_400_and_starts_nothing(api, staged, body):
    assert_invalid(api.post("/sync-runs", json=body))
    assert api.ok("GET", "/sync-runs")["data"] == []


def test_a_second_trigger_while_one_is_running_is_409(api, engine, staged):
    with engine.begin() as conn:
        running = sync_store.insert_run(
            conn, api.account_id, trigger="cli", status="running", owner="elsewhere:1", now=utcnow()
        )
    doc = assert_problem(api.post("/sync-runs"), 409)
    assert "already running" in doc["detail"]
    assert [r["id"] for r in api.ok("GET", "/sync-runs")["data"]] == [running]
    assert api.ok("GET", "/members")["data"] == []
    # a dry run is still answered: it writes nothing and takes no lease
    assert api.ok("POST", "/sync-runs", json={"dry_run": True})["counts"]["created"] == 8


# ---- the hold ----


@pytest.fixture
def held(api, engine, synced):
    """Three of eight deactivated in the identity provider with a 10% / 1 threshold: a held run."""
    with engine.begin() as conn:
        schedule.configure(conn, api.account_id, hold_percent=10, hold_minimum=1)
    for uid in synced["users"][:3]:
        set_active(api.scim, uid, "False")
    r = api.post("/sync-runs")
    assert r.status_code == 202, r.text
    run = api.wait_run(r.json()["id"])
    assert run["status"] == "held", run
    return run


def test_a_held_run_lists_the_planned_deactivations(api, held):
    assert held["counts"]["deactivated"] == 3
    assert "Held" in held["detail"] and "3 of 8" in held["detail"]
    assert {(i["action"], i["label"]) for i in held["items"]} == {
        ("deactivate", f"User{i:02d} (user{i:02d}@example.com)") for i in range(3)
    }
    # nothing was applied
    assert api.ok("GET", "/members?status=deactivated")["data"] == []


def test_confirming_a_held_run_applies_it(api, held):
    r = api.post(f"/sync-runs/{held['id']}/confirm")
    assert r.status_code == 202, r.text
    assert r.json()["id"] == held["id"]
    assert r.headers["location"] == f"/api/v1/sync-runs/{held['id']}"
    run = api.wait_run(held["id"])
    assert run["status"] == "succeeded", run
    assert run["counts"]["deactivated"] == 3
    gone = api.ok("GET", "/members?status=deactivated")["data"]
    assert sorted(m["email"] for m in gone) == [f"user{i:02d}@example.com" for i in range(3)]
    # confirming it again is refused: it is not held any more
    doc = assert_problem(api.post(f"/sync-runs/{held['id']}/confirm"), 400)
    assert "not held" in doc["detail"]
    assert api.ok("GET", f"/sync-runs/{held['id']}")["status"] == "succeeded"
    assert [r for r in api.ok("GET", "/sync-runs")["data"] if r["status"] == "running"] == []


def test_confirming_a_run_that_never_was_held_is_400(api, synced):
    assert_problem(api.post(f"/sync-runs/{synced['run_id']}/confirm"), 400, contains="not held")


def test_a_newer_held_run_supersedes_the_older(api, engine, held):
    r = api.post("/sync-runs")
    newer = api.wait_run(r.json()["id"])
    assert newer["status"] == "held" and newer["id"] != held["id"]
    assert api.ok("GET", f"/sync-runs/{held['id']}")["status"] == "superseded"
    assert_problem(api.post(f"/sync-runs/{held['id']}/confirm"), 400)
    assert api.ok("GET", "/members?status=deactivated")["data"] == []


def test_confirming_while_another_run_is_running_is_409(api, engine, held):
    with engine.begin() as conn:
        sync_store.insert_run(
            conn, api.account_id, trigger="cli", status="running", owner="elsewhere:1", now=utcnow()
        )
    assert_problem(api.post(f"/sync-runs/{held['id']}/confirm"), 409)
    assert api.ok("GET", f"/sync-runs/{held['id']}")["status"] == "held"
    assert api.ok("GET", "/members?status=deactivated")["data"] == []


def test_api_triggered_runs_show_in_the_shared_history(api, engine, synced):
    r = api.post("/sync-runs")
    api.wait_run(r.json()["id"])
    triggers = [run["trigger"] for run in runs(engine, api.account_id)]
    assert triggers == ["api", "cli"]


# ---- one bad value from the identity provider ----


@pytest.fixture
def overflowing(api, engine):
    """A number Property mapped from nickName, and one user whose nickName overflows Decimal."""
    from scimgate.mapping import service as mapping
    from tests.helpers.sync import add_property, create_user

    add_property(engine, api.account_id, "Level", "number")
    with engine.begin() as conn:
        mapping.set_mapping(conn, api.account_id, "Level", "nickName")
    create_user(api.scim, "ada@example.com", nickName="1e999999999999999999")
    create_user(api.scim, "bob@example.com", nickName="7")


# Regression: decimal.Overflow once escaped to_number, and one such value failed every run.
def test_a_huge_number_from_scim_is_an_item_error_not_a_failed_run(api, overflowing):
    r = api.post("/sync-runs")
    assert r.status_code == 202, r.text
    run = api.wait_run(r.json()["id"])
    assert run["status"] == "succeeded", run
    assert run["counts"]["errors"] == 1
    assert len(api.ok("GET", "/members")["data"]) == 2


def test_a_dry_run_over_a_huge_number_from_scim_is_not_a_500(api, overflowing):
    r = api.post("/sync-runs", json={"dry_run": True})
    assert r.status_code == 200, r.text
    assert r.json()["counts"]["errors"] == 1
