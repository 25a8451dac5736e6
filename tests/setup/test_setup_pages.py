"""The guided setup pages a setup link opens: what they do, and everything they refuse."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any
from urllib.parse import unquote

import anyio
import pytest
from sqlalchemy import Engine, event, update

from scimgate.accounts import service as accounts
from scimgate.accounts import setup_links
from scimgate.store.tables.accounts import setup_link
from scimgate.timestamps import utcnow
from tests.helpers.audit import entries
from tests.helpers.console import browser, csrf_of, stage

TOKEN = re.compile(r'id="secret-token" value="(sgp_[^"]+)"')


def new_link(engine: Engine, account_id: int, **kw: Any) -> setup_links.IssuedLink:
    with engine.begin() as conn:
        return setup_links.create(conn, account_id, actor="admin@test.example", **kw)


def refused_alike(r: Any) -> None:
    """Every link that does not work gets this one page: 404, no account named."""
    assert r.status_code == 404, r.text
    assert "does not work" in r.text
    assert "Inc" not in r.text and "co1" not in r.text and "co2" not in r.text


def test_the_link_opens_its_accounts_setup_and_is_audited(make_console, engine, app):
    admin = make_console()
    link = new_link(engine, admin.account_id, note="Jane")
    with browser(app, "203.0.113.5") as it:
        page = it.get(f"/setup/{link.token}?idp=entra")
        assert page.status_code == 200, page.text
        assert "Co1 Inc" in page.text
        assert "https://scim.example.test/scim/v2" in page.text  # the Tenant URL
        assert "Connecting Microsoft Entra ID" in page.text  # the guide from docs/idp
        assert "Waiting for the first request" in page.text
        assert page.headers["referrer-policy"] == "same-origin"
        assert "scimgate_session" not in page.headers.get("set-cookie", "")
        for _ in range(3):  # the page's polls add nothing
            assert it.get(f"/setup/{link.token}/status").status_code == 200
    opened = [e for e in entries(engine, admin.account_id) if e["action"] == "setup_link.opened"]
    assert len(opened) == 1 and opened[0]["actor"] == f"setuplink:{link.prefix}"
    assert opened[0]["details"]["ip"] == "203.0.113.5"
    assert opened[0]["details"]["user_agent"] == "testclient"
    assert link.token not in str(entries(engine, admin.account_id))
    listed = admin.get("/provisioning").text
    assert link.prefix in listed and "admin@test.example" in listed and "Live" in listed


def test_each_guide_and_other(make_console, engine, app):
    admin = make_console()
    link = new_link(engine, admin.account_id)
    with browser(app, "203.0.113.5") as it:
        for idp, words in (
            ("okta", "Connecting Okta"),
            ("onelogin", "Connecting OneLogin"),
            ("jumpcloud", "Connecting JumpCloud"),
            ("google-workspace", "Google Workspace"),
            ("other", "HTTP <strong>Bearer</strong>"),
        ):
            page = it.get(f"/setup/{link.token}?idp={idp}")
            assert page.status_code == 200 and words in page.text, idp


def test_a_token_generated_here_works_and_names_the_link(make_console, engine, app):
    admin = make_console()
    link = new_link(engine, admin.account_id)
    with browser(app, "203.0.113.5") as it:
        page = it.get(f"/setup/{link.token}")
        r = it.post(
            f"/setup/{link.token}/token",
            data={"csrf_token": csrf_of(page.text), "idp": "okta"},
            follow_redirects=False,
        )
        assert r.status_code == 303 and "sgp_" not in r.headers["location"]
        assert r.headers["location"] == f"/setup/{link.token}?idp=okta#step-creds"
        flash = r.cookies["scimgate_setup_token"]
        with browser(app, "203.0.113.5") as thief:  # the cookie alone, in another browser
            thief.cookies.set("scimgate_setup_token", flash, path="/setup")
            assert TOKEN.search(thief.get(f"/setup/{link.token}").text) is None
        shown = it.get(r.headers["location"])
        token = TOKEN.search(shown.text).group(1)
        assert "Connecting Okta" in shown.text
        assert TOKEN.search(it.get(f"/setup/{link.token}").text) is None  # shown once
        waiting = it.get(f"/setup/{link.token}/status").text
        assert "Waiting for the first request with a Secret Token generated on this page" in waiting
        scim = it.get("/scim/v2/Users", headers={"Authorization": f"Bearer {token}"})
        assert scim.status_code == 200
        app.state.request_log.flush()
        status = it.get(f"/setup/{link.token}/status")
        assert "Connected." in status.text and "<code>GET /scim/v2/Users</code>" in status.text
        assert re.search(r"generated on this page was last used at <time datetime=", status.text)
    issued = [e for e in entries(engine, admin.account_id) if e["action"] == "token.issued"]
    assert len(issued) == 1 and issued[0]["actor"] == f"setuplink:{link.prefix}"


def test_mapping_is_changed_with_the_consoles_validation(make_console, engine, app):
    admin = make_console()
    link = new_link(engine, admin.account_id)
    with browser(app, "203.0.113.5") as it:
        csrf = csrf_of(it.get(f"/setup/{link.token}").text)
        bad = it.post(
            f"/setup/{link.token}/mapping",
            data={"csrf_token": csrf, "target": "Department", "source": "name.[bad"},
        )
        assert bad.status_code == 400 and 'aria-invalid="true"' in bad.text
        unknown = it.post(
            f"/setup/{link.token}/mapping",
            data={"csrf_token": csrf, "target": "Nope", "source": "title"},
        )
        assert unknown.status_code == 400 and "No member field or Property" in unknown.text
        ok = it.post(
            f"/setup/{link.token}/mapping",
            data={"csrf_token": csrf, "target": "Department", "source": "title"},
        )
        assert ok.status_code == 200 and "Department now comes from title" in ok.text
    changed = [e for e in entries(engine, admin.account_id) if e["action"] == "mapping.set"]
    assert changed[0]["actor"] == f"setuplink:{link.prefix}"
    assert "<code>title</code>" in admin.get("/mapping").text


def test_forms_need_this_browsers_csrf_token_and_origin(make_console, engine, app):
    admin = make_console()
    link = new_link(engine, admin.account_id)
    with browser(app, "203.0.113.5") as it:
        csrf = csrf_of(it.get(f"/setup/{link.token}").text)
        assert it.post(f"/setup/{link.token}/token", data={}).status_code == 403
        assert (
            it.post(f"/setup/{link.token}/token", data={"csrf_token": "x" * 64}).status_code == 403
        )
        cross = it.post(
            f"/setup/{link.token}/token",
            data={"csrf_token": csrf},
            headers={"Origin": "https://evil.example"},
        )
        assert cross.status_code == 403
        with browser(app, "203.0.113.6") as other:  # another browser, this browser's token
            assert (
                other.post(f"/setup/{link.token}/token", data={"csrf_token": csrf}).status_code
                == 403
            )
    assert not [
        e
        for e in entries(engine, admin.account_id)
        if e["action"] == "token.issued" and e["actor"].startswith("setuplink:")
    ]


def test_expired_revoked_tampered_and_deactivated_links_are_refused_alike(
    make_console, engine, app
):
    admin = make_console()
    expired, revoked, live, off = (new_link(engine, admin.account_id) for _ in range(4))
    with engine.begin() as conn:
        conn.execute(
            update(setup_link)
            .where(setup_link.c.id == expired.id)
            .values(expires_at=utcnow() - timedelta(seconds=1))
        )
        setup_links.revoke(conn, admin.account_id, revoked.id, actor="admin@test.example")
    tampered = live.token[:-1] + ("A" if live.token[-1] != "A" else "B")
    bodies = set()
    tokens = (expired.token, revoked.token, tampered, "sgs_" + "x" * 43, "nothing")
    for n, token in enumerate(tokens):
        with browser(app, f"203.0.113.{20 + n}") as it:  # under the throttle's allowance
            for path in ("", "/status", "/requests/1"):
                r = it.get(f"/setup/{token}{path}")
                refused_alike(r)
                bodies.add(r.text)
            refused_alike(it.post(f"/setup/{token}/token", data={"csrf_token": "x"}))
    assert len(bodies) == 1
    with browser(app, "203.0.113.7") as it:
        assert it.get(f"/setup/{live.token}").status_code == 200
        with engine.begin() as conn:
            accounts.deactivate_provisioning(conn, admin.account_id)
        refused_alike(it.get(f"/setup/{off.token}"))
        assert it.get(f"/setup/{off.token}").text in bodies


def test_a_link_reaches_nothing_but_its_own_pages(make_console, engine, app):
    a, b = make_console(), make_console()
    stage(b, "someone@b.example")  # a request-log entry of account B
    app.state.request_log.flush()
    link = new_link(engine, a.account_id)
    with browser(app, "203.0.113.8") as it:
        it.get(f"/setup/{link.token}")
        # Not a credential anywhere else.
        bearer = {"Authorization": f"Bearer {link.token}"}
        assert it.get("/api/v1/members", headers=bearer).status_code == 401
        assert it.get("/scim/v2/Users", headers=bearer).status_code == 401
        # Not a console session: the console asks to sign in.
        console = it.get("/console/provisioning", follow_redirects=False)
        assert console.status_code == 303 and "/console/login" in console.headers["location"]
        assert it.get("/console/audit", follow_redirects=False).status_code == 303
        # Other pages under the link, and other ids, are not there.
        for path in (
            "/mapping",
            "/tokens",
            "/%2e%2e/console/provisioning",
            "/requests/99999999999",
        ):
            r = it.get(f"/setup/{link.token}{path}")
            assert r.status_code == 404, path
        b_ids = _entry_ids(engine, b.account_id)
        assert b_ids
        for entry_id in b_ids:
            r = it.get(f"/setup/{link.token}/requests/{entry_id}")
            assert r.status_code == 404 and "someone@b.example" not in r.text
    # The CSRF cookie is scoped to the setup pages.
    assert all(c.path == "/setup" for c in it.cookies.jar if c.name == "scimgate_setup")


@pytest.mark.parametrize(
    "rest",
    [
        "/../console/provisioning",
        "/%2e%2e/console/provisioning",
        "/%2E%2E/%2e%2e/console/provisioning",
        "/..%2fconsole/provisioning",
        "/../../console/provisioning",
    ],
)
def test_a_raw_dot_dot_path_never_reaches_the_console(make_console, engine, app, rest):
    """Sent as is (no client normalising it): the ASGI scope's path, decoded or not."""
    admin = make_console()
    link = new_link(engine, admin.account_id)
    raw = f"/setup/{link.token}{rest}"
    for path in (raw, unquote(raw)):
        status, headers, body = asgi_get(app, path, raw.encode())
        assert status == 404, (path, body)
        assert "There is nothing here for this setup link" in body
        assert "location" not in headers and "scimgate_session" not in headers.get("set-cookie", "")
        assert "Tenant URL" not in body and "Co1 Inc" not in body


def asgi_get(app: Any, path: str, raw_path: bytes) -> tuple[int, dict[str, str], str]:
    """One GET straight into the ASGI app, its path exactly as given."""
    messages: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        messages.append(message)

    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "https",
        "path": path,
        "raw_path": raw_path,
        "root_path": "",
        "query_string": b"",
        "headers": [(b"host", b"testserver"), (b"user-agent", b"raw")],
        "client": ("203.0.113.30", 50000),
        "server": ("testserver", 443),
    }
    anyio.run(app, scope, receive, send)
    start = messages[0]
    headers = {k.decode().lower(): v.decode() for k, v in start["headers"]}
    body = b"".join(m.get("body", b"") for m in messages[1:])
    return start["status"], headers, body.decode()


def _entry_ids(engine: Engine, account_id: int) -> list[int]:
    from scimgate.provisioning import request_log

    with engine.connect() as conn:
        return [e["id"] for e in request_log.list_entries(conn, account_id, limit=10)]


def test_unknown_links_are_throttled_per_address(make_console, engine, app, settings):
    admin = make_console()
    link = new_link(engine, admin.account_id)
    with browser(app, "203.0.113.9") as it:
        for _ in range(settings.login_ip_max_failures):
            refused_alike(it.get("/setup/sgs_" + "y" * 43))
        waiting = it.get(f"/setup/{link.token}")
        assert waiting.status_code == 429 and int(waiting.headers["retry-after"]) >= 1
    with browser(app, "203.0.113.10") as elsewhere:  # another address is not held back
        assert elsewhere.get(f"/setup/{link.token}").status_code == 200


def test_console_creates_lists_and_revokes_links(make_console, engine):
    admin = make_console()
    r = admin.post("/provisioning/setup-links", {"note": "Jane", "days": "3"}, page="/provisioning")
    assert r.status_code == 200
    url = re.search(r'id="setup-link" value="([^"]+)"', r.text).group(1)
    assert url.startswith("https://scim.example.test/setup/sgs_")
    for days in ("0", "31", "x"):
        bad = admin.post("/provisioning/setup-links", {"days": days}, page="/provisioning")
        assert bad.status_code == 400 and "1 to 30 days" in bad.text
    with engine.connect() as conn:
        (row,) = setup_links.list_links(conn, admin.account_id)
    assert row["note"] == "Jane" and row["created_by"] == admin.email
    assert url.split("/setup/")[1] not in admin.get("/provisioning").text  # shown once
    revoked = admin.post(f"/provisioning/setup-links/{row['id']}/revoke", page="/provisioning")
    assert revoked.status_code == 303
    page = admin.get("/provisioning").text
    assert "Revoked" in page and admin.email in page
    audit_page = admin.get("/audit").text
    assert "setup_link.created" in audit_page and "setup_link.revoked" in audit_page
    with browser(admin.http.app, "203.0.113.11") as it:
        refused_alike(it.get(url.removeprefix("https://scim.example.test")))


def test_console_cannot_revoke_another_accounts_link(make_console, engine):
    a, b = make_console(), make_console()
    link = new_link(engine, b.account_id)
    r = a.post(f"/provisioning/setup-links/{link.id}/revoke", page="/provisioning")
    assert r.status_code == 404
    with engine.connect() as conn:
        assert setup_links.list_links(conn, b.account_id)[0]["state"] == "live"


def test_a_live_link_is_rate_limited(make_console, engine, settings, monkeypatch):
    from scimgate.web.app import create_app
    from scimgate.web.setup import site

    monkeypatch.setattr(site, "LINK_RATE", 0.01)
    monkeypatch.setattr(site, "LINK_BURST", 5.0)
    limited = create_app(settings.model_copy(update={"rate_limits": True}), engine=engine)
    admin = make_console()
    link = new_link(engine, admin.account_id)
    with browser(limited, "203.0.113.12") as it:
        answers = [it.get(f"/setup/{link.token}/status") for _ in range(7)]
    assert [a.status_code for a in answers] == [200] * 5 + [429] * 2
    assert int(answers[-1].headers["retry-after"]) >= 1


def _actions(engine: Engine, account_id: int, action: str) -> list[dict[str, Any]]:
    return [e for e in entries(engine, account_id) if e["action"] == action]


def test_every_browser_address_and_opened_log_entry_is_audited(make_console, engine, app):
    admin = make_console()
    stage(admin, "someone@co.example")  # a logged request, with user data
    app.state.request_log.flush()
    (entry_id,) = _entry_ids(engine, admin.account_id)[:1]
    link = new_link(engine, admin.account_id)
    with browser(app, "203.0.113.40", headers={"User-Agent": "Jane's Firefox"}) as jane:
        jane.get(f"/setup/{link.token}")
        for _ in range(3):
            jane.get(f"/setup/{link.token}/status")
        for _ in range(2):
            shown = jane.get(f"/setup/{link.token}/requests/{entry_id}")
            assert shown.status_code == 200 and "someone@co.example" in shown.text
        cookies = dict(jane.cookies.items())
    with browser(app, "203.0.113.40", headers={"User-Agent": "Mallory"}) as second:
        second.get(f"/setup/{link.token}/status")  # a poll is a use too
        second.get(f"/setup/{link.token}/status")
    with browser(app, "198.51.100.77", headers={"User-Agent": "Jane's Firefox"}) as moved:
        for name, value in cookies.items():
            moved.cookies.set(name, value, path="/setup")
        moved.get(f"/setup/{link.token}/status")  # Jane's browser from another address
    opened = _actions(engine, admin.account_id, "setup_link.opened")
    seen = sorted((e["details"]["ip"], e["details"]["user_agent"]) for e in opened)
    # Mallory's first request (no cookie) is covered by Jane's entry of the same minute
    # and address; the second, with the cookie it was given, is a browser of its own.
    assert seen == [
        ("198.51.100.77", "Jane's Firefox"),
        ("203.0.113.40", "Jane's Firefox"),
        ("203.0.113.40", "Mallory"),
    ]
    assert len({e["details"]["browser"] for e in opened}) == 2
    (viewed,) = _actions(engine, admin.account_id, "setup_link.request_viewed")
    assert viewed["details"]["entry_id"] == entry_id
    assert viewed["details"]["ip"] == "203.0.113.40"
    assert viewed["actor"] == f"setuplink:{link.prefix}"
    assert link.token not in str(entries(engine, admin.account_id))


def test_polls_and_pages_already_noted_take_no_write_transaction(make_console, engine, app):
    admin = make_console()
    link = new_link(engine, admin.account_id)
    began: list[bool] = []

    def on_begin(conn: Any) -> None:
        began.append(bool(conn.get_execution_options().get("writes")))

    with browser(app, "203.0.113.41") as it:
        it.get(f"/setup/{link.token}")  # the first use: noted in a write transaction
        event.listen(engine, "begin", on_begin)
        try:
            for _ in range(5):
                assert it.get(f"/setup/{link.token}/status").status_code == 200
            assert it.get(f"/setup/{link.token}?idp=okta").status_code == 200
            assert began and not any(began)  # read transactions only
            began.clear()
            refused_alike(it.get("/setup/sgs_" + "z" * 43))  # an unknown link is counted
            assert began == [False, True]
        finally:
            event.remove(engine, "begin", on_begin)


def test_a_link_issues_three_tokens_and_revoking_it_can_revoke_them(make_console, engine, app):
    admin = make_console()
    link = new_link(engine, admin.account_id)
    tokens = []
    with browser(app, "203.0.113.42") as it:
        for _ in range(3):
            csrf = csrf_of(it.get(f"/setup/{link.token}").text)
            r = it.post(f"/setup/{link.token}/token", data={"csrf_token": csrf})
            tokens.append(TOKEN.search(r.text).group(1))
        page = it.get(f"/setup/{link.token}")
        assert "has issued its 3 Secret Tokens" in page.text
        assert "Generate a Secret Token</button>" not in page.text
        r = it.post(f"/setup/{link.token}/token", data={"csrf_token": csrf_of(page.text)})
        assert r.status_code == 403 and "already issued 3 Secret Tokens" in r.text
        assert TOKEN.search(r.text) is None
    listed = admin.get("/provisioning").text
    assert "3 issued, 3 live" in listed and 'name="revoke_tokens"' in listed
    revoked = admin.post(
        f"/provisioning/setup-links/{link.id}/revoke", {"revoke_tokens": "1"}, page="/provisioning"
    )
    assert revoked.status_code == 303 and "link-and-tokens-revoked" in revoked.headers["location"]
    assert (
        "and the Secret Tokens it issued"
        in admin.get("/provisioning?done=link-and-tokens-revoked").text
    )
    for token in tokens:
        scim = admin.http.get("/scim/v2/Users", headers={"Authorization": f"Bearer {token}"})
        assert scim.status_code == 401
    assert admin.scim("GET", "/Users").status_code == 200  # the account's own token lives on
    (entry,) = _actions(engine, admin.account_id, "setup_link.revoked")
    assert len(entry["details"]["tokens_revoked"]) == 3
    assert len(_actions(engine, admin.account_id, "token.revoked")) == 3
    assert "3 issued, 0 live" in admin.get("/provisioning").text


def test_the_status_is_connected_only_by_this_links_tokens(make_console, engine, app):
    admin = make_console()
    assert admin.scim("GET", "/Users").status_code == 200  # another IdP already connected
    app.state.request_log.flush()
    link = new_link(engine, admin.account_id)
    with browser(app, "203.0.113.43") as it:
        status = it.get(f"/setup/{link.token}/status").text
        assert "Connected." not in status and "Waiting for the first request" in status
        assert "Requests to this account, with any of its tokens" in status
        csrf = csrf_of(it.get(f"/setup/{link.token}").text)
        token = TOKEN.search(
            it.post(f"/setup/{link.token}/token", data={"csrf_token": csrf}).text
        ).group(1)
        assert "Connected." not in it.get(f"/setup/{link.token}/status").text
        it.get("/scim/v2/Users", headers={"Authorization": f"Bearer {token}"})
        assert "Connected." in it.get(f"/setup/{link.token}/status").text
