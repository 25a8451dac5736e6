"""A run page at 1280 and 390 px: an item's error is read whole, not clipped off the edge."""

from __future__ import annotations

import re
from typing import Any

import pytest
from playwright.sync_api import expect

from tests.helpers.browser import PHONE, WIDE, entra_user, scim_client

pytestmark = [pytest.mark.browser, pytest.mark.process]

SLUG = "runpage"
ADMIN = "admin@runpage.test"
ACCOUNTS = {SLUG: [ADMIN]}
ACTIVATED = [SLUG]

# Every box of the error column, against the viewport and the table's scrolling frame.
ERROR_BOXES = """() => {
    const frame = document.querySelector(".table-wrap");
    return {
        viewport: document.documentElement.clientWidth,
        page: document.documentElement.scrollWidth,
        frame: [frame.clientWidth, frame.scrollWidth],
        errors: [...document.querySelectorAll("td[data-label=Error] .error-text")].map(e => {
            const r = e.getBoundingClientRect();
            return {left: r.left, right: r.right, text: e.textContent.length};
        }),
    };
}"""


@pytest.mark.slow
def test_the_error_column_wraps_at_1280_and_390_px(server, open_console: Any):
    """Regression: long changes kept on one line pushed the error column out of the table's
    frame, so an error was cut off at 1280 and at 390 px."""
    token, _ = server.tokens[SLUG]
    long_title = "Principal Staff Engineer for Identity, Provisioning and Directory Integrations"
    with scim_client(server.tenant_url, token) as idp:
        for who, name in (("maximilian.vandenberghe-oppenheimer", "Maximilian Vandenberghe"),):
            r = idp.post("/Users", json=entra_user(f"{who}@runpage.test", name, title=long_title))
            assert r.status_code == 201, r.text
        r = idp.post(
            "/Users",
            json=entra_user(
                "max.alias.with.a.very.long.user.name@runpage.test",
                "Maximilian Vandenberghe-Oppenheimer (Alias)",
                title=long_title,
                emails=[
                    {
                        "type": "work",
                        "value": "maximilian.vandenberghe-oppenheimer@runpage.test",
                    }
                ],
            ),
        )
        assert r.status_code == 201, r.text

    console = open_console()
    page = console.page
    console.sign_in(SLUG, ADMIN)
    console.goto("/console/sync")
    page.get_by_role("button", name="Synchronize").click()
    page.wait_for_url(re.compile(r"/console/sync/runs/\d+$"))
    expect(page.locator("h1 .badge")).not_to_have_text("running", timeout=30_000)
    expect(page.locator("td[data-label=Error] .error-text")).to_contain_text(
        "is already used by directory user Maximilian Vandenberghe"
    )
    for size, name in ((WIDE, "wide"), (PHONE, "phone")):
        page.set_viewport_size(size)
        console.shot(f"run-{name}")
        boxes = page.evaluate(ERROR_BOXES)
        assert boxes["errors"], boxes
        assert boxes["page"] <= size["width"] + 1, boxes  # no sideways scrolling
        assert boxes["frame"][1] <= boxes["frame"][0] + 1, boxes  # nothing hidden in the frame
        for box in boxes["errors"]:
            assert box["left"] >= 0 and box["right"] <= boxes["viewport"] + 1, (name, boxes)
