"""Small server-rendered SVG charts (line and bar), accessible and CSP-safe.

No script and no inline style: colours and strokes come from classes in
``app.css`` (``chart-line``, ``chart-bar``…) and geometry from SVG attributes.
Each chart is ``role="img"`` with a ``<title>`` and a ``<desc>`` that carries
the numbers in words, so a screen reader gets what the picture shows.
"""
from __future__ import annotations

import itertools
from collections.abc import Callable, Sequence

from markupsafe import Markup, escape

WIDTH, HEIGHT = 600, 220
PAD_LEFT, PAD_RIGHT, PAD_TOP, PAD_BOTTOM = 64, 12, 12, 28

_ids = itertools.count(1)


def _scale(values: Sequence[int]) -> tuple[int, int]:
    low, high = min(0, *values), max(0, *values)
    if low == high:
        high = low + 1
    return low, high


def _frame(kind: str, title: str, desc: str, body: list[str], low: int, high: int,
           fmt: Callable[[int], str], first: str, last: str) -> Markup:
    uid = f"chart-{next(_ids)}"
    plot_h = HEIGHT - PAD_TOP - PAD_BOTTOM

    def y(v: int) -> float:
        return PAD_TOP + plot_h - (v - low) * plot_h / (high - low)

    parts = [
        f'<svg class="chart chart-{kind}" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" '
        f'aria-labelledby="{uid}-t {uid}-d" preserveAspectRatio="xMidYMid meet" xmlns="http://www.w3.org/2000/svg">',
        f'<title id="{uid}-t">{escape(title)}</title><desc id="{uid}-d">{escape(desc)}</desc>',
        f'<g class="chart-axis" aria-hidden="true">'
        f'<line x1="{PAD_LEFT}" y1="{y(high):.1f}" x2="{WIDTH - PAD_RIGHT}" y2="{y(high):.1f}" class="chart-grid"/>'
        f'<line x1="{PAD_LEFT}" y1="{y(0):.1f}" x2="{WIDTH - PAD_RIGHT}" y2="{y(0):.1f}" class="chart-zero"/>'
        f'<text x="{PAD_LEFT - 6}" y="{y(high) + 4:.1f}" text-anchor="end">{escape(fmt(high))}</text>'
        f'<text x="{PAD_LEFT - 6}" y="{y(0) + 4:.1f}" text-anchor="end">{escape(fmt(0))}</text>',
    ]
    if low < 0:
        parts.append(f'<text x="{PAD_LEFT - 6}" y="{y(low) + 4:.1f}" text-anchor="end">{escape(fmt(low))}</text>')
    parts.append(f'<text x="{PAD_LEFT}" y="{HEIGHT - 8}">{escape(first)}</text>'
                 f'<text x="{WIDTH - PAD_RIGHT}" y="{HEIGHT - 8}" text-anchor="end">{escape(last)}</text></g>')
    parts.extend(body)
    parts.append("</svg>")
    return Markup("".join(parts))  # noqa: S704 - every text above is escaped; numbers are formatted here


def _x(i: int, n: int) -> float:
    plot_w = WIDTH - PAD_LEFT - PAD_RIGHT
    return PAD_LEFT + (plot_w * i / (n - 1) if n > 1 else plot_w / 2)


def line_chart(points: Sequence[tuple[str, int]], *, title: str, desc: str,
               fmt: Callable[[int], str] = str) -> Markup:
    """A line over ``(label, value)`` points in order, with the area under it shaded."""
    if not points:
        return Markup("")
    values = [v for _, v in points]
    low, high = _scale(values)
    plot_h = HEIGHT - PAD_TOP - PAD_BOTTOM
    n = len(points)
    coords = [(_x(i, n), PAD_TOP + plot_h - (v - low) * plot_h / (high - low)) for i, v in enumerate(values)]
    path = " ".join(f"{x:.1f},{y:.1f}" for x, y in coords)
    base = PAD_TOP + plot_h - (0 - low) * plot_h / (high - low)
    area = f"{coords[0][0]:.1f},{base:.1f} {path} {coords[-1][0]:.1f},{base:.1f}"
    body = [f'<polygon class="chart-area" points="{area}"/>', f'<polyline class="chart-line" points="{path}"/>']
    body.extend(f'<circle class="chart-dot" cx="{x:.1f}" cy="{y:.1f}" r="3"><title>{escape(label)}: '
                f'{escape(fmt(v))}</title></circle>'
                for (x, y), (label, v) in zip(coords, points, strict=True))
    return _frame("line", title, desc, body, low, high, fmt, points[0][0], points[-1][0])


def bar_chart(points: Sequence[tuple[str, int]], *, title: str, desc: str,
              fmt: Callable[[int], str] = str, classes: Sequence[str] | None = None) -> Markup:
    """One bar per ``(label, value)`` point; each bar carries its own tooltip title.

    ``classes`` (one per point) adds a CSS class to each bar, e.g. a colour per category.
    """
    if not points:
        return Markup("")
    values = [v for _, v in points]
    low, high = _scale(values)
    plot_w, plot_h = WIDTH - PAD_LEFT - PAD_RIGHT, HEIGHT - PAD_TOP - PAD_BOTTOM
    slot = plot_w / len(points)
    width = max(1.0, slot * 0.7)

    def y(v: int) -> float:
        return PAD_TOP + plot_h - (v - low) * plot_h / (high - low)

    body = []
    for i, (label, v) in enumerate(points):
        top, bottom = sorted((y(v), y(0)))
        x = PAD_LEFT + i * slot + (slot - width) / 2
        extra = f" {escape(classes[i])}" if classes else ""
        body.append(f'<rect class="chart-bar{" chart-neg" if v < 0 else ""}{extra}" x="{x:.1f}" y="{top:.1f}" '
                    f'width="{width:.1f}" height="{max(bottom - top, 0.5):.1f}">'
                    f'<title>{escape(label)}: {escape(fmt(v))}</title></rect>')
    return _frame("bar", title, desc, body, low, high, fmt, points[0][0], points[-1][0])


def stacked_bar(parts: Sequence[tuple[str, int, str]], *, total: int, title: str, desc: str) -> Markup:
    """One horizontal bar split into ``(label, value, css class)`` parts of ``total`` (a progress meter)."""
    uid = f"chart-{next(_ids)}"
    height, x = 18, 0.0
    body = []
    for label, value, css in parts:
        if value <= 0 or total <= 0:
            continue
        width = 100.0 * min(value, total) / total
        body.append(f'<rect class="{escape(css)}" x="{x:.2f}" y="0" width="{width:.2f}" height="{height}">'
                    f'<title>{escape(label)}</title></rect>')
        x += width
    return Markup(  # noqa: S704 - texts escaped, numbers formatted here
        f'<svg class="chart chart-stacked" viewBox="0 0 100 {height}" preserveAspectRatio="none" role="img" '
        f'aria-labelledby="{uid}-t {uid}-d" xmlns="http://www.w3.org/2000/svg">'
        f'<title id="{uid}-t">{escape(title)}</title><desc id="{uid}-d">{escape(desc)}</desc>'
        f'<rect class="part-track" x="0" y="0" width="100" height="{height}"/>{"".join(body)}</svg>'
    )
