"""Rendering helpers: SVG charts are well-formed for any data; language choice never fails."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st
from starlette.requests import Request

from api.render import choose_language, money, pick
from api.render.charts import bar_chart, donut_chart, temperature_plot

SVG = "{http://www.w3.org/2000/svg}"
START = datetime(2025, 11, 7, 13, 45, tzinfo=UTC)
celsius = st.floats(min_value=-40, max_value=60, allow_nan=False).map(lambda v: round(v, 1))


@given(
    values=st.lists(celsius, min_size=1, max_size=40),
    step_minutes=st.integers(min_value=0, max_value=600),
    limits=st.one_of(st.none(), st.tuples(celsius, celsius).map(sorted)),
)
def test_temperature_plot_is_valid_svg_with_one_dot_per_reading(
    values: list[float], step_minutes: int, limits: list[float] | None
) -> None:
    readings = [
        {"time": (START + timedelta(minutes=i * step_minutes)).isoformat(), "value": v}
        for i, v in enumerate(values)
    ]
    low, high = limits if limits else (None, None)
    svg = ET.fromstring(str(temperature_plot(readings, low, high)))
    dots = svg.findall(f"{SVG}circle")
    assert len(dots) == len(values)
    expected = sum(
        1 for v in values if (low is not None and v < low) or (high is not None and v > high)
    )
    assert sum(1 for d in dots if d.get("class") == "reading breach") == expected
    for dot in dots:  # every point lies inside the drawing
        assert 0 <= float(dot.get("cx", -1)) <= 320 and 0 <= float(dot.get("cy", -1)) <= 140


def test_empty_charts_render_nothing() -> None:
    assert str(temperature_plot([])) == ""
    assert str(bar_chart([])) == "" and str(donut_chart([])) == ""
    assert str(donut_chart([("a", 0)])) == ""


labels = st.text(min_size=0, max_size=30)


@given(items=st.lists(st.tuples(labels, st.floats(0, 1e9, allow_nan=False)), max_size=12))
def test_bar_and_donut_charts_are_well_formed_and_escape_labels(
    items: list[tuple[str, float]],
) -> None:
    for chart in (bar_chart(items), donut_chart(items)):
        text = str(chart)
        if text:
            root = ET.fromstring(text)  # raises on unescaped <, & in labels
            assert root.tag == f"{SVG}svg"


def _request(query: str = "", accept_language: str | None = None) -> Request:
    headers = [] if accept_language is None else [(b"accept-language", accept_language.encode())]
    return Request({"type": "http", "query_string": query.encode(), "headers": headers})


@given(header=st.text(alphabet=st.characters(codec="latin-1"), max_size=80))
def test_language_choice_never_fails(header: str) -> None:
    assert choose_language(_request(accept_language=header)) in ("zh", "en")


def test_language_choice_rules() -> None:
    assert choose_language(_request()) == "zh"
    assert choose_language(_request(accept_language="en-US,en;q=0.9")) == "en"
    assert choose_language(_request(accept_language="en;q=0.4, zh-CN;q=0.8")) == "zh"
    assert choose_language(_request("lang=en", "zh-CN")) == "en"
    assert choose_language(_request("lang=fr", "en")) == "en"  # unknown ?lang= is ignored


def test_helpers() -> None:
    assert money(45_000_000) == "45.00" and money(None) == "-"
    assert pick({"zh": "大米", "en": "rice"}, "en") == "rice"
    assert pick({"zh": "大米"}, "en") == "大米" and pick(None, "zh") == ""
