"""Group rules in the console, in Chromium: add a rule from the form, see it in the plan,
Synchronize, read the member page's "comes from group", change a priority, remove it."""

from __future__ import annotations

import re
from typing import Any

import pytest
from playwright.sync_api import expect

from tests.helpers.browser import PHONE, entra_user, scim_client

pytestmark = [pytest.mark.browser, pytest.mark.process]

SLUG = "rules"
ADMIN = "admin@rules.test"
ACCOUNTS = {SLUG: [ADMIN]}
ACTIVATED = [SLUG]


@pytest.mark.slow
def test_a_rule_from_the_form_to_the_member_page(server, open_console: Any):
    token, _ = server.tokens[SLUG]
    with scim_client(server.tenant_url, token) as idp:
        r = idp.post("/Users", json=entra_user("ada@rules.test", "Ada Lovelace"))
        assert r.status_code == 201, r.text
        r = idp.post(
            "/Groups",
            json={"displayName": "Engineering-Admins", "members": [{"value": r.json()["id"]}]},
        )
        assert r.status_code == 201, r.text
    server.cli_here("property", "create", SLUG, "Role", "--type", "select",
                    "--option", "Admin", "--option", "Viewer")  # fmt: skip

    console = open_console()
    page = console.page
    console.sign_in(SLUG, ADMIN)
    console.goto("/console/group-rules", shot="empty")
    page.get_by_role("link", name="Group rules").first.click()
    expect(page.locator("h1")).to_have_text("Group rules")
    page.get_by_label("Members of the group").select_option(label="Engineering-Admins")
    page.get_by_label("get the Property").select_option(label="Role")
    page.get_by_label("with the value").fill("Owner")
    page.get_by_role("button", name="Add rule").click()
    expect(page.locator("#value-error")).to_contain_text("is not one of the options")
    expect(page.get_by_label("with the value")).to_have_attribute("aria-invalid", "true")
    page.get_by_label("with the value").fill("admin")
    page.get_by_label("Priority (lower wins)").fill("5")
    page.get_by_role("button", name="Add rule").click()
    expect(page.get_by_role("status")).to_contain_text(
        "Members of Engineering-Admins get Role = Admin"
    )
    row = page.locator("#rules tbody tr").first
    expect(row).to_contain_text("Engineering-Admins")
    expect(row).to_contain_text("Admin")
    console.shot("added")

    console.goto("/console/sync")
    expect(page.locator(".note")).to_contain_text("Role = Admin: from group Engineering-Admins")
    page.get_by_role("button", name="Synchronize").click()
    page.wait_for_url(re.compile(r"/console/sync/runs/\d+$"))
    expect(page.locator("h1 .badge")).not_to_have_text("running", timeout=30_000)
    console.goto("/console/members")
    page.get_by_role("link", name=re.compile("Ada Lovelace")).first.click()
    cell = page.locator("td[data-label='Comes from']", has_text="Engineering-Admins")
    expect(cell).to_contain_text("group Engineering-Admins")
    console.shot("member")
    cell.get_by_role("link", name="Engineering-Admins").click()
    expect(page).to_have_url(re.compile(r"/console/group-rules#rule-\d+$"))

    page.set_viewport_size(PHONE)  # the table reads at 390 px
    row.get_by_label(re.compile("Priority of the rule")).fill("2")
    row.get_by_role("button", name="Save").click()
    expect(page.get_by_role("status")).to_contain_text("Priority saved")
    expect(row.get_by_label(re.compile("Priority of the rule"))).to_have_value("2")
    console.shot("phone")
    page.once("dialog", lambda dialog: dialog.accept())
    row.get_by_role("button", name=re.compile("Remove the rule")).click()
    expect(page.get_by_role("status")).to_contain_text("Rule removed")
    expect(page.locator("#rules tbody")).to_contain_text("No group rules yet.")
