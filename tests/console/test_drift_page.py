"""The console's Drift page: counts per section, people by name and e-mail (never a bare
id), a section's own pages, the nav and Synchronize links, and one account's data only."""

from __future__ import annotations

import html
import re

from scimgate.drift.cache import ReportCache
from scimgate.members import service as members
from scimgate.store import property_values
from scimgate.store.database import utcnow
from scimgate.web.console import drift_views
from tests.helpers.console import stage, synchronize
from tests.helpers.sync import member_docs, property_id

UUID = re.compile(r">\s*[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\s*<")


def drifted(console, engine):
    """One staged user never synchronized, a lone manual member and a hand-edited title."""
    stage(console, "ann@example.com", displayName="Ann Lee", title="Engineer")
    synchronize(console)
    stage(console, "bob@example.com", displayName="Bob Stone")
    ann = member_docs(engine, console.account_id)["ann@example.com"]["id"]
    with engine.begin() as conn:
        members.add_member(conn, console.account_id, "solo@example.com", name="Solo Manual")
        property_values.set_value(
            conn,
            console.account_id,
            ann,
            property_id(engine, console.account_id, "Job title"),
            "CEO",
            source="scim",
            now=utcnow(),
        )


def test_the_page_counts_each_section_and_names_people(make_console, engine):
    console = make_console()
    drifted(console, engine)
    r = console.get("/drift")
    assert r.status_code == 200, r.text
    page = html.unescape(r.text)
    for count, title in (
        (1, "staged users never synchronized"),
        (1, "manual members with no identity-provider counterpart"),
        (1, "provisioned members changed by hand"),
        (2, "properties the mapping never fills"),
    ):
        assert re.search(rf"<strong>{count}</strong> {re.escape(title)}</a>", page), title
    assert "Bob Stone (bob@example.com)" in page and "waiting for the next run" in page
    assert "Solo Manual" in page and "solo@example.com" in page
    assert re.search(r"Job title</td><td[^>]*>CEO</td><td[^>]*>Engineer</td>", page)
    assert "no staged user has a value at" in page
    assert not UUID.search(page)  # ids only in links
    assert 'href="/console/drift" aria-current="page">Drift</a>' in page


def test_the_synchronize_page_links_to_it(make_console):
    console = make_console()
    page = console.get("/sync").text
    assert 'href="/console/drift">Drift</a>: what Synchronize leaves as it is' in page


def test_a_section_pages_two_hundred_at_a_time(make_console, engine):
    console = make_console()
    with engine.begin() as conn:
        for i in range(205):
            members.add_member(conn, console.account_id, f"m{i:03d}@example.com")
    overview = console.get("/drift").text
    assert "Show all 205" in overview
    first = console.get("/drift?section=manual")
    assert first.status_code == 200 and first.text.count("@example.com</td>") == 200
    assert "looked through" not in first.text  # a full page
    after = re.search(r'href="([^"]*after=[^"]+)">Next page', first.text).group(1)
    second = console.get(html.unescape(after).removeprefix("/console"))
    assert second.text.count("@example.com</td>") == 5 and "Next page" not in second.text
    assert console.get("/drift?section=nothing").status_code == 400
    assert console.get("/drift?section=manual&after=bogus").status_code == 400


def test_hand_edits_are_paged_by_the_members_looked_at(make_console, engine, monkeypatch):
    """A page of hand edits looks at SCAN members at most (here one): a page can be empty
    and still have a Next page; walking them all shows each edit once."""
    monkeypatch.setattr(drift_views, "PAGE_SIZE", 1)
    monkeypatch.setattr(drift_views, "SCAN", 1)
    console = make_console()
    for name in ("ann", "bob", "cyd"):
        stage(console, f"{name}@example.com", title="Engineer")
    synchronize(console)
    ann = member_docs(engine, console.account_id)["ann@example.com"]["id"]
    with engine.begin() as conn:
        property_values.set_value(
            conn,
            console.account_id,
            ann,
            property_id(engine, console.account_id, "Job title"),
            "CEO",
            source="scim",
            now=utcnow(),
        )
    path, texts = "/drift?section=edited", []
    while path:
        r = console.get(path)
        assert r.status_code == 200, r.text
        texts.append(html.unescape(r.text))
        found = re.search(r'href="([^"]*after=[^"]+)">Next page', r.text)
        path = html.unescape(found.group(1)).removeprefix("/console") if found else ""
    assert len(texts) == 4  # one member a page, and the empty page after the last
    assert sum(t.count(">CEO</td>") for t in texts) == 1
    assert any("looked through 1 provisioned members: none of them" in t for t in texts)
    assert "No provisioned member was changed by hand" not in "".join(texts[1:])


def test_another_accounts_drift_never_shows(make_console, engine):
    mine, theirs = make_console("mine"), make_console("theirs")
    drifted(theirs, engine)
    page = mine.get("/drift").text
    assert "solo@example.com" not in page and "Bob Stone" not in page
    assert "<strong>0</strong> manual members" in page


def test_a_second_page_of_the_accounts_drift_at_once_is_a_503_page(make_console, engine):
    console = make_console()
    gate = ReportCache.shared(engine).gate
    gate.wait = 0.05
    with gate.slot(console.account_id):  # another page of this account is being read
        r = console.get("/drift?section=edited")
    assert r.status_code == 503 and r.headers["Retry-After"] == "2"
    assert "Another drift page of this account" in html.unescape(r.text)
    assert console.get("/drift?section=edited").status_code == 200
