"""Drift: where the members and the identity provider disagree (docs/console.md)."""

from __future__ import annotations

from typing import Any

from scimgate.drift import report
from scimgate.web.console.endpoint import Ctx, Page

PAGE_SIZE = 200  # rows of one section's own pages
SCAN = report.PAGE_SCAN  # rows a page looks at, at most: Next page goes on from there
FIRST = 20  # rows of each section on the report itself
TITLES = {
    "unsynced": "Staged users never synchronized",
    "manual": "Manual members with no identity-provider counterpart",
    "edited": "Provisioned members changed by hand",
    "unfilled": "Properties the mapping never fills",
}


def drift(ctx: Ctx) -> Page:
    """Every section's count and first rows; `?section=` pages through one of them."""
    section = ctx.arg("section")
    context: dict[str, Any] = {"titles": TITLES, "section": None}
    if section:
        report.check_section(section)
        after = ctx.request.query_params.get("after", "")[:64] or None
        with ctx.shared["drift"].gate.slot(ctx.account_id):  # one page per account at once
            rows, next_after = report.section_page(
                ctx.conn, ctx.account_id, section, cursor=after, limit=PAGE_SIZE, scan=SCAN
            )
        context.update(
            section=section,
            rows=rows,
            next_after=next_after,
            first_page=after is None,
            cut=next_after is not None and len(rows) < PAGE_SIZE,  # stopped by SCAN
            scan=f"{SCAN:,}",
        )
        return Page("drift.html", context)
    # Computed on its own thread (a large account takes seconds): "checking…" meanwhile.
    snapshot = ctx.shared["drift"].get(ctx.account_id, fresh=ctx.arg("fresh") == "1")
    context["checking"] = snapshot is None
    if snapshot is not None:
        context.update(report=snapshot.first(FIRST), at=snapshot.at)
    return Page("drift.html", context)
