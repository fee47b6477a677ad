"""A line chart drawn on the server as SVG geometry (no script, nothing inline for the CSP to refuse).

The template draws the ``<polyline>``s; this module only maps integer values (cents)
onto the drawing box.  Missing values (None) break a line.  The drawing is stretched to the
card's width (``preserveAspectRatio="none"``), so the scale's labels are HTML beside it
(``top``/``bottom``), never SVG text that would be stretched with it (see app.web.charts).
"""
from __future__ import annotations

from dataclasses import dataclass

#: PAD keeps the extremes' strokes inside the box; the labels sit at its edges, a pad's width away
WIDTH, HEIGHT, PAD = 640, 200, 4


@dataclass(frozen=True)
class Line:
    label: str
    css_class: str
    #: one "x,y x,y …" string per unbroken stretch
    segments: list[str]


@dataclass(frozen=True)
class Chart:
    width: int
    height: int
    lines: list[Line]
    #: (y, value) of the horizontal guide lines: the top, zero and the bottom
    guides: list[tuple[int, int]]
    empty: bool
    #: the values at the top and the bottom of the scale (the labels beside the plot)
    top: int = 0
    bottom: int = 0


def line_chart(series: list[tuple[str, str, list[int | None]]], *, width: int = WIDTH, height: int = HEIGHT) -> Chart:
    """``series`` is ``[(label, css class, values)]``, all the same length (one value per x)."""
    values = [v for _, _, vs in series for v in vs if v is not None]
    if not values:
        return Chart(width, height, [], [], True)
    top, bottom = max(max(values), 0), min(min(values), 0)
    span = (top - bottom) or 1
    count = max(len(vs) for _, _, vs in series)
    gaps = max(count - 1, 1)

    def y_of(v: int) -> int:
        return PAD + (top - v) * (height - 2 * PAD) // span  # integers only: these are cents

    lines = []
    for label, css, vs in series:
        segments, current = [], []
        for i, v in enumerate(vs):
            if v is None:
                if current:
                    segments.append(" ".join(current))
                current = []
                continue
            current.append(f"{i * width // gaps},{y_of(v)}")
        if current:
            segments.append(" ".join(current))
        lines.append(Line(label, css, segments))
    guides = sorted({(y_of(top), top), (y_of(0), 0), (y_of(bottom), bottom)})
    return Chart(width, height, lines, guides, False, top, bottom)
