"""A consumer's pages with the phone's text made larger (Chromium, headless).

Chrome on Android scales text by page zoom: a 390 px phone at 130% lays pages out 300 CSS px
wide (390 / 1.3). The pages are checked there: nothing wider than the screen, so nobody has to
scroll sideways to read a deal's facts. (The deal page's price tiers, kept on one line, and its
leaders' table pushed it to 390 px.) Screenshots: ``test-artifacts/consumer/``.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from api.demo.catalog import CONSUMERS, ORANGES, PORK, RICE
from chain.artifacts import REPO_ROOT

from .conftest import Demo
from .phone import phone_context, phone_page

pytestmark = pytest.mark.sqlite_only
SHOTS = REPO_ROOT / "test-artifacts" / "consumer"
LARGE_TEXT = {"width": 300, "height": 650}  # 390 x 844 at 130%

# What sticks out past the right edge of the screen, named for the failure message.
WIDER = """() => [...document.querySelectorAll("main *")]
  .filter((e) => e.getBoundingClientRect().right > document.documentElement.clientWidth + 1
    && !e.closest(".scroll-x"))
  .slice(0, 5).map((e) => e.tagName + "." + e.className + ": " + e.textContent.trim().slice(0, 40))"""


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    context = phone_context(browser, locale=None, viewport=LARGE_TEXT)
    tab, errors = phone_page(context)
    try:
        yield tab
    finally:
        context.close()
    assert not errors, errors


def test_a_consumers_pages_fit_the_screen_with_large_text(
    live_server: str, demo: Demo, page: Any
) -> None:
    paths = ["/", "/passkey", "/orders"]
    paths += [f"/deals/{deal_id}" for deal_id in demo.report.deals.values()]
    paths += [f"/orders/{buyer.address}" for buyer in CONSUMERS]
    paths += [f"/01/{p.gtin14}/10/{p.lot}" for p in (RICE, PORK, ORANGES)]
    wide: dict[str, Any] = {}
    for lang in ("zh", "en"):
        for path in paths:
            page.goto(f"{live_server}{path}?lang={lang}")
            width = page.evaluate("document.documentElement.scrollWidth")
            if width > LARGE_TEXT["width"]:
                wide[f"{path}?lang={lang}"] = (width, page.evaluate(WIDER))
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.goto(f"{live_server}/deals/{demo.report.deals['rice_settled']}?lang=en")
    page.screenshot(path=str(SHOTS / "03-deal-large-text.png"), full_page=True)
    assert not wide, wide
