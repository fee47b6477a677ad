"""Geometry of small server-rendered SVG charts (no script: the CSP allows none inline).

Functions return plain shapes; the templates in ``templates/_macros/charts.html``
draw them.  Integer arithmetic only, so a chart of money never rounds through float.
"""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Bar:
    x: int
    y: int
    width: int
    height: int
    #: the text under the bar (may be empty to thin out labels)
    label: str
    #: the tooltip: label and value in words
    title: str
    css: str = ""


@dataclass(frozen=True)
class BarChart:
    width: int
    height: int
    #: the plot's baseline (y of zero)
    base: int
    bars: list[Bar]
    #: the largest value, for the axis note
    peak: int

    @property
    def empty(self) -> bool:
        return self.peak == 0


def bar_chart(points: list[tuple[str, int, str]], *, width: int = 720, height: int = 180,
              label_every: int = 1, css: list[str] | None = None) -> BarChart:
    """Vertical bars for ``(label, value, tooltip)`` points; values are non-negative integers."""
    top, bottom = 8, 22
    plot = height - top - bottom
    peak = max((value for _label, value, _title in points), default=0)
    slot = width // max(len(points), 1)
    gap = max(slot // 6, 1)
    bars = []
    for i, (label, value, title) in enumerate(points):
        h = value * plot // peak if peak else 0
        if value and h < 2:
            h = 2  # a non-zero value stays visible
        bars.append(Bar(
            x=i * slot + gap // 2, y=top + plot - h, width=slot - gap, height=h,
            label=label if i % label_every == 0 else "", title=title,
            css=(css[i] if css else ""),
        ))
    return BarChart(width=width, height=height, base=top + plot, bars=bars, peak=peak)
