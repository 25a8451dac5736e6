"""Console security in a real browser: forged forms, sign-in failures, other accounts' URLs."""

from __future__ import annotations

import functools
import html
import re
import threading
import time
from collections.abc import Iterator
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Page, expect

from tests.helpers.browser import PASSWORD, Console, entra_user, scim_client

pytestmark = [pytest.mark.browser, pytest.mark.process]

ACCOUNTS = {
    "forgery": ["admin@forgery.test"],
    "signin": ["keys@signin.test", "locked@signin.test"],
    "alpha": ["admin@alpha.test"],
    "bravo": ["admin@bravo.test"],
}
ACTIVATED = ["forgery", "alpha", "bravo"]
REFUSED = "The account, email or password is not right."
EXPIRED = "This form has expired. Reload the page and try again."
CROSS_SITE = "This form was sent from another site, so it was not accepted."


def live_tokens(page: Page) -> list[str]:
    """The prefixes in the Secret Tokens table of /console/provisioning."""
    return page.locator(
        "section[aria-labelledby=tok] tbody tr td:first-child code"
    ).all_inner_texts()


# ---- (a) CSRF --------------------------------------------------------------------------------


class _Quiet(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def other_origin(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """Another web site (same host, another port): its base URL and the folder it serves."""
    site = tmp_path / "site"
    site.mkdir()
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(_Quiet, directory=str(site)))
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}", site
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(timeout=5)


@pytest.mark.slow
def test_forms_with_a_wrong_token_or_from_another_site_are_refused(
    server, open_console, other_origin
):
    console = open_console()
    page = console.page
    console.sign_in("forgery", "admin@forgery.test")
    console.goto("/console/provisioning", shot="provisioning")
    before = live_tokens(page)
    assert len(before) == 1

    # The page's own form, its csrf_token replaced.
    page.evaluate(
        """() => { document.querySelector('form[action$="/provisioning/tokens"] '
                   + 'input[name=csrf_token]').value = 'garbage-' + 'x'.repeat(30); }"""
    )
    page.fill("#token-name", "tampered")
    with page.expect_navigation() as nav:
        page.get_by_role("button", name="Generate new token").click()
    assert nav.value.status == 403
    expect(page.locator("h1")).to_have_text("Not allowed")
    expect(page.locator("p.error-text")).to_have_text(EXPIRED)
    expect(page.locator("#secret-token")).to_have_count(0)
    console.shot("tampered-token-refused")
    console.goto("/console/provisioning")
    assert live_tokens(page) == before

    # Another site's page posting to the console as soon as it loads: once without a token
    # (what a forger has), once with this session's real token (as if it had leaked), so
    # that the Origin check is what refuses it.
    base, site = other_origin
    action = server.url("/console/provisioning/tokens")
    for name, token in (("forged", None), ("forged-with-token", console.csrf_token())):
        token_field = (
            f'<input type="hidden" name="csrf_token" value="{html.escape(token)}">' if token else ""
        )
        (site / f"{name}.html").write_text(
            "<!doctype html><html><body>"
            f'<form id="f" method="post" action="{html.escape(action)}">{token_field}'
            f'<input type="hidden" name="name" value="{name}"></form>'
            "<script>document.getElementById('f').submit()</script></body></html>"
        )
        with page.expect_response(
            lambda r: r.url == action and r.request.method == "POST"
        ) as posted:
            page.goto(f"{base}/{name}.html")
        assert posted.value.status == 403, name
        assert posted.value.request.header_value("origin") == base
        page.wait_for_url(action)
        expect(page.locator("h1")).to_have_text("Not allowed")
        expect(page.locator("p.error-text")).to_have_text(CROSS_SITE)
        expect(page.locator("#secret-token")).to_have_count(0)
        console.shot(f"{name}-refused")

    console.goto("/console/provisioning", shot="provisioning-after")
    assert live_tokens(page) == before
    expect(page.locator("section[aria-labelledby=tok]")).not_to_contain_text("forged")
    expect(page.locator("section[aria-labelledby=tok]")).not_to_contain_text("tampered")


# ---- (b) sign-in failures ----------------------------------------------------------------


def attempt(console: Console, account: str, email: str, password: str, shot: str) -> Any:
    """One sign-in through the form: the response."""
    page = console.page
    page.goto(console.server.url("/console/login"))
    page.fill("#account", account)
    page.fill("#email", email)
    page.fill("#password", password)
    with page.expect_navigation() as nav:
        page.get_by_role("button", name="Sign in").click()
    console.shot(shot)
    return nav.value


@pytest.mark.slow
def test_sign_in_failures_all_read_the_same_and_guessing_is_throttled(server, open_console):
    console = open_console()
    page = console.page
    for shot, (account, email, password) in {
        "wrong-password": ("signin", "keys@signin.test", "not-the-password-at-all"),
        "unknown-email": ("signin", "nobody@signin.test", PASSWORD),
        "unknown-account": ("no-such-account", "keys@signin.test", PASSWORD),
    }.items():
        response = attempt(console, account, email, password, shot)
        assert response.status == 400, shot
        expect(page.locator("#signin-error")).to_have_text(REFUSED)
        assert page.url.startswith(server.url("/console/login")), shot
        expect(page.locator("#password")).to_have_value("")  # never echoed back

    for i in range(5):
        attempt(
            console, "signin", "locked@signin.test", f"wrong-password-{i:02d}", f"failure-{i + 1}"
        )
        expect(page.locator("#signin-error")).to_have_text(REFUSED)
    # Five guesses at one address: this address now waits (429, told how long), even with
    # the right password; nobody else is locked out (tests/console/test_throttle.py).
    response = attempt(
        console, "signin", "locked@signin.test", PASSWORD, "throttled-right-password"
    )
    assert response.status == 429
    assert int(response.headers["retry-after"]) >= 1
    expect(page.locator("#signin-error")).to_contain_text("Too many sign-in attempts")
    assert page.url.startswith(server.url("/console/login"))
    page.goto(server.url("/console/provisioning"))
    assert page.url.startswith(server.url("/console/login?"))


@pytest.mark.slow
def test_sign_in_with_the_keyboard_only(server, open_console):
    """Signed out, a deep link goes to sign-in, and the keyboard alone gets back to it."""
    console = open_console()
    page = console.page
    page.goto(server.url("/console/members?status=active"))
    assert page.url.startswith(server.url("/console/login?next="))

    def focused() -> str:
        return page.evaluate("document.activeElement && document.activeElement.id")

    for _ in range(5):
        page.keyboard.press("Tab")
        if focused() == "account":
            break
    assert focused() == "account", "Tab never reached the Account field"
    page.keyboard.type("signin")
    page.keyboard.press("Tab")
    assert focused() == "email"
    page.keyboard.type("keys@signin.test")
    page.keyboard.press("Tab")
    assert focused() == "password"
    page.keyboard.type(PASSWORD)
    console.shot("typed")
    with page.expect_navigation():
        page.keyboard.press("Enter")
    assert page.url == server.url("/console/members?status=active")
    expect(page.locator("h1")).to_have_text("Members")
    expect(page.locator("header .who")).to_have_text("keys@signin.test")
    console.shot("signed-in")


# ---- (c) other accounts' URLs ----------------------------------------------------------------


@pytest.mark.slow
def test_another_accounts_pages_and_tokens_are_not_found(server, open_console):
    token_b, token_b_id = server.tokens["bravo"]
    with scim_client(server.tenant_url, token_b) as idp:
        user = idp.post(
            "/Users",
            json=entra_user("secret.agent@bravo.test", "Secret Agent", department="Covert Ops"),
        )
        assert user.status_code == 201, user.text
        group = idp.post(
            "/Groups",
            json={"displayName": "Bravo Black Ops", "members": [{"value": user.json()["id"]}]},
        )
        assert group.status_code == 201, group.text
    server.cli("sync", "bravo")

    # Bravo's admin sees them; their addresses are what Alpha's admin will try.
    bravo = open_console()
    bravo.sign_in("bravo", "admin@bravo.test")

    def href(path: str, name: str | re.Pattern[str]) -> str:
        bravo.goto(path)
        return bravo.page.get_by_role("link", name=name).first.get_attribute("href") or ""

    urls = {
        "member": href("/console/members", "Secret Agent"),
        "team": href("/console/teams", "Bravo Black Ops"),
        "run": href("/console/sync/runs", re.compile(r"^Run \d+$")),
    }
    bravo.goto("/console/log")
    deadline = time.monotonic() + 10
    while bravo.page.locator("tbody a").count() == 0:  # the request log is written a moment later
        assert time.monotonic() < deadline, "Bravo's log stayed empty"
        time.sleep(0.2)
        bravo.page.reload()
    urls["log"] = bravo.page.locator("tbody a").first.get_attribute("href") or ""
    for kind, url in urls.items():
        assert re.fullmatch(r"/console/(members|teams|sync/runs|log)/[^/]+", url), (kind, url)
        assert bravo.goto(url, shot=f"bravo-opens-own-{kind}").status == 200, kind
        expect(bravo.page.locator("main")).to_be_visible()

    alpha = open_console()
    alpha.sign_in("alpha", "admin@alpha.test")
    secrets = ("Secret Agent", "secret.agent@bravo.test", "Bravo Black Ops", "Covert Ops")
    for kind, url in urls.items():
        response = alpha.goto(url, shot=f"alpha-opens-bravo-{kind}")
        assert response.status == 404, kind
        expect(alpha.page.locator("h1")).to_have_text("Not found")
        content = alpha.page.content()
        assert not [s for s in secrets if s in content], kind
    run_id = urls["run"].rsplit("/", 1)[1]
    progress = alpha.page.request.get(server.url(f"/console/sync/runs/{run_id}/progress"))
    assert progress.status == 404
    assert "counts" not in progress.text()

    # Forms aimed at Bravo's run and token, with Alpha's own valid form token.
    alpha.goto("/console/provisioning")
    csrf = alpha.csrf_token()
    response = alpha.post_form(f"/console/sync/runs/{run_id}/confirm", {"csrf_token": csrf})
    assert response.status == 404
    alpha.shot("alpha-confirms-bravo-run")
    alpha.goto("/console/provisioning")
    response = alpha.post_form(
        f"/console/provisioning/tokens/{token_b_id}/revoke", {"csrf_token": csrf}
    )
    assert response.status == 404
    expect(alpha.page.locator("h1")).to_have_text("Not found")
    alpha.shot("alpha-revokes-bravo-token")

    with scim_client(server.tenant_url, token_b) as idp:
        still = idp.get("/Users")
        assert still.status_code == 200, still.text
        assert still.json()["totalResults"] == 1
    bravo.goto("/console/provisioning")
    assert len(live_tokens(bravo.page)) == 1


# ---- markup from the identity provider ----------------------------------------------------


@pytest.mark.slow
def test_markup_sent_by_the_identity_provider_is_shown_as_text(server, open_console):
    """HTML in SCIM values is text on every page that shows it (not only blocked by the CSP)."""
    token, _ = server.tokens["alpha"]
    name = '<img src=x id=injected onerror="document.title=1">Eve'
    department = "<b id=bold>R&D</b>"
    with scim_client(server.tenant_url, token) as idp:
        r = idp.post(
            "/Users",
            json=entra_user("eve@alpha.test", name, department=department, title='"><i id=it>'),
        )
        assert r.status_code == 201, r.text
    console = open_console()
    page = console.page
    dialogs: list[str] = []
    page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    console.sign_in("alpha", "admin@alpha.test")

    def shows_text_only(shot: str) -> None:
        console.shot(shot)
        expect(page.locator("main")).to_contain_text(name)
        assert page.locator("#injected, #bold, #it, main img, main b").count() == 0, shot

    console.goto("/console/sync")
    shows_text_only("sync")
    expect(page.locator("main")).to_contain_text(department)
    page.get_by_role("button", name="Synchronize").click()
    page.wait_for_url(re.compile(r"/console/sync/runs/\d+$"))
    expect(page.locator("h1 .badge")).not_to_have_text("running", timeout=30_000)
    console.goto("/console/members")
    shows_text_only("members")
    page.get_by_role("link", name=name).click()
    page.wait_for_url(re.compile(r"/console/members/[^/]+$"))
    shows_text_only("member")
    expect(page.locator("main")).to_contain_text(department)
    assert dialogs == []
