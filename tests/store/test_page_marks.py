"""A plain list continues from remembered ids (store/page_marks.py) and is never wrong for it.

Every page is compared with what OFFSET over the ids in order gives, across creates and
deletes between pages, a stale mark, and marks of another database.
"""

from __future__ import annotations

import random

import pytest

from scimgate.store import page_marks
from scimgate.store.page_marks import PageMarks
from tests.helpers.scim import user_body


@pytest.fixture
def marks(app) -> PageMarks:
    """The marks of the engine the SCIM requests run on."""
    return page_marks.marks_for(app.state.request_engine)


def _create(scim, n: int, prefix: str) -> list[str]:
    ids = []
    for i in range(n):
        r = scim.post("/Users", json=user_body(f"{prefix}{i}@example.com"))
        assert r.status_code == 201, r.text
        ids.append(r.json()["id"])
    return ids


def _page(scim, start: int, count: int) -> tuple[int, list[str]]:
    r = scim.get(f"/Users?startIndex={start}&count={count}&attributes=userName")
    assert r.status_code == 200, r.text
    body = r.json()
    return body["totalResults"], [u["id"] for u in body.get("Resources", [])]


def test_paging_in_order_uses_the_last_page_mark_and_returns_every_user_once(scim, marks):
    ids = sorted(_create(scim, 23, "seq"))
    seen: list[str] = []
    for start in range(1, 24, 5):
        if start > 1:  # the previous page left its last id at the position before this one
            assert marks.nearest(scim.account_id, "User", start - 1)[1] == start - 1
        total, page = _page(scim, start, 5)
        assert total == 23
        seen.extend(page)
    assert seen == ids


def test_pages_stay_exact_when_users_come_and_go_between_them(scim, marks):
    ids = _create(scim, 12, "churn")
    rng = random.Random(7)
    for step in range(12):
        _page(scim, rng.randint(1, len(ids)), 4)  # leave marks all over
        if step % 3 == 0:
            ids += _create(scim, 1, f"churn-new{step}-")
        elif step % 3 == 1:
            gone = ids.pop(rng.randrange(len(ids)))
            assert scim.delete(f"/Users/{gone}").status_code == 204
        expected = sorted(ids)
        for start in (1, 3, 5, len(expected) - 1, len(expected) + 2):
            total, page = _page(scim, start, 4)
            assert total == len(expected)
            assert page == expected[start - 1 : start - 1 + 4], (step, start)


def test_a_mark_whose_id_is_not_a_row_is_dropped_not_followed(scim, marks):
    """Same count of changes, other rows (an account id reused, a database restored): the
    mark's id is checked in the page's own statement."""
    ids = sorted(_create(scim, 8, "stale"))
    _page(scim, 1, 3)
    changes = marks.nearest(scim.account_id, "User", 3)[0]
    bogus = ids[1] + "-gone"  # sorts right after the second user, and is no user
    marks.remember(scim.account_id, "User", changes, 5, bogus)
    total, page = _page(scim, 6, 3)
    assert (total, page) == (8, ids[5:8])
    assert marks.nearest(scim.account_id, "User", 5) != (changes, 5, bogus)


def test_an_account_never_follows_another_accounts_marks(scim, other):
    mine = sorted(_create(scim, 6, "mine"))
    theirs = sorted(_create(other, 6, "theirs"))
    assert _page(scim, 1, 3)[1] == mine[:3]
    assert _page(other, 4, 3)[1] == theirs[3:]
    assert _page(scim, 4, 3)[1] == mine[3:]


def test_past_the_end_and_empty_accounts(scim):
    assert _page(scim, 1, 5) == (0, [])
    ids = sorted(_create(scim, 3, "end"))
    assert _page(scim, 1, 3) == (3, ids)
    assert _page(scim, 4, 3) == (3, [])
    assert _page(scim, 3, 3) == (3, ids[2:])


def test_marks_are_bounded_in_accounts_and_per_account():
    marks = PageMarks(max_accounts=2, max_marks=8)
    for position in range(1, 100):
        marks.remember(1, "User", 5, position, f"id{position:03}")
    kept = [p for p in range(1, 100) if marks.nearest(1, "User", p) == (5, p, f"id{p:03}")]
    assert 0 < len(kept) <= 8
    assert marks.nearest(1, "User", 99)[1] <= 99
    marks.remember(2, "User", 1, 1, "a")
    marks.remember(3, "User", 1, 1, "b")
    assert marks.nearest(1, "User", 50) is None  # the least recently used account went
    marks.remember(3, "User", 2, 4, "c")  # a new generation replaces the old marks
    assert marks.nearest(3, "User", 1) is None
    assert marks.nearest(3, "User", 9) == (2, 4, "c")
