"""Every console page through HTTP: states, forms with field messages, and the seed's words."""

from __future__ import annotations

import html
import re
import time

from tests.helpers.console import PATCH, csrf_of, stage, synchronize, wait_for_run
from tests.helpers.scim import user_body

ENT = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"


def test_not_entitled_says_enterprise_and_has_no_button(make_console):
    console = make_console(entitled=False)
    page = console.get("/provisioning").text
    assert "Enterprise feature" in page
    assert "Activate user provisioning</button>" not in page
    r = console.post("/provisioning/activate", page="/provisioning")
    assert r.status_code == 403 and "enterprise feature" in r.text


def test_activate_shows_tenant_url_and_token_once(make_console):
    console = make_console(active=False)
    page = console.get("/provisioning").text
    assert "Activate user provisioning</button>" in page
    r = console.post("/provisioning/activate", page="/provisioning")
    assert r.status_code == 303  # post-redirect-get: a reload does not post again
    location = r.headers["location"]
    assert location == "/console/provisioning?done=activated"
    shown = console.get(location.removeprefix("/console")).text
    token = re.search(r'id="secret-token" value="(sgp_[^"]+)"', shown).group(1)
    assert 'id="tenant-url" value="https://scim.example.test/scim/v2"' in shown
    assert shown.count('class="copy"') == 2 and "User provisioning is activated." in shown
    # It works, and it is never shown again, not even by reloading the page it was on.
    console.token = token
    assert console.scim("GET", "/Users").status_code == 200
    reloaded = console.get(location.removeprefix("/console")).text
    assert token not in reloaded and "shown only on the page right after" in reloaded
    assert token not in console.get("/provisioning").text
    assert token[:12] in console.get("/provisioning").text  # the prefix is listed


def test_tokens_rotate_and_revoke(make_console):
    console = make_console()
    r = console.post("/provisioning/tokens", {"name": "Entra prod"}, page="/provisioning")
    assert r.status_code == 303 and "sgp_" not in r.headers["location"]
    shown = console.get(r.headers["location"].removeprefix("/console")).text
    new = re.search(r'id="secret-token" value="(sgp_[^"]+)"', shown).group(1)
    assert "Entra prod" in shown and "A new Secret Token is ready." in shown
    old = console.token
    page = console.get("/provisioning").text
    ids = re.findall(r"/provisioning/tokens/(\d+)/revoke", page)
    assert len(ids) == 2
    r = console.post(f"/provisioning/tokens/{min(map(int, ids))}/revoke", page="/provisioning")
    assert r.status_code == 303
    assert "revoked" in console.get(r.headers["location"].removeprefix("/console")).text
    assert console.scim("GET", "/Users").status_code == 401  # the old one
    console.token = new
    assert console.scim("GET", "/Users").status_code == 200
    again = console.post(f"/provisioning/tokens/{min(map(int, ids))}/revoke", page="/provisioning")
    assert again.status_code == 404
    assert old


def test_reloading_after_generate_issues_no_other_token(make_console):
    """A reload of the page after "Generate new token" shows the list: one new token, and
    its secret never appears in a URL or on a second page."""
    console = make_console()
    r = console.post("/provisioning/tokens", {"name": "rotation"}, page="/provisioning")
    after = r.headers["location"].removeprefix("/console")
    first = console.get(after).text
    token = re.search(r'id="secret-token" value="(sgp_[^"]+)"', first).group(1)
    for _ in range(3):
        again = console.get(after).text
        assert token not in again and 'id="secret-token"' not in again
    assert len(re.findall(r"/provisioning/tokens/(\d+)/revoke", again)) == 2
    # Another admin session of the same account never sees it.
    other = make_console()
    assert token not in other.get(after).text


def test_the_new_token_is_shown_by_whichever_worker_serves_the_next_page(
    make_console, settings, engine
):
    """`serve --workers N`: the page after the post may be served by another process, which
    shares nothing in memory with the one that issued the token. Only this session (and
    account) can read it: the same cookie in another session shows nothing."""
    from scimgate.web.app import create_app
    from scimgate.web.console.provisioning_views import FLASH_COOKIE
    from tests.helpers.console import browser

    console = make_console()
    r = console.post("/provisioning/tokens", {"name": "rotation"}, page="/provisioning")
    after = r.headers["location"]
    carried = console.http.cookies.get(FLASH_COOKIE)
    assert carried and "sgp_" in carried  # in an HttpOnly cookie of the console, not the URL
    thief = make_console()
    thief.http.cookies.set(FLASH_COOKIE, carried, domain="testserver.local", path="/console")
    assert 'id="secret-token"' not in thief.get(after.removeprefix("/console")).text
    with browser(create_app(settings, engine=engine)) as worker_two:
        worker_two.cookies = console.http.cookies
        shown = worker_two.get(after).text
    token = re.search(r'id="secret-token" value="(sgp_[^"]+)"', shown).group(1)
    assert carried.startswith(token + ".")
    console.token = token
    assert console.scim("GET", "/Users").status_code == 200


def test_deactivate_needs_the_confirmation_box(make_console):
    console = make_console()
    r = console.post("/provisioning/deactivate", {}, page="/provisioning")
    assert r.status_code == 400
    assert 'id="confirm-error"' in r.text and 'aria-invalid="true"' in r.text
    assert console.scim("GET", "/Users").status_code == 200
    r = console.post("/provisioning/deactivate", {"confirm": "yes"}, page="/provisioning")
    assert r.status_code == 303
    assert console.scim("GET", "/Users").status_code == 401
    assert "Activate user provisioning</button>" in console.get("/provisioning").text


def test_connection_status_and_log_with_redacted_bodies_and_hints(make_console, app):
    console = make_console()
    stage(console, "ann@acme.example", password="Hunter2-secret!")
    dup = console.scim("POST", "/Users", json=user_body("ann@acme.example"))
    assert dup.status_code == 409
    console.scim(
        "PATCH",
        "/Users/nope",
        json={
            "schemas": [PATCH],
            "Operations": [{"op": "Replace", "path": "password", "value": "Hunter3-secret!"}],
        },
    )
    app.state.request_log.flush()
    page = console.get("/provisioning").text
    assert "Requests in the last 24 hours" in page and "<dd>3 (2 refused)</dd>" in page
    assert "PATCH /scim/v2/Users/nope" in page  # the last error, with a hint
    assert "no longer here" in page
    log = console.get("/log").text
    assert log.count('href="/console/log/') == 3
    assert console.get("/log?status=4xx").text.count('href="/console/log/') == 2
    assert console.get("/log?method=POST").text.count('href="/console/log/') == 2
    assert console.get("/log?path=nope").text.count('href="/console/log/') == 1
    assert console.get("/log?status=5xx").text.count('href="/console/log/') == 0
    # odd filters are ignored, never an error
    assert console.get("/log?status=9xx&method=BREW&before=abc&path=%25_").status_code == 200
    ids = re.findall(r'href="/console/log/(\d+)"', log)
    bodies = "".join(console.get(f"/log/{i}").text for i in ids)
    assert "Hunter2-secret!" not in bodies and "Hunter3-secret!" not in bodies
    assert bodies.count("[redacted]") >= 2
    conflict = console.get(f"/log/{ids[1]}").text
    assert "409" in conflict and "objectId" in conflict and "What to do" in conflict
    assert "uniqueness" in conflict  # the response body is kept for errors


def test_sync_flow_preview_synchronize_history(make_console):
    console = make_console()
    ann = stage(console, "ann@acme.example", title="Engineer", **{ENT: {"department": "R&D"}})
    stage(console, "bob@acme.example")
    page = console.get("/sync").text
    assert "<strong>2</strong> new" in page
    assert "ann@acme.example" in page and "Department" in page and "R&amp;D" in page
    run_page, location = synchronize(console)
    assert "badge succeeded" in run_page.text and "<strong>2</strong> created" in run_page.text
    assert "<strong>0</strong> new" in console.get("/sync").text
    assert location.removeprefix("/console") in console.get("/sync/runs").text
    # A change in the IdP shows as a diff, old -> new.
    console.scim(
        "PATCH",
        f"/Users/{ann}",
        json={
            "schemas": [PATCH],
            "Operations": [{"op": "Replace", "path": "title", "value": "Manager"}],
        },
    )
    page = console.get("/sync").text
    assert "<strong>1</strong> changed" in page
    assert re.search(r'Job title</strong>: <span class="old">Engineer</span> → Manager', page)


def test_held_run_explains_and_confirms(make_console):
    console = make_console()
    r = console.post(
        "/sync/settings",
        {
            "daily": "on",
            "time": "03:00",
            "timezone": "UTC",
            "hold_percent": "10",
            "hold_minimum": "1",
        },
    )
    assert r.status_code == 200 and "saved" in r.text
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
    assert "Synchronize will stop and ask you to confirm" in console.get("/sync").text
    held, location = synchronize(console)
    assert "badge held" in held.text and "Planned deactivations" in held.text
    assert "u0@acme.example" in held.text and "u1@acme.example" in held.text
    assert "Confirm and synchronize" in held.text
    assert "waiting for your confirmation" in console.get("/sync").text
    run_path = location.removeprefix("/console")
    r = console.post(run_path + "/confirm", page=run_path)
    assert r.status_code == 303
    done = wait_for_run(console, r.headers["location"].removeprefix("/console"))
    assert "badge succeeded" in done.text and "<strong>2</strong> deactivated" in done.text
    assert console.get("/members?status=deactivated").text.count('href="/console/members/') == 2
    after = console.get("/sync").text  # the plan shown before the confirmation is not reused
    assert (
        "<strong>0</strong> to deactivate" in after and "waiting for your confirmation" not in after
    )


def test_progress_endpoint_and_busy_refusal(make_console, engine):
    from scimgate.store import sync as sync_store
    from scimgate.sync.engine import owner_tag

    console = make_console()
    stage(console, "ann@acme.example")
    _, location = synchronize(console)
    state = console.get(location.removeprefix("/console") + "/progress").json()
    assert state["status"] == "succeeded" and state["done"] == 1
    with engine.begin() as conn:  # another process holds the lease
        run_id = sync_store.insert_run(
            conn,
            console.account_id,
            trigger="cli",
            status="running",
            owner="elsewhere:1",
            now=sync_store_now(),
        )
    r = console.post("/sync")
    assert r.status_code == 409 and "already running" in r.text
    assert "Follow its progress" in console.get("/sync").text
    assert owner_tag() and run_id


def sync_store_now():
    from scimgate.store.database import utcnow

    return utcnow()


def test_members_teams_filters_pagination_and_detail(make_console):
    console = make_console()
    boss = stage(console, "boss@acme.example")
    ids = [
        stage(
            console,
            f"p{i:02d}@acme.example",
            **{ENT: {"department": "Sales", "manager": {"value": boss}}},
        )
        for i in range(55)
    ]
    group = console.scim(
        "POST",
        "/Groups",
        json={
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"],
            "displayName": "Sales 50%",
            "members": [{"value": i} for i in ids[:3]],
        },
    ).json()["id"]
    synchronize(console)
    first = console.get("/members").text
    assert first.count('href="/console/members/') == 50 and "Next page" in first
    nxt = re.search(r'href="(/console/members\?after=[^"]+)"', first).group(1)
    second = console.get(nxt.removeprefix("/console").replace("&amp;", "&")).text
    assert second.count('href="/console/members/') == 6 and "First page" in second
    assert console.get("/members?q=P07").text.count('href="/console/members/') == 1
    assert console.get("/members?source=manual").text.count('href="/console/members/') == 0
    assert console.get("/members?status=bogus&source=other").status_code == 200
    member_id = re.search(r'href="/console/members/([^"]+)">p00', first) or re.search(
        r'href="/console/members/([^"]+)"', first
    )
    detail = console.get(f"/members/{member_id.group(1)}").text
    # The mapping's source, then the Property's attribute in the extension, its fallback.
    ext = "urn:ietf:params:scim:schemas:extension:scimgate:2.0:User"
    assert f"SCIM <code>{ENT}:department || {ext}:department</code>" in detail
    assert "Manager" in detail
    teams = console.get("/teams?q=50%25").text
    assert "Sales 50%" in teams and '<td data-label="Members">3</td>' in teams
    assert console.get("/teams?q=50_").text.count('href="/console/teams/') == 0  # wildcards escaped
    team_id = re.search(r'href="/console/teams/([^"]+)"', teams).group(1)
    assert console.get(f"/teams/{team_id}").text.count('href="/console/members/') == 3
    assert group


def test_properties_and_mapping_with_preview(make_console):
    console = make_console()
    stage(console, "ann@acme.example", **{ENT: {"costCenter": "CC-1"}})
    bad = console.post("/properties", {"name": "", "type": "text"})
    assert bad.status_code == 400 and 'id="name-error"' in bad.text
    bad = console.post("/properties", {"name": "Level", "type": "select", "options": ""})
    assert bad.status_code == 400 and 'id="options-error"' in bad.text
    bad = console.post("/properties", {"name": "X", "type": "colour"})
    assert bad.status_code == 400 and 'id="type-error"' in bad.text
    ok = console.post("/properties", {"name": "Cost center", "type": "text"})
    assert ok.status_code == 200 and "created" in ok.text
    dup = console.post("/properties", {"name": "cost CENTER", "type": "text"})
    assert dup.status_code == 400 and 'id="name-error"' in dup.text
    page = console.get("/mapping").text
    assert f'<option value="{ENT}:costCenter">' in page  # the picker offers what staging has
    preview = console.post(
        "/mapping", {"target": "Cost center", "source": f"{ENT}:costCenter", "action": "preview"}
    )
    assert preview.status_code == 200 and "Preview on sample users" in preview.text
    assert "CC-1" in preview.text
    assert f"{ENT}:costCenter" not in console.get("/properties").text  # not saved by a preview
    bad = console.post(
        "/mapping", {"target": "Cost center", "source": "emails[type eq", "action": "save"}
    )
    assert bad.status_code == 400 and 'id="source-error"' in bad.text
    bad = console.post("/mapping", {"target": "Nope", "source": "title", "action": "save"})
    assert bad.status_code == 400 and 'id="target-error"' in bad.text
    saved = console.post(
        "/mapping", {"target": "Cost center", "source": f"{ENT}:costCenter", "action": "save"}
    )
    assert saved.status_code == 200 and "now comes from" in saved.text
    assert f"<code>{ENT}:costCenter</code>" in console.get("/properties").text
    removed = console.post("/mapping/remove", {"target": "Cost center"}, page="/mapping")
    assert removed.status_code == 303
    assert f"<code>{ENT}:costCenter</code>" not in console.get("/properties").text


def test_sync_settings_validate_each_field(make_console):
    console = make_console()
    r = console.post(
        "/sync/settings",
        {"time": "25:00", "timezone": "Mars/Olympus", "hold_percent": "101", "hold_minimum": "x"},
    )
    assert r.status_code == 400
    for field in ("time", "timezone", "hold_percent", "hold_minimum"):
        assert f'id="{field}-error"' in r.text
    page = console.get("/sync/settings").text
    assert 'value="03:00"' in page and "checked" in page  # nothing saved
    r = console.post(
        "/sync/settings",
        {"time": "06:30", "timezone": "Europe/Paris", "hold_percent": "20", "hold_minimum": "5"},
    )
    assert r.status_code == 200 and 'value="06:30"' in r.text and "none scheduled" in r.text


def test_pages_send_security_headers_and_no_tracebacks(make_console):
    console = make_console()
    r = console.get("/provisioning")
    assert "script-src 'self'" in r.headers["content-security-policy"]
    assert r.headers["x-frame-options"] == "DENY" and r.headers["cache-control"] == "no-store"
    for path in (
        "/nope",
        "/members/%00",
        "/teams/' OR 1=1 --",
        "/sync/runs/999999999999",
        "/log/0",
        "/sync/runs/abc",
    ):
        r = console.get(path)
        assert r.status_code == 404, path
        assert "Traceback" not in r.text and "Not found" in r.text
    for path in ("/members?q=%00", "/log?path=a%00b", "/teams?after=%00"):
        assert console.get(path).status_code == 400, path
    assert console.post("/properties", {"name": "a\x00b", "type": "text"}).status_code == 400
    big = console.http.post(
        "/console/properties",
        content=b"name=" + b"x" * 70_000,
        headers={"content-type": "application/x-www-form-urlencoded"},
    )
    assert big.status_code == 413


def test_static_assets_are_served_locally(make_console):
    console = make_console()
    page = console.get("/provisioning").text
    assert "http://" not in re.sub(r'href="https://portal.azure.com"', "", page.split("<body>")[0])
    assert console.get("/static/console.css").status_code == 200
    assert console.get("/static/console.js").status_code == 200
    assert csrf_of(page)


def test_log_bodies_are_bounded_and_scrubbed_even_when_not_json(make_console, app):
    from scimgate.web.redaction import MAX_BODY_CHARS

    console = make_console()
    big = user_body(
        "big@acme.example",
        addresses=[{"type": "work", "streetAddress": f"{i} " + "x" * 400} for i in range(100)],
    )
    assert console.scim("POST", "/Users", json=big).status_code == 201
    raw = b'{"userName": "bad@acme.example", "password": "Hunter9-secret!", '  # cut JSON: 400
    assert console.scim("POST", "/Users", content=raw).status_code == 400
    app.state.request_log.flush()
    ids = re.findall(r'href="/console/log/(\d+)"', console.get("/log").text)
    bad, created = (console.get(f"/log/{i}").text for i in ids)
    assert "Hunter9-secret!" not in bad and "[redacted]" in bad and "invalidSyntax" in bad
    body = html.unescape(
        re.search(r"<h2>Request body</h2>\s*<pre>(.*?)</pre>", created, re.DOTALL).group(1)
    )
    assert len(body) <= MAX_BODY_CHARS + 20 and body.endswith("(cut)")


def test_the_plan_is_reused_only_while_nothing_it_depends_on_moved(make_console, engine):
    from scimgate.members import service as members

    console = make_console()
    ann = stage(console, "ann@acme.example", title="Engineer")
    assert "<strong>1</strong> new" in console.get("/sync").text
    stage(console, "bob@acme.example")  # staging grew
    assert "<strong>2</strong> new" in console.get("/sync").text
    console.scim("DELETE", f"/Users/{ann}")  # staging shrank
    assert "<strong>1</strong> new" in console.get("/sync").text
    with engine.begin() as conn:  # a manual member with the staged user's email: a link, not new
        members.add_member(conn, console.account_id, "bob@acme.example")
    page = console.get("/sync").text
    assert "<strong>0</strong> new" in page and "<strong>1</strong> changed" in page
    synchronize(console)  # a run happened
    assert "<strong>0</strong> changed" in console.get("/sync").text
    console.post("/properties", {"name": "Cost center", "type": "text"})
    stage(console, "cy@acme.example", **{ENT: {"costCenter": "CC-9"}})
    synchronize(console)
    saved = console.post(
        "/mapping", {"target": "Cost center", "source": f"{ENT}:costCenter", "action": "save"}
    )
    assert saved.status_code == 200
    page = console.get("/sync").text  # the mapping revision moved
    assert "<strong>1</strong> changed" in page and "CC-9" in page


def test_times_are_shown_in_utc_whatever_zone_the_database_answers_in():
    from datetime import datetime, timedelta, timezone

    from scimgate.web.console.endpoint import _when

    paris = timezone(timedelta(hours=1))
    eleven = '<time datetime="2026-01-01T11:00:00Z">2026-01-01 11:00:00 UTC</time>'
    assert _when(datetime(2026, 1, 1, 12, 0, 0, 999, tzinfo=paris)) == eleven
    noon = '<time datetime="2026-01-01T12:00:00Z">2026-01-01 12:00:00 UTC</time>'
    assert _when(datetime(2026, 1, 1, 12, 0)) == noon  # SQLite: naive UTC
    assert _when("2026-01-01T12:00:00+00:00") == noon  # a service's ISO text
    assert _when(None) == "never"


def test_every_page_time_is_a_time_element_in_one_format(make_console, app):
    """Pages write ISO 8601 in <time datetime> with the UTC text inside (static/console.js
    shows it in the viewer's zone); no other spelling of a time is left on them."""
    console = make_console()
    stage(console, "ann@acme.example")
    app.state.request_log.flush()
    synchronize(console)
    console.post(
        "/sync/settings",
        {
            "daily": "on",
            "time": "04:00",
            "timezone": "Europe/Paris",
            "hold_percent": "5",
            "hold_minimum": "1",
        },
    )
    stamp = r'<time datetime="\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ">\d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC</time>'
    for path in ("/provisioning", "/log", "/sync/runs", "/sync/settings", "/account/sessions"):
        page = console.get(path).text
        assert re.search(stamp, page), path
        bare = re.sub(stamp, "", page)
        assert not re.search(r"\d\d:\d\d:\d\d", bare), (
            path,
            re.findall(r".{40}\d\d:\d\d:\d\d.{20}", bare),
        )
    assert "(UTC)" not in console.get("/sync/settings").text
    script = console.get("/static/console.js").text
    assert 'querySelectorAll("time[datetime]")' in script


def test_a_slow_plan_shows_checking_and_refreshes_until_ready(make_console, monkeypatch):
    from scimgate.sync import plan_cache as plans

    real = plans.synchronize
    release = __import__("threading").Event()
    calls = []

    def slow(*args, **kwargs):
        calls.append(1)
        release.wait(10)
        return real(*args, **kwargs)

    monkeypatch.setattr(plans, "synchronize", slow)
    monkeypatch.setattr(plans.PlanCache, "wait", 0.05)
    console = make_console()
    stage(console, "ann@acme.example")
    page = console.get("/sync").text
    assert "Checking what a synchronization would change" in page
    assert '<meta http-equiv="refresh" content="2">' in page
    assert "Checking" in console.get("/sync").text
    assert len(calls) == 1  # the second view waits for the same computation
    release.set()
    deadline = time.monotonic() + 10
    while "Checking" in (page := console.get("/sync").text) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert "<strong>1</strong> new" in page and "http-equiv" not in page
