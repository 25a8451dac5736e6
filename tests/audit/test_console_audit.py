"""Console changes are audited under the signed-in admin's email, one entry each; a refused
form writes none; the Audit log page shows this account's entries only, newest first,
paginated; a confirmed held run keeps its start and says who confirmed it."""

from __future__ import annotations

import html
import re

import pytest

from scimgate import audit
from scimgate.settings import Settings
from tests.helpers.audit import entries, entries_since
from tests.helpers.console import PASSWORD, PATCH, stage, synchronize, wait_for_run


@pytest.fixture
def settings(database_url: str) -> Settings:
    """The test settings, with webhooks to a local address allowed."""
    return Settings(
        database_url=database_url,
        public_url="https://scim.example.test",
        request_log_flush_seconds=3600,
        scheduler=False,
        webhooks=False,
        rate_limits=False,
        webhooks_allow_private=True,
    )


class Steps:
    """Post a console form; it must write exactly one entry naming the admin."""

    def __init__(self, console, engine):
        self.console, self.engine = console, engine

    def __call__(self, action, path, data=None, *, page=None, status=(200, 303)):
        before = entries(self.engine, self.console.account_id)
        r = self.console.post(path, data, page=page)
        assert r.status_code in status, (path, r.status_code, r.text[:500])
        new = entries_since(self.engine, self.console.account_id, before)
        assert [(e["actor"], e["action"]) for e in new] == [(self.console.email, action)], new
        return r, new[0]


def test_each_console_change_writes_one_entry_naming_the_admin(make_console, engine):
    console = make_console(active=False)
    step = Steps(console, engine)
    step("provisioning.activated", "/provisioning/activate", page="/provisioning")
    _, issued = step(
        "token.issued", "/provisioning/tokens", {"name": "rotation"}, page="/provisioning"
    )
    assert issued["details"]["name"] == "rotation"
    token_id = issued["details"]["token_id"]
    step("token.revoked", f"/provisioning/tokens/{token_id}/revoke", page="/provisioning")
    _, key = step(
        "api_key.created", "/integrations/keys", {"name": "backend"}, page="/integrations"
    )
    step(
        "api_key.revoked",
        f"/integrations/keys/{key['details']['key_id']}/revoke",
        page="/integrations",
    )
    _, hook = step(
        "webhook.added",
        "/integrations/webhooks",
        {"url": "http://127.0.0.1:9/hook", "events": "member.created"},
        page="/integrations",
    )
    endpoint = hook["details"]["endpoint_id"]
    step("webhook.resumed", f"/integrations/webhooks/{endpoint}/resume", page="/integrations")
    step("webhook.removed", f"/integrations/webhooks/{endpoint}/remove", page="/integrations")
    step(
        "property.created",
        "/properties",
        {"name": "Level", "type": "select", "options": "Junior\nSenior"},
    )
    _, mapped = step(
        "mapping.set", "/mapping", {"target": "Level", "source": "title", "action": "save"}
    )
    assert mapped["details"] == {"target": "Level", "changes": {"source": [None, "title"]}}
    step("mapping.removed", "/mapping/remove", {"target": "Level"}, page="/mapping")
    _, changed = step(
        "sync_settings.changed",
        "/sync/settings",
        {
            "daily": "on",
            "time": "03:00",
            "timezone": "UTC",
            "hold_percent": "20",
            "hold_minimum": "10",
        },
    )
    assert changed["details"] == {"changes": {"hold_percent": [10, 20]}}
    _, started = step("sync_run.started", "/sync", page="/sync")
    assert started["details"]["trigger"] == "manual"
    step(
        "provisioning.deactivated",
        "/provisioning/deactivate",
        {"confirm": "yes"},
        page="/provisioning",
    )


def test_password_and_sessions_are_audited_without_secrets(make_console, engine, app):
    from tests.helpers.console import browser, sign_in

    console = make_console()
    with browser(app, "198.51.100.77") as other:
        assert sign_in(other, console.slug, console.email, PASSWORD).status_code == 303
        with browser(app, "198.51.100.78") as third:
            assert sign_in(third, console.slug, console.email, PASSWORD).status_code == 303
            step = Steps(console, engine)
            page = console.get("/account/sessions").text
            handle = re.findall(r"/console/account/sessions/([0-9a-f]{16})/revoke", page)[0]
            _, revoked = step(
                "admin.session_revoked",
                f"/account/sessions/{handle}/revoke",
                page="/account/sessions",
            )
            assert revoked["details"] == {
                "admin_id": revoked["details"]["admin_id"],
                "session": handle,
                "current": False,
            }
            _, others = step(
                "admin.sessions_revoked", "/account/sessions/others", page="/account/sessions"
            )
            assert others["details"]["sessions_ended"] == 1
    new_password = "a brand new long password"
    _, changed = step(
        "admin.password_changed",
        "/account/password",
        {"current": PASSWORD, "new": new_password, "again": new_password},
    )
    assert changed["target"] == f"admin {console.email}"
    text = repr(entries(engine, console.account_id))
    assert PASSWORD not in text and new_password not in text


@pytest.mark.parametrize(
    "path, data, page",
    [
        (
            "/account/password",
            {"current": "wrong password!!", "new": "x" * 12, "again": "x" * 12},
            None,
        ),
        ("/account/password", {"current": PASSWORD, "new": "short", "again": "short"}, None),
        (
            "/sync/settings",
            {"time": "25:00", "timezone": "UTC", "hold_percent": "10", "hold_minimum": "1"},
            None,
        ),
        ("/mapping", {"target": "Job title", "source": "no such ((path", "action": "save"}, None),
        ("/properties", {"name": "email", "type": "text"}, None),
        ("/provisioning/deactivate", {}, "/provisioning"),
        ("/provisioning/tokens/999/revoke", {}, "/provisioning"),
        ("/integrations/keys/999/revoke", {}, "/integrations"),
        ("/integrations/webhooks", {"url": "ftp://example.com/x"}, "/integrations"),
        ("/sync/runs/999/confirm", {}, "/sync"),
    ],
)
def test_a_refused_form_writes_no_entry(make_console, engine, path, data, page):
    console = make_console()
    before = entries(engine, console.account_id)
    r = console.post(path, data, page=page)
    assert r.status_code in (400, 404, 429), (r.status_code, r.text[:300])
    assert entries(engine, console.account_id) == before


def test_the_audit_page_lists_this_accounts_entries_newest_first(make_console, engine):
    ours = make_console()
    theirs = make_console()
    assert (
        theirs.post("/integrations/keys", {"name": "their-key"}, page="/integrations").status_code
        == 200
    )
    assert (
        ours.post("/integrations/keys", {"name": "our-key"}, page="/integrations").status_code
        == 200
    )
    page = ours.get("/audit")
    assert page.status_code == 200
    text = html.unescape(page.text)
    assert 'href="/console/audit" aria-current="page">Audit log</a>' in page.text
    assert "api_key.created" in text and "our-key" in text and ours.email in text
    assert "their-key" not in text and theirs.email not in text
    assert text.index("api_key.created") < text.index("provisioning.activated")
    # another account's nav has the link too, and never our entries
    assert "our-key" not in html.unescape(theirs.get("/audit").text)


def test_the_audit_page_is_paginated_and_forgives_a_bad_cursor(make_console, engine):
    console = make_console()
    with engine.begin() as conn:
        for n in range(60):
            audit.record(
                conn,
                console.account_id,
                actor="cli:opal",
                action="test.step",
                target=f"step {n:02d}",
            )
    first = console.get("/audit").text
    assert "step 59" in first and "step 10" in first and "step 09" not in first
    older = re.search(r'href="(/console/audit\?cursor=\d+)">Older</a>', first).group(1)
    second = console.get(older.removeprefix("/console")).text
    assert "step 09" in second and "step 00" in second and "step 10" not in second
    assert "Older</a>" not in second and "Newest</a>" in second
    for bad in ("abc", "-1", "99999999999999999999999", "1%00"):
        r = console.get(f"/audit?cursor={bad}")
        assert r.status_code in (200, 400) and "Traceback" not in r.text
        if r.status_code == 200:
            assert "step 59" in r.text


def test_a_confirmed_run_keeps_its_start_and_names_who_confirmed_it(make_console, engine):
    console = make_console()
    console.post(
        "/sync/settings",
        {
            "daily": "on",
            "time": "03:00",
            "timezone": "UTC",
            "hold_percent": "10",
            "hold_minimum": "1",
        },
    )
    ids = [stage(console, f"u{i}@acme.example") for i in range(4)]
    synchronize(console)
    for user_id in ids[:2]:
        console.scim(
            "PATCH",
            f"/Users/{user_id}",
            json={
                "schemas": [PATCH],
                "Operations": [{"op": "Replace", "path": "active", "value": "False"}],
            },
        )
    held, location = synchronize(console)
    run_path = location.removeprefix("/console")
    started = re.search(r"<dt>Started</dt><dd>(.*?)</dd>", held.text).group(1)
    assert "<dt>Confirmed</dt>" not in held.text
    before = entries(engine, console.account_id)
    r = console.post(run_path + "/confirm", page=run_path)
    assert r.status_code == 303
    done = wait_for_run(console, run_path)
    assert "badge succeeded" in done.text
    assert re.search(r"<dt>Started</dt><dd>(.*?)</dd>", done.text).group(1) == started
    confirmed = re.search(r"<dt>Confirmed</dt><dd>(.*?)</dd>", done.text).group(1)
    assert re.sub(r"<[^>]+>", "", confirmed).endswith(f" UTC by {console.email}"), confirmed
    new = entries_since(engine, console.account_id, before)
    run_id = int(run_path.rsplit("/", 1)[1])
    assert [(e["actor"], e["action"], e["target"]) for e in new] == [
        (console.email, "sync_run.confirmed", f"sync run {run_id}")
    ]
    assert new[0]["details"] == {"run_id": run_id, "deactivations": 2}
    assert f"confirmed by {console.email}" in console.get("/sync/runs").text


def test_the_audit_page_shows_lists_and_maps_in_details_as_text(make_console, engine):
    console = make_console()
    with engine.begin() as conn:
        audit.record(
            conn,
            console.account_id,
            actor="cli:opal",
            action="property.options_changed",
            target="Property Level",
            details={
                "changes": {"options": [["Junior", "Senior"], ["Associate", "Senior"]]},
                "renamed": {"Junior": "Associate"},
                "mapped_from": None,
            },
        )
    text = html.unescape(console.get("/audit").text)
    assert "Junior, Senior" in text and "Associate, Senior" in text
    assert "Junior → Associate" in text and "['Junior'" not in text
