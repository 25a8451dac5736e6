"""Console: the event retention on the integrations page (dead letters: tests/webhooks)."""

from __future__ import annotations


def test_retention_is_shown_changed_audited_and_checked(make_console):
    console, other = make_console(), make_console()
    page = console.get("/integrations").text
    assert 'id="retention_days"' in page and 'value="90"' in page
    r = console.post(
        "/integrations/events/retention", {"retention_days": "30"}, page="/integrations"
    )
    assert r.status_code == 303 and r.headers["location"].endswith("done=retention")
    page = console.get(r.headers["location"].removeprefix("/console")).text
    assert 'value="30"' in page and "The event retention is saved" in page
    assert "event_retention.changed" in console.get("/audit").text
    for bad in ("0", "abc", "", "99999"):
        r = console.post(
            "/integrations/events/retention", {"retention_days": bad}, page="/integrations"
        )
        assert r.status_code == 400 and 'id="retention_days-error"' in r.text, bad
    assert 'value="30"' in console.get("/integrations").text
    assert 'value="90"' in other.get("/integrations").text
