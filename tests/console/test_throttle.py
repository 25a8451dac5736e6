"""Sign-in throttling: an IP that keeps failing waits (429 + Retry-After); nobody is locked out.

Defaults: 10 failures from one IP are free, then it waits 5 s, 10 s, 20 s ... up to 15
minutes; 30 failures against an account or 5 against one address put the account "under
attack", and then an IP that has failed against it waits from its first failure, while an
IP that has not is let through. Counts live in the database, shared by every process.
"""

from __future__ import annotations

import math
import time
from datetime import timedelta

import pytest
from sqlalchemy import func, select
from starlette.testclient import TestClient

from scimgate.admins import service as admins
from scimgate.admins.service import Client, SignInRefused, SignInThrottled
from scimgate.admins.throttle import ThrottlePolicy
from scimgate.store.database import make_engine
from scimgate.store.tables.accounts import admin_session, signin_throttle
from scimgate.web.app import create_app
from tests.helpers.console import PASSWORD, browser, csrf_of, sign_in

REFUSED = "The account, email or password is not right."
ATTACKER = "203.0.113.66"
POLICY = ThrottlePolicy()


def too_many(seconds: int) -> str:
    return f"Too many sign-in attempts from your network; try again in {seconds} seconds."


def left_of(wait: int, since: float) -> range:
    """The Retry-After values a wait of `wait` seconds can show now, when the failure that
    started it was sent at time.monotonic() `since`: the whole wait, down to what is left
    of it after the time that has passed since then (seconds, rounded up; a loaded machine
    takes more than a second between two sign-ins)."""
    elapsed = time.monotonic() - since
    return range(max(1, math.ceil(wait - elapsed)), wait + 1)


def fail(conn, slug, email, ip, now, password="not the password"):
    """One failed sign-in through the service; what it raised."""
    with pytest.raises(SignInRefused) as caught:
        admins.sign_in(conn, slug, email, password, now=now, client=Client(ip))
    return caught.value


def test_an_ip_that_keeps_failing_waits_and_is_told_how_long(make_console, app):
    console = make_console()
    with browser(app, ATTACKER) as http:
        for i in range(10):  # ten addresses: the per-address signal stays quiet
            tenth = time.monotonic()
            r = sign_in(http, console.slug, f"guess{i}@{console.slug}.example", "wrong password!")
            assert r.status_code == 400 and REFUSED in r.text
        for password in ("wrong password!", PASSWORD):  # the right one is not even checked
            r = sign_in(http, console.slug, console.email, password)
            assert r.status_code == 429
            wait = int(r.headers["Retry-After"])
            assert wait in left_of(5, tenth)  # 5 s from the 10th failure
            assert too_many(wait) in r.text and 'role="alert"' in r.text
            assert 'name="password"' in r.text  # the form is still there
            assert "scimgate_session=" not in r.headers.get("set-cookie", "")
    # Another IP is not held back, not even for the same address.
    with browser(app, "198.51.100.99") as http:
        assert sign_in(http, console.slug, console.email, PASSWORD).status_code == 303


@pytest.mark.slow
def test_back_off_doubles_up_to_the_cap_and_waiting_attempts_are_not_counted(make_console, engine):
    console = make_console()
    t0 = admins.utcnow()
    with engine.begin() as conn:
        for i in range(10):
            fail(conn, console.slug, f"x{i}@x.example", ATTACKER, t0)
        waits = []
        now = t0
        for j in range(12):
            refused = fail(conn, console.slug, "y@x.example", ATTACKER, now)
            assert isinstance(refused, SignInThrottled)
            waits.append(refused.retry_after)
            # Hammering while waiting changes nothing: still the same wait.
            again = fail(conn, console.slug, "y@x.example", ATTACKER, now)
            assert again.retry_after == refused.retry_after
            now += timedelta(seconds=refused.retry_after)
            counted = fail(conn, console.slug, f"z{j}@x.example", ATTACKER, now)
            assert not isinstance(counted, SignInThrottled)
        assert waits == [5, 10, 20, 40, 80, 160, 320, 640, 900, 900, 900, 900]
        # The right password after the wait gets in, and the IP starts again from zero.
        now += timedelta(seconds=900)
        assert admins.sign_in(
            conn, console.slug, console.email, PASSWORD, now=now, client=Client(ATTACKER)
        )
        for i in range(5):  # (the account's own count stays: 22 of its 30 by now)
            refused = fail(conn, console.slug, f"w{i}@x.example", ATTACKER, now)
            assert not isinstance(refused, SignInThrottled)


def test_counts_are_forgotten_after_the_window(make_console, engine):
    console = make_console()
    t0 = admins.utcnow()
    with engine.begin() as conn:
        for i in range(10):
            fail(conn, console.slug, f"x{i}@x.example", ATTACKER, t0)
        assert isinstance(fail(conn, console.slug, "x@x.example", ATTACKER, t0), SignInThrottled)
        later = t0 + POLICY.window + timedelta(seconds=1)
        assert not isinstance(
            fail(conn, console.slug, "x@x.example", ATTACKER, later), SignInThrottled
        )
        # Rows nobody added to within the window are pruned by the next failure.
        keys = conn.execute(select(func.count()).select_from(signin_throttle)).scalar_one()
        assert keys == 4  # ip, (account, ip), account, (account, email) of the last failure


@pytest.mark.slow
def test_the_real_admin_is_not_locked_out_by_failures_from_elsewhere(make_console, app, engine):
    """The attack that locked an admin out before: many bad passwords for their address."""
    console = make_console()
    t0 = admins.utcnow()
    with engine.begin() as conn:
        # One IP, as long as it likes (each wait waited out), and then 40 more IPs.
        now = t0
        for _ in range(25):
            refused = fail(conn, console.slug, console.email, ATTACKER, now)
            now += timedelta(seconds=getattr(refused, "retry_after", 0))
        for n in range(40):
            fail(conn, console.slug, console.email, f"192.0.2.{n}", now)
    # The admin, from their own IP, signs in at once: the account is under attack, they are not.
    with browser(app, "198.51.100.10") as http:
        r = sign_in(http, console.slug, console.email, PASSWORD)
        assert r.status_code == 303, r.text
    # An attacking IP that failed against the account now waits after every failure...
    with browser(app, "192.0.2.1") as http:
        r = sign_in(http, console.slug, console.email, "another guess!!")
        assert r.status_code == 429 and "Retry-After" in r.headers
    # ... and so does a new one, from its first failure; the admin's mistake costs 5 seconds.
    with engine.begin() as conn:
        now = admins.utcnow()
        fail(conn, console.slug, console.email, "192.0.2.200", now)
        assert isinstance(
            fail(conn, console.slug, console.email, "192.0.2.200", now), SignInThrottled
        )
        fail(conn, console.slug, console.email, "198.51.100.10", now)
        refused = fail(conn, console.slug, console.email, "198.51.100.10", now, PASSWORD)
        assert isinstance(refused, SignInThrottled) and refused.retry_after == 5
        later = now + timedelta(seconds=5)
        assert admins.sign_in(
            conn, console.slug, console.email, PASSWORD, now=later, client=Client("198.51.100.10")
        )


@pytest.mark.slow
def test_signing_in_to_ones_own_account_buys_no_guesses_at_another(make_console, engine):
    victim, own = make_console(), make_console()
    now = admins.utcnow()
    with engine.begin() as conn:
        for round_ in range(3):
            for i in range(3):
                fail(conn, victim.slug, f"v{round_}{i}@x.example", ATTACKER, now)
            # A success clears the IP's count, but not its count against the victim.
            admins.sign_in(conn, own.slug, own.email, PASSWORD, now=now, client=Client(ATTACKER))
        fail(conn, victim.slug, "last@x.example", ATTACKER, now)  # the 10th against the victim
        refused = fail(conn, victim.slug, "more@x.example", ATTACKER, now)
        assert isinstance(refused, SignInThrottled)
        # The IP itself is not held back elsewhere.
        assert admins.sign_in(conn, own.slug, own.email, PASSWORD, now=now, client=Client(ATTACKER))


@pytest.mark.slow
def test_throttling_tells_nothing_about_which_accounts_and_addresses_exist(make_console, app):
    console = make_console()
    answers = []
    for n, (slug, email) in enumerate(
        [
            (console.slug, console.email),
            (console.slug, "nobody@nowhere.example"),
            ("no-such-account", console.email),
        ]
    ):
        with browser(app, f"203.0.113.{n + 1}") as http:
            statuses = []
            for attempt in range(8):
                if attempt == 4:
                    fifth = time.monotonic()
                statuses.append(sign_in(http, slug, email, "wrong password!").status_code)
            last = sign_in(http, slug, email, PASSWORD)
            answers.append((statuses, last.status_code))
            # 5 failures against one address: this IP waits 5 s x 2**4 from its 5th failure
            assert int(last.headers["Retry-After"]) in left_of(80, fifth)
            assert too_many(int(last.headers["Retry-After"])) in last.text
    assert answers[0] == answers[1] == answers[2] == ([400] * 5 + [429] * 3, 429)


@pytest.mark.slow
def test_counts_are_shared_by_every_process_on_one_database(make_console, settings):
    """Two apps with their own engines (two `serve` processes) on one database."""
    console = make_console()
    apps = []
    engines = []
    for _ in range(2):
        engine = make_engine(settings.database_url)
        engines.append(engine)
        apps.append(create_app(settings, engine=engine))
    try:
        clients = [browser(a, ATTACKER).__enter__() for a in apps]
        for i in range(10):
            tenth = time.monotonic()
            r = sign_in(clients[i % 2], console.slug, f"g{i}@x.example", "wrong password!")
            assert r.status_code == 400
        for http in clients:
            r = sign_in(http, console.slug, console.email, PASSWORD)
            assert r.status_code == 429 and int(r.headers["Retry-After"]) in left_of(5, tenth)
        for http in clients:
            http.__exit__(None, None, None)
    finally:
        for engine in engines:
            engine.dispose()


def test_the_limits_are_settings(make_console, settings, engine):
    console = make_console()
    strict = settings.model_copy(update={"login_ip_max_failures": 2, "login_backoff_seconds": 30.0})
    with TestClient(create_app(strict, engine=engine), base_url="https://testserver") as http:
        for i in range(2):
            second = time.monotonic()
            assert sign_in(http, console.slug, f"a{i}@x.example", "wrong!!").status_code == 400
        r = sign_in(http, console.slug, console.email, PASSWORD)
        assert r.status_code == 429 and int(r.headers["Retry-After"]) in left_of(30, second)
        assert too_many(int(r.headers["Retry-After"])) in r.text


def test_a_wrong_current_password_counts_like_a_failed_sign_in(make_console, engine):
    console = make_console()
    for _ in range(4):
        r = console.post(
            "/account/password", {"current": "not it at all", "new": "x" * 12, "again": "x" * 12}
        )
        assert r.status_code == 400 and "not your current password" in r.text
    # The 5th failure for this address puts it under attack: this IP now waits.
    fifth = time.monotonic()
    r = console.post("/account/password", {"current": "nope", "new": "y" * 12, "again": "y" * 12})
    assert r.status_code == 400
    r = console.post("/account/password", {"current": PASSWORD, "new": "z" * 12, "again": "z" * 12})
    assert r.status_code == 429 and int(r.headers["Retry-After"]) in left_of(80, fifth)
    assert too_many(int(r.headers["Retry-After"])) in r.text
    with engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(admin_session)).scalar_one() == 1
    assert console.get("/provisioning").status_code == 200  # still signed in, nothing changed


@pytest.mark.slow
def test_the_sign_in_form_itself_is_not_throttled(make_console, app):
    console = make_console()
    with browser(app, ATTACKER) as http:
        for i in range(10):
            sign_in(http, console.slug, f"h{i}@x.example", "wrong password!")
        page = http.get("/console/login")
        assert page.status_code == 200 and csrf_of(page.text)
