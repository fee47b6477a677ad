"""The chart helpers: accessible, escaped, no inline style, crisp at any width, sane with odd data."""
import re

from app.web.charts import bar_chart, line_chart, stacked_bar
from app.web.svg_lines import line_chart as lines_chart


def _plot(figure: str) -> str:
    return re.search(r"<svg.*?</svg>", figure, re.S).group(0)


def test_charts_are_accessible_and_escape_text():
    """Do the charts carry role, title and desc, escape every text, and avoid inline styles?"""
    points = [("1 <b>", 100), ("2", -50), ("3", 300)]
    for chart in (line_chart(points, title="T <script>", desc="D & more"),
                  bar_chart(points, title="T <script>", desc="D & more")):
        html = str(chart)
        assert html.startswith('<figure class="chart') and 'role="img"' in html and "aria-labelledby" in html
        assert "<title" in html and "<desc" in html and "T &lt;script&gt;" in html and "D &amp; more" in html
        assert "<script" not in html and "<b>" not in html and "style=" not in html
    bar = str(bar_chart(points, title="t", desc="d"))
    assert bar.count('<rect class="chart-bar') == 3 and "chart-neg" in bar


def test_charts_are_crisp_and_full_width():
    """Is the plot stretched to the card with unscaled strokes, and every label HTML text outside the SVG?

    Text inside a scaled viewBox shrinks with it (7 px on a phone) and smears; 'meet' left half the card empty;
    a kind class on the <svg> itself (chart-line) stroked every label."""
    for chart in (line_chart([("1 Dec", 5), ("2 Dec", 7)], title="t", desc="d"),
                  bar_chart([("a", 5), ("b", 7)], title="t", desc="d")):
        html = str(chart)
        plot = _plot(html)
        assert 'preserveAspectRatio="none"' in plot and "<text" not in plot
        assert 'class="chart-plot"' in plot and "chart-line\"" not in plot.split(">", 1)[0]
        assert 'class="chart-y" aria-hidden="true"' in html and 'class="chart-x" aria-hidden="true"' in html
    line = _plot(str(line_chart([("1 Dec", 5), ("2 Dec", 7)], title="t", desc="d")))
    assert re.search(r'<polyline class="chart-line"[^>]*vector-effect="non-scaling-stroke"', line)
    assert "<circle" not in line  # a dot in a stretched plot is an ellipse; tooltips ride on full-height strips
    assert line.count('<rect class="chart-hit"') == 2


def test_the_line_chart_ends_on_its_last_value():
    """Does the x axis name the last point with its value, so the chart visibly agrees with the figure shown?"""
    html = str(line_chart([("3 Dec", 100), ("4 Dec", 13345)], title="t", desc="d", fmt=lambda v: f"${v / 100:.2f}"))
    assert '<span>3 Dec</span><span>4 Dec · $133.45</span>' in html
    assert "<span>$133.45</span>" in html and "<span>$0.00</span>" in html  # the scale: top and bottom
    # the last point of the line is at the top of the plot: the highest value is the last one
    points = re.search(r'<polyline class="chart-line" points="([^"]+)"', html).group(1).split()
    assert points[-1] == "600.0,0.0"


def test_charts_with_no_or_flat_data():
    """Do empty, single-point and all-zero series render without dividing by zero?"""
    assert str(line_chart([], title="t", desc="d")) == ""
    assert "<polyline" in str(line_chart([("a", 0)], title="t", desc="d"))
    assert "<rect" in str(bar_chart([("a", 0), ("b", 0)], title="t", desc="d"))
    meter = str(stacked_bar([("sold", 30, "part-filled"), ("left", 70, "part-remaining"), ("none", 0, "x")],
                            total=100, title="t", desc="d"))
    assert 'width="30.00"' in meter and 'x="30.00"' in meter and 'class="x"' not in meter
    assert "<rect class=\"part-filled\"" not in str(stacked_bar([("sold", 5, "part-filled")], total=0,
                                                                title="t", desc="d"))


def test_the_reconciliation_lines_span_the_box_and_name_their_scale():
    """Do the ops lines run edge to edge, break at missing values, and give the scale's ends for the labels?"""
    chart = lines_chart([("Ledger", "line-ledger", [100, None, 300]), ("Diff", "line-diff", [0, -50, 0])])
    assert chart.top == 300 and chart.bottom == -50 and not chart.empty
    ledger = chart.lines[0].segments
    assert len(ledger) == 2 and ledger[0].startswith("0,") and ledger[1].startswith("640,")
    assert lines_chart([("x", "c", [None])]).empty
