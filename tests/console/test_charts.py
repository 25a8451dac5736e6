"""Charts: the SVG module on its own, the services that feed it, and the pages that show them."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import insert

from scimgate.provisioning import activity
from scimgate.store.tables.operations import request_log
from scimgate.sync import history
from scimgate.web.console.charts import HEIGHT, TOP, Series, bar_chart, line_chart, nice_ceiling
from tests.helpers.console import stage, synchronize

SVG = "{http://www.w3.org/2000/svg}"


def parse(svg: str) -> ET.Element:
    return ET.fromstring(str(svg).replace("<svg ", '<svg xmlns="http://www.w3.org/2000/svg" ', 1))


@pytest.mark.parametrize(
    "value, top", [(0, 1), (1, 1), (3, 5), (7, 10), (10, 10), (11, 20), (0.4, 0.5), (1234, 2000)]
)
def test_the_axis_top_is_a_round_number(value, top):
    assert nice_ceiling(value) == top


def test_stacked_bars_are_proportional_titled_and_described():
    chart = bar_chart(
        "c1",
        title="Requests <per> hour",
        description="Two hours & some",
        labels=["10:00", "11:00"],
        series=[Series("Answered", [3, 8], "answered"), Series("Refused", [1, 2], "refused")],
        row_header="Hour (UTC)",
    )
    root = parse(chart.svg)
    assert root.get("role") == "img" and root.get("aria-labelledby") == "c1-title c1-desc"
    assert root.find(f"{SVG}title").text == "Requests <per> hour"  # escaped in the markup
    assert "&lt;per&gt;" in chart.svg and "&amp; some" in chart.svg
    assert root.find(f"{SVG}desc").get("id") == "c1-desc"
    rects = root.findall(f"{SVG}rect")
    assert [r.get("class") for r in rects] == ["answered", "refused", "answered", "refused"]
    heights = [float(r.get("height")) for r in rects]
    assert heights[2] == pytest.approx(heights[0] * 8 / 3)  # axis top 10: 8 vs 3
    plot = HEIGHT - TOP - 26
    assert heights[2] + heights[3] == pytest.approx(plot)  # 10 of 10
    assert chart.header == ("Hour (UTC)", "Answered", "Refused")
    assert chart.rows == [("10:00", "3", "1"), ("11:00", "8", "2")]
    assert "style=" not in chart.svg  # the CSP allows no inline style


def test_chosen_labels_only_and_at_most_six_otherwise():
    chosen = bar_chart(
        "c2",
        title="t",
        description="d",
        labels=["00:00", "", "", "03:00", ""],
        series=[Series("n", [1, 2, 3, 4, 5], "answered")],
    )
    texts = [t.text for t in parse(chosen.svg).findall(f"{SVG}text")]
    assert texts == ["0", "5", "00:00", "03:00"]  # y: 0 and the top (2.5 is no count)
    many = bar_chart(
        "c3",
        title="t",
        description="d",
        labels=[str(i) for i in range(168)],
        series=[Series("n", [1] * 168, "answered")],
    )
    x_labels = [t for t in parse(many.svg).findall(f"{SVG}text") if t.get("y") == str(HEIGHT - 8)]
    assert len(x_labels) <= 6 and x_labels[0].text == "167"
    assert len(parse(many.svg).findall(f"{SVG}rect")) == 168


def test_a_line_with_a_dot_per_value_and_an_empty_chart():
    chart = line_chart(
        "m",
        title="Members",
        description="d",
        labels=["1", "2", "3"],
        line=Series("Members", [3, 5, 4], "members"),
    )
    root = parse(chart.svg)
    assert len(root.findall(f"{SVG}circle")) == 3 and root.find(f"{SVG}polyline") is not None
    assert chart.rows == [("1", "3"), ("2", "5"), ("3", "4")]
    one = line_chart(
        "o", title="t", description="d", labels=["7"], line=Series("M", [2], "members")
    )
    assert len(parse(one.svg).findall(f"{SVG}circle")) == 1
    empty = bar_chart("e", title="t", description="d", labels=[], series=[Series("n", [], "x")])
    assert empty.empty and parse(empty.svg).findall(f"{SVG}rect") == []


def _log(conn, account_id, at, method, path, status):
    conn.execute(
        insert(request_log).values(
            account_id=account_id,
            at=at,
            method=method,
            path=path,
            query="",
            status=status,
            duration_ms=1,
        )
    )


def test_requests_per_hour_fills_empty_hours_and_skips_expected_404s(make_console, engine):
    console = make_console()
    now = datetime(2026, 12, 7, 15, 20, tzinfo=UTC)
    with engine.begin() as conn:
        for minutes, method, path, status in [
            (30, "GET", "/scim/v2/Users", 200),
            (25, "DELETE", "/scim/v2/Users/a", 204),
            (24, "GET", "/scim/v2/Users/a", 404),  # expected: not refused
            (23, "GET", "/scim/v2/Users/b", 404),  # refused
            (3 * 60, "POST", "/scim/v2/Users", 201),
            (30 * 60, "POST", "/scim/v2/Users", 409),  # before the last 24 hours
        ]:
            _log(conn, console.account_id, now - timedelta(minutes=minutes), method, path, status)
        hours = activity.requests_per_hour(conn, console.account_id, hours=24, now=now)
        week = activity.requests_per_hour(conn, console.account_id, hours=168, now=now)
    assert len(hours) == 24 and hours[-1].hour == datetime(2026, 12, 7, 15, tzinfo=UTC)
    assert [(h.requests, h.refused) for h in hours if h.requests] == [(1, 0), (4, 1)]
    assert [h.hour.hour for h in hours if h.requests] == [12, 14]
    assert sum(h.requests for h in week) == 6 and sum(h.refused for h in week) == 2


def test_members_over_time_are_worked_back_from_today(make_console, engine):
    console = make_console()
    for email in ("ann@acme.example", "bob@acme.example"):
        stage(console, email)
    synchronize(console)
    stage(console, "cyd@acme.example")
    synchronize(console)
    with engine.begin() as conn:
        points = history.run_points(conn, console.account_id)
    assert [p.members for p in points] == [2, 3]
    assert all(p.seconds is not None and p.seconds >= 0 for p in points)


def test_the_pages_show_charts_with_their_numbers(make_console, app):
    console = make_console()
    assert 'id="traffic"' not in console.get("/provisioning").text  # no request yet
    assert "members-chart" not in console.get("/sync/runs").text  # no run yet
    stage(console, "ann@acme.example")
    synchronize(console)
    app.state.request_log.flush()
    page = console.get("/provisioning").text
    assert '<svg class="chart"' in page and '<title id="requests-chart-title">' in page
    assert "Requests per hour as a table" in page
    assert re.search(r'<th scope="row">\d{4}-\d\d-\d\d \d\d:00</th><td>1</td><td>0</td>', page)
    assert 'href="/console/provisioning?range=7d#traffic"' in page
    week = console.get("/provisioning?range=7d").text
    assert "Requests per hour, the last 7 days" in week
    assert "the last 24 hours" in console.get("/provisioning?range=nonsense").text
    runs = console.get("/sync/runs").text
    assert "members-chart" in runs and "durations-chart" in runs
    assert "Active provisioned members after each run as a table" in runs
    assert re.search(r"<th scope=\"row\">Run \d+, [^<]+ UTC</th><td>1</td>", runs)
