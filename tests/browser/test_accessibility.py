"""Accessibility and small-screen smoke tests over every console page, with data on them.

Every page has one <h1>; every field has a label (label[for], aria-label or
aria-labelledby); whatever the keyboard focuses shows an outline; and on a 390 px wide
phone no page scrolls sideways.
"""

from __future__ import annotations

import re
import time
from typing import Any
from urllib.parse import urlparse

import pytest
from playwright.sync_api import Page, expect

from tests.helpers.browser import PHONE, Console, entra_user, patch_ops, scim_client

pytestmark = [pytest.mark.browser, pytest.mark.process]

SLUG = "a11y"
ADMIN = "admin@a11y.test"
ACCOUNTS = {SLUG: [ADMIN]}
ACTIVATED = [SLUG]
RUN_TIMEOUT = 30_000

PAGE_FACTS = """() => {
    const labelled = (el) => {
        if ((el.getAttribute("aria-label") || "").trim()) return true;
        if (el.getAttribute("aria-labelledby")) return true;
        return Boolean(el.id && document.querySelector(`label[for="${CSS.escape(el.id)}"]`));
    };
    return {
        h1: [...document.querySelectorAll("h1")].map(h => h.textContent.trim()),
        unlabelled: [...document.querySelectorAll("input:not([type=hidden]), select, textarea")]
            .filter(el => !labelled(el)).map(el => el.outerHTML.slice(0, 160)),
    };
}"""

FOCUSED = """() => {
    const el = document.activeElement;
    if (!el || el === document.body) return null;
    const style = getComputedStyle(el);
    const repeat = Boolean(el.__tabbedTo);  // back to an element already reached: a full cycle
    el.__tabbedTo = true;
    return {
        repeat,
        key: el.tagName.toLowerCase() + "|" + (el.id || el.getAttribute("href") || "")
             + "|" + (el.textContent || "").trim().slice(0, 40),
        tag: el.tagName.toLowerCase(),
        outline: style.outlineStyle,
        width: parseFloat(style.outlineWidth) || 0,
    };
}"""


def _wait_for_run(page: Page) -> str:
    page.wait_for_url(re.compile(r"/console/sync/runs/\d+$"))
    expect(page.locator("h1 .badge")).not_to_have_text("running", timeout=RUN_TIMEOUT)
    return urlparse(page.url).path


@pytest.fixture(scope="module")
def pages(browser: Any, server: Any) -> dict[str, str]:
    """Console paths with something on them: members, a team, a finished and a held run, a log entry."""
    token, _ = server.tokens[SLUG]
    with scim_client(server.tenant_url, token) as idp:
        ids = {}
        for who, name in (("ann", "Ann Abbott"), ("ben", "Ben Bright"), ("cai", "Cai Chow")):
            r = idp.post(
                "/Users",
                json=entra_user(
                    f"{who}@a11y.test", name, department="Design", manager_id=ids.get("ann")
                ),
            )
            assert r.status_code == 201, r.text
            ids[who] = r.json()["id"]
        r = idp.post(
            "/Groups",
            json={"displayName": "Design Guild", "members": [{"value": v} for v in ids.values()]},
        )
        assert r.status_code == 201, r.text
        r = idp.post("/Users", json=entra_user("ann@a11y.test", "Ann Again", externalId="dup"))
        assert r.status_code == 409, r.text

    console = Console(browser, server, None)
    try:
        page = console.page
        console.sign_in(SLUG, ADMIN)
        console.goto("/console/sync")
        page.get_by_role("button", name="Synchronize").click()
        succeeded = _wait_for_run(page)

        console.goto("/console/sync/settings")
        page.fill("#hold_percent", "10")
        page.fill("#hold_minimum", "1")
        with page.expect_navigation():
            page.get_by_role("button", name="Save").click()
        with scim_client(server.tenant_url, token) as idp:
            r = idp.patch(
                f"/Users/{ids['cai']}",
                json=patch_ops({"op": "Replace", "path": "active", "value": "False"}),
            )
            assert r.status_code == 200, r.text
        console.goto("/console/sync")
        page.get_by_role("button", name="Synchronize").click()
        held = _wait_for_run(page)
        expect(page.locator("h1 .badge")).to_have_text("held")

        def first_link(path: str, name: str) -> str:
            console.goto(path)
            return page.get_by_role("link", name=name).first.get_attribute("href") or ""

        member = first_link("/console/members", "Ann Abbott")
        team = first_link("/console/teams", "Design Guild")
        console.goto("/console/log")
        deadline = time.monotonic() + 10
        while page.locator("tbody a").count() == 0:
            assert time.monotonic() < deadline, "the provisioning log stayed empty"
            time.sleep(0.2)
            page.reload()
        entry = page.locator("tbody tr").filter(has_text="409").locator("a").first
        log_entry = entry.get_attribute("href") or ""
    finally:
        console.close()
    return {
        "provisioning": "/console/provisioning",
        "sync": "/console/sync",
        "sync-runs": "/console/sync/runs",
        "sync-run": succeeded,
        "sync-run-held": held,
        "sync-settings": "/console/sync/settings",
        "drift": "/console/drift",
        "members": "/console/members",
        "member": member,
        "teams": "/console/teams",
        "team": team,
        "properties": "/console/properties",
        "mapping": "/console/mapping",
        "log": "/console/log",
        "log-entry": log_entry,
        "not-found": "/console/no-such-page",
    }


def check_page(console: Console, name: str) -> list[str]:
    """One <h1>, labelled fields, and an outline on everything Tab reaches: the problems."""
    page = console.page
    console.shot(name)
    problems = []
    facts = page.evaluate(PAGE_FACTS)
    if len(facts["h1"]) != 1:
        problems.append(f"{name}: {len(facts['h1'])} <h1> {facts['h1']}")
    problems += [f"{name}: no label for {html}" for html in facts["unlabelled"]]

    page.evaluate("() => { document.activeElement && document.activeElement.blur(); }")
    kinds: set[str] = set()
    for _ in range(120):
        page.keyboard.press("Tab")
        focused = page.evaluate(FOCUSED)
        if focused is None or focused["repeat"]:
            break
        kinds.add(focused["tag"])
        if focused["outline"] == "none" or focused["width"] <= 0:
            problems.append(f"{name}: no focus outline on {focused['key']}")
    if "a" not in kinds:
        problems.append(f"{name}: Tab reached no link ({sorted(kinds)})")
    return problems


@pytest.mark.slow
def test_every_page_has_a_heading_labels_and_a_visible_focus(pages, server, open_console):
    console = open_console()
    page = console.page
    page.goto(server.url("/console/login"))
    problems = check_page(console, "login")
    assert page.locator("button", has_text="Sign in").count() == 1
    console.sign_in(SLUG, ADMIN)

    for name, path in pages.items():
        response = console.goto(path)
        assert response.status == (404 if name == "not-found" else 200), (name, path)
        problems += check_page(console, name)

    # The page a new token is shown on (a form post's answer).
    console.goto("/console/provisioning")
    with page.expect_navigation():
        page.get_by_role("button", name="Generate new token").click()
    expect(page.locator("#secret-token")).to_be_visible()
    problems += check_page(console, "new-token")
    assert not problems, "\n".join(problems)


@pytest.mark.slow
def test_console_pages_fit_a_phone(pages, server, open_console):
    console = open_console()
    page = console.page
    console.sign_in(SLUG, ADMIN)
    page.set_viewport_size(PHONE)
    wide = {}
    for name, path in pages.items():
        if name == "provisioning":
            continue  # test_provisioning_page_fits_a_phone
        console.goto(path, shot=f"phone-{name}")
        width = page.evaluate("document.documentElement.scrollWidth")
        if width > PHONE["width"] + 1:
            wide[name] = width
    assert wide == {}, f"pages wider than a {PHONE['width']} px phone: {wide}"


def test_provisioning_page_fits_a_phone(pages, server, open_console):
    console = open_console()
    page = console.page
    console.sign_in(SLUG, ADMIN)
    page.set_viewport_size(PHONE)
    console.goto("/console/provisioning", shot="phone-provisioning")
    expect(page.locator("section[aria-labelledby=tok] tbody tr")).not_to_have_count(0)
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= PHONE["width"] + 1, f"{width} px wide on a {PHONE['width']} px phone"
