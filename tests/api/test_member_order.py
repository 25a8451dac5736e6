"""/api/v1/members sorted by name, email or status (either way), searched with q, paged with
cursors that belong to their order."""

from __future__ import annotations

import pytest

from tests.helpers.api import assert_invalid, assert_problem

PEOPLE = [
    ("zed@x.example", "alice"),
    ("Amy@x.example", "Carol"),
    ("mid@x.example", "bob"),
    ("ann@x.example", "Bob"),  # same name in another case: the id breaks the tie
    ("kim@x.example", "dave"),
    ("lee@x.example", "Eve"),
    ("ola@x.example", "frank"),
]


@pytest.fixture
def people(api):
    ids = {}
    for email, name in PEOPLE:
        ids[email] = api.ok("POST", "/members", 201, json={"email": email, "name": name})["id"]
    return ids


def walk(api, query, limit=2):
    """Every member of a sorted list, page by page."""
    seen, cursor, pages = [], None, 0
    while True:
        page = api.ok(
            "GET", f"/members?{query}&limit={limit}" + (f"&cursor={cursor}" if cursor else "")
        )
        seen += page["data"]
        pages += 1
        cursor = page["next_cursor"]
        if cursor is None:
            return seen, pages
        assert pages < 50


def test_sort_by_name_both_ways(api, people):
    rows, pages = walk(api, "sort=name")
    assert pages == 4
    names = [m["name"] for m in rows]
    expected = sorted([(n.lower(), people[e]) for e, n in PEOPLE])
    assert [(n.lower(), m["id"]) for n, m in zip(names, rows, strict=True)] == expected
    down, _ = walk(api, "sort=-name", limit=3)
    assert [m["id"] for m in down] == [m["id"] for m in reversed(rows)]


def test_sort_by_email(api, people):
    rows, _ = walk(api, "sort=email", limit=3)
    assert [m["email"] for m in rows] == sorted((e for e, _n in PEOPLE), key=str.lower)


def test_sort_by_status_then_name(api, people, engine):
    from scimgate.store import members as member_store

    with engine.begin() as conn:
        for email in ("zed@x.example", "kim@x.example"):
            member_store.update_member(conn, api.account_id, people[email], status="deactivated")
    rows, _ = walk(api, "sort=status", limit=2)
    assert [(m["status"], m["name"].lower()) for m in rows][:5] == [
        ("active", "bob"),
        ("active", "bob"),
        ("active", "carol"),
        ("active", "eve"),
        ("active", "frank"),
    ]
    assert [(m["status"], m["name"]) for m in rows][5:] == [
        ("deactivated", "alice"),
        ("deactivated", "dave"),
    ]
    down, _ = walk(api, "sort=-status", limit=4)
    assert [m["id"] for m in down] == [m["id"] for m in reversed(rows)]


def test_search_any_case_with_sort(api, people):
    rows, _ = walk(api, "q=BO&sort=name")
    assert sorted(m["email"] for m in rows) == ["ann@x.example", "mid@x.example"]
    rows, _ = walk(api, "q=X.EXAMPLE&sort=-email", limit=5)
    assert len(rows) == len(PEOPLE)
    assert api.ok("GET", "/members?q=nobody")["data"] == []


def test_a_cursor_of_another_order_is_refused(api, people):
    page = api.ok("GET", "/members?sort=name&limit=2")
    cursor = page["next_cursor"]
    assert cursor and cursor != page["data"][-1]["id"]  # opaque outside id order
    assert_problem(api.get(f"/members?sort=email&cursor={cursor}"), 400, contains="cursor")
    assert_problem(api.get(f"/members?sort=-name&cursor={cursor}"), 400, contains="cursor")
    assert_problem(api.get(f"/members?cursor={cursor}"), 400, contains="cursor")
    id_cursor = api.ok("GET", "/members?limit=2")["next_cursor"]
    assert_problem(api.get(f"/members?sort=name&cursor={id_cursor}"), 400, contains="cursor")


@pytest.mark.parametrize("sort", ["created", "name,email", "--name", "NAME", ""])
def test_unknown_sorts_are_400(api, sort):
    if sort == "":
        assert api.ok("GET", "/members?sort=")["data"] == []
        return
    assert_invalid(api.get(f"/members?sort={sort}"))
