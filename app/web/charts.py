"""Small server-rendered charts (line and bar), accessible, crisp at any width and CSP-safe.

Why this shape: an SVG whose viewBox is scaled to the page scales its text with it — 12 "px" of a
600-wide drawing are 7 px on a phone and blurred everywhere else — and ``meet`` scaling left the
chart at half the card's width.  So the plot alone is SVG, stretched to the full width
(``preserveAspectRatio="none"``) with strokes that do not scale (``vector-effect``), and every label
is HTML text beside it, set in the page's own font by ``app.css``.  No script and no inline style:
colours and sizes come from classes (``chart-line``, ``chart-bar``…), geometry from SVG attributes.

Each plot is ``role="img"`` with a ``<title>`` and a ``<desc>`` that carries the numbers in words, so a
screen reader gets what the picture shows; the HTML labels are ``aria-hidden`` (the desc has them).
The last label on the x axis carries the last value, so the chart visibly agrees with the figure
shown beside it.
"""
from __future__ import annotations

import itertools
from collections.abc import Callable, Sequence

from markupsafe import Markup, escape

#: the drawing's own units; the plot is stretched to the card, so only the proportions matter
WIDTH, HEIGHT = 600, 200

_ids = itertools.count(1)


def _scale(values: Sequence[int]) -> tuple[int, int]:
    low, high = min(0, *values), max(0, *values)
    if low == high:
        high = low + 1
    return low, high


def _y(v: int, low: int, high: int) -> float:
    return HEIGHT - (v - low) * HEIGHT / (high - low)


def _figure(kind: str, title: str, desc: str, body: list[str], low: int, high: int,
            fmt: Callable[[int], str], first: str, last: str) -> Markup:
    uid = f"chart-{next(_ids)}"
    zero = _y(0, low, high)
    # the top and the bottom of the scale; a zero inside it (negative values) is the drawn zero line
    y_labels = [f'<span>{escape(fmt(high))}</span>', f'<span>{escape(fmt(low))}</span>']
    parts = [
        f'<figure class="chart chart--{kind}">',
        f'<div class="chart-y" aria-hidden="true">{"".join(y_labels)}</div>',
        f'<svg class="chart-plot" viewBox="0 0 {WIDTH} {HEIGHT}" preserveAspectRatio="none" role="img" '
        f'aria-labelledby="{uid}-t {uid}-d" xmlns="http://www.w3.org/2000/svg">',
        f'<title id="{uid}-t">{escape(title)}</title><desc id="{uid}-d">{escape(desc)}</desc>',
        f'<line x1="0" y1="0.5" x2="{WIDTH}" y2="0.5" class="chart-grid" vector-effect="non-scaling-stroke"/>',
        f'<line x1="0" y1="{zero:.1f}" x2="{WIDTH}" y2="{zero:.1f}" class="chart-zero" '
        f'vector-effect="non-scaling-stroke"/>',
        *body,
        "</svg>",
        f'<div class="chart-x" aria-hidden="true"><span>{escape(first)}</span><span>{escape(last)}</span></div>',
        "</figure>",
    ]
    return Markup("".join(parts))  # noqa: S704 - every text above is escaped; numbers are formatted here


def _x(i: int, n: int) -> float:
    return WIDTH * i / (n - 1) if n > 1 else WIDTH / 2


def line_chart(points: Sequence[tuple[str, int]], *, title: str, desc: str,
               fmt: Callable[[int], str] = str) -> Markup:
    """A line over ``(label, value)`` points in order, with the area under it shaded.

    The x axis names the first label and the last one with its value ("4 Dec · $133.45").
    """
    if not points:
        return Markup("")
    values = [v for _, v in points]
    low, high = _scale(values)
    n = len(points)
    coords = [(_x(i, n), _y(v, low, high)) for i, v in enumerate(values)]
    path = " ".join(f"{x:.1f},{y:.1f}" for x, y in coords)
    base = _y(0, low, high)
    area = f"{coords[0][0]:.1f},{base:.1f} {path} {coords[-1][0]:.1f},{base:.1f}"
    body = [f'<polygon class="chart-area" points="{area}"/>',
            f'<polyline class="chart-line" points="{path}" vector-effect="non-scaling-stroke"/>']
    # one full-height strip per point carries its tooltip (a dot would be stretched into an ellipse)
    slot = WIDTH / n
    body.extend(f'<rect class="chart-hit" x="{max(0.0, x - slot / 2):.1f}" y="0" width="{slot:.1f}" '
                f'height="{HEIGHT}"><title>{escape(label)}: {escape(fmt(v))}</title></rect>'
                for (x, _y_), (label, v) in zip(coords, points, strict=True))
    last_label, last_value = points[-1]
    return _figure("line", title, desc, body, low, high, fmt, points[0][0], f"{last_label} · {fmt(last_value)}")


def bar_chart(points: Sequence[tuple[str, int]], *, title: str, desc: str,
              fmt: Callable[[int], str] = str, classes: Sequence[str] | None = None) -> Markup:
    """One bar per ``(label, value)`` point; each bar carries its own tooltip title.

    ``classes`` (one per point) adds a CSS class to each bar, e.g. a colour per category.
    """
    if not points:
        return Markup("")
    values = [v for _, v in points]
    low, high = _scale(values)
    slot = WIDTH / len(points)
    width = max(1.0, slot * 0.7)
    body = []
    for i, (label, v) in enumerate(points):
        top, bottom = sorted((_y(v, low, high), _y(0, low, high)))
        x = i * slot + (slot - width) / 2
        extra = f" {escape(classes[i])}" if classes else ""
        body.append(f'<rect class="chart-bar{" chart-neg" if v < 0 else ""}{extra}" x="{x:.1f}" y="{top:.1f}" '
                    f'width="{width:.1f}" height="{max(bottom - top, 0.5):.1f}">'
                    f'<title>{escape(label)}: {escape(fmt(v))}</title></rect>')
    return _figure("bar", title, desc, body, low, high, fmt, points[0][0], points[-1][0])


def stacked_bar(parts: Sequence[tuple[str, int, str]], *, total: int, title: str, desc: str) -> Markup:
    """One slim horizontal bar split into ``(label, value, css class)`` parts of ``total`` (a progress meter)."""
    uid = f"chart-{next(_ids)}"
    height, x = 10, 0.0
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
