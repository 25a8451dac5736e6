"""The integrations page's event retention form and an endpoint's dead letters, in Chromium."""

from __future__ import annotations

from typing import Any

import pytest
from playwright.sync_api import expect

from scimgate.accounts.lookup import account_by_slug
from scimgate.store import webhooks as webhook_store
from scimgate.store.database import make_engine
from scimgate.timestamps import utcnow

pytestmark = [pytest.mark.browser, pytest.mark.process]

SLUG = "events"
ADMIN = "admin@events.test"
ACCOUNTS = {SLUG: [ADMIN]}


def seed_dead_letter(database_url: str) -> int:
    """A failing endpoint (on a loopback URL this server refuses) with one dead letter."""
    engine = make_engine(database_url, pool=False)
    try:
        with engine.begin() as conn:
            account_id = account_by_slug(conn, SLUG)["id"]
            endpoint_id = webhook_store.insert_endpoint(
                conn,
                account_id,
                url="http://127.0.0.1:9/hook",
                secret="whsec_" + "A" * 32,
                event_types=[],
                cursor=0,
                now=utcnow(),
            )
            webhook_store.set_endpoint(conn, endpoint_id, status="failing")
            webhook_store.insert_delivery(
                conn,
                account_id,
                endpoint_id,
                event_seq=1,
                event_id="00000000-0000-0000-0000-000000000001",
                event_type="audit.recorded",
                attempt=8,
                status_code=500,
                error="HTTP 500: receiver says no",
                duration_ms=3,
                at=utcnow(),
                dead=True,
            )
        return endpoint_id
    finally:
        engine.dispose()


@pytest.mark.slow
def test_retention_and_dead_letters(server, open_console: Any, module_database_url: str):
    console = open_console()
    console.sign_in(SLUG, ADMIN)
    page = console.page
    console.goto("/console/integrations")
    expect(page.locator("#retention_days")).to_have_value("90")
    page.fill("#retention_days", "0")
    page.click("text=Save retention")
    expect(page.locator("#retention_days-error")).to_contain_text("1-3650")
    page.fill("#retention_days", "30")
    page.click("text=Save retention")
    expect(page.locator(".notice")).to_contain_text("event retention is saved")
    expect(page.locator("#retention_days")).to_have_value("30")
    console.shot("retention")

    endpoint_id = seed_dead_letter(module_database_url)
    console.goto(f"/console/integrations/webhooks/{endpoint_id}")
    boxes = page.locator("input[name=ids]")
    expect(boxes).to_have_count(1)
    console.shot("dead-letters")
    # Nothing ticked: an error, nothing sent.
    page.click("text=Redeliver selected")
    expect(page.locator(".error-text")).to_contain_text("Tick the dead letters")
    # Ticked: sent (and refused here: a loopback address), still a dead letter.
    page.locator("input[name=ids]").first.check()
    page.click("text=Redeliver selected")
    expect(page.locator(".notice")).to_contain_text("0 delivered, 1 failed, 0 left")
    page.click("text=Redeliver all")
    expect(page.locator(".notice")).to_contain_text("0 delivered, 1 failed, 0 left")
    expect(page.locator("input[name=ids]")).to_have_count(1)
    expect(page.locator("td[data-label=Attempt]").first).to_have_text("resent")
