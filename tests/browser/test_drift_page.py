"""The Drift page in Chromium: reached from Available to synchronize, counts per section,
people by name and e-mail, readable at 1280 and 390 px."""

from __future__ import annotations

import re
from typing import Any

import pytest
from playwright.sync_api import expect

from scimgate.accounts.lookup import account_by_slug
from scimgate.members import service as members
from scimgate.store import members as member_store
from scimgate.store import property_values
from scimgate.store.database import make_engine, utcnow
from tests.helpers.browser import PHONE, WIDE, entra_user, scim_client

pytestmark = [pytest.mark.browser, pytest.mark.process]

SLUG = "driftpage"
ADMIN = "admin@driftpage.test"
ACCOUNTS = {SLUG: [ADMIN]}
ACTIVATED = [SLUG]

WIDTHS = """() => [document.documentElement.clientWidth, document.documentElement.scrollWidth]"""


def hand_edit_title(database_url: str, email: str, value: str) -> None:
    """What the host product does behind the sync's back: rewrite a synced value."""
    engine = make_engine(database_url, pool=False)
    try:
        with engine.begin() as conn:
            account_id = account_by_slug(conn, SLUG)["id"]
            member = members.member_documents(conn, account_id, search=email)[0]
            prop = member_store.find_property(conn, account_id, "Job title")
            property_values.set_value(
                conn, account_id, member["id"], prop["id"], value, source="scim", now=utcnow()
            )
    finally:
        engine.dispose()


@pytest.mark.slow
def test_drift_from_the_synchronize_page(server, open_console: Any, module_database_url: str):
    token, _ = server.tokens[SLUG]
    with scim_client(server.tenant_url, token) as idp:
        r = idp.post("/Users", json=entra_user("ann@driftpage.test", "Ann Lee", title="Engineer"))
        assert r.status_code == 201, r.text
    console = open_console()
    page = console.page
    console.sign_in(SLUG, ADMIN)
    console.goto("/console/sync")
    page.get_by_role("button", name="Synchronize").click()
    page.wait_for_url(re.compile(r"/console/sync/runs/\d+$"))
    expect(page.locator("h1 .badge")).not_to_have_text("running", timeout=30_000)

    with scim_client(server.tenant_url, token) as idp:
        r = idp.post("/Users", json=entra_user("bob@driftpage.test", "Bob Stone"))
        assert r.status_code == 201, r.text
    server.cli_here("member", "add", SLUG, "solo@driftpage.test", "--name", "Solo Manual")
    hand_edit_title(module_database_url, "ann@driftpage.test", "CEO")

    console.goto("/console/sync")
    page.locator("main").get_by_role("link", name="Drift").click()
    page.wait_for_url(re.compile(r"/console/drift$"))
    expect(page.get_by_role("heading", level=1)).to_have_text("Drift")
    counts = page.get_by_role("list", name="Drift by section")
    expect(counts).to_contain_text("1 staged users never synchronized")
    expect(counts).to_contain_text("1 manual members with no identity-provider counterpart")
    expect(counts).to_contain_text("1 provisioned members changed by hand")
    expect(counts).to_contain_text("2 properties the mapping never fills")
    unsynced = page.locator("#table-unsynced")
    expect(unsynced).to_contain_text("Bob Stone (bob@driftpage.test)")
    expect(unsynced).to_contain_text("waiting for the next run")
    expect(page.locator("#table-manual")).to_contain_text("Solo Manual")
    edited = page.locator("#table-edited tbody tr")
    expect(edited).to_have_count(1)
    expect(edited).to_contain_text("Ann Lee")
    expect(edited.locator("td[data-label='Member\\'s value']")).to_have_text("CEO")
    expect(edited.locator("td[data-label='Mapped value']")).to_have_text("Engineer")
    expect(page.locator("#table-unfilled")).to_contain_text("Department")

    counts.get_by_role("link", name=re.compile("properties the mapping never fills")).click()
    expect(page.locator("#unfilled")).to_be_in_viewport()
    for size, name in ((WIDE, "wide"), (PHONE, "phone")):
        page.set_viewport_size(size)
        console.shot(f"drift-{name}")
        viewport, scrolled = page.evaluate(WIDTHS)
        assert scrolled <= viewport + 1, (name, viewport, scrolled)  # no sideways scrolling
