"""The guided setup in a real browser: an admin creates a setup link, the customer's IT
admin (no console account) follows it to a working connection, then the link is revoked."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from tests.browser.test_accessibility import check_page
from tests.helpers.browser import PHONE, entra_user, scim_client

pytestmark = [pytest.mark.browser, pytest.mark.process]

ACCOUNTS = {"guided": ["admin@guided.test"]}
ACTIVATED = ["guided"]


def test_the_whole_guided_setup(open_console, server):
    admin = open_console()
    admin.sign_in("guided", "admin@guided.test")
    admin.goto("/console/provisioning")
    admin.page.fill("#setup-link-note", "Jane at Guided IT")
    admin.page.fill("#setup-link-days", "5")
    admin.page.get_by_role("button", name="Create setup link").click()
    link = admin.page.locator("#setup-link").input_value()
    admin.shot("setup-link-created")
    assert link.startswith(server.url("/setup/sgs_"))
    admin.page.set_viewport_size(PHONE)  # the new link and the links table fit a phone
    assert admin.page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"] + 1
    admin.shot("setup-link-on-a-phone")
    admin.page.set_viewport_size({"width": 1280, "height": 900})

    it = open_console()  # the IT admin: another browser, no console account
    it.page.goto(link)
    expect(it.page.get_by_role("heading", level=1)).to_contain_text("Guided Inc")
    it.page.get_by_role("link", name="Okta").click()
    expect(it.page.locator(".setup-guide")).to_contain_text("Connecting Okta")
    expect(it.page.locator(".setup-status")).to_contain_text("Waiting for the first request")
    it.page.get_by_role("button", name="Generate a Secret Token").click()
    token = it.page.locator("#secret-token").input_value()
    assert token.startswith("sgp_")
    expect(it.page.locator(".setup-guide")).to_contain_text("Connecting Okta")  # choice kept
    it.shot("token-shown-once")
    assert check_page(it, "setup-page") == []  # one <h1>, labelled fields, visible focus
    it.page.set_viewport_size(PHONE)
    assert it.page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"] + 1
    it.shot("setup-on-a-phone")

    with scim_client(server.tenant_url, token) as idp:
        assert idp.post("/Users", json=entra_user("ada@guided.test", "Ada L")).status_code == 201
        assert idp.post("/Users", json={"schemas": []}).status_code == 400
    # The status refreshes on its own: the request, then the refusal with its hint.
    status = it.page.locator(".setup-status")
    expect(status).to_contain_text("Connected.", timeout=20_000)
    expect(status).to_contain_text("Latest refused requests", timeout=20_000)
    expect(status.locator(".hint").first).to_be_visible()
    it.shot("connected")

    it.page.select_option("#target", "Department")
    it.page.fill("#source", "title")
    it.page.get_by_role("button", name="Save mapping").click()
    expect(it.page.locator(".notice").first).to_contain_text("Department now comes from title")

    # The link is no console session.
    it.page.goto(server.url("/console/provisioning"))
    expect(it.page).to_have_url(server.url("/console/login?next=%2Fconsole%2Fprovisioning"))

    admin.goto("/console/audit")
    audit = admin.page.locator("main")
    prefix = link.rsplit("/", 1)[1][:12]
    for action in ("setup_link.created", "setup_link.opened", "token.issued", "mapping.set"):
        expect(audit).to_contain_text(action)
    expect(audit).to_contain_text(f"setuplink:{prefix}")

    admin.goto("/console/provisioning")
    row = admin.page.locator("section[aria-labelledby=setup-links] tbody tr").first
    expect(row).to_contain_text("Jane at Guided IT")
    expect(row).to_contain_text("admin@guided.test")
    expect(row).not_to_contain_text("never")  # last used
    expect(row).to_contain_text("1 issued, 1 live")
    admin.page.on("dialog", lambda dialog: dialog.accept())
    row.get_by_label("Also revoke the 1 live Secret Token it issued").check()
    row.get_by_role("button", name=f"Revoke setup link {prefix}").click()
    expect(admin.page.locator(".notice")).to_contain_text("The setup link is revoked")
    expect(admin.page.locator(".notice")).to_contain_text("and the Secret Tokens it issued")
    admin.shot("setup-link-revoked")
    with scim_client(server.tenant_url, token) as idp:
        assert idp.get("/Users").status_code == 401  # the link's token went with it

    response = it.page.goto(link)
    assert response is not None and response.status == 404
    expect(it.page.locator("main")).to_contain_text("does not work")
    expect(it.page.locator("main")).not_to_contain_text("Guided")
