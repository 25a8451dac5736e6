"""GET /api/v1/drift and its section lists: shape, paging, refusals, one account's data;
the report computed off the request (202 meanwhile) and kept, pages bounded per account."""

from __future__ import annotations

import threading
from typing import Any

import pytest

from scimgate.drift import cache, report
from scimgate.drift.cache import ReportCache
from scimgate.store import property_values
from scimgate.store.database import utcnow
from tests.drift.test_scan_pages import edited_account
from tests.helpers.api import assert_problem
from tests.helpers.sync import create_user, create_users, property_id, sync

SECTIONS = {"unsynced", "manual", "edited", "unfilled"}


@pytest.fixture
def drifted(api, engine):
    """An account with a row in every section: two staged users never synchronized, a
    manual member nobody in staging matches, a hand-edited Job title, unfilled Properties."""
    create_user(api.scim, "ann@example.com", title="Engineer")
    sync(engine, api.account_id)
    create_users(api.scim, 2, prefix="late")
    api.ok("POST", "/members", 201, json={"email": "solo@example.com", "name": "Solo"})
    ann = api.ok("GET", "/members", params={"q": "ann@"})["data"][0]
    with engine.begin() as conn:
        property_values.set_value(
            conn,
            api.account_id,
            ann["id"],
            property_id(engine, api.account_id, "Job title"),
            "CEO",
            source="scim",
            now=utcnow(),
        )
    return api


def test_the_report_has_every_section_with_count_rows_and_cursor(drifted):
    doc = drifted.ok("GET", "/drift")
    assert set(doc) == {"last_run_id", "computed_at", "sections"} and doc["last_run_id"] >= 1
    sections = doc["sections"]
    assert set(sections) == SECTIONS
    for body in sections.values():
        assert set(body) == {"count", "data", "next_cursor"}
    assert sections["unsynced"]["count"] == 2
    assert {r["reason"] for r in sections["unsynced"]["data"]} == {"waiting"}
    assert [r["email"] for r in sections["manual"]["data"]] == ["solo@example.com"]
    (edited,) = sections["edited"]["data"]
    assert edited["email"] == "ann@example.com" and edited["fields"] == [
        {"field": "Job title", "member_value": "CEO", "mapped_value": "Engineer"}
    ]
    assert {r["property"] for r in sections["unfilled"]["data"]} == {"Department", "Manager"}


def test_a_section_pages_with_next_cursor_until_null(drifted):
    first = drifted.ok("GET", "/drift/unsynced", params={"limit": 1})
    assert set(first) == {"data", "next_cursor"} and len(first["data"]) == 1
    second = drifted.ok(
        "GET", "/drift/unsynced", params={"limit": 1, "cursor": first["next_cursor"]}
    )
    assert len(second["data"]) == 1 and second["next_cursor"] is None
    assert first["data"][0]["directory_user_id"] < second["data"][0]["directory_user_id"]
    summary = drifted.ok("GET", "/drift", params={"limit": 1})["sections"]["unsynced"]
    assert summary["count"] == 2 and summary["next_cursor"] == first["next_cursor"]


@pytest.mark.parametrize("section", sorted(SECTIONS))
def test_every_section_list_answers_a_page(drifted, section):
    doc = drifted.ok("GET", f"/drift/{section}")
    assert set(doc) == {"data", "next_cursor"} and doc["data"]


def test_a_cursor_the_list_did_not_hand_out_is_a_400(drifted):
    r = drifted.get("/drift/edited", params={"cursor": "not-a-cursor"})
    assert_problem(r, 400, contains="cursor")
    assert_problem(drifted.get("/drift", params={"limit": 0}), 400)


def test_without_a_key_it_is_a_401(http):
    assert_problem(http.get("/api/v1/drift"), 401)


def test_another_accounts_key_sees_only_its_own_drift(drifted, make_api):
    other = make_api("other")
    doc = other.ok("GET", "/drift")
    assert {k: s["count"] for k, s in doc["sections"].items()} == {
        "unsynced": 0,
        "manual": 0,
        "edited": 0,
        "unfilled": 3,
    }
    assert doc["last_run_id"] is None


def test_a_report_being_computed_is_a_202_then_the_kept_report(api, monkeypatch):
    opened, calls, real = threading.Event(), [], cache.summary

    def slow(conn: Any, account_id: int, **kw: Any) -> dict[str, Any]:
        calls.append(account_id)
        assert opened.wait(10)
        return real(conn, account_id, **kw)

    monkeypatch.setattr(cache, "summary", slow)
    create_user(api.scim, "ann@example.com")
    for _ in range(2):  # the second request joins the computation under way
        r = api.get("/drift")
        assert r.status_code == 202 and r.headers["Retry-After"] == "2"
        assert r.json()["status"] == "computing"
    opened.set()
    for _ in range(200):
        r = api.get("/drift")
        if r.status_code == 200:
            break
        threading.Event().wait(0.05)
    assert r.status_code == 200 and r.json()["sections"]["unsynced"]["count"] == 1
    assert api.ok("GET", "/drift")["computed_at"] == r.json()["computed_at"]  # kept
    assert calls == [api.account_id]


def test_too_many_reports_under_way_is_a_503_with_retry_after(api, engine):
    ReportCache.shared(engine).backlog = 0
    r = api.get("/drift")
    assert_problem(r, 503, contains="drift reports")
    assert r.headers["Retry-After"] == "5"


def test_a_second_page_of_one_account_at_once_is_a_503_others_are_served(drifted, engine, make_api):
    gate = ReportCache.shared(engine).gate
    gate.wait = 0.05
    other = make_api("other")
    with gate.slot(drifted.account_id):  # a page of this account is being read
        r = drifted.get("/drift/unsynced")
        assert_problem(r, 503, contains="this account")
        assert r.headers["Retry-After"] == "2"
        assert other.ok("GET", "/drift/unsynced")["data"] == []
    assert drifted.ok("GET", "/drift/unsynced")["data"]


def test_a_page_of_edited_looks_at_a_bounded_number_of_members(api, engine, monkeypatch):
    ids = edited_account(api.scim, engine, edits=(2, 4))
    monkeypatch.setattr(report, "PAGE_SCAN", 2)
    got, cursor = [], None
    while True:
        page = api.ok("GET", "/drift/edited", params={"limit": 2, "cursor": cursor})
        got.append(([r["member_id"] for r in page["data"]], page["next_cursor"]))
        if (cursor := page["next_cursor"]) is None:
            break
    # two members looked at per page: the first page finds nothing and says where to go on
    assert got == [([], ids[1]), ([ids[2]], ids[3]), ([ids[4]], ids[5]), ([], None)]
