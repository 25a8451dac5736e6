"""An id or cursor too large for any database integer is a 400 (or a 404), never a 500:
every path parameter and every cursor-like query parameter of /api/v1, tried at once."""

from __future__ import annotations

import re

from tests.helpers.webhooks import add_endpoint

HUGE = "99999999999999999999"  # > 2**64: OverflowError in the SQLite driver if it got there
CURSORS = {"cursor", "after", "since", "before", "after_id", "id"}


def _operations(doc):
    for path, ops in doc["paths"].items():
        for method, op in ops.items():
            params = op.get("parameters", [])
            names = [p["name"] for p in params if p["in"] == "query" and p["name"] in CURSORS]
            yield path, method, names


def test_huge_ids_and_cursors_are_refused_not_a_500(make_api, engine):
    api = make_api("a")
    # A cursor is tried on a real resource, so the path's id does not refuse it first.
    real = {"endpoint_id": str(add_endpoint(engine, api.slug, "http://127.0.0.1:9/r")["id"])}
    doc = api.http.get("/api/v1/openapi.json").json()
    tried = 0
    for path, method, cursors in _operations(doc):
        huge = re.sub(r"\{[^}]+\}", HUGE, path)
        valid = re.sub(r"\{([^}]+)\}", lambda m: real.get(m.group(1), "1"), path)
        asks = [(huge, {})] if huge != path else []
        asks += [(valid, {name: HUGE}) for name in cursors]
        for url, params in asks:
            body = {} if method in ("post", "patch", "put") else None
            r = api.request(method.upper(), url, params=params, json=body)
            assert r.status_code in (400, 404), (method, url, params, r.status_code, r.text)
            tried += 1
    assert tried >= 15  # the routes with ids and the paged lists, not a vacuous loop
