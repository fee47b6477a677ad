"""A line chart drawn on the server as SVG geometry (no script, nothing inline for the CSP to refuse).

The template draws the ``<polyline>``s and labels; this module only maps
integer values (cents) onto the drawing box.  Missing values (None) break a line.
"""
from __future__ import annotations

from dataclasses import dataclass

WIDTH, HEIGHT, PAD = 640, 200, 28


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
            current.append(f"{PAD + i * (width - 2 * PAD) // gaps},{y_of(v)}")
        if current:
            segments.append(" ".join(current))
        lines.append(Line(label, css, segments))
    guides = sorted({(y_of(top), top), (y_of(0), 0), (y_of(bottom), bottom)})
    return Chart(width, height, lines, guides, False)
