"""Small server-rendered SVG charts: no script, no CDN, readable by screen readers.

Each chart is an `<svg role="img">` with a title and a description, drawn in a 380-wide
viewBox that scales to the card (a 390 px phone included), coloured by classes in
console.css (the CSP allows no inline styles), and comes with its numbers as table rows
for the page to show under it.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from markupsafe import Markup, escape

WIDTH, HEIGHT = 380, 180
LEFT, RIGHT, TOP, BOTTOM = 40, 8, 10, 26  # margins around the plot, for the axis labels
MAX_LABELS = 6  # x-axis labels at most, whatever the number of bars


@dataclass(frozen=True)
class Series:
    """One stacked part of each bar (or the one line), with its CSS class."""

    name: str
    values: Sequence[float]
    css: str


@dataclass(frozen=True)
class Chart:
    """An SVG and the same numbers as a table (header, then one row per label)."""

    svg: Markup
    header: tuple[str, ...]
    rows: list[tuple[str, ...]]

    @property
    def empty(self) -> bool:
        return not self.rows


def nice_ceiling(value: float) -> float:
    """The axis top: the next 1, 2 or 5 times a power of ten at or above `value`."""
    if value <= 0:
        return 1
    power = 10 ** math.floor(math.log10(value))
    for step in (1, 2, 5, 10):
        if value <= step * power:
            return step * power
    return 10 * power  # pragma: no cover - the loop always returns


def _number(value: float) -> str:
    return f"{value:g}" if value < 1e6 else f"{value:,.0f}"


def _frame(
    chart_id: str, title: str, description: str, top: float, unit: str, integers: bool = False
) -> list[str]:
    """The svg element, its title and description, and the y axis with three gridlines
    (the middle one unlabelled when it would be a fraction of a count)."""
    parts = [
        (
            f'<svg class="chart" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" '
            f'aria-labelledby="{chart_id}-title {chart_id}-desc">'
        ),
        f'<title id="{chart_id}-title">{escape(title)}</title>',
        f'<desc id="{chart_id}-desc">{escape(description)}</desc>',
    ]
    plot_h = HEIGHT - TOP - BOTTOM
    for fraction in (0, 0.5, 1):
        y = TOP + plot_h * (1 - fraction)
        parts.append(
            f'<line class="grid" x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{y:.1f}" y2="{y:.1f}"/>'
        )
        if integers and (top * fraction) % 1:
            continue
        label = _number(top * fraction) + (f" {unit}" if unit and fraction == 1 else "")
        parts.append(
            f'<text class="axis" x="{LEFT - 4}" y="{y + 4:.1f}" text-anchor="end">'
            f"{escape(label)}</text>"
        )
    return parts


def _x_labels(labels: Sequence[str], step: float, offset: float) -> list[str]:
    """The x-axis labels: the non-empty ones when the caller chose (blank elsewhere), else
    at most MAX_LABELS, evenly spread, the last one included."""
    n = len(labels)
    if "" in labels:
        shown = [i for i, label in enumerate(labels) if label]
    else:
        shown = list(range(n - 1, -1, -max(1, math.ceil(n / MAX_LABELS))))
    parts = []
    for i in shown:
        x = LEFT + step * i + offset
        anchor = "end" if i == n - 1 and n > 1 else "start" if i == 0 and n > 1 else "middle"
        parts.append(
            f'<text class="axis" x="{x:.1f}" y="{HEIGHT - 8}" text-anchor="{anchor}">'
            f"{escape(labels[i])}</text>"
        )
    return parts


def bar_chart(
    chart_id: str,
    *,
    title: str,
    description: str,
    labels: Sequence[str],
    series: Sequence[Series],
    unit: str = "",
    row_header: str = "",
    row_labels: Sequence[str] | None = None,
) -> Chart:
    """Stacked bars, one per label (series drawn bottom up), with a table of the numbers."""
    n = len(labels)
    totals = [sum(s.values[i] for s in series) for i in range(n)]
    top = nice_ceiling(max(totals, default=0))
    integers = all(float(v).is_integer() for v in totals)
    parts = _frame(chart_id, title, description, top, unit, integers)
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    step = plot_w / max(n, 1)
    gap = 1 if step > 3 else 0
    for i in range(n):
        base = 0.0
        for s in series:
            value = s.values[i]
            if value <= 0:
                continue
            h = plot_h * value / top
            y = TOP + plot_h * (1 - (base + value) / top)
            parts.append(
                f'<rect class="{s.css}" x="{LEFT + step * i + gap / 2:.2f}" y="{y:.2f}" '
                f'width="{max(step - gap, 0.5):.2f}" height="{h:.2f}"/>'
            )
            base += value
    parts += _x_labels(labels, step, step / 2)
    parts.append("</svg>")
    names = row_labels or labels
    rows = [(names[i], *(_number(s.values[i]) for s in series)) for i in range(n)]
    return Chart(Markup("".join(parts)), (row_header, *(s.name for s in series)), rows)


def line_chart(
    chart_id: str,
    *,
    title: str,
    description: str,
    labels: Sequence[str],
    line: Series,
    unit: str = "",
    row_header: str = "",
    row_labels: Sequence[str] | None = None,
) -> Chart:
    """One line through the values, a dot on each, with a table of the numbers."""
    n = len(labels)
    top = nice_ceiling(max(line.values, default=0))
    integers = all(float(v).is_integer() for v in line.values)
    parts = _frame(chart_id, title, description, top, unit, integers)
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    step = plot_w / max(n - 1, 1)
    points = [
        (LEFT + step * i if n > 1 else LEFT + plot_w / 2, TOP + plot_h * (1 - v / top))
        for i, v in enumerate(line.values)
    ]
    if len(points) > 1:
        path = " ".join(f"{x:.2f},{y:.2f}" for x, y in points)
        parts.append(f'<polyline class="{line.css}" fill="none" points="{path}"/>')
    parts += [
        f'<circle class="{line.css} dot" cx="{x:.2f}" cy="{y:.2f}" r="2.5"/>' for x, y in points
    ]
    parts += _x_labels(labels, step, 0) if n > 1 else _x_labels(labels, 0, plot_w / 2)
    parts.append("</svg>")
    names = row_labels or labels
    rows = [(names[i], _number(line.values[i])) for i in range(n)]
    return Chart(Markup("".join(parts)), (row_header, line.name), rows)
