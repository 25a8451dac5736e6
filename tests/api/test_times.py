"""Every time /api/v1 answers with is ISO 8601 in UTC with a Z, on every GET it documents."""

from __future__ import annotations

import re
from typing import Any

from tests.helpers.sync import create_group, create_users, sync

ISO_Z = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z")
LOOKS_LIKE_TIME = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d")


def times_in(doc: Any) -> list[str]:
    """Every string in a JSON document that looks like a date and time."""
    if isinstance(doc, dict):
        return [t for v in doc.values() for t in times_in(v)]
    if isinstance(doc, list):
        return [t for v in doc for t in times_in(v)]
    return [doc] if isinstance(doc, str) and LOOKS_LIKE_TIME.match(doc) else []


def test_every_documented_get_writes_times_with_a_z(api, engine):
    users = create_users(api.scim, 3)
    create_group(api.scim, "Engineering", users)
    run = sync(engine, api.account_id)
    assert run.status == "succeeded"
    started = api.ok("POST", "/sync-runs", 202, json={"dry_run": False})
    ids = {
        "member_id": api.ok("GET", "/members")["data"][0]["id"],
        "team_id": api.ok("GET", "/teams")["data"][0]["id"],
        "run_id": run.run_id,
    }
    paths = api.ok("GET", "/openapi.json")["paths"]
    seen: list[str] = times_in(started)
    asked = 0
    for path, operations in paths.items():
        if "get" not in operations or path == "/openapi.json":
            continue
        names = re.findall(r"{(\w+)}", path)
        if any(name not in ids for name in names):
            continue  # e.g. a Property id: Properties carry no time
        r = api.get(path.format(**ids))
        assert r.status_code == 200, (path, r.text)
        seen += times_in(r.json())
        asked += 1
    assert asked >= 6 and len(seen) >= 10, (asked, seen)
    wrong = [t for t in seen if not ISO_Z.fullmatch(t)]
    assert not wrong, wrong
