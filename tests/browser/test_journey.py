"""The seed journey (../shared/docs/seed-azure-user-provisioning.txt) end to end, in a browser.

An admin activates user provisioning, copies the Tenant URL and Secret Token, "Entra ID"
(httpx, with Entra's request shapes) provisions users and a group, the admin reviews what
is available to synchronize, synchronizes, finds members and teams, sees a leaver
deactivated, a mass deactivation held for confirmation, maps a new attribute onto a
Property, and troubleshoots with the provisioning log.
"""

from __future__ import annotations

import re
import shutil
import time
import uuid
from typing import Any

import pytest
from playwright.sync_api import Page, expect

from tests.helpers.browser import (
    ENTERPRISE,
    PHONE,
    REPO,
    UPDATE_DOCS,
    Console,
    entra_user,
    patch_ops,
    scim_client,
)

pytestmark = [pytest.mark.browser, pytest.mark.process]

SLUG = "contoso"
ADMIN = "it-admin@contoso.test"
ACCOUNTS = {SLUG: [ADMIN], "heldco": ["admin@heldco.test"]}
ACTIVATED = ["heldco"]  # contoso is activated in the browser, as the journey goes
SECRET = "Pa55word-never-shown-7Q!"  # a "password" attribute the IdP sends: never kept
DEPARTMENT = f"{ENTERPRISE}:department"
ACCOUNT_EXTENSION = "urn:ietf:params:scim:schemas:extension:scimgate:2.0:User"
COST_CENTER = f"{ENTERPRISE}:costCenter"
RUN_TIMEOUT = 30_000

# who, display name, department, cost center (the manager comes first: the others report to her)
PEOPLE = [
    ("mia", "Mia Manager", "Engineering", "CC-100"),
    ("alice", "Alice Archer", "Engineering", "CC-100"),
    ("bob", "Bob Baker", "Sales", "CC-200"),
    ("carol", "Carol Chen", "Sales", "CC-200"),
    ("dave", "Dave Diaz", "Support", "CC-300"),
    ("erin", "Erin Evans", "Support", "CC-300"),
    ("frank", "Frank Fisher", "Support", "CC-300"),
]


def email(who: str) -> str:
    return f"{who}@contoso.test"


def count(page: Page, label: str) -> int:
    """A number from the counts list ("3 new", "1 to deactivate", ...)."""
    item = page.locator("ul.counts li").filter(
        has_text=re.compile(rf"^\s*\d+\s+{re.escape(label)}\s*$")
    )
    expect(item).to_have_count(1)
    return int(item.locator("strong").inner_text())


def preview_row(page: Page, who: str) -> Any:
    """The preview row of one user (labelled by email)."""
    return page.locator("table tbody tr").filter(
        has=page.locator("td[data-label=Who]", has_text=email(who))
    )


def synchronize(console: Console, shot: str) -> int:
    """Press Synchronize on /console/sync: the run's page; returns its id once it is settled."""
    page = console.page
    page.get_by_role("button", name="Synchronize").click()
    page.wait_for_url(re.compile(r"/console/sync/runs/\d+$"))
    run_id = int(page.url.rsplit("/", 1)[1])
    expect(page.locator("h1 .badge")).not_to_have_text("running", timeout=RUN_TIMEOUT)
    console.shot(shot)
    return run_id


def property_row(page: Page, name: str) -> Any:
    return (
        page.locator("section.card", has=page.get_by_role("heading", name="Properties"))
        .locator("tbody tr")
        .filter(has=page.locator("td[data-label=Property]", has_text=name))
    )


NAMES = {who: name for who, name, _department, _cost_center in PEOPLE}


def open_member(console: Console, who: str, shot: str) -> Page:
    """From Members, open one member's page."""
    page = console.page
    console.goto("/console/members")
    page.get_by_role("link", name=NAMES[who], exact=True).click()
    page.wait_for_url(re.compile(r"/console/members/[^/]+$"))
    expect(page.locator("h1")).to_contain_text(NAMES[who])
    console.shot(shot)
    return page


def reload_until(page: Page, locator: Any, text: str | None = None, timeout: float = 10) -> None:
    """The request log is written in the background: reload until `locator` (with `text`) shows."""
    deadline = time.monotonic() + timeout

    def shown() -> bool:
        if locator.count() == 0:
            return False
        return text is None or any(text in t for t in locator.all_inner_texts())

    while not shown():
        assert time.monotonic() < deadline, f"{locator} {text or ''} never appeared on {page.url}"
        time.sleep(0.2)
        page.reload()


def overflowing(page: Page) -> list[str]:
    """Visible elements reaching past the viewport's right edge, outside a scrolling table."""
    return page.evaluate(
        """() => [...document.querySelectorAll("body *")]
            .filter(e => !e.closest(".table-wrap"))
            .filter(e => e.getClientRects().length && e.getBoundingClientRect().right
                         > document.documentElement.clientWidth + 1)
            .map(e => e.tagName.toLowerCase() + "." + e.className)"""
    )


@pytest.mark.slow
def test_azure_user_provisioning_journey(server, open_console):
    console = open_console(timezone_id="Europe/Paris")
    page = console.page
    console.context.grant_permissions(["clipboard-read", "clipboard-write"], origin=server.base_url)

    # -- Settings → Security and Identity → User Provisioning ------------------------------
    console.sign_in(SLUG, ADMIN, shot="sign-in")
    assert page.url == server.url("/console/provisioning")
    expect(page.locator("h1")).to_have_text("User Provisioning")
    console.shot("provisioning-inactive")

    with page.expect_navigation() as nav:
        page.get_by_role("button", name="Activate user provisioning").click()
    assert nav.value.status == 200
    expect(page.locator("p.notice")).to_have_text("User provisioning is activated.")
    token = page.locator("#secret-token").input_value()
    tenant_url = page.locator("#tenant-url").input_value()
    assert tenant_url == server.tenant_url
    assert token.startswith("sgp_") and len(token) > 40
    activated = console.shot("provisioning-activated")
    if UPDATE_DOCS:
        shutil.copy(activated, REPO / "docs" / "console-provisioning.png")

    copy = page.locator("button.copy[data-copy=secret-token]")
    copy.click()
    expect(page.locator("p.copied")).to_have_text("Secret Token copied to the clipboard.")
    expect(copy).to_have_text("Copied")
    clipboard = page.evaluate("() => navigator.clipboard.readText().then(t => t, () => null)")
    if clipboard is not None:  # headless Chromium may keep no clipboard at all
        assert clipboard == token
    console.shot("provisioning-copied")

    # Post-redirect-get: a reload shows the token list, not the token, and issues none.
    page.reload()
    expect(page.locator("#secret-token")).to_have_count(0)
    expect(page.locator("p.notice")).to_contain_text("shown only on the page right after")
    expect(page.locator("form[action$='/revoke']")).to_have_count(1)
    assert token not in page.content() and token not in page.url
    # Times are shown in the viewer's zone (Paris, UTC+1 in December), UTC as the tooltip.
    created = page.locator("td[data-label=Created] time").first
    utc_text = created.get_attribute("title")
    assert utc_text.endswith(" UTC") and created.get_attribute("datetime").endswith("Z")
    local = created.inner_text()
    assert not local.endswith("UTC") and len(local) > len("2026-12-07 15:53:42 ")
    shift = (int(local[11:13]) - int(utc_text[11:13])) % 24
    assert shift in (1, 2), (local, utc_text)  # CET, or CEST if the clock says summer

    # -- Entra ID: Test Connection, then a provisioning cycle -------------------------------
    ids: dict[str, str] = {}
    with scim_client(tenant_url, token) as idp:
        probe = idp.get("/Users", params={"filter": f'userName eq "{uuid.uuid4()}"'})
        assert probe.status_code == 200, probe.text
        assert probe.json()["totalResults"] == 0 and probe.json()["Resources"] == []

        for who, name, department, cost_center in PEOPLE:
            external_id = f"oid-{who}"
            miss = idp.get("/Users", params={"filter": f'externalId eq "{external_id}"'})
            assert miss.status_code == 200 and miss.json()["totalResults"] == 0, miss.text
            extra: dict[str, Any] = {"password": SECRET} if who == "frank" else {}
            body = entra_user(
                email(who),
                name,
                department=department,
                manager_id=ids.get("mia"),
                cost_center=cost_center,
                title="VP Engineering" if who == "mia" else "Engineer",
                externalId=external_id,
                **extra,
            )
            created = idp.post("/Users", json=body)
            assert created.status_code == 201, created.text
            assert "password" not in created.json()
            ids[who] = created.json()["id"]

        miss = idp.get(
            "/Groups",
            params={"excludedAttributes": "members", "filter": 'externalId eq "oid-eng-team"'},
        )
        assert miss.status_code == 200 and miss.json()["totalResults"] == 0, miss.text
        group = idp.post(
            "/Groups",
            json={
                "schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"],
                "externalId": "oid-eng-team",
                "displayName": "Engineering Team",
                "meta": {"resourceType": "Group"},
            },
        )
        assert group.status_code == 201, group.text
        group_id = group.json()["id"]
        added = idp.patch(
            f"/Groups/{group_id}",
            json=patch_ops(
                {
                    "op": "Add",
                    "path": "members",
                    "value": [{"value": ids["mia"]}, {"value": ids["alice"]}],
                },
                {"op": "Add", "path": "members", "value": [{"value": ids["bob"]}]},
            ),
        )
        assert added.status_code in (200, 204), added.text

        # A mover: a new title (capitalised op with a path), and a path-less replace.
        moved = idp.patch(
            f"/Users/{ids['alice']}",
            json=patch_ops({"op": "Replace", "path": "title", "value": "Staff Engineer"}),
        )
        assert moved.status_code == 200 and moved.json()["title"] == "Staff Engineer", moved.text
        moved = idp.patch(
            f"/Users/{ids['bob']}",
            json=patch_ops({"op": "Replace", "value": {"title": "Account Executive"}}),
        )
        assert moved.status_code == 200 and moved.json()["title"] == "Account Executive", moved.text

    # -- Available to synchronize ----------------------------------------------------------
    console.goto("/console/provisioning")
    status = page.locator("section[aria-labelledby=conn] dl.facts")
    last = f"PATCH /scim/v2/Users/{ids['bob']}"
    reload_until(page, status, last)  # the request log is written a moment later
    expect(status).to_contain_text("Requests in the last 24 hours20")
    expect(status).to_contain_text("none")  # no error yet
    console.shot("provisioning-connected")

    console.goto("/console/sync")
    expect(page.locator("h1")).to_have_text("Available to synchronize")
    assert count(page, "new") == len(PEOPLE)
    assert count(page, "to deactivate") == 0
    assert count(page, "team changes") == 1
    assert count(page, "team membership changes") == 3
    alice = preview_row(page, "alice")
    expect(alice.locator("td[data-label=Change]")).to_have_text("create")
    fields = alice.locator("td[data-label=Fields]")
    expect(fields).to_contain_text("Department: — → Engineering")
    expect(fields).to_contain_text("Job title: — → Staff Engineer")
    # Mia is new in the same run: the plan names her by her userName.
    expect(fields).to_contain_text("Manager: — → mia@contoso.test")
    expect(preview_row(page, "bob").locator("td[data-label=Fields]")).to_contain_text(
        "Job title: — → Account Executive"
    )
    waiting = console.shot("sync-available")
    if UPDATE_DOCS:
        shutil.copy(waiting, REPO / "docs" / "console-synchronize.png")

    run_id = synchronize(console, "sync-run-first")
    expect(page.locator("h1 .badge")).to_have_text("succeeded")
    assert count(page, "created") == len(PEOPLE)
    assert count(page, "errors") == 0
    expect(page.locator("tbody")).to_contain_text(email("alice"))

    console.goto("/console/sync/runs", shot="sync-history")
    expect(page.get_by_role("link", name=f"Run {run_id}")).to_be_visible()

    # -- Members and Teams ---------------------------------------------------------------------
    console.goto("/console/members", shot="members")
    expect(page.locator("main")).to_contain_text(f"{len(PEOPLE)} members")
    for who, name, _department, _cc in PEOPLE:
        row = page.locator("tbody tr").filter(has=page.get_by_role("link", name=name, exact=True))
        expect(row.locator("td[data-label=Email]")).to_have_text(email(who))
        expect(row.locator("td[data-label=Status]")).to_have_text("active")

    open_member(console, "alice", "member-alice")
    department = property_row(page, "Department")
    expect(department.locator("td[data-label=Value]")).to_have_text("Engineering")
    # The default mapping, then (not sent here) the Property's own attribute in the
    # account extension, which an IdP may map to instead.
    expect(department.locator("td[data-label='Comes from']")).to_have_text(
        f"SCIM {DEPARTMENT} || {ACCOUNT_EXTENSION}:department"
    )
    expect(property_row(page, "Manager").locator("td[data-label=Value]")).to_have_text(email("mia"))
    expect(property_row(page, "Job title").locator("td[data-label=Value]")).to_have_text(
        "Staff Engineer"
    )
    expect(page.locator("main")).to_contain_text("Engineering Team")

    console.goto("/console/teams", shot="teams")
    team_row = page.locator("tbody tr").filter(
        has=page.get_by_role("link", name="Engineering Team")
    )
    expect(team_row.locator("td[data-label=Members]")).to_have_text("3")
    team_row.get_by_role("link", name="Engineering Team").click()
    page.wait_for_url(re.compile(r"/console/teams/[^/]+$"))
    expect(page.locator("h1")).to_have_text("Engineering Team")
    for who in ("mia", "alice", "bob"):
        expect(page.locator("tbody")).to_contain_text(email(who))
    expect(page.locator("tbody")).not_to_contain_text(email("carol"))
    console.shot("team")

    # -- A leaver: deactivated in the IdP, then in the product ------------------------------
    with scim_client(tenant_url, token) as idp:
        r = idp.patch(
            f"/Users/{ids['dave']}",
            json=patch_ops({"op": "Replace", "path": "active", "value": "False"}),
        )
        assert r.status_code == 200 and r.json()["active"] is False, r.text

    console.goto("/console/sync")
    assert count(page, "to deactivate") == 1
    assert count(page, "new") == 0
    dave = preview_row(page, "dave")
    expect(dave.locator("td[data-label=Change]")).to_have_text("deactivate")
    expect(dave.locator("td[data-label=Fields]")).to_contain_text("Status: active → deactivated")
    console.shot("sync-leaver")
    synchronize(console, "sync-run-leaver")
    expect(page.locator("h1 .badge")).to_have_text("succeeded")
    assert count(page, "deactivated") == 1

    open_member(console, "dave", "member-dave-deactivated")
    expect(page.locator("h1 .badge")).to_have_text("deactivated")

    # -- A mass deactivation is held until confirmed ----------------------------------------
    console.goto("/console/sync/settings", shot="sync-settings")
    page.fill("#hold_percent", "10")
    page.fill("#hold_minimum", "1")
    with page.expect_navigation() as nav:
        page.get_by_role("button", name="Save").click()
    assert nav.value.status == 200
    expect(page.locator("p.notice")).to_have_text("Daily sync settings saved.")
    expect(page.locator("#hold_percent")).to_have_value("10")
    expect(page.locator("#hold_minimum")).to_have_value("1")
    console.shot("sync-settings-saved")

    with scim_client(tenant_url, token) as idp:
        for who in ("erin", "frank"):
            r = idp.patch(
                f"/Users/{ids[who]}",
                json=patch_ops({"op": "Replace", "path": "active", "value": "False"}),
            )
            assert r.status_code == 200 and r.json()["active"] is False, r.text

    console.goto("/console/sync")
    assert count(page, "to deactivate") == 2
    expect(page.locator("p.warn")).to_contain_text("more members than the safety threshold")
    console.shot("sync-would-hold")
    held_id = synchronize(console, "sync-run-held")
    expect(page.locator("h1 .badge")).to_have_text("held")
    facts = page.locator("dl.facts")
    expect(facts).to_contain_text("Why it is held")
    expect(facts).to_contain_text("would deactivate 2 of 6 active provisioned members")
    expect(page.get_by_role("heading", name="Planned deactivations")).to_be_visible()
    planned = page.locator("tbody")
    for who in ("erin", "frank"):
        expect(planned).to_contain_text(email(who))
    expect(planned).not_to_contain_text(email("alice"))
    # Nothing was applied yet.
    open_member(console, "erin", "member-erin-before-confirm")
    expect(page.locator("h1 .badge")).to_have_text("active")

    console.goto("/console/sync")
    expect(page.locator("#held")).to_have_text("A synchronization is waiting for your confirmation")
    console.shot("sync-held-banner")
    page.get_by_role("link", name=f"Review run {held_id}").click()
    page.wait_for_url(server.url(f"/console/sync/runs/{held_id}"))
    console.shot("sync-run-held-review")
    dialogs: list[str] = []

    def accept(dialog: Any) -> None:
        dialogs.append(dialog.message)
        dialog.accept()

    page.on("dialog", accept)
    csrf = console.csrf_token()
    page.get_by_role("button", name="Confirm and synchronize").click()
    page.wait_for_url(re.compile(r"/console/sync/runs/\d+$"))
    expect(page.locator("h1 .badge")).to_have_text("succeeded", timeout=RUN_TIMEOUT)
    page.remove_listener("dialog", accept)
    assert dialogs == ["Deactivate 2 members now?"]
    assert page.url == server.url(f"/console/sync/runs/{held_id}"), "the held run itself is applied"
    assert count(page, "deactivated") == 2
    expect(page.locator("dl.facts")).not_to_contain_text("Why it is held")
    console.shot("sync-run-confirmed")
    console.goto("/console/sync", shot="sync-after-confirm")
    expect(page.locator("#held")).to_have_count(0)
    assert count(page, "to deactivate") == 0
    expect(page.locator("p.warn")).to_have_count(0)
    # Confirming it again (a second click, the back button) changes nothing, and says why.
    response = console.post_form(f"/console/sync/runs/{held_id}/confirm", {"csrf_token": csrf})
    assert response.status == 400
    expect(page.locator("p.error-text")).to_contain_text("not held")
    console.shot("sync-run-confirmed-twice")
    open_member(console, "erin", "member-erin-after-confirm")
    expect(page.locator("h1 .badge")).to_have_text("deactivated")

    # -- Attribute Mapping: a new Property from any SCIM attribute ---------------------------
    console.goto("/console/properties", shot="properties")
    page.fill("#name", "Cost center")
    page.select_option("#type", "text")
    with page.expect_navigation():
        page.get_by_role("button", name="Create Property").click()
    expect(page.locator("p.notice")).to_contain_text("Property 'Cost center' created")
    expect(page.locator("tbody")).to_contain_text("Cost center")
    console.shot("properties-created")

    console.goto("/console/mapping", shot="mapping")
    page.select_option("#target", "Cost center")
    page.fill("#source", COST_CENTER)
    with page.expect_navigation():
        page.get_by_role("button", name="Preview").click()
    preview = page.locator("section[aria-labelledby=preview-h]")
    expect(preview).to_contain_text("CC-100")
    expect(preview.locator("thead")).to_contain_text("Cost center")
    console.shot("mapping-preview")
    with page.expect_navigation():
        page.get_by_role("button", name="Save mapping").click()
    expect(page.locator("p.notice")).to_contain_text(f"Cost center now comes from {COST_CENTER}")
    expect(page.locator("table").first).to_contain_text(COST_CENTER)
    console.shot("mapping-saved")

    console.goto("/console/sync")
    assert count(page, "changed") >= 1
    expect(preview_row(page, "alice").locator("td[data-label=Fields]")).to_contain_text(
        "Cost center: — → CC-100"
    )
    console.shot("sync-mapping-change")
    synchronize(console, "sync-run-mapping")
    expect(page.locator("h1 .badge")).to_have_text("succeeded")
    open_member(console, "alice", "member-alice-cost-center")
    cost = property_row(page, "Cost center")
    expect(cost.locator("td[data-label=Value]")).to_have_text("CC-100")
    expect(cost.locator("td[data-label='Comes from']")).to_have_text(
        f"SCIM {COST_CENTER} || {ACCOUNT_EXTENSION}:costCenter"
    )

    # -- Troubleshooting: the provisioning log -------------------------------------------
    with scim_client(tenant_url, token) as idp:
        duplicate = entra_user(
            email("alice"), "Alice Again", externalId="oid-alice-2", password=SECRET
        )
        r = idp.post("/Users", json=duplicate)
        assert r.status_code == 409, r.text
        assert r.json().get("scimType") == "uniqueness"

    console.goto("/console/log")
    conflict = page.locator("tbody tr").filter(has_text="409")
    reload_until(page, conflict)
    console.shot("log")
    assert SECRET not in page.content()
    page.select_option("#status", "4xx")
    with page.expect_navigation():
        page.get_by_role("button", name="Filter").click()
    assert "status=4xx" in page.url
    statuses = page.locator("tbody td[data-label=Status]").all_inner_texts()
    assert statuses and all(s.startswith("4") for s in statuses), statuses
    console.shot("log-4xx")
    page.locator("tbody tr").filter(has_text="409").get_by_role("link").first.click()
    page.wait_for_url(re.compile(r"/console/log/\d+$"))
    expect(page.locator("h1")).to_have_text("POST /scim/v2/Users")
    expect(page.locator("dl.facts")).to_contain_text("409 (uniqueness)")
    hint = page.locator("p.hint")
    expect(hint).to_contain_text("What to do:")
    expect(hint).to_contain_text("objectId → externalId")
    request_body = page.locator("h2:has-text('Request body') + pre")
    expect(request_body).to_contain_text('"password": "[redacted]"')
    expect(request_body).to_contain_text(email("alice"))
    assert SECRET not in page.content()
    console.shot("log-entry-409")

    # The accepted create with a password: redacted too, and noted as ignored.
    console.goto("/console/log?method=POST&status=2xx")
    frank = page.locator("tbody tr").filter(has_text="password")
    expect(frank).to_have_count(1)
    frank.get_by_role("link").click()
    page.wait_for_url(re.compile(r"/console/log/\d+$"))
    expect(page.locator("h2:has-text('Request body') + pre")).to_contain_text(
        '"password": "[redacted]"'
    )
    expect(page.locator("dl.facts")).to_contain_text("password")
    assert SECRET not in page.content()
    console.shot("log-entry-201-password")

    # -- On a phone -------------------------------------------------------------------------
    page.set_viewport_size(PHONE)
    console.goto("/console/provisioning")
    expect(page.locator("details.menu")).not_to_have_attribute("open", "")  # folded on a phone
    console.shot("provisioning-phone")
    assert overflowing(page) == [], "content wider than the phone outside a scrolling table"
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"] + 1


@pytest.mark.slow
def test_available_page_forgets_a_plan_once_its_held_run_is_confirmed(server, open_console):
    """The page caches its dry-run plan; confirming a held run (which keeps its run id) must
    still make it plan again (found by the journey; fixed in a268bc6)."""
    token, _ = server.tokens["heldco"]
    ids = {}
    with scim_client(server.tenant_url, token) as idp:
        for who in ("ada", "bo", "cy"):
            r = idp.post("/Users", json=entra_user(f"{who}@heldco.test", f"{who.title()} Held"))
            assert r.status_code == 201, r.text
            ids[who] = r.json()["id"]
    console = open_console()
    page = console.page
    console.sign_in("heldco", "admin@heldco.test")
    console.goto("/console/sync")
    synchronize(console, "first-run")
    console.goto("/console/sync/settings")
    page.fill("#hold_percent", "10")
    page.fill("#hold_minimum", "1")
    with page.expect_navigation():
        page.get_by_role("button", name="Save").click()
    with scim_client(server.tenant_url, token) as idp:
        r = idp.patch(
            f"/Users/{ids['cy']}",
            json=patch_ops({"op": "Replace", "path": "active", "value": "False"}),
        )
        assert r.status_code == 200, r.text
    console.goto("/console/sync")
    held_id = synchronize(console, "held-run")
    expect(page.locator("h1 .badge")).to_have_text("held")

    console.goto("/console/sync", shot="pending-before-confirm")  # the plan the page keeps
    assert count(page, "to deactivate") == 1
    console.goto(f"/console/sync/runs/{held_id}")
    page.on("dialog", lambda d: d.accept())
    page.get_by_role("button", name="Confirm and synchronize").click()
    expect(page.locator("h1 .badge")).to_have_text("succeeded", timeout=RUN_TIMEOUT)
    assert count(page, "deactivated") == 1

    console.goto("/console/sync", shot="after-confirm")
    expect(page.locator("#held")).to_have_count(0)
    assert count(page, "to deactivate") == 0, "the confirmed deactivation is still offered"
    expect(page.locator("p.warn")).to_have_count(0)
