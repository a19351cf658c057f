"""The last mile on phones (390 px, zh and en): the buyer's pickup code, the leader's handout
(核销) by camera, and a cash order booked for a neighbour.

Its own server and index on the seeded chain (between ``evm_snapshot`` and ``evm_revert``), as
the other journey modules. The leader's camera is Chromium's fake capture device playing a video
of the buyer's code (``camera.qr_video``): the page reads it with jsQR (the served, pinned copy)
as a phone would read the real screen; BarcodeDetector is absent in Linux Chromium, so the pinned
decoder is what runs here. Wallets are the eth-account test double of ``test_journeys``.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import segno
from eth_utils import keccak
from playwright.sync_api import expect
from sqlalchemy import select
from sqlalchemy.orm import Session

from api.demo.catalog import CONSUMERS, LEADERS
from api.demo.seed import SeedReport
from api.relayer.models import RelayRequest
from api.services import Services
from chain.settings import Settings

from .camera import qr_video
from .conftest import CHROMIUM
from .phone import Wallet, open_phone, read_code
from .test_journeys import Journeys, served_journeys, shot, sign_in_sheet


@pytest.fixture(scope="module")
def lastmile(
    seeded_chain: tuple[Services, SeedReport],
    web_settings: Settings,
    tmp_path_factory: pytest.TempPathFactory,
    browser: Any,
) -> Iterator[Journeys]:
    index_dir = tmp_path_factory.mktemp("lastmile")
    with served_journeys(seeded_chain, web_settings, index_dir, browser) as served:
        yield served


def phone_page(browser: Any, wallet: Wallet, locale: str, **options: Any) -> Any:
    _, page, errors = open_phone(browser, wallet, locale, **options)
    page.errors = errors  # checked at the end of each journey
    return page


def test_the_buyer_shows_a_pickup_code_and_the_leader_scans_and_hands_out(
    lastmile: Journeys, tmp_path: Path
) -> None:
    """李姐's group received the pork (the demo's receipt); 李娜 (consumer 2) is 待提货."""
    _, li, _ = LEADERS
    buyer = CONSUMERS[1]
    pork = lastmile.report.deals["pork_claim"]

    # The buyer (zh): 待提货, then a pickup code signed in the wallet (nothing is sent).
    consumer = phone_page(lastmile.browser, Wallet(buyer.account), "zh-CN")
    consumer.goto(f"{lastmile.base}/orders/{buyer.address}?lang=zh")
    order = consumer.locator(f"#order-{pork}")
    expect(order).to_have_attribute("data-state", "ready")
    expect(order.locator(".state")).to_have_text("待提货")
    order.locator(".pickup-code button[type=submit]").click()
    sheet = consumer.locator("dialog#tuan-steps")
    expect(sheet.locator("ul.signed li")).to_contain_text("提货码")
    expect(sheet.locator('li[data-step="queued"]')).to_have_count(0)  # signed, not sent
    sign_in_sheet(consumer, "20-pickup-code-review")
    expect(order.locator(".pickup-qr svg")).to_be_visible()
    code_text = order.locator("[data-pickup-code]").text_content()
    code = read_code(code_text or "")
    assert code["deal"] == pork and code["buyer"].lower() == buyer.address.lower()
    assert code["quantity"] == 3 and code["signature"]
    # Short: a wallet's code is ~150 characters, a version-8 QR code (it was ~250, version 11).
    assert len(code_text or "") < 170 and segno.make(code_text, error="m").version <= 9
    shot(consumer, "21-orders-pickup-code")
    consumer.evaluate("window.scrollTo(0, 0)")
    shot(consumer, "readme-orders", full_page=False)  # the README's picture of the orders page

    # The leader (en), with a camera pointed at the buyer's screen.
    video = qr_video(code_text or "", tmp_path / "code.y4m")
    camera_browser = lastmile.browser.browser_type.launch(
        executable_path=CHROMIUM,
        args=[
            "--no-sandbox",
            "--use-fake-device-for-media-stream",
            "--use-fake-ui-for-media-stream",
            f"--use-file-for-fake-video-capture={video}",
        ],
    )
    try:
        leader = phone_page(camera_browser, Wallet(li.account), "en-US", permissions=["camera"])
        leader.goto(f"{lastmile.base}/leader/{li.address}?lang=en")
        leader.locator(f"#group-{pork} .handout-link a").click()
        leader.wait_for_url(f"**/leader/{li.address}/handout/{pork}?lang=en")
        row = leader.locator(f'.pick-list li[data-buyer="{buyer.address}"]')
        expect(row).to_have_attribute("data-state", "awaiting_pickup")
        # A pasted scrap is refused in words; the camera reads the real code.
        leader.locator("#paste").fill("hello")
        leader.locator("#paste-add").click()
        expect(leader.locator("#handout-status")).to_contain_text("not a tuanchain pickup code")
        # A code of the first form (JSON, the signature in hex), still in circulation: taken.
        first_form = json.dumps({"v": 1, **code})
        leader.locator("#paste").fill(first_form)
        leader.locator("#paste-add").click()
        expect(leader.locator("#queue li")).to_have_count(1)
        leader.locator("#queue li button").click()  # (taken out again: the camera's turn)
        expect(leader.locator("#queue li")).to_have_count(0)
        leader.locator("#paste").fill("")  # the leader clears the scrap before scanning
        leader.locator("#camera").click()
        expect(leader.locator("#queue li")).to_have_count(1)
        expect(leader.locator("#queue li")).to_contain_text(buyer.name_en)
        shot(leader, "22-handout-scanned")
        leader.evaluate("document.getElementById('hand-out').scrollIntoView({block: 'end'})")
        leader.evaluate("window.scrollBy(0, 60)")
        shot(leader, "readme-handout", full_page=False)  # the README's picture of the handout
        leader.locator("#hand-out").click()
        sign_in_sheet(leader, "23-handout-review")
        expect(row).to_have_attribute("data-state", "picked_up")
        shot(leader, "24-handout-done")
        assert not leader.errors, leader.errors
    finally:
        camera_browser.close()

    # The buyer's order: 已提货, with the time.
    consumer.reload()
    expect(order).to_have_attribute("data-state", "picked_up")
    expect(order.locator(".state")).to_have_text("已提货")
    expect(order.locator(".picked-up")).to_contain_text("3")
    shot(consumer, "25-orders-picked-up")
    assert not consumer.errors, consumer.errors
    consumer.context.close()


def test_a_leader_books_a_cash_order_for_a_neighbour(lastmile: Journeys) -> None:
    """王姐 books two bags of today's rice for a neighbour paying cash; the neighbour's name and
    the salt stay in the phone's browser, the chain has keccak256(salt ‖ name)."""
    wang = LEADERS[0]
    rice = lastmile.report.deals["rice_open"]
    page = phone_page(lastmile.browser, Wallet(wang.account), "zh-CN")
    page.goto(f"{lastmile.base}/leader/{wang.address}/handout/{rice}?lang=zh")
    form = page.locator("#book-cash")
    form.locator("input[name=who]").fill("3栋 李阿姨 139****1111")
    form.locator("input[name=quantity]").fill("2")
    form.locator("button[type=submit]").click()
    sheet = page.locator("dialog#tuan-steps")
    expect(sheet).to_contain_text("为 3栋 李阿姨 139****1111 代下单 2 份")
    sign_in_sheet(page, "26-cash-order-review")
    cash_row = page.locator("#cash tr[data-ref]")
    expect(cash_row).to_have_count(1)
    expect(cash_row.locator(".who")).to_have_text("3栋 李阿姨 139****1111")
    shot(page, "27-cash-order-booked")

    book = json.loads(
        page.evaluate(f"localStorage.getItem('tuan.cashbook.{wang.address.lower()}')")
    )
    ((ref, entry),) = book.items()
    salt = bytes.fromhex(entry["salt"][2:])
    assert "0x" + keccak(salt + "3栋 李阿姨 139****1111".encode()).hex() == ref
    order = lastmile.services.chain.clients.escrow.cash_order(
        rice, wang.address, bytes.fromhex(ref[2:])
    )
    assert order.quantity == 2
    # Nothing of the neighbour reached the service: the relayed request carries the reference.
    with Session(lastmile.services.engine) as session:
        kept = [
            json.dumps([r.typed_data, r.details], ensure_ascii=False)
            for r in session.scalars(
                select(RelayRequest).where(RelayRequest.signer == wang.address)
            )
        ]
    assert kept and not any("李阿姨" in k for k in kept) and any(ref[2:] in k for k in kept)
    assert not page.errors, page.errors
    page.context.close()
