"""The provisioning log: what the identity provider sent, what it got, and what to do."""

from __future__ import annotations

from scimgate.provisioning import request_log
from scimgate.web.console.endpoint import MAX_ID, Ctx, Page
from scimgate.web.console.hints import hint_for
from scimgate.web.paging import keyset_page

PAGE_SIZE = 50
METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE")


def entries(ctx: Ctx) -> Page:
    """Newest first, filtered by status class, method and path."""
    status = ctx.arg("status")
    method = ctx.arg("method").upper()
    path = ctx.arg("path")[:200]
    status_class = int(status[0]) if status in ("2xx", "3xx", "4xx", "5xx") else None
    try:
        before = int(ctx.arg("before")) if ctx.arg("before") else None
    except ValueError:
        before = None
    if before is not None and not 0 <= before <= MAX_ID:  # beyond any id: from the newest
        before = None
    rows = request_log.list_entries(
        ctx.conn,
        ctx.account_id,
        status_class=status_class,
        method=method if method in METHODS else None,
        path=path or None,
        before=before,
        limit=PAGE_SIZE + 1,
    )
    rows, next_key = keyset_page(rows, PAGE_SIZE)
    for row in rows:
        row["hint"] = hint_for(row)
    return Page(
        "log.html",
        {
            "rows": rows,
            "next_before": next_key,
            "filters": {
                "status": status if status_class else "",
                "method": method if method in METHODS else "",
                "path": path,
            },
            "methods": METHODS,
            "first_page": before is None,
        },
    )


def entry(ctx: Ctx) -> Page:
    """One request: redacted bodies, outcome, what was ignored, and a hint."""
    found = request_log.get_entry(ctx.conn, ctx.account_id, ctx.path["entry_id"])
    found["hint"] = hint_for(found)
    return Page("log_entry.html", {"e": found})
