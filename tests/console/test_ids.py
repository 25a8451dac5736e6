"""Ids in console URLs that name nothing answer 404, however large or odd they are.

SQLite refuses integers beyond 64 bits (OverflowError) and PostgreSQL compares them as
numeric or refuses them: neither may turn into a 500.
"""

from __future__ import annotations

import pytest

from scimgate.webhooks import service as webhooks
from tests.helpers.console import csrf_of

HUGE = ["9223372036854775808", "99999999999999999999", "1" + "0" * 100]
LARGEST = "9223372036854775807"  # 2**63 - 1: a valid id that names nothing

GETS = [
    "/sync/runs/{}",
    "/sync/runs/{}/progress",
    "/log/{}",
    "/integrations/webhooks/{}",
]
POSTS = [
    "/provisioning/tokens/{}/revoke",
    "/sync/runs/{}/confirm",
    "/integrations/keys/{}/revoke",
    "/integrations/webhooks/{}/remove",
    "/integrations/webhooks/{}/resume",
    "/integrations/webhooks/{}/redeliver",
]


@pytest.mark.parametrize("number", [*HUGE, LARGEST])
def test_integer_ids_beyond_any_row_are_not_found(make_console, number):
    console = make_console()
    token = csrf_of(console.get("/provisioning").text)
    for path in GETS:
        r = console.get(path.format(number), follow_redirects=False)
        assert r.status_code == 404, path
        assert "There is nothing here" in r.text
    for path in POSTS:
        r = console.http.post(
            "/console" + path.format(number),
            data={"csrf_token": token, "seq": "1"},
            follow_redirects=False,
        )
        assert r.status_code == 404, path
    assert console.get("/provisioning").status_code == 200  # nothing broke


def test_huge_numbers_in_queries_and_forms_are_harmless(make_console, engine):
    console = make_console()
    for number in HUGE:
        assert console.get(f"/log?before={number}").status_code == 200
    with engine.begin() as conn:
        added = webhooks.add_endpoint(
            conn, console.account_id, "http://127.0.0.1:9/hook", event_types=[], allow_private=True
        )
    for number in HUGE:  # an event number beyond 64 bits
        r = console.post(
            f"/integrations/webhooks/{added['id']}/redeliver",
            {"seq": number},
            page=f"/integrations/webhooks/{added['id']}",
        )
        assert r.status_code == 404


def test_odd_counts_in_notice_queries_are_harmless(make_console, engine):
    """The notices read counts from the query string: "²".isdigit() is True and int()
    refuses it (and 5000 digits); they read as 0, never a 500."""
    console = make_console()
    with engine.begin() as conn:
        added = webhooks.add_endpoint(
            conn, console.account_id, "http://127.0.0.1:9/hook", event_types=[], allow_private=True
        )
    page = f"/integrations/webhooks/{added['id']}?done=dead&sent=²&failed={'1' * 5000}&remaining=2"
    r = console.get(page)
    assert r.status_code == 200 and "0 delivered, 0 failed, 2 left" in r.text
    for done in ("others-²", "others-" + "1" * 5000):
        r = console.get(f"/account/sessions?done={done}")
        assert r.status_code == 200 and "Signed out everywhere else" not in r.text


def test_sync_run_pages_beyond_any_item(make_console):
    console = make_console()
    console.scim(
        "POST",
        "/Users",
        json={"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "userName": "a@x.example"},
    )
    r = console.post("/sync", page="/sync")
    assert r.status_code == 303, r.text
    run_path = r.headers["location"].removeprefix("/console")
    for page in HUGE:
        assert console.get(f"{run_path}?page={page}").status_code == 200


@pytest.mark.parametrize(
    "member_id",
    [
        *HUGE,
        "x" * 5000,
        "%FF%FE",
        "%C3%A9t%C3%A9",
        "..%2F..%2Fetc",
        "%20",
        "'%20OR%201=1--",
        "00000000-0000-0000-0000-000000000000",
    ],
)
def test_member_and_team_ids_that_name_nothing(make_console, member_id):
    console = make_console()
    for base in ("/members/", "/teams/"):
        r = console.get(base + member_id, follow_redirects=False)
        assert r.status_code == 404, (base, member_id)
        assert "There is nothing here" in r.text or "There is no such page" in r.text
