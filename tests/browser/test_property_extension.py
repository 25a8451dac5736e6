"""Properties the IdP can see, in the console: a new Property shows the attribute an IdP sends
it at, Attribute Mapping lists it "from the IdP extension", and a value the IdP sends there
reaches the member at the next Synchronize without a mapping written."""

from __future__ import annotations

import re
from typing import Any

import pytest
from playwright.sync_api import expect

from tests.helpers.browser import entra_user, patch_ops, scim_client

pytestmark = [pytest.mark.browser, pytest.mark.process]

SLUG = "extco"
ADMIN = "admin@extco.test"
ACCOUNTS = {SLUG: [ADMIN]}
ACTIVATED = [SLUG]
EXT = "urn:ietf:params:scim:schemas:extension:scimgate:2.0:User"


@pytest.mark.slow
def test_a_property_filled_from_the_idp_extension(server, open_console: Any):
    console = open_console()
    page = console.page
    console.sign_in(SLUG, ADMIN)

    console.goto("/console/properties")
    page.fill("#name", "Cost center")
    page.select_option("#type", "text")
    with page.expect_navigation():
        page.get_by_role("button", name="Create Property").click()
    expect(page.locator("p.notice")).to_contain_text(f"send it as {EXT}:costCenter")
    row = page.locator("tbody tr").filter(has_text="Cost center")
    expect(row.locator("td[data-label='Attribute for your IdP']")).to_have_text(f"{EXT}:costCenter")
    expect(row.locator("td[data-label='Mapped from']")).to_have_text("from the IdP extension")
    console.shot("properties")

    console.goto("/console/mapping")
    implicit = page.locator("tbody tr").filter(has_text="Cost center")
    expect(implicit).to_contain_text(f"{EXT}:costCenter")
    expect(implicit).to_contain_text("from the IdP extension")
    expect(implicit.get_by_role("button", name=re.compile("Remove"))).to_have_count(0)
    console.shot("mapping")

    token, _ = server.tokens[SLUG]
    with scim_client(server.tenant_url, token) as idp:
        r = idp.get(f"/Schemas/{EXT}")
        assert r.status_code == 200, r.text
        assert "costCenter" in [a["name"] for a in r.json()["attributes"]]
        r = idp.post("/Users", json=entra_user("ada@extco.test", "Ada Lovelace"))
        assert r.status_code == 201, r.text
        r = idp.patch(
            f"/Users/{r.json()['id']}",
            json=patch_ops({"op": "Add", "path": f"{EXT}:costCenter", "value": "CC-42"}),
        )
        assert r.status_code == 200, r.text

    console.goto("/console/sync")
    page.get_by_role("button", name="Synchronize").click()
    page.wait_for_url(re.compile(r"/console/sync/runs/\d+$"))
    expect(page.locator("h1 .badge")).to_have_text("succeeded", timeout=30_000)
    console.goto("/console/members")
    page.get_by_role("link", name="Ada Lovelace", exact=True).click()
    cost = page.locator("tbody tr").filter(
        has=page.locator("td[data-label=Property]", has_text="Cost center")
    )
    expect(cost.locator("td[data-label=Value]")).to_have_text("CC-42")
    console.shot("member")
