"""Dead ends of a consumer's day on a 390 px phone, in zh and en (a review with fresh eyes):
the wallet bar's words cut off, someone else's orders titled "my orders", a share link's deal
lost on the way through /passkey, and a link to the passkey page's collapsed section.
Screenshots: ``test-artifacts/consumer/``.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from playwright.sync_api import expect
from web3 import Web3

from api.demo.catalog import CONSUMERS, LEADERS
from api.render import short
from api.shop import share_link
from chain.artifacts import REPO_ROOT

from .conftest import PHONE
from .phone import phone_context, phone_page

pytestmark = pytest.mark.sqlite_only
SHOTS = REPO_ROOT / "test-artifacts" / "consumer"

# Words of an element cut off (an ellipsis, or hidden overflow): wider than their box.
CUT = "el => el.scrollWidth > el.clientWidth + 1"


@pytest.fixture
def phone(browser: Any) -> Iterator[Any]:
    """A 390 px phone with no wallet and no passkey: the page, asserting no script errors."""
    context = phone_context(browser, locale=None)
    page, errors = phone_page(context)
    try:
        yield page
    finally:
        context.close()
    assert not errors, errors


def shot(page: Any, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}.png"))


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_the_wallet_bar_says_all_its_words_at_390_px(
    live_server: str, phone: Any, lang: str
) -> None:
    """In English the bar read "No wall…": its three parts did not fit in 370 px."""
    phone.goto(f"{live_server}/?lang={lang}")
    bar = phone.locator("#wallet-bar")
    expect(bar.locator(".who")).to_be_visible()
    shot(phone, f"polish-wallet-bar-{lang}")
    for part in bar.locator(".who, button.connect, .passkey-link").all():
        assert not part.evaluate(CUT), (part.inner_text(), lang)
    box = bar.bounding_box()
    assert box and box["x"] >= 0 and box["x"] + box["width"] <= PHONE["width"]


def test_someone_elses_orders_have_their_owners_title_ready_in_both_languages(
    web_client: TestClient,
) -> None:
    """The title wallet.js puts on someone else's orders (clicked in test_consumer_return): the
    owner's name, else their short address; 我的订单 until the page knows who is signed in."""
    named = CONSUMERS[1].address
    for lang, mine, theirs in (
        ("zh", "我的订单", "消费者 2 的订单"),
        ("en", "My orders", "Consumer 2&#39;s orders"),
    ):
        html = web_client.get(f"/orders/{named}", params={"lang": lang}).text
        assert f'<h1 data-theirs="{theirs}">{mine}</h1>' in html, html[:2000]
    nobody = "0x" + "ab" * 20
    html = web_client.get(f"/orders/{nobody}", params={"lang": "en"}).text
    assert f'<h1 data-theirs="{short(Web3.to_checksum_address(nobody))}&#39;s orders">' in html


def test_a_share_links_deal_survives_the_way_through_the_passkey_page(
    live_server: str, phone: Any, demo: Any
) -> None:
    """A leader's share link (/?leader=…#deal-N) opened on a phone with no wallet: the bar's
    passkey link came back to the shop without #deal-N (the fragment never reaches the service,
    which wrote next=), so the person landed at the top of the shop, not on the deal."""
    rice = demo.report.deals["rice_open"]
    phone.goto(share_link(live_server, LEADERS[0].address, rice))
    phone.locator("#wallet-bar .passkey-link").click()
    phone.wait_for_url("**/passkey?**")
    back = phone.locator("a[data-field=next]")  # shown once the passkey is made
    expect(back).to_have_attribute("href", re.compile(f"#deal-{rice}$"))
    phone.goto(live_server + back.get_attribute("href"))
    assert phone.evaluate("location.hash") == f"#deal-{rice}"
    expect(phone.locator(f"#deal-{rice}")).to_be_in_viewport()
