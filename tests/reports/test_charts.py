"""The SVG charts: well-formed, proportional, stacked in order, labelled in hours, accessible and escaped."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from datetime import date

from reports import charts

NS = {"s": "http://www.w3.org/2000/svg"}
NOV = [date(2026, 11, 1), date(2026, 11, 2), date(2026, 11, 3)]


def _parse(svg: str) -> ET.Element:
    return ET.fromstring(svg)  # noqa: S314 - our own output


def _bars(**overrides):  # type: ignore[no-untyped-def]
    args = {
        "chart_id": "c",
        "buckets": NOV,
        "series": [(NOV[0], 1, 120), (NOV[0], 2, 60), (NOV[2], 2, 240)],
        "labels": {1: "Acme", 2: "Globex"},
        "period": "day",
        "grouping": "client",
    }
    return _parse(charts.stacked_bars(**{**args, **overrides}))


def _segments(root: ET.Element) -> list[ET.Element]:
    return [r for r in root.iter("{http://www.w3.org/2000/svg}rect") if "data-minutes" in r.attrib]


def test_bar_heights_are_proportional_to_the_hours_and_stack_without_gaps():
    root = _bars()
    segments = _segments(root)
    assert sorted(int(s.get("data-minutes")) for s in segments) == [60, 120, 240]
    height = {int(s.get("data-minutes")): float(s.get("height")) for s in segments}
    assert abs(height[240] / height[60] - 4) < 0.05 and abs(height[120] / height[60] - 2) < 0.05
    # On the first day Globex (the larger group overall, so the first colour) sits at the bottom, Acme on top.
    first_day = [s for s in segments if float(s.get("x")) == min(float(t.get("x")) for t in segments)]
    bottom, top = sorted(first_day, key=lambda s: -float(s.get("y")))
    assert (bottom.get("data-minutes"), top.get("data-minutes")) == ("60", "120")
    assert abs(float(top.get("y")) + float(top.get("height")) - float(bottom.get("y"))) < 0.2
    assert bottom.get("fill") == charts.PALETTE[0] and top.get("fill") == charts.PALETTE[1]


def test_the_axis_is_in_hours_with_round_steps_and_the_tallest_bar_fits():
    root = _bars()
    texts = [t.text for t in root.iter("{http://www.w3.org/2000/svg}text")]
    assert "Hours" in texts
    assert [t for t in texts if t and t.endswith(" h") and t[0].isdigit()][:4] == ["0 h", "1 h", "2 h", "3 h"]
    plot_top = charts.PLOT_TOP
    assert all(float(s.get("y")) >= plot_top - 0.1 for s in _segments(root))


def test_an_empty_day_keeps_its_place_and_labels_name_the_days():
    root = _bars()
    texts = [t.text for t in root.iter("{http://www.w3.org/2000/svg}text")]
    assert [t for t in texts if t and t.endswith("Nov")] == ["1 Nov", "2 Nov", "3 Nov"]
    assert len({s.get("x") for s in _segments(root)}) == 2  # two days with time, one without


def test_the_chart_is_an_image_with_a_title_and_a_description_that_reads_the_figures():
    root = _bars()
    assert root.get("role") == "img"
    assert root.get("aria-labelledby") == "c-title c-desc"
    assert root.find("s:title", NS).text == "Hours per day by client"
    description = root.find("s:desc", NS).text
    assert "Globex: 5 h" in description and "Acme: 2 h" in description
    tips = [t.text for t in root.iter("{http://www.w3.org/2000/svg}title")]
    assert "Globex, 3 Nov: 4 h" in tips


def test_labels_are_escaped():
    svg = charts.stacked_bars(chart_id="c", buckets=NOV, series=[(NOV[0], 1, 60)], labels={1: "<script>x</script>"},
                              period="day", grouping="client")  # fmt: skip
    assert "<script>" not in svg
    assert "&lt;script&gt;" in svg
    _parse(svg)


def test_more_groups_than_colours_fold_into_other():
    series = [(NOV[0], k, 60 * (20 - k)) for k in range(12)]
    root = _bars(series=series, labels={k: f"Client {k}" for k in range(12)})
    fills = {s.get("fill") for s in _segments(root)}
    assert fills == set(charts.PALETTE) | {charts.OTHER_COLOUR}
    texts = [t.text for t in root.iter("{http://www.w3.org/2000/svg}text")]
    assert any(t and t.startswith("Other (3)") for t in texts)


def test_no_time_says_so():
    root = _bars(series=[])
    texts = [t.text for t in root.iter("{http://www.w3.org/2000/svg}text")]
    assert "No time counted in this range" in texts
    assert root.find("s:desc", NS).text == "No time was counted in this range."


def test_the_share_ring_divides_the_circle_by_the_hours():
    parts = [charts.Part(1, "Acme", 90), charts.Part(2, "Globex", 270), charts.Part(None, "No client", 0)]
    root = _parse(charts.share(chart_id="s", parts=parts))
    arcs = [c for c in root.iter("{http://www.w3.org/2000/svg}circle") if "data-minutes" in c.attrib]
    assert [a.get("data-minutes") for a in arcs] == ["270", "90"]  # largest first, empty parts left out
    lengths = [float(a.get("stroke-dasharray").split()[0]) for a in arcs]
    assert abs(lengths[0] / lengths[1] - 3) < 0.01
    assert float(arcs[1].get("stroke-dashoffset")) == -lengths[0]  # the second arc starts where the first ended
    description = root.find("s:desc", NS).text
    assert description == "Globex: 4.5 h (75%); Acme: 1.5 h (25%)"


def test_one_client_fills_the_ring():
    root = _parse(charts.share(chart_id="s", parts=[charts.Part(1, "Acme", 60)]))
    arc = next(c for c in root.iter("{http://www.w3.org/2000/svg}circle") if "data-minutes" in c.attrib)
    drawn, gap = (float(x) for x in arc.get("stroke-dasharray").split())
    assert gap == 0 and drawn > 0


def test_hours_and_steps():
    assert [charts.hours(m) for m in (0, 30, 60, 90, 125)] == ["0", "0.5", "1", "1.5", "2.1"]
    assert [charts.nice_step(h) for h in (0, 3, 7, 40, 160)] == [1.0, 1.0, 2.0, 10.0, 50.0]
