"""The SVG chart helper: accessible, escaped, no inline style, sane with odd data."""
from app.web.charts import bar_chart, line_chart, stacked_bar


def test_charts_are_accessible_and_escape_text():
    """Do the charts carry role, title and desc, escape every text, and avoid inline styles?"""
    points = [("1 <b>", 100), ("2", -50), ("3", 300)]
    for chart in (line_chart(points, title="T <script>", desc="D & more"),
                  bar_chart(points, title="T <script>", desc="D & more")):
        svg = str(chart)
        assert svg.startswith("<svg") and 'role="img"' in svg and "aria-labelledby" in svg
        assert "<title" in svg and "<desc" in svg and "T &lt;script&gt;" in svg and "D &amp; more" in svg
        assert "<script" not in svg and "<b>" not in svg and "style=" not in svg
    bar = str(bar_chart(points, title="t", desc="d"))
    assert bar.count("<rect") == 3 and "chart-neg" in bar


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
