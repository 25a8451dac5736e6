"""Webhook dead letters: the delivery that used up an endpoint's retries is listed (API, CLI)
until its event arrives, and is sent again in bulk (all or by id), within one account."""

from __future__ import annotations

import json
import re
import time
from urllib.parse import urlencode

import pytest

from scimgate.webhooks.delivery import Deliverer
from tests.helpers.api import assert_problem
from tests.helpers.console import csrf_of
from tests.helpers.webhooks import (
    RETRY,
    add_endpoint,
    add_members,
    delivery_log,
    endpoint,
    last_seq,
    verify,
)


@pytest.fixture
def settings(settings):
    """The API's redeliveries may reach the loopback receiver too."""
    return settings.model_copy(update={"webhooks_allow_private": True})


def fail_until_dead(deliverer, engine, slug, hook_id):
    """Tick through every retry until the endpoint is failing."""
    assert deliverer.tick() == 1
    for wait in RETRY:
        time.sleep(wait + 0.05)
        assert deliverer.tick() == 1
    assert endpoint(engine, slug, hook_id)["status"] == "failing"


def test_dead_letters_listed_then_redelivered_in_bulk(make_api, engine, receiver, make_deliverer):
    api = make_api("a")
    hook = add_endpoint(engine, api.slug, receiver.url("/r"))
    b = last_seq(engine, api.account_id)
    add_members(engine, api.account_id, "a", 2)
    deliverer = make_deliverer()
    receiver.always_fail("/r", "500")
    fail_until_dead(deliverer, engine, api.slug, hook["id"])
    # Nothing is dead before the retries are used up; then exactly the last attempt is.
    log = delivery_log(engine, api.slug, hook["id"])
    assert [(d["event_seq"] - b, d["attempt"], d["dead"]) for d in log] == [
        (1, 1, False),
        (1, 2, False),
        (1, 3, True),
    ]
    listed = api.ok("GET", f"/webhooks/{hook['id']}/dead-letters")
    assert listed["next_cursor"] is None
    [letter] = listed["data"]
    assert (letter["id"], letter["event_seq"], letter["status_code"]) == (log[-1]["id"], b + 1, 500)
    assert letter["at"].endswith("Z") or letter["at"].endswith("+00:00")

    # A failed bulk redelivery logs an attempt 0 and leaves the dead letter open.
    r = api.post(f"/webhooks/{hook['id']}/dead-letters/redeliver", json={"all": True})
    assert r.status_code == 200, r.text
    assert r.json()["results"][0]["ok"] is False and r.json()["remaining"] == 0
    assert r.json()["results"][0]["status_code"] == 500
    assert len(api.ok("GET", f"/webhooks/{hook['id']}/dead-letters")["data"]) == 1

    # A successful one settles it; the endpoint stays failing with its cursor put.
    receiver.always_fail("/r", None)
    report = api.ok(
        "POST", f"/webhooks/{hook['id']}/dead-letters/redeliver", json={"ids": [letter["id"]]}
    )
    assert report == {
        "results": [
            {"id": letter["id"], "event_seq": b + 1, "ok": True, "status_code": 200, "error": None}
        ],
        "remaining": 0,
    }
    got = receiver.ok("/r")[-1]
    assert got.seq == b + 1 and got.id == letter["event_id"]
    assert verify(hook["secret"], got.headers, got.body)
    assert api.ok("GET", f"/webhooks/{hook['id']}/dead-letters")["data"] == []
    state = endpoint(engine, api.slug, hook["id"])
    assert (state["status"], state["cursor"]) == ("failing", b)
    assert delivery_log(engine, api.slug, hook["id"])[-1]["attempt"] == 0

    # Choosing nothing, both, or an id that is not an open dead letter of this endpoint.
    path = f"/webhooks/{hook['id']}/dead-letters/redeliver"
    for body in ({}, {"all": True, "ids": [1]}, {"ids": []}, {"all": False}, {"ids": ["x"]}):
        assert_problem(api.post(path, json=body), 400)
    assert_problem(api.post(path, json={"ids": [letter["id"]]}), 404, contains="No open dead")
    assert_problem(api.post(path, json={"ids": [log[0]["id"]]}), 404)


def test_dead_letters_are_account_scoped(make_api, engine, receiver, make_deliverer):
    api, other = make_api("a"), make_api("b")
    hook = add_endpoint(engine, api.slug, receiver.url("/a"))
    theirs = add_endpoint(engine, other.slug, receiver.url("/b"))
    add_members(engine, api.account_id, "a", 1)
    add_members(engine, other.account_id, "b", 1)
    receiver.always_fail("/a", "500")
    receiver.always_fail("/b", "500")
    deliverer = make_deliverer()
    assert deliverer.tick() == 2
    for wait in RETRY:
        time.sleep(wait + 0.05)
        assert deliverer.tick() == 2
    [mine] = api.ok("GET", f"/webhooks/{hook['id']}/dead-letters")["data"]
    [their] = other.ok("GET", f"/webhooks/{theirs['id']}/dead-letters")["data"]
    receiver.always_fail("/a", None)
    receiver.always_fail("/b", None)
    before = len(receiver.on("/b"))
    # Another account's endpoint is a 404, whatever is asked of it.
    assert_problem(api.get(f"/webhooks/{theirs['id']}/dead-letters"), 404)
    for body in ({"all": True}, {"ids": [their["id"]]}):
        r = api.post(f"/webhooks/{theirs['id']}/dead-letters/redeliver", json=body)
        assert_problem(r, 404)
    # Their dead letter's id through my endpoint is not mine either.
    r = api.post(f"/webhooks/{hook['id']}/dead-letters/redeliver", json={"ids": [their["id"]]})
    assert_problem(r, 404)
    assert len(receiver.on("/b")) == before
    # "all" on my endpoint sends mine only.
    report = api.ok("POST", f"/webhooks/{hook['id']}/dead-letters/redeliver", json={"all": True})
    assert [x["id"] for x in report["results"]] == [mine["id"]]
    assert len(receiver.on("/b")) == before
    assert len(other.ok("GET", f"/webhooks/{theirs['id']}/dead-letters")["data"]) == 1


def test_dead_letters_settle_when_a_resume_delivers_and_the_cli(
    scim, engine, receiver, make_deliverer, cli
):
    hook = add_endpoint(engine, scim.slug, receiver.url("/r"))
    add_members(engine, scim.account_id, "a", 1)
    deliverer = make_deliverer()
    receiver.always_fail("/r", "500")
    fail_until_dead(deliverer, engine, scim.slug, hook["id"])
    r = cli("webhook", "dead-letters", scim.slug, str(hook["id"]), "--json")
    assert r.exit_code == 0, r.stderr
    [letter] = json.loads(r.stdout)
    env = {"SCIMGATE_WEBHOOKS_ALLOW_PRIVATE": "true"}
    r = cli("webhook", "redeliver-dead", scim.slug, str(hook["id"]), "--all", env=env)
    assert r.exit_code == 1 and "some redeliveries failed" in r.stderr
    assert r.stdout.startswith(f"{letter['id']}\t")
    r = cli("webhook", "redeliver-dead", scim.slug, str(hook["id"]), env=env)
    assert r.exit_code == 1 and "--all" in r.stderr
    # Resumed and delivered by the worker: the dead letter is settled.
    receiver.always_fail("/r", None)
    assert cli("webhook", "resume", scim.slug, str(hook["id"])).exit_code == 0
    assert deliverer.tick() == 1
    r = cli("webhook", "dead-letters", scim.slug, str(hook["id"]))
    assert r.exit_code == 0 and r.stdout == ""
    r = cli("webhook", "redeliver-dead", scim.slug, str(hook["id"]), "--id", str(letter["id"]))
    assert r.exit_code == 1 and "No open dead letter" in r.stderr
    r = cli("webhook", "dead-letters", "nope", str(hook["id"]))
    assert r.exit_code == 1


def test_the_console_lists_and_redelivers_dead_letters_in_bulk(make_console, app, engine, receiver):
    console, other = make_console(), make_console()
    hook = add_endpoint(engine, console.slug, receiver.url("/r"))
    add_members(engine, console.account_id, "a", 2)
    settings = app.state.settings.model_copy(update={"webhook_retry_seconds": list(RETRY)})
    deliverer = Deliverer(engine, settings)
    try:
        receiver.always_fail("/r", "500")
        deliverer.tick()
        for wait in RETRY:
            time.sleep(wait + 0.05)
            deliverer.tick()
    finally:
        deliverer.close()
    assert endpoint(engine, console.slug, hook["id"])["status"] == "failing"
    path = f"/integrations/webhooks/{hook['id']}"
    assert "1 dead letter<" in console.get("/integrations").text
    assert "dead letter" not in other.get("/integrations").text
    page = console.get(path).text
    ids = re.findall(r'name="ids" value="(\d+)"', page)
    assert len(ids) == 1 and "Redeliver all" in page
    # Another account can neither see nor send them.
    assert other.get(path).status_code == 404
    token = csrf_of(other.get("/integrations").text)
    r = other.http.post(
        f"/console{path}/dead-letters/redeliver",
        data={"csrf_token": token, "all": "1"},
        follow_redirects=False,
    )
    assert r.status_code == 404
    # Selected, while the receiver still fails: logged, still dead.
    token = csrf_of(page)
    r = console.http.post(
        f"/console{path}/dead-letters/redeliver",
        content=urlencode([("csrf_token", token), ("ids", ids[0])]),
        headers={"content-type": "application/x-www-form-urlencoded"},
        follow_redirects=False,
    )
    assert r.status_code == 303
    page = console.get(r.headers["location"].removeprefix("/console")).text
    assert "0 delivered, 1 failed, 0 left" in page
    assert re.findall(r'name="ids" value="(\d+)"', page) == ids
    # Nothing ticked: told so, nothing sent.
    sent = len(receiver.on("/r"))
    r = console.post(f"{path}/dead-letters/redeliver", {}, page=path)
    assert r.status_code == 303 and "error=" in r.headers["location"]
    assert len(receiver.on("/r")) == sent
    # All, once the receiver answers: settled.
    receiver.always_fail("/r", None)
    r = console.post(f"{path}/dead-letters/redeliver", {"all": "1"}, page=path)
    page = console.get(r.headers["location"].removeprefix("/console")).text
    assert "1 delivered, 0 failed, 0 left" in page and 'id="no-dead-letters"' in page
    assert "dead-count" not in console.get("/integrations").text
