"""A run's page: its items 50 at a time with next and previous, filtered by what happened
and by person, the filters kept in the URL; people named as an admin knows them."""

from __future__ import annotations

import re

from tests.helpers.console import stage, synchronize
from tests.helpers.sync import ENT


def rows(page: str) -> list[str]:
    body = page.split('<table class="responsive run-items">', 1)[1].split("</table>", 1)[0]
    return re.findall(r'<td data-label="#">(\d+)</td>', body)


def test_a_run_page_pages_and_filters_its_items(make_console):
    """Regression: a run page rendered every item at once (a 12,000-px page), could only
    toggle errors, and named the user of an error by the email it could not have."""
    console = make_console()
    for i in range(120):
        stage(console, f"user{i:03d}@acme.example")
    stage(console, "alias@acme.example", emails=[{"type": "work", "value": "user007@acme.example"}])
    page, location = synchronize(console)
    path = location.removeprefix("/console")
    first = page.text
    assert len(rows(first)) == 50 and rows(first)[0] == "1"
    assert "Items 1–50 of 121 (page 1 of 3)." in first
    assert f'href="{location}?page=2" rel="next"' in first and 'rel="prev"' not in first

    last = console.get(f"{path}?page=3").text
    assert rows(last) == [str(n) for n in range(101, 122)]
    assert 'rel="next"' not in last and f'href="{location}?page=2" rel="prev"' in last
    assert rows(console.get(f"{path}?page=99").text) == rows(last)  # past the end: the last

    errors = console.get(f"{path}?show=error").text
    assert len(rows(errors)) == 1 and "Items 1–1 of 1 matching." in errors
    # whichever of the two sorts first keeps the email; the other is named by display
    # name (userName), and so is the one who has it
    people = ["Barbara Jensen (alias@acme.example)", "Barbara Jensen (user007@acme.example)"]
    used = "the e-mail user007@acme.example is already used by directory user"
    assert any(
        f'<td data-label="Who">{loser}' in errors and f"{used} {winner}" in errors
        for loser, winner in (people, people[::-1])
    ), errors
    assert '<option value="error" selected>Errors</option>' in errors

    found = console.get(f"{path}?show=created&q=USER01").text
    assert len(rows(found)) == 10 and "Items 1–10 of 10 matching." in found
    assert 'value="USER01"' in found
    many = console.get(f"{path}?show=created&q=user").text
    assert "of 120 matching (page 1 of 3)" in many
    assert f'href="{location}?show=created&amp;q=user&amp;page=2" rel="next"' in many
    assert "No item matches." in console.get(f"{path}?q=nobody").text
    # an unknown filter is no filter
    assert "Items 1–50 of 121 (page 1 of 3)." in console.get(f"{path}?show=sideways").text


def test_the_mapping_preview_names_people_not_directory_ids(make_console):
    """Regression: the preview showed the manager as a directory UUID and each user by
    userName only."""
    console = make_console()
    boss = stage(console, "boss@acme.example", displayName="Grace Hopper")
    stage(
        console, "ann@acme.example", displayName="Ann Abbott", **{ENT: {"manager": {"value": boss}}}
    )
    stage(
        console,
        "cyd@acme.example",
        displayName="Cyd Charisse",
        **{ENT: {"manager": {"value": "gone"}}},
    )
    preview = console.post(
        "/mapping", {"target": "Manager", "source": f"{ENT}:manager", "action": "preview"}
    ).text
    assert preview.count('<td data-label="Manager">Grace Hopper (boss@acme.example)</td>') == 1
    assert '<td data-label="Manager">gone (not staged)</td>' in preview
    assert '<td data-label="User">Ann Abbott (ann@acme.example)</td>' in preview
    assert boss not in preview


def test_the_plan_says_why_a_manager_is_left_empty(make_console):
    """A report whose manager is not and will not be a member: the preview says the
    Manager stays empty and why (no "(new member …)" the run would not make)."""
    console = make_console()
    boss = stage(console, "boss@acme.example", displayName="Grace Hopper", active=False)
    stage(
        console, "ann@acme.example", displayName="Ann Abbott", **{ENT: {"manager": {"value": boss}}}
    )
    page = console.get("/sync").text
    assert "<strong>1</strong> new" in page
    assert (
        '<div class="note">Manager left empty: Grace Hopper (boss@acme.example) is not a member '
        "(inactive in the identity provider)</div>" in page
    )
    assert "new member" not in page
