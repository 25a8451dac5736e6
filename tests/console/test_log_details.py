"""The provisioning log's details: real durations, hints about the right thing, and the
404 an identity provider expects after a DELETE not counted as a problem."""

from __future__ import annotations

import html
import re
from types import SimpleNamespace

from scimgate.scim.account_extension import NOT_A_PROPERTY
from scimgate.web import scim_endpoint
from scimgate.web.console.hints import hint_for
from tests.helpers.console import stage

PATCH = "urn:ietf:params:scim:api:messages:2.0:PatchOp"


def test_a_request_under_a_millisecond_is_not_logged_as_0_ms(make_console, app, monkeypatch):
    """int() cut 0.6 ms to 0: every lookup read "0 ms". Rounded, and 0 reads "< 1 ms"."""
    console = make_console()
    clock = iter([100.0, 100.0006, 200.0, 200.0003, 300.0, 300.0421])
    monkeypatch.setattr(scim_endpoint, "time", SimpleNamespace(perf_counter=lambda: next(clock)))
    for _ in range(3):
        assert console.scim("GET", '/Users?filter=userName eq "x"').status_code == 200
    monkeypatch.undo()
    app.state.request_log.flush()
    page = console.get("/log").text
    times = re.findall(r'<td data-label="Time">([^<]*)</td>', page)
    assert times == ["42 ms", "&lt; 1 ms", "1 ms"], times
    first = re.findall(r'href="/console/log/(\d+)"', page)[-1]
    assert "<dd>1 ms</dd>" in console.get(f"/log/{first}").text


def test_the_get_after_a_delete_is_expected_not_an_error(make_console, app):
    """Entra checks that a deleted user is gone with a GET: its 404 gets no hint, is not
    the connection's last error, and is not counted as refused."""
    console = make_console()
    ann = stage(console, "ann@acme.example")
    assert console.scim("GET", "/Users/nobody-here").status_code == 404  # a real miss
    assert console.scim("DELETE", f"/Users/{ann}").status_code == 204
    assert console.scim("GET", f"/Users/{ann}").status_code == 404  # the expected check
    app.state.request_log.flush()
    status = console.get("/provisioning").text
    assert "<dd>4 (1 refused)</dd>" in status
    assert "GET /scim/v2/Users/nobody-here" in status.split("Last error")[1]
    log = console.get("/log").text
    assert log.count("(expected: a check that what was deleted is gone)") == 1
    newest = re.findall(r'href="/console/log/(\d+)"', log)[0]
    entry = console.get(f"/log/{newest}").text
    assert "Nothing to do" in entry and "What to do" not in entry
    miss = re.findall(r'href="/console/log/(\d+)"', log)[2]
    assert "no longer here" in console.get(f"/log/{miss}").text  # a real 404 keeps its hint


def test_a_get_404_on_another_accounts_deleted_path_is_still_a_miss(make_console, app):
    """What counts as deleted is the account's own DELETE of that path."""
    a, b = make_console(), make_console()
    ann = stage(a, "ann@acme.example")
    assert a.scim("DELETE", f"/Users/{ann}").status_code == 204
    assert b.scim("GET", f"/Users/{ann}").status_code == 404
    app.state.request_log.flush()
    assert "<dd>1 (1 refused)</dd>" in b.get("/provisioning").text
    assert "(expected:" not in b.get("/log").text


def test_invalid_path_hint_is_about_the_path_not_read_only_attributes(make_console, app):
    console = make_console()
    ann = stage(console, "ann@acme.example")
    r = console.scim(
        "PATCH",
        f"/Users/{ann}",
        json={
            "schemas": [PATCH],
            "Operations": [{"op": "replace", "path": "emails[type eq", "value": "x"}],
        },
    )
    assert r.status_code == 400 and r.json()["scimType"] == "invalidPath", r.text
    app.state.request_log.flush()
    newest = re.findall(r'href="/console/log/(\d+)"', console.get("/log").text)[0]
    page = console.get(f"/log/{newest}").text
    hint = re.search(r"What to do:</strong> ([^<]*)", page).group(1)
    assert "path" in hint and "read-only" not in hint and "cannot be changed" not in hint


def test_hints_by_scim_type():
    path_hint = hint_for({"status": 400, "scim_type": "invalidPath", "method": "PATCH"})
    assert "path" in path_hint and "read-only" not in path_hint
    assert "cannot be changed" in hint_for({"status": 400, "scim_type": "mutability"})
    assert "remove without a path" in hint_for({"status": 400, "scim_type": "noTarget"})
    gone = {"status": 404, "method": "GET", "path": "/scim/v2/Users/1"}
    assert "no longer here" in hint_for(gone)
    assert hint_for({**gone, "expected": True}) is None


def test_an_attribute_that_is_not_a_property_is_shown_with_a_hint(make_console, app):
    ext = "urn:ietf:params:scim:schemas:extension:scimgate:2.0:User"
    console = make_console()
    ann = stage(console, "ann@acme.example")
    r = console.scim(
        "PATCH",
        f"/Users/{ann}",
        json={
            "schemas": [PATCH],
            "Operations": [{"op": "Replace", "value": {f"{ext}:costCentre": "CC-1"}}],
        },
    )
    assert r.status_code == 200, r.text
    app.state.request_log.flush()
    newest = re.findall(r'href="/console/log/(\d+)"', console.get("/log").text)[0]
    page = html.unescape(console.get(f"/log/{newest}").text)
    assert f"{ext}:costCentre {NOT_A_PROPERTY}" in page
    hint = re.search(r"What to do:</strong> ([^<]*)", page).group(1)
    assert "not a Property of this account" in hint and "attribute mapping" in hint
    assert hint_for({"status": 200, "method": "PATCH", "ignored": '["password"]'}) is None
