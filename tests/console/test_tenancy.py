"""An admin never reaches another account's data by URL, form or id."""

from __future__ import annotations

import re

from tests.helpers.console import stage, synchronize


def test_other_accounts_objects_are_not_found_by_url(make_console, app):
    a = make_console("alpha")
    b = make_console("beta")
    user = stage(b, "secret.person@beta.example", title="Beta CEO")
    b.scim(
        "POST",
        "/Groups",
        json={
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"],
            "displayName": "Beta board",
            "members": [{"value": user}],
        },
    )
    b.scim("GET", "/Users/does-not-exist")
    _, run_location = synchronize(b)
    app.state.request_log.flush()
    member_id = re.search(r'href="/console/members/([^"]+)"', b.get("/members").text).group(1)
    team_id = re.search(r'href="/console/teams/([^"]+)"', b.get("/teams").text).group(1)
    log_id = re.search(r'href="/console/log/(\d+)"', b.get("/log").text).group(1)
    token_id = re.search(r"/provisioning/tokens/(\d+)/revoke", b.get("/provisioning").text).group(1)
    run_path = run_location.removeprefix("/console")
    for path in (
        f"/members/{member_id}",
        f"/teams/{team_id}",
        run_path,
        f"{run_path}/progress",
        f"/log/{log_id}",
    ):
        assert b.get(path).status_code == 200, path
        r = a.get(path)
        assert r.status_code == 404, path
        assert "secret.person" not in r.text and "Beta" not in r.text
    # A's lists show none of B's rows.
    for path in (
        "/members",
        "/teams",
        "/sync/runs",
        "/log",
        "/sync",
        "/mapping",
        "/properties?x=1",
    ):
        page = a.get(path).text
        assert "secret.person" not in page and "Beta board" not in page, path
    # Forms: revoking B's token or confirming B's run from A's session finds nothing.
    assert (
        a.post(f"/provisioning/tokens/{token_id}/revoke", page="/provisioning").status_code == 404
    )
    assert b.scim("GET", "/Users").status_code == 200
    assert a.post(f"{run_path}/confirm", page="/sync").status_code == 404


def test_a_session_is_bound_to_its_account(make_console, app):
    a = make_console("alpha")
    b = make_console("beta")
    a_page = a.get("/provisioning").text
    assert "Alpha Inc" in a_page and "Beta Inc" not in a_page
    # B's CSRF token does not work in A's session, and vice versa.
    b_token = re.search(r'name="csrf_token" value="([^"]+)"', b.get("/provisioning").text).group(1)
    r = a.http.post(
        "/console/provisioning/tokens", data={"csrf_token": b_token}, follow_redirects=False
    )
    assert r.status_code == 403
