"""The console's charts: requests per hour (User Provisioning) and sync history.

Numbers come from services (provisioning.activity, sync.history); this module only
words and draws them (web/console/charts.py). Hours are UTC, and say so.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from sqlalchemy import Connection

from scimgate.provisioning import activity
from scimgate.sync import history
from scimgate.web.console.charts import Chart, Series, bar_chart, line_chart

RANGE_NAMES = {"24h": "the last 24 hours", "7d": "the last 7 days"}


def requests_per_hour(conn: Connection, account_id: int, span: str) -> dict[str, Any]:
    """The provisioning page's chart of requests and refusals per hour, over `span`."""
    span = span if span in activity.RANGES else "24h"
    hours = activity.requests_per_hour(conn, account_id, hours=activity.RANGES[span])
    total = sum(h.requests for h in hours)
    refused = sum(h.refused for h in hours)
    busiest = max(hours, key=lambda h: h.requests)
    if span == "24h":
        labels = [f"{h.hour:%H}:00" if h.hour.hour % 6 == 0 else "" for h in hours]
    else:
        labels = [f"{h.hour:%b} {h.hour.day}" if h.hour.hour == 0 else "" for h in hours]
    description = (
        f"Requests from the identity provider per hour (UTC), {RANGE_NAMES[span]}: "
        f"{total} in all, {refused} refused."
    )
    if total:
        description += (
            f" The busiest hour began {busiest.hour:%Y-%m-%d %H}:00 UTC with {busiest.requests}."
        )
    chart = bar_chart(
        "requests-chart",
        title=f"Requests per hour, {RANGE_NAMES[span]}",
        description=description,
        labels=labels,
        series=[
            Series("Answered", [h.requests - h.refused for h in hours], "answered"),
            Series("Refused", [h.refused for h in hours], "refused"),
        ],
        row_header="Hour (UTC)",
        row_labels=[f"{h.hour:%Y-%m-%d %H}:00" for h in hours],
    )
    # The table lists the hours that had requests; the description gives the totals.
    chart = replace(chart, rows=[r for r in chart.rows if r[1:] != ("0", "0")])
    return {"chart": chart, "span": span, "spans": RANGE_NAMES, "total": total}


def sync_history(conn: Connection, account_id: int) -> dict[str, Chart] | None:
    """Members after each finished run and how long each took; None before any run."""
    points = history.run_points(conn, account_id, limit=30)
    if not points:
        return None
    labels = [f"{p.run_id}" for p in points]
    names = [f"Run {p.run_id}, {p.started_at:%Y-%m-%d %H:%M} UTC" for p in points]
    first, last = points[0], points[-1]
    members = line_chart(
        "members-chart",
        title="Active provisioned members after each run",
        description=(
            f"Over the last {len(points)} finished runs, from run {first.run_id} to run "
            f"{last.run_id}: {first.members} to {last.members} members, at most "
            f"{max(p.members for p in points)}."
        ),
        labels=labels,
        line=Series("Members", [p.members for p in points], "members"),
        row_header="Run",
        row_labels=names,
    )
    seconds = [round(p.seconds or 0, 2) for p in points]
    longest = max(range(len(points)), key=lambda i: seconds[i])
    durations = bar_chart(
        "durations-chart",
        title="How long each run took",
        description=(
            f"Durations of the last {len(points)} finished runs in seconds; the longest "
            f"was run {points[longest].run_id} with {seconds[longest]:g} s."
        ),
        labels=labels,
        series=[Series("Seconds", seconds, "duration")],
        unit="s",
        row_header="Run",
        row_labels=names,
    )
    return {"members": members, "durations": durations}
