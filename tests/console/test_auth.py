"""Sign-in, sessions, sign-out, cookies and CSRF, through the console's HTTP surface.

Throttling of failed sign-ins is in test_throttle.py; "Your sessions" and password
changes in test_sessions.py.
"""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select
from starlette.testclient import TestClient

from scimgate.admins import service as admins
from scimgate.store.tables.accounts import admin_session
from scimgate.web.app import create_app
from tests.helpers.console import PASSWORD, browser, csrf_of, sign_in

REFUSED = "The account, email or password is not right."


def test_pages_need_a_session(app):
    with browser(app) as http:
        for path in ("/console/provisioning", "/console/members", "/console/log", "/console/sync"):
            r = http.get(path, follow_redirects=False)
            assert r.status_code == 303
            assert r.headers["location"].startswith("/console/login?next=")
        r = http.post(
            "/console/provisioning/tokens", data={"csrf_token": "x"}, follow_redirects=False
        )
        assert r.status_code == 303 and "/console/login" in r.headers["location"]


def test_sign_in_sets_a_hardened_cookie_and_goes_to_next(make_console, app):
    console = make_console()
    with browser(app) as http:
        page = http.get("/console/login?account=" + console.slug + "&next=/console/members")
        assert 'value="/console/members"' in page.text
        r = http.post(
            "/console/login",
            data={
                "account": console.slug,
                "email": console.email.upper(),  # addresses are case-insensitive
                "password": PASSWORD,
                "csrf_token": csrf_of(page.text),
                "next": "/console/members",
            },
            follow_redirects=False,
        )
        assert r.status_code == 303 and r.headers["location"] == "/console/members"
        cookie = r.headers["set-cookie"]
        assert "scimgate_session=" in cookie
        assert "HttpOnly" in cookie and "SameSite=lax" in cookie.replace("Lax", "lax")
        assert "Path=/console" in cookie
        assert "Secure" in cookie  # the public URL is https
        assert http.get("/console/members").status_code == 200


def test_secure_cookies_when_the_public_url_is_https_even_over_http(make_console, app):
    """Behind a TLS-terminating proxy that talks plain http to us, cookies are still Secure."""
    console = make_console()
    with TestClient(app, base_url="http://scim.example.test") as http:
        page = http.get("/console/login")
        assert page.url.scheme == "http"
        login_cookie = page.headers["set-cookie"]
        assert login_cookie.startswith("scimgate_login=") and "Secure" in login_cookie
        r = http.post(
            "/console/login",
            data={
                "account": console.slug,
                "email": console.email,
                "password": PASSWORD,
                "csrf_token": csrf_of(page.text),
            },
            # a browser behind the proxy sends it back: it is https on the outside
            headers={"Cookie": login_cookie.split(";")[0]},
            follow_redirects=False,
        )
        assert r.status_code == 303
        session_cookie = r.headers.get_list("set-cookie")[0]
        assert session_cookie.startswith("scimgate_session=") and "Secure" in session_cookie
        assert "HttpOnly" in session_cookie


def test_cookies_are_secure_on_https_requests_and_plain_only_on_a_plain_http_site(
    make_console, settings, engine
):
    console = make_console()
    plain = create_app(
        settings.model_copy(update={"public_url": "http://testserver"}), engine=engine
    )
    with TestClient(plain, base_url="https://testserver") as http:
        r = sign_in(http, console.slug, console.email, PASSWORD)
        assert r.status_code == 303 and "Secure" in r.headers["set-cookie"]
    with TestClient(plain) as http:  # http://testserver
        r = sign_in(http, console.slug, console.email, PASSWORD)
        assert r.status_code == 303 and "Secure" not in r.headers["set-cookie"]
        assert http.get("/console/members").status_code == 200


def test_next_is_never_an_open_redirect(make_console, app):
    console = make_console()
    for target in ("https://evil.example/", "//evil.example/x", "/\\evil.example", "/elsewhere"):
        with browser(app) as http:
            page = http.get("/console/login")
            r = http.post(
                "/console/login",
                data={
                    "account": console.slug,
                    "email": console.email,
                    "password": PASSWORD,
                    "csrf_token": csrf_of(page.text),
                    "next": target,
                },
                follow_redirects=False,
            )
            assert r.headers["location"] == "/console/provisioning", target


def test_refusals_do_not_tell_which_part_was_wrong(make_console, app):
    console = make_console()
    with browser(app) as http:
        wrong_password = sign_in(http, console.slug, console.email, "not the password!")
        unknown_email = sign_in(http, console.slug, "nobody@x.example", PASSWORD)
        unknown_account = sign_in(http, "no-such-account", console.email, PASSWORD)
        empty = sign_in(http, "", "", "")
    for r in (wrong_password, unknown_email, unknown_account, empty):
        assert r.status_code == 400
        assert REFUSED in r.text
        assert "scimgate_session=" not in r.headers.get("set-cookie", "")


def test_sign_out_kills_the_session_server_side(make_console, app):
    console = make_console()
    cookie = console.http.cookies.get("scimgate_session")
    r = console.post("/logout", page="/provisioning")
    assert r.status_code == 303 and "signed_out" in r.headers["location"]
    with browser(app) as thief:  # a copy of the old cookie opens nothing
        thief.cookies.set("scimgate_session", cookie, path="/console")
        assert thief.get("/console/provisioning", follow_redirects=False).status_code == 303


def test_forged_or_expired_cookies_open_nothing(make_console, app, engine):
    console = make_console()
    cookie = console.http.cookies.get("scimgate_session")
    value, _, mac = cookie.rpartition(".")
    flipped = ("1" if mac[0] == "0" else "0") + mac[1:]  # never the real MAC by chance
    with browser(app) as http:
        for forged in (value + "." + flipped, "x" * 40 + "." + mac, "garbage", ""):
            http.cookies.set("scimgate_session", forged, path="/console")
            assert http.get("/console/members", follow_redirects=False).status_code == 303
    with engine.begin() as conn:
        conn.execute(
            admin_session.update().values(expires_at=admins.utcnow() - timedelta(seconds=1))
        )
    assert console.get("/members", follow_redirects=False).status_code == 303


def test_login_form_needs_its_token(make_console, app):
    console = make_console()
    with browser(app) as http:
        http.get("/console/login")
        r = http.post(
            "/console/login",
            data={
                "account": console.slug,
                "email": console.email,
                "password": PASSWORD,
                "csrf_token": "forged",
            },
            follow_redirects=False,
        )
        assert r.status_code == 400 and "expired" in r.text
    with browser(app) as fresh:  # no pre-session cookie at all (a cross-site post)
        r = fresh.post(
            "/console/login",
            data={
                "account": console.slug,
                "email": console.email,
                "password": PASSWORD,
                "csrf_token": "x",
            },
            follow_redirects=False,
        )
        assert r.status_code == 400 and "scimgate_session=" not in r.headers.get("set-cookie", "")


def test_every_form_needs_this_sessions_csrf_token(make_console, engine):
    console = make_console()
    other = make_console()
    other_token = csrf_of(other.get("/provisioning").text)
    posts = {
        "/provisioning/tokens": {},
        "/provisioning/deactivate": {"confirm": "yes"},
        "/properties": {"name": "Cost center", "type": "text"},
        "/sync/settings": {
            "time": "04:00",
            "timezone": "UTC",
            "hold_percent": "5",
            "hold_minimum": "1",
        },
        "/sync": {},
        "/mapping": {"target": "name", "source": "userName", "action": "save"},
        "/logout": {},
    }
    for path, data in posts.items():
        for token in (None, "", "forged", other_token):
            form = dict(data)
            if token is not None:
                form["csrf_token"] = token
            r = console.http.post("/console" + path, data=form, follow_redirects=False)
            assert r.status_code == 403, (path, token)
            assert "expired" in r.text
    # Nothing happened: one token, still active, no Property, same schedule, still signed in.
    page = console.get("/provisioning").text
    assert page.count("/revoke") == 1 and "Deactivate user provisioning" in page
    assert "Cost center" not in console.get("/properties").text
    assert "04:00" not in console.get("/sync/settings").text
    assert console.get("/sync/runs").text.count("/console/sync/runs/") == 0


def test_posts_from_another_origin_are_refused_even_with_a_token(make_console):
    console = make_console()
    token = csrf_of(console.get("/provisioning").text)
    for origin in ("https://evil.example", "null", "http://testserver.evil.example"):
        r = console.http.post(
            "/console/provisioning/tokens",
            data={"csrf_token": token},
            headers={"Origin": origin},
            follow_redirects=False,
        )
        assert r.status_code == 403 and "another site" in r.text, origin
    ok = console.http.post(
        "/console/provisioning/tokens",
        data={"csrf_token": token},
        headers={"Origin": "http://testserver"},
    )
    assert ok.status_code == 200 and 'id="secret-token"' in ok.text


def test_session_rows_store_only_hashes(make_console, engine):
    console = make_console()
    cookie = console.http.cookies.get("scimgate_session")
    secret = cookie.rpartition(".")[0]
    with engine.connect() as conn:
        ids = conn.execute(select(admin_session.c.id)).scalars().all()
    assert ids and secret not in ids
