"""Rendering helpers: SVG charts are well-formed for any data; language choice never fails;
every time shown is marked for the phone to show in its own zone."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from datetime import UTC, datetime, timedelta, timezone

from hypothesis import given
from hypothesis import strategies as st
from starlette.requests import Request

from api.render import (
    TEMPLATES_DIR,
    choose_language,
    environment,
    format_time,
    money,
    pick,
    time_tag,
    with_time,
)
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


def test_a_bar_chart_writes_a_count_as_a_count_and_money_to_cents() -> None:
    values = [t.text for t in ET.fromstring(str(bar_chart([("a", 10), ("b", 2.5)]))).iter()]
    assert "10" in values and "2.50" in values and "10.00" not in values


@given(items=st.lists(st.tuples(labels, st.floats(0, 1e9, allow_nan=False)), max_size=12))
def test_bar_and_donut_charts_are_well_formed_and_escape_labels(
    items: list[tuple[str, float]],
) -> None:
    for chart in (bar_chart(items), donut_chart(items)):
        text = str(chart)
        if text:
            root = ET.fromstring(text)  # raises on unescaped <, & in labels
            assert root.tag == f"{SVG}svg"


@given(
    items=st.lists(
        st.tuples(st.text(min_size=1, max_size=40), st.floats(0, 1e6, allow_nan=False)),
        min_size=1,
        max_size=12,
    )
)
def test_a_bar_charts_labels_have_lines_of_their_own(items: list[tuple[str, float]]) -> None:
    """A label never shares a line with a bar or a value (at 390 px a leader's name beside its
    bar was cut off or ran under the bar above's value): each label's text band (font size to the
    baseline, descenders below it) lies above its own bar and clear of every bar, and each value
    starts after its own bar's end."""
    root = ET.fromstring(str(bar_chart(items, unit=" tUSD")))
    rects = root.findall(f"{SVG}rect")
    labels = [t for t in root.findall(f"{SVG}text") if t.get("class") == "label"]
    values = [t for t in root.findall(f"{SVG}text") if t.get("class") == "value"]
    assert len(rects) == len(labels) == len(values) == len(items)
    for label, rect, value in zip(labels, rects, values, strict=True):
        baseline, size = float(label.get("y")), float(label.get("font-size"))
        band = (baseline - size, baseline + size * 0.25)
        for other in rects:
            top = float(other.get("y"))
            bottom = top + float(other.get("height"))
            assert band[1] <= top or band[0] >= bottom, (label.text, other.attrib)
        assert band[1] <= float(rect.get("y"))  # its own bar is below it
        assert float(value.get("x")) >= float(rect.get("x")) + float(rect.get("width"))


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


def test_a_time_is_marked_for_the_phone_to_show_in_its_zone() -> None:
    assert time_tag("2026-12-01T12:24:00Z") == (
        '<time datetime="2026-12-01T12:24:00Z" data-local>2026-12-01 12:24 UTC</time>'
    )
    # Chain time (Unix seconds, the ``datetime`` filter) and naive index times are UTC too.
    datetime_filter = environment().filters["datetime"]
    assert datetime_filter(1_764_591_840) == time_tag(datetime(2025, 12, 1, 12, 24))
    assert 'datetime="2025-12-01T12:24:00Z" data-local>' in datetime_filter("1764591840")
    # A moment given in another zone is marked by the same instant, in UTC.
    assert 'datetime="2026-12-01T04:24:00Z"' in time_tag("2026-12-01T12:24:00+08:00")
    # An EPCIS event keeps where it happened: its offset, not rewritten by the phone.
    assert time_tag("2025-11-07T21:45:00+08:00", own_zone=True) == (
        '<time datetime="2025-11-07T21:45:00+08:00">2025-11-07 21:45 UTC+8</time>'
    )
    assert time_tag(None) == time_tag("") == datetime_filter(0) == ""
    # A sentence that prints a time (a notice's {until}): that time marked, the rest escaped.
    assert with_time("pick <it> up by 2026-12-01 12:24 UTC", "2026-12-01T12:24:00Z") == (
        'pick &lt;it&gt; up by <time datetime="2026-12-01T12:24:00Z" data-local>'
        "2026-12-01 12:24 UTC</time>"
    )
    assert with_time("no <time>", None) == "no &lt;time&gt;"
    # In a template the markup is markup, and a sentence with an {at} keeps it so.
    html = environment().from_string(
        "{{ (s|e).replace('{at}', t|time) }}", globals={"s": "from {at} <b>", "t": 0}
    )
    assert html.render(t="2026-12-01T12:24:00Z") == (
        'from <time datetime="2026-12-01T12:24:00Z" data-local>2026-12-01 12:24 UTC</time> &lt;b&gt;'
    )


@given(
    moment=st.datetimes(
        min_value=datetime(2000, 1, 1), max_value=datetime(2100, 1, 1), timezones=st.just(UTC)
    ),
    minutes=st.integers(min_value=-12 * 60, max_value=14 * 60),
)
def test_the_marked_instant_is_the_shown_one(moment: datetime, minutes: int) -> None:
    here = moment.replace(microsecond=0).astimezone(timezone(timedelta(minutes=minutes)))
    for own_zone in (False, True):
        tag = time_tag(here, own_zone=own_zone)
        stamp, text = re.fullmatch(
            r'<time datetime="([^"]+)"(?: data-local)?>([^<]+)</time>', tag
        ).groups()
        assert datetime.fromisoformat(stamp) == here
        assert text == format_time(here)  # the text without scripts: the offset it was given
        assert ("data-local" in tag) is not own_zone


def test_an_epcis_event_is_shown_where_it_happened() -> None:
    """The trail's times: the index's UTC at the document's eventTimeZoneOffset."""
    from api.timefmt import at_offset

    farm = at_offset("2026-11-19T00:00:00Z", "+08:00")
    assert time_tag(farm, own_zone=True) == (
        '<time datetime="2026-11-19T08:00:00+08:00">2026-11-19 08:00 UTC+8</time>'
    )
    assert format_time(at_offset("2026-11-19T00:00:00Z", "-03:30")) == "2026-11-18 20:30 UTC-3:30"
    # No readable offset: the time as given (UTC, named so); no time, nothing.
    assert format_time(at_offset("2026-11-19T00:00:00Z", "later")) == "2026-11-19 00:00 UTC"
    assert at_offset(None, "+08:00") is None
    # The cold chain's chart: the readings' wall clock there, the zone named once.
    readings = [
        {"time": at_offset(f"2026-11-20T0{h}:00:00Z", "+08:00"), "value": 4} for h in (1, 3)
    ]
    labels = ET.fromstring(str(temperature_plot(readings, 0, 8))).findall(f"{SVG}text")
    assert [x.text for x in labels][-3:-1] == ["11-20 09:00", "11-20 11:00 UTC+8"]


def test_no_template_puts_a_time_into_an_attribute() -> None:
    """The ``time`` and ``datetime`` filters give markup: inside ``title="…"`` it would show."""
    in_attribute = re.compile(r'=\s*"[^"<>]*\{\{[^}]*\|\s*(?:date)?time\b')
    for template in TEMPLATES_DIR.glob("*.html"):
        assert not in_attribute.search(template.read_text(encoding="utf-8")), template.name


def test_pages_run_no_inline_script_so_the_policy_can_forbid_it() -> None:
    """The pages' Content-Security-Policy allows scripts from this service's files only
    (``script-src 'self'``): a template with an inline script or a handler attribute would
    break under it. Inline ``<script>`` elements are JSON data blocks only."""
    for path in sorted(TEMPLATES_DIR.glob("*.html")):
        text = path.read_text(encoding="utf-8")
        for tag in re.findall(r"<script\b[^>]*>", text):
            assert "src=" in tag or 'type="application/json"' in tag, (path.name, tag)
        assert not re.search(r"<[^>]+\son[a-z]+\s*=", text), path.name
        assert "javascript:" not in text.lower(), path.name
