"""Sign-in, sessions, sign-out, lock-out and CSRF, through the console's HTTP surface."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select
from starlette.testclient import TestClient

from scimgate.admins import service as admins
from scimgate.store.tables import admin_session
from tests.console.conftest import PASSWORD, csrf_of, sign_in

REFUSED = "The account, email or password is not right."


def test_pages_need_a_session(app):
    with TestClient(app) as http:
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
    with TestClient(app) as http:
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
        assert "Secure" not in cookie  # plain http here; https requests get Secure
        assert http.get("/console/members").status_code == 200


def test_secure_cookie_over_https(make_console, app):
    console = make_console()
    with TestClient(app, base_url="https://scim.example.test") as http:
        r = sign_in(http, console.slug, console.email, PASSWORD)
        assert r.status_code == 303
        assert "Secure" in r.headers["set-cookie"]


def test_next_is_never_an_open_redirect(make_console, app):
    console = make_console()
    for target in ("https://evil.example/", "//evil.example/x", "/\\evil.example", "/elsewhere"):
        with TestClient(app) as http:
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
    with TestClient(app) as http:
        wrong_password = sign_in(http, console.slug, console.email, "not the password!")
        unknown_email = sign_in(http, console.slug, "nobody@x.example", PASSWORD)
        unknown_account = sign_in(http, "no-such-account", console.email, PASSWORD)
        empty = sign_in(http, "", "", "")
    for r in (wrong_password, unknown_email, unknown_account, empty):
        assert r.status_code == 400
        assert REFUSED in r.text
        assert "scimgate_session=" not in r.headers.get("set-cookie", "")


def test_lock_out_after_five_failures_for_known_and_unknown_addresses(make_console, app):
    console = make_console()
    with TestClient(app) as http:
        for email in (console.email, "ghost@nowhere.example"):
            for _ in range(5):
                assert REFUSED in sign_in(http, console.slug, email, "wrong password!!").text
            locked = sign_in(http, console.slug, email, PASSWORD)
            assert locked.status_code == 400
            assert "Too many failed sign-ins" in locked.text
        # Another address of the same account is not affected.
        assert "Too many" not in sign_in(http, console.slug, "third@x.example", "x").text


def test_lock_out_ends_and_a_reset_lifts_it(make_console, engine):
    console = make_console()
    now = admins.utcnow()
    with engine.begin() as conn:
        for _ in range(5):
            try:
                admins.sign_in(conn, console.slug, console.email, "bad", now=now)
            except admins.SignInRefused:
                pass
    with engine.begin() as conn:
        try:
            admins.sign_in(
                conn, console.slug, console.email, PASSWORD, now=now + timedelta(minutes=5)
            )
            raise AssertionError("should be locked")
        except admins.SignInRefused as exc:
            assert "Too many" in exc.detail
        secret, session = admins.sign_in(
            conn, console.slug, console.email, PASSWORD, now=now + timedelta(minutes=16)
        )
        assert session.account_slug == console.slug and secret
    with engine.begin() as conn:
        for _ in range(5):
            try:
                admins.sign_in(conn, console.slug, console.email, "bad")
            except admins.SignInRefused:
                pass
        admins.reset_password(conn, console.slug, console.email, "a brand new password")
        assert admins.sign_in(conn, console.slug, console.email, "a brand new password")[0]


def test_sign_out_kills_the_session_server_side(make_console, app):
    console = make_console()
    cookie = console.http.cookies.get("scimgate_session")
    r = console.post("/logout", page="/provisioning")
    assert r.status_code == 303 and "signed_out" in r.headers["location"]
    with TestClient(app) as thief:  # a copy of the old cookie opens nothing
        thief.cookies.set("scimgate_session", cookie, path="/console")
        assert thief.get("/console/provisioning", follow_redirects=False).status_code == 303


def test_forged_or_expired_cookies_open_nothing(make_console, app, engine):
    console = make_console()
    cookie = console.http.cookies.get("scimgate_session")
    value, _, mac = cookie.rpartition(".")
    with TestClient(app) as http:
        for forged in (value + ".0" + mac[1:], "x" * 40 + "." + mac, "garbage", ""):
            http.cookies.set("scimgate_session", forged, path="/console")
            assert http.get("/console/members", follow_redirects=False).status_code == 303
    with engine.begin() as conn:
        conn.execute(
            admin_session.update().values(expires_at=admins.utcnow() - timedelta(seconds=1))
        )
    assert console.get("/members", follow_redirects=False).status_code == 303


def test_login_form_needs_its_token(make_console, app):
    console = make_console()
    with TestClient(app) as http:
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
    with TestClient(app) as fresh:  # no pre-session cookie at all (a cross-site post)
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
