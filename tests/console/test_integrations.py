"""Console: API keys and webhook endpoints (shown once, revoked, refused, scoped)."""

from __future__ import annotations

import re
from urllib.parse import urlencode

from tests.helpers.console import csrf_of


def test_api_keys_are_shown_once_work_and_revoke(make_console):
    console = make_console()
    r = console.post("/integrations/keys", {"name": "Backend"}, page="/integrations")
    key = re.search(r'id="new-key" value="(sgk_[^"]+)"', r.text).group(1)
    assert (
        console.http.get("/api/v1/members", headers={"Authorization": f"Bearer {key}"}).status_code
        == 200
    )
    assert (
        console.http.get("/scim/v2/Users", headers={"Authorization": f"Bearer {key}"}).status_code
        == 401
    )
    page = console.get("/integrations").text
    assert key not in page and key[:12] in page and "Backend" in page
    key_id = re.search(r"/integrations/keys/(\d+)/revoke", page).group(1)
    assert (
        console.post(f"/integrations/keys/{key_id}/revoke", page="/integrations").status_code == 303
    )
    assert (
        console.http.get("/api/v1/members", headers={"Authorization": f"Bearer {key}"}).status_code
        == 401
    )


def test_webhook_endpoints_refuse_private_urls_and_show_the_secret_once(make_console, app):
    console = make_console()
    r = console.post(
        "/integrations/webhooks", {"url": "http://127.0.0.1:9/hook"}, page="/integrations"
    )
    assert r.status_code == 400 and 'id="url-error"' in r.text and "private or local" in r.text
    r = console.post("/integrations/webhooks", {"url": "ftp://example.com/x"}, page="/integrations")
    assert r.status_code == 400 and "not an http(s) URL" in r.text
    app.state.settings.webhooks_allow_private = True
    token = csrf_of(console.get("/integrations").text)
    form = urlencode(
        [
            ("csrf_token", token),
            ("url", "http://127.0.0.1:9/hook"),
            ("events", "member.created"),
            ("events", "team.created"),
        ]
    )
    r = console.http.post(
        "/console/integrations/webhooks",
        content=form,
        headers={"content-type": "application/x-www-form-urlencoded"},
    )
    assert r.status_code == 200
    secret = re.search(r'id="new-secret" value="(whsec_[^"]+)"', r.text).group(1)
    page = console.get("/integrations").text
    assert secret not in page and "member.created, team.created" in page
    endpoint_id = re.search(r"/integrations/webhooks/(\d+)\"", page).group(1)
    detail = console.get(f"/integrations/webhooks/{endpoint_id}")
    assert detail.status_code == 200 and "Nothing delivered yet" in detail.text
    other = make_console()
    assert other.get(f"/integrations/webhooks/{endpoint_id}").status_code == 404
    assert (
        other.post(f"/integrations/webhooks/{endpoint_id}/remove", page="/integrations").status_code
        == 404
    )
    assert (
        console.post(
            f"/integrations/webhooks/{endpoint_id}/remove", page="/integrations"
        ).status_code
        == 303
    )
    assert "No endpoint yet" in console.get("/integrations").text
