"""Your sessions (list, revoke, sign out everywhere else) and changing a password."""

from __future__ import annotations

import re

from sqlalchemy import func, select
from typer.testing import CliRunner

from scimgate.admins import service as admins
from scimgate.cli import app as cli_app
from scimgate.store.tables.accounts import admin_session
from tests.helpers.console import ADMIN_IP, PASSWORD, browser, csrf_of, sign_in

FIREFOX = "Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0"
NEW_PASSWORD = "a much better passphrase"


def second_browser(app, console, ip="192.0.2.44", user_agent=FIREFOX, password=PASSWORD):
    """The same admin signed in from elsewhere; the client, entered."""
    http = browser(app, ip, headers={"User-Agent": user_agent}).__enter__()
    r = sign_in(http, console.slug, console.email, password)
    assert r.status_code == 303, r.text
    return http


def signed_in(http) -> bool:
    return http.get("/console/provisioning", follow_redirects=False).status_code == 200


def handles(html: str) -> list[str]:
    return re.findall(r"/console/account/sessions/([0-9a-f]{16})/revoke", html)


def session_count(engine) -> int:
    with engine.connect() as conn:
        return conn.execute(select(func.count()).select_from(admin_session)).scalar_one()


def test_your_sessions_lists_where_and_when_each_was_signed_in(make_console, app):
    console = make_console()
    other = second_browser(app, console)
    page = console.get("/account/sessions")
    assert page.status_code == 200
    text = page.text
    assert "<h1>Your sessions</h1>" in text
    assert ADMIN_IP in text and "192.0.2.44" in text
    assert "testclient" in text and "Firefox/133.0" in text  # user agents at sign-in
    assert text.count("This session") == 1
    assert len(handles(text)) == 1  # only the other one has a Revoke button
    assert "Sign out everywhere else" in text
    assert text.count(" UTC") >= 4  # created and last seen of both
    # The menu leads there, and to Change password.
    menu = console.get("/provisioning").text
    assert 'href="/console/account/sessions"' in menu
    assert 'href="/console/account/password"' in menu
    # The other session's page marks the other one as its own.
    mine = other.get("/console/account/sessions").text
    assert mine.count("This session") == 1 and handles(mine) != handles(text)
    other.__exit__(None, None, None)


def test_revoke_another_session(make_console, app):
    console = make_console()
    other = second_browser(app, console)
    page = console.get("/account/sessions").text
    [handle] = handles(page)
    r = console.post(f"/account/sessions/{handle}/revoke", page="/account/sessions")
    assert r.status_code == 303 and r.headers["location"].endswith("?done=revoked")
    assert "The session is signed out." in console.get("/account/sessions?done=revoked").text
    assert not signed_in(other)
    assert signed_in(console.http)
    # Gone: revoking it again, or a handle that names nothing, is a 404.
    for bad in (handle, "0" * 16, "zz", "A" * 16):
        r = console.post(f"/account/sessions/{bad}/revoke", page="/account/sessions")
        assert r.status_code == 404, bad
    other.__exit__(None, None, None)


def test_revoking_needs_this_sessions_csrf_token_and_only_reaches_ones_own(make_console, app):
    console = make_console()
    other = second_browser(app, console)
    stranger = make_console()  # an admin of another account
    [handle] = handles(console.get("/account/sessions").text)
    foreign = csrf_of(stranger.get("/account/sessions").text)
    for token in (None, "", "forged", foreign):
        for path in (f"/account/sessions/{handle}/revoke", "/account/sessions/others"):
            form = {} if token is None else {"csrf_token": token}
            r = console.http.post("/console" + path, data=form, follow_redirects=False)
            assert r.status_code == 403 and "expired" in r.text
    r = console.http.post(
        f"/console/account/sessions/{handle}/revoke",
        data={"csrf_token": csrf_of(console.get("/account/sessions").text)},
        headers={"Origin": "https://evil.example"},
        follow_redirects=False,
    )
    assert r.status_code == 403
    # Another admin cannot end this admin's session, even knowing its handle.
    r = stranger.post(f"/account/sessions/{handle}/revoke", page="/account/sessions")
    assert r.status_code == 404
    assert signed_in(other) and signed_in(console.http) and signed_in(stranger.http)
    other.__exit__(None, None, None)


def test_sign_out_everywhere_else(make_console, app, engine):
    console = make_console()
    others = [second_browser(app, console, ip=f"192.0.2.{n}") for n in (1, 2, 3)]
    bystander = make_console()
    assert session_count(engine) == 5
    r = console.post("/account/sessions/others", page="/account/sessions")
    assert r.status_code == 303 and r.headers["location"].endswith("?done=others-3")
    page = console.get(r.headers["location"].removeprefix("/console")).text
    assert "Signed out everywhere else (3 sessions)." in page
    assert "You are signed in nowhere else." in page and not handles(page)
    assert not any(signed_in(o) for o in others)
    assert signed_in(console.http) and signed_in(bystander.http)
    assert session_count(engine) == 2
    for o in others:
        o.__exit__(None, None, None)


def test_revoking_ones_own_session_by_handle_signs_out(make_console, app, engine):
    console = make_console()
    with engine.connect() as conn:
        [session_hash] = conn.execute(select(admin_session.c.id)).scalars().all()
    r = console.post(f"/account/sessions/{session_hash[:16]}/revoke", page="/account/sessions")
    assert r.status_code == 303 and "/console/login?signed_out=1" in r.headers["location"]
    assert "scimgate_session=" in r.headers["set-cookie"]  # forgotten
    assert not signed_in(console.http)


def test_last_seen_is_noted_at_most_once_a_minute(make_console, engine):
    console = make_console()
    old = admins.utcnow().replace(year=2020)
    with engine.begin() as conn:
        conn.execute(admin_session.update().values(last_seen_at=old))
    console.get("/members")
    with engine.connect() as conn:
        seen = conn.execute(select(admin_session.c.last_seen_at)).scalar_one()
    assert seen.year > 2020


def test_changing_ones_password_ends_the_other_sessions(make_console, app, engine):
    console = make_console()
    others = [second_browser(app, console, ip=f"192.0.2.{n}") for n in (7, 8)]
    page = console.get("/account/password")
    assert page.status_code == 200 and 'autocomplete="new-password"' in page.text
    for form, field, message in [
        ({"current": "", "new": NEW_PASSWORD, "again": NEW_PASSWORD}, "current", "Enter your"),
        ({"current": PASSWORD, "new": NEW_PASSWORD, "again": "different"}, "again", "not the same"),
        ({"current": PASSWORD, "new": "short", "again": "short"}, "new", "at least 12"),
        (
            {"current": "wrong password", "new": NEW_PASSWORD, "again": NEW_PASSWORD},
            "current",
            "not your current password",
        ),
    ]:
        r = console.post("/account/password", form)
        assert r.status_code == 400 and message in r.text, form
        assert f'aria-describedby="{field}-error"' in r.text
        assert PASSWORD not in r.text and NEW_PASSWORD not in r.text  # never echoed
    assert all(signed_in(o) for o in others)
    r = console.post(
        "/account/password", {"current": PASSWORD, "new": NEW_PASSWORD, "again": NEW_PASSWORD}
    )
    assert r.status_code == 200
    assert "Your password is changed. 2 other sessions signed out." in r.text
    assert signed_in(console.http) and not any(signed_in(o) for o in others)
    assert session_count(engine) == 1
    with browser(app, "192.0.2.9") as http:
        assert sign_in(http, console.slug, console.email, PASSWORD).status_code == 400
        assert sign_in(http, console.slug, console.email, NEW_PASSWORD).status_code == 303
    for o in others:
        o.__exit__(None, None, None)


def test_a_password_keeps_its_spaces(make_console, app):
    console = make_console()
    spaced = "  spaces around me  "
    r = console.post("/account/password", {"current": PASSWORD, "new": spaced, "again": spaced})
    assert r.status_code == 200 and "Your password is changed." in r.text
    with browser(app, "192.0.2.10") as http:
        assert sign_in(http, console.slug, console.email, spaced.strip()).status_code == 400
        assert sign_in(http, console.slug, console.email, spaced).status_code == 303


def test_changing_a_password_needs_this_sessions_csrf_token(make_console):
    console = make_console()
    form = {"current": PASSWORD, "new": NEW_PASSWORD, "again": NEW_PASSWORD}
    for token in (None, "", "forged"):
        data = dict(form) if token is None else {**form, "csrf_token": token}
        r = console.http.post("/console/account/password", data=data, follow_redirects=False)
        assert r.status_code == 403
    # The password is unchanged.
    r = console.post("/account/password", {**form, "current": NEW_PASSWORD})
    assert r.status_code == 400 and "not your current password" in r.text


def test_the_cli_password_command_ends_every_session(make_console, app, database_url, monkeypatch):
    console = make_console()
    other = second_browser(app, console)
    bystander = make_console()
    monkeypatch.setenv("SCIMGATE_DATABASE_URL", database_url)
    r = CliRunner().invoke(
        cli_app,
        ["admin", "password", console.slug, console.email, "--password-stdin"],
        input=NEW_PASSWORD + "\n",
    )
    assert r.exit_code == 0, r.output
    assert "2 console sessions signed out" in r.stdout
    assert not signed_in(console.http) and not signed_in(other)
    assert signed_in(bystander.http)
    other.__exit__(None, None, None)
