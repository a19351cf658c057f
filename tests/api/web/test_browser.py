"""The pages in a real browser: Debian's headless Chromium (Playwright) against uvicorn on a free
port, at a phone's 390x844.

Checks the DOM Chromium built (after parsing, CSS and scripts), not the HTML we sent, and saves
screenshots to ``test-artifacts/``. Chromium is a system package (``make setup`` installs it);
without it these tests fail with the install command rather than skip silently. Whole journeys
(joining, refunds, receipts, claims) are in ``test_journeys.py``.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest
from playwright.sync_api import expect

from api.demo.catalog import CONSUMERS, ORANGES, PORK, RICE, Product
from api.render import format_time
from chain.artifacts import REPO_ROOT

from .conftest import PHONE
from .phone import Wallet, open_phone

# One backend (the DOM a browser builds; the pages' reads run on both in test_pages.py): tests/api/conftest.py.
pytestmark = pytest.mark.sqlite_only
ARTIFACTS = REPO_ROOT / "test-artifacts"


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    context = browser.new_context(viewport=PHONE, is_mobile=True, has_touch=True)
    errors: list[str] = []
    tab = context.new_page()
    tab.on("pageerror", lambda exc: errors.append(str(exc)))
    try:
        yield tab
    finally:
        context.close()
    assert not errors, errors


def screenshot(page: Any, name: str) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    shot = ARTIFACTS / name
    page.screenshot(path=str(shot), full_page=True)
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and shot.stat().st_size > 20_000


def test_provenance_page_in_chromium(page: Any, live_server: str) -> None:
    page.goto(f"{live_server}/01/{RICE.gtin14}/10/{RICE.lot}?lang=zh")
    dom = page.content()
    assert "五常大米" in dom
    events = re.findall(r'<li class="event step-[a-z_]+"', dom)
    assert len(events) >= 6
    badges = re.findall(r'data-verification="(\w+)"', dom)
    assert badges and set(badges) == {"verified"}
    assert '<form method="dialog" class="join"' in dom
    # Nothing wider than the phone: no sideways scrolling.
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    screenshot(page, "provenance-rice.png")


@pytest.mark.parametrize("product", [PORK, ORANGES], ids=lambda p: p.key)
def test_breach_and_recall_pages_in_chromium(page: Any, live_server: str, product: Product) -> None:
    page.goto(f"{live_server}/01/{product.gtin14}/10/{product.lot}?lang=en")
    dom = page.content()
    if product is PORK:
        assert 'class="reading breach"' in dom and "Temperature breach" in dom
    else:
        assert 'id="recall-banner"' in dom and "This batch has been recalled" in dom
    screenshot(page, f"provenance-{product.key}.png")


def test_dashboard_in_chromium(page: Any, live_server: str) -> None:
    page.set_viewport_size({"width": 1000, "height": 1200})
    page.goto(f"{live_server}/dashboard?lang=en")
    dom = page.content()
    assert '<svg class="chart donut"' in dom and 'id="flagged"' in dom
    screenshot(page, "dashboard.png")


@pytest.mark.parametrize("path", ["/", "/orders/{buyer}", "/leader/{leader}"])
def test_community_pages_fit_a_phone(page: Any, live_server: str, path: str) -> None:
    from api.demo.catalog import CONSUMERS, LEADERS

    url = live_server + path.format(buyer=CONSUMERS[0].address, leader=LEADERS[0].address)
    page.goto(url + "?lang=en")
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]


@pytest.mark.parametrize("zone", ["Asia/Shanghai", "UTC"])
def test_times_are_shown_in_the_phones_zone(
    browser: Any, live_server: str, demo: Any, zone: str
) -> None:
    """The server prints 截单 in UTC (it cannot know the reader's zone); the phone shows it in
    its own, named as the server names offsets. EPCIS events keep where they happened."""
    context = browser.new_context(viewport=PHONE, is_mobile=True, has_touch=True, timezone_id=zone)
    errors: list[str] = []
    page = context.new_page()
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    try:
        url = f"{live_server}/deals/{demo.report.deals['rice_open']}?lang=zh"
        shown = page.locator("dt:has-text('截单时间') + dd time")
        page.goto(url)
        instant = datetime.fromisoformat(shown.get_attribute("datetime") or "")
        here = instant.astimezone(ZoneInfo(zone))
        expected = format_time(here)  # the same form: the wall clock, then UTC+8 (or UTC)
        assert expected.endswith(" UTC+8" if zone == "Asia/Shanghai" else " UTC")
        assert shown.inner_text() == expected
        # Without scripts (the HTML as sent) the same moment in UTC, its zone named.
        sent = httpx.get(url, timeout=30).text
        assert f">{format_time(instant)}</time>" in sent
        # Live times (notices, the signing sheet, a pickup code's expiry) go through Tuan.when.
        seconds = int(instant.timestamp())
        assert page.evaluate("(s) => Tuan.when(s)", seconds) == expected
        assert page.evaluate("(s) => Tuan.when(s)", str(seconds)) == expected
        screenshot(page, f"deal-zone-{zone.replace('/', '-')}.png")

        # The provenance trail says when each step happened where it happened (the offset its
        # signed EPCIS document carries: the demo's are in China), whatever the phone's zone.
        page.goto(f"{live_server}/01/{RICE.gtin14}/10/{RICE.lot}?lang=zh")
        steps = page.locator("#timeline .when time")
        assert steps.count() >= 6
        for text in steps.all_inner_texts():
            assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d UTC\+8", text), text
        page.locator("#timeline").scroll_into_view_if_needed()
        screenshot(page, f"provenance-zone-{zone.replace('/', '-')}.png")
    finally:
        context.close()
    assert not errors, errors


def test_a_tap_holds_while_the_wallet_bar_finds_the_signer(
    browser: Any, live_server: str, demo: Any
) -> None:
    """The wallet bar learns who signs after the page has loaded (a remembered wallet answers
    eth_accounts, a passkey's address is fetched): what it then shows must not move the page
    under a finger. A tap whose press and release land on two different elements after such a
    shift is no click at all: 参团 did nothing, with no error (a loaded CI machine, seed
    2779749451). Here the finger is down on 参团 while the bar connects, then lifts."""
    context, page, errors = open_phone(browser, Wallet(CONSUMERS[0].account), "zh-CN")
    try:
        page.goto(f"{live_server}/?lang=zh")
        join = page.locator(f"#deal-{demo.report.deals['rice_open']} button[type=submit]")
        screenshot(page, "join-tap-before-connect.png")  # the bar with its connect button
        join.scroll_into_view_if_needed()
        box = join.bounding_box()
        page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
        page.mouse.down()
        page.evaluate(
            "Tuan.connect().then(() => null)"
        )  # the bar shows the wallet, its connect button goes
        expect(page.locator("#wallet-bar .who")).to_contain_text("Test wallet")
        expect(page.locator("#wallet-bar button.connect")).to_be_hidden()
        assert join.bounding_box() == box  # nothing moved under the finger
        page.mouse.up()
        expect(page.locator("dialog#tuan-steps")).to_be_visible()  # the tap was a click
        screenshot(page, "join-tap-during-connect.png")
    finally:
        context.close()
    assert not errors, errors


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_a_phone_without_a_wallet_is_offered_a_passkey_not_a_cut_off_line(
    page: Any, live_server: str, lang: str
) -> None:
    """My orders without a wallet: the passkey link in the wallet bar is whole (it was cut to
    'No wallet…' in English), the page itself offers it, and tapping Connect wallet says there is
    none in a sheet with the passkey as the way on (it said so in the bar's few characters,
    cut off)."""
    page.goto(f"{live_server}/orders?lang={lang}")
    link = page.locator("#wallet-bar .passkey-link")
    assert link.evaluate("a => a.scrollWidth <= a.clientWidth")
    offer = page.locator("main a.go-on[data-passkey]")
    expect(offer).to_have_attribute("href", f"/passkey?lang={lang}&next=/orders%3Flang%3D{lang}")
    assert offer.bounding_box()["height"] >= 44
    page.locator("#wallet-bar button.connect").click()
    sheet = page.locator("dialog#tuan-steps")
    expect(sheet.locator(".status-line.error")).to_contain_text("✖")
    expect(sheet.locator("a.go-on[data-passkey]")).to_have_attribute(
        "href", link.get_attribute("href")
    )
    expect(sheet.locator("h2")).to_have_text("连接钱包" if lang == "zh" else "Connect wallet")
    close = sheet.locator("button.sheet-close").bounding_box()
    assert close["width"] >= 44 and close["height"] >= 44  # the only way out of a sheet on a phone
    screenshot(page, f"no-wallet-connect-{lang}.png")


# What a finger taps on every page: the header, the tabs, the wallet bar, buttons, fields,
# disclosure rows and the link buttons (links inside running text are read, not aimed at).
TARGETS_JS = """() => {
  document.querySelectorAll("details").forEach((d) => { d.open = true; });
  const small = [], wide = [];
  const taps = "header a, nav a, .wallet-bar a, button, input, select, summary, a.go-on";
  for (const el of document.querySelectorAll(taps)) {
    const r = el.getBoundingClientRect();
    if (!r.width || ["checkbox", "radio", "hidden"].includes(el.type)) continue;
    if (r.height < 44) small.push(el.outerHTML.slice(0, 80) + " h=" + Math.round(r.height));
  }
  for (const el of document.querySelectorAll("body *")) {
    const r = el.getBoundingClientRect();
    if (r.width && r.right > window.innerWidth + 1) wide.push(el.outerHTML.slice(0, 80));
  }
  return { small, wide: wide.slice(0, 5) };
}"""


@pytest.mark.parametrize(
    "path",
    [
        "/",
        "/deals/2",
        "/orders",
        "/orders/{buyer}",
        "/leader/{leader}",
        "/supplier/{supplier}",
        "/supplier/{pork}/claims",
        "/01/{gtin}/10/{lot}",
        "/passkey",
        "/dashboard",
        "/ops/review",
        "/ops/disputes",
        "/ops/recalls",
        "/ops/deals/new",
        "/ops/webhooks",
    ],
)
def test_every_tap_target_is_a_fingers_size_and_nothing_runs_off_a_phone(
    page: Any, live_server: str, path: str
) -> None:
    """At 390 px with every disclosure open: each thing a finger taps is at least 44 px tall (the
    tabs, fields and the language link were 23–40), and no element reaches past the screen's
    right edge (a credential's SHA-256 in the review queue ran 110 px off it)."""
    from api.demo.catalog import CONSUMERS, LEADERS, PORK_FARM, RICE_FARM

    url = live_server + path.format(
        buyer=CONSUMERS[0].address,
        leader=LEADERS[0].address,
        supplier=RICE_FARM.address,
        pork=PORK_FARM.address,
        gtin=RICE.gtin14,
        lot=RICE.lot,
    )
    for lang in ("en", "zh"):
        page.goto(f"{url}?lang={lang}")
        found = page.evaluate(TARGETS_JS)
        assert not found["small"], (lang, found["small"])
        assert not found["wide"], (lang, found["wide"])
