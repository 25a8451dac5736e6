"""The provisioning page's identity-provider panel, after Okta-shaped traffic, at 1280 px."""

from __future__ import annotations

from typing import Any

import pytest
from playwright.sync_api import expect

from tests.helpers.browser import entra_user, scim_client

pytestmark = [pytest.mark.browser, pytest.mark.process]

SLUG = "idppanel"
ADMIN = "admin@idppanel.test"
ACCOUNTS = {SLUG: [ADMIN]}
ACTIVATED = [SLUG]
OKTA = {"User-Agent": "Okta SCIM Client 1.0.0"}


def test_the_panel_names_okta_and_its_habits(server, open_console: Any):
    token, _ = server.tokens[SLUG]
    with scim_client(server.tenant_url, token) as idp:
        r = idp.get(
            "/Users",
            params={"filter": 'userName eq "a@idppanel.test"', "startIndex": 1, "count": 100},
            headers=OKTA,
        )
        assert r.status_code == 200, r.text
        r = idp.post("/Users", json=entra_user("a@idppanel.test", "Ada"), headers=OKTA)
        assert r.status_code == 201, r.text
    console = open_console()
    page = console.page
    console.sign_in(SLUG, ADMIN)
    panel = page.locator("#idp-profile")
    # The counts reach the database with the request log's flush, about once a second.
    for _ in range(20):
        console.goto("/console/provisioning")
        if "Okta" in panel.locator(".idp-headline").inner_text():
            break
        page.wait_for_timeout(500)
    expect(panel.locator(".idp-headline")).to_contain_text("Connected IdP: Okta since")
    expect(panel).to_contain_text("Okta SCIM Client 1.0.0")
    expect(panel).to_contain_text("200 with the group, without its members")
    expect(panel.locator("td[data-label='Seen in the requests']")).to_contain_text(
        ["User-Agent is Okta SCIM Client", "userName lookups paged with startIndex=1&count=100"]
    )
    console.shot("idp-profile")
