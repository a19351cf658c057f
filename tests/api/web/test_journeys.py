"""Whole journeys on a phone: Playwright drives Debian's Chromium (390x844) through the pages.

One server and one browser for the module: the seeded demo chain (between ``evm_snapshot`` and
``evm_revert``, so the other web tests see the demo as seeded), its own fresh index, and the
service's indexer, relayer worker and bundler worker running as in ``tuanchain serve`` (not the
keeper: refunds here are collected from the page, not pushed).

The wallet is a test double of a browser wallet, and the tests say so: an EIP-1193 provider
announced through EIP-6963 (as MetaMask, Rabby, OKX Wallet announce themselves), whose
``eth_signTypedData_v4`` and ``personal_sign`` are answered in Python by eth-account (a standard
wallet library's EIP-712 and EIP-191 signing) with anvil's public development keys, through
Playwright's ``expose_function``. Everything else is real: the pages, wallet.js, the API, the
relayer, the contracts on anvil, the indexer. The passkey journey uses Chromium's own virtual
WebAuthn authenticator (DevTools protocol), which signs as a platform authenticator does.

Screenshots land in ``test-artifacts/journeys/`` for a look at the phone layout.
"""

from __future__ import annotations

import hashlib
import io
import json
import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import segno
from playwright.sync_api import expect
from sqlalchemy import select
from sqlalchemy.orm import Session

from api.bundler import worker as bundler_worker
from api.db.models import ClaimEvent
from api.demo.catalog import CONSUMERS, LEADERS, ORDERS, PORK_FARM
from api.demo.seed import SeedReport
from api.indexer import runner as indexer_runner
from api.relayer import worker as relay_worker
from api.render import money
from api.services import Services
from chain import deal_rules
from chain.artifacts import REPO_ROOT
from chain.clients import DealStatus, PartyKind, PartyStatus
from chain.settings import Settings

from .conftest import PHONE, served_on_snapshot, wait_ready
from .phone import WAIT_MS, Wallet, open_phone, passkey_phone, until_indexed

SHOTS = REPO_ROOT / "test-artifacts" / "journeys"


@dataclass
class Journeys:
    base: str
    report: SeedReport
    browser: Any
    services: Services


@pytest.fixture(scope="module")
def journeys(
    seeded_chain: tuple[Services, SeedReport],
    web_settings: Settings,
    tmp_path_factory: pytest.TempPathFactory,
    browser: Any,
) -> Iterator[Journeys]:
    index_dir = tmp_path_factory.mktemp("journeys")
    with served_journeys(seeded_chain, web_settings, index_dir, browser) as served:
        yield served


@contextmanager
def served_journeys(
    seeded_chain: tuple[Services, SeedReport], web_settings: Settings, index_dir: Path, browser: Any
) -> Iterator[Journeys]:
    """The server of the journeys, with the loops ``tuanchain serve`` runs but the keeper's."""
    loops = (
        indexer_runner.start_background,
        relay_worker.start_background,
        bundler_worker.start_background,
    )
    with served_on_snapshot(seeded_chain, web_settings, index_dir, loops) as (base, services):
        yield Journeys(base, seeded_chain[1], browser, services)


@pytest.fixture
def phone(journeys: Journeys) -> Iterator[tuple[Any, Wallet]]:
    """A fresh phone-sized browser context with the injected test wallet (no account yet): a
    consumer's phone in China (its language, its zone: times are shown in UTC+8)."""
    wallet = Wallet(CONSUMERS[0].account)
    context, page, errors = open_phone(
        journeys.browser, wallet, "zh-CN", timezone_id="Asia/Shanghai"
    )
    try:
        yield page, wallet
    finally:
        context.close()
    assert not errors, errors  # no script error on any page of the journey


def shot(page: Any, name: str, *, full_page: bool = True) -> Path:
    SHOTS.mkdir(parents=True, exist_ok=True)
    path = SHOTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=full_page)
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    return path


def sign_in_sheet(page: Any, name: str | None = None) -> None:
    """The step sheet shows what is signed; take its picture, then press Sign."""
    sheet = page.locator("dialog#tuan-steps")
    sign = sheet.locator("button[data-sign]")
    sign.wait_for()
    assert sheet.locator("ul.signed li").count() >= 1
    if name:
        shot(page, name, full_page=False)  # the sheet as the phone's screen shows it
    sign.click()


def photo_png(subject: str = "a photo of the goods") -> bytes:
    """A real PNG (a QR code of ``subject`` drawn by segno) standing in for a phone photo."""
    buffer = io.BytesIO()
    segno.make(subject).save(buffer, kind="png", scale=4)
    return buffer.getvalue()


def test_consumer_joins_sees_the_order_cancels_and_collects_a_refund(
    journeys: Journeys, phone: tuple[Any, Wallet]
) -> None:
    page, wallet = phone
    buyer = CONSUMERS[4]  # already holds an order in the recalled oranges deal (refund owed)
    wallet.account = buyer.account
    deals = journeys.report.deals
    rice, oranges = deals["rice_open"], deals["oranges_frozen"]
    _, _, chen = LEADERS

    page.goto(f"{journeys.base}/?lang=zh")
    shot(page, "01-shop-zh")
    card = page.locator(f"#deal-{rice}")
    expect(card).to_contain_text("五常大米")
    expect(card).to_contain_text(
        re.compile(r"已拼 \d+ 份，还差 \d+ 份成团")
    )  # (other journeys join too)
    card.locator("input[name=quantity]").fill("2")
    card.locator("select[name=leader]").select_option(label=chen.place_zh)
    card.locator("button[type=submit]").click()
    sheet = page.locator("dialog#tuan-steps")
    expect(sheet).to_contain_text(f"参加「五常大米」团购 2 份，在 {chen.place_zh} 自提")
    expect(sheet.locator("ul.signed li")).to_have_count(2)  # the permit and the request
    sign_in_sheet(page, "02-join-review")
    page.wait_for_url(f"**/orders/{buyer.address}?lang=zh")
    order = page.locator(f"#order-{rice}")
    expect(order).to_have_attribute("data-state", "joining")
    expect(order).to_contain_text("拼团中")
    expect(order).to_contain_text(chen.place_zh)
    expect(order).to_contain_text("90.00")  # 2 × 45.00 paid
    expect(page.locator("#notices")).to_contain_text("下单成功：五常大米 2 份")
    shot(page, "03-orders-joined")

    order.locator("form[data-action=cancel] button").click()
    sign_in_sheet(page)
    expect(page.locator(f"#order-{rice}")).to_have_attribute("data-state", "refunded")
    expect(page.locator("#notices")).to_contain_text("已取消")

    # Changed their mind again: the same shop form, a new order, live and cancellable again.
    page.goto(f"{journeys.base}/?lang=zh")
    card = page.locator(f"#deal-{rice}")
    card.locator("input[name=quantity]").fill("1")
    card.locator("select[name=leader]").select_option(label=chen.place_zh)
    card.locator("button[type=submit]").click()
    expect(sheet).to_contain_text(f"参加「五常大米」团购 1 份，在 {chen.place_zh} 自提")
    sign_in_sheet(page)
    page.wait_for_url(f"**/orders/{buyer.address}?lang=zh")
    order = page.locator(f"#order-{rice}")
    expect(order).to_have_attribute("data-state", "joining")
    expect(order.locator("form[data-action=cancel]")).to_have_attribute(
        "data-summary", re.compile(r"45\.00")
    )  # what a cancel would give back now: the new order's 45.00
    expect(order.locator("dd.paid")).to_have_text("45.00 tUSD")  # this order's, not 90 + 45
    expect(order).to_contain_text("此前已退")
    assert journeys.services.chain.clients.escrow.order(rice, buyer.address).quantity == 1
    shot(page, "03b-orders-joined-again")

    frozen = page.locator(f"#order-{oranges}")
    expect(frozen).to_have_attribute("data-state", "refunding")
    frozen.locator("form[data-action=withdraw] button").click()
    sign_in_sheet(page)
    frozen = page.locator(f"#order-{oranges}")
    expect(frozen).to_have_attribute("data-state", "refunded")
    expect(frozen.locator("form[data-action=withdraw]")).to_have_count(0)
    expect(page.locator("#notices")).to_contain_text("tUSD 已到账")
    shot(page, "04-orders-refunded")
    assert wallet.signed == 2 + 1 + 2 + 1  # join (permit + request), cancel, join again, withdraw


def test_leader_confirms_a_short_receipt_and_the_neighbour_is_refunded_for_it_and_a_claim(
    journeys: Journeys, phone: tuple[Any, Wallet], tmp_path: Path
) -> None:
    """陈姐's pork group (consumer 4's 3 packs) receives 2: the receipt says so (with a photo), the
    neighbour hears of the short delivery live and sees the refund owed for the missing pack,
    takes the 2 there with a pickup code, files a claim on one with a photo; the farm rejects it
    (its claims page), the platform upholds it (/ops/disputes); once the deal settles (the
    keeper's part, run here by hand) the neighbour collects both refunds from the orders page.
    Figures are checked against the contract's rules (``chain.deal_rules``) and its ``owed``."""
    page, wallet = phone
    _, _, chen = LEADERS
    pork = journeys.report.deals["pork_claim"]
    mine = next(o for o in ORDERS if o.deal == "pork_claim" and o.leader is chen)
    neighbour, ordered = mine.buyer, mine.quantity
    chain = journeys.services.chain
    escrow = chain.clients.escrow
    price = escrow.final_unit_price(pork)
    photo = tmp_path / "goods.png"
    photo.write_bytes(photo_png())

    # The neighbour's orders page stays open while the goods come.
    wallet.account = neighbour.account
    page.goto(f"{journeys.base}/orders/{neighbour.address}?lang=zh")
    expect(page.locator(f"#order-{pork}")).to_have_attribute("data-state", "formed")

    # 陈姐 (en): one pack of three never came; the receipt says 2, with a photo of what did.
    leader_context, leader, leader_errors = open_phone(journeys.browser, Wallet(chen.account))
    try:
        leader.goto(f"{journeys.base}/leader?lang=en")
        leader.locator("#wallet-bar button").click()  # connect: on to this leader's own page
        leader.wait_for_url(f"**/leader/{chen.address}?lang=en")
        expect(leader.locator("#me")).to_contain_text(chen.name_en)
        rice = journeys.report.deals["rice_open"]
        expect(leader.locator(f"#group-{rice} .qr svg")).to_be_visible()
        shot(leader, "05-leader-en")
        group = leader.locator(f"#group-{pork}")
        expect(group).to_contain_text(neighbour.name_en)
        group.locator("input[name=quantity]").fill(str(ordered - 1))
        group.locator("input[type=file]").set_input_files(str(photo))
        group.locator("form[data-action=confirm_receipt] button").click()
        sheet = leader.locator("dialog#tuan-steps")
        expect(sheet).to_contain_text(f"Confirm {ordered - 1} units of")  # what is signed
        expect(sheet).to_contain_text(chen.place_en)
        sign_in_sheet(leader, "06-receipt-review")
        received = leader.locator(f"#group-{pork} .received")
        expect(received).to_contain_text(f"{ordered - 1} units · 1 short")
        expect(leader.locator(f"#group-{pork} form[data-action=confirm_receipt]")).to_have_count(0)
        shot(leader, "07-leader-received-short")

        # The neighbour's open page hears of it (server-sent events), without a reload.
        arrived = f"到货通知：两头乌猪肉 已到 {chen.place_zh}，少到 1 份"
        expect(page.locator("#notices li.new")).to_contain_text(arrived)
        # Its time in the form of every time on the page (T.when), in the phone's zone, named.
        live_time = page.locator("#notices li.new .small").first
        expect(live_time).to_have_text(re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d UTC\+8$"))
        expect(page.locator("#notices .refresh")).to_be_visible()
        shot(page, "08-notice-live", full_page=False)
        page.locator("#notices .refresh a").click()
        order = page.locator(f"#order-{pork}")
        expect(order).to_have_attribute("data-state", "ready")
        expect(order.locator(".state")).to_have_text("待提货")
        # The refund for the missing pack, before any handover: each of the group's units gets
        # back ⌊shortage × price / ordered⌋ (GroupBuyEscrow.confirmReceipt), as the chain says.
        per_unit, _ = deal_rules.shortfall(ordered, ordered - 1, price)
        assert escrow.shortfall(pork, chen.address).refund_per_unit == per_unit
        short = order.locator(".short")
        expect(short).to_contain_text(f"自提点到货 {ordered - 1}/{ordered} 份，少 1 份")
        expect(short).to_contain_text(f"缺货退款 {money(ordered * per_unit)} tUSD，结算时退还")

        # The pickup code offers the units that are there; the leader pastes it and hands out.
        units = order.locator(".pickup-code input[name=quantity]")
        expect(units).to_have_value(str(ordered - 1))
        order.locator(".pickup-code button[type=submit]").click()
        sign_in_sheet(page)
        expect(order.locator(".pickup-qr svg")).to_be_visible()
        shot(page, "09-orders-short-pickup-code")
        code = order.locator("[data-pickup-code]").text_content() or ""
        leader.goto(f"{journeys.base}/leader/{chen.address}/handout/{pork}?lang=en")
        leader.locator("#paste").fill(code)
        leader.locator("#paste-add").click()
        expect(leader.locator("#queue li")).to_contain_text(f"× {ordered - 1} · 1 short")
        leader.locator("#hand-out").click()
        sign_in_sheet(leader)
        row = leader.locator(f'.pick-list li[data-buyer="{neighbour.address}"]')
        expect(row).to_have_attribute("data-state", "picked_up")
    finally:
        leader_context.close()
    assert not leader_errors, leader_errors

    # Handed over short: the missing pack is this order's, refunded at the final price.
    page.reload()
    order = page.locator(f"#order-{pork}")
    expect(order).to_have_attribute("data-state", "picked_up")
    expect(order.locator(".short")).to_contain_text(f"缺货退款 {money(price)} tUSD，结算时退还")

    # A quality claim on one of the two packs, with a photo.
    expect(page.locator("#notices")).to_contain_text(arrived)
    order.locator("details.claim-box summary").click()
    claim = order.locator("form[data-action=file_claim]")
    claim.locator("textarea[name=note]").fill("一盒有异味")
    claim.locator("input[type=file]").set_input_files(str(photo))
    claim.locator("button[type=submit]").click()
    sign_in_sheet(page, "10-claim-review")
    order = page.locator(f"#order-{pork}")
    expect(order.locator(".claim")).to_contain_text("等待供应商答复")
    # The photo and the note are personal data: in the private store, not on the gateway.
    with Session(journeys.services.engine) as session:
        cid = session.scalars(
            select(ClaimEvent.evidence_cid).where(
                ClaimEvent.deal_id == pork, ClaimEvent.buyer == neighbour.address
            )
        ).one()
    assert httpx.get(f"{journeys.base}/ipfs/{cid}").status_code == 404
    evidence = order.locator(".private-evidence")
    evidence.locator("button").click()  # the buyer signs in (SIWE) and opens it
    expect(evidence.locator("output")).to_contain_text("一盒有异味")
    expect(evidence.locator(".photos img")).to_have_count(1)
    shot(page, "10b-orders-claim-filed")

    # The farm rejects it from its claims page (zh); the platform upholds it (en).
    key = f"#claim-{pork}-{neighbour.address}"
    for account, url, button, status, name in (
        (
            PORK_FARM.account,
            f"/supplier/{PORK_FARM.address}/claims?lang=zh",
            "reject",
            "rejected",
            "10c-supplier-rejects",
        ),
        (chain.platform, "/ops/disputes?lang=en", "uphold", "upheld", "10d-platform-upholds"),
    ):
        context, other, errors = open_phone(journeys.browser, Wallet(account))
        try:
            other.goto(journeys.base + url)
            other.locator(f"{key} form.{button} button[type=submit]").click()
            sign_in_sheet(other, name)
            expect(other.locator(key)).to_have_attribute("data-status", status)
        finally:
            context.close()
        assert not errors, errors

    page.reload()
    order = page.locator(f"#order-{pork}")
    expect(order.locator(".claim")).to_contain_text("售后成立，退款在结算时到账")
    notices = page.locator("#notices")
    expect(notices).to_contain_text("两头乌猪肉 售后：供应商拒绝，平台将裁决")
    expect(notices).to_contain_text("两头乌猪肉 售后成立：1 份退款")

    # The keeper's part (no keeper runs here): past every window, the seed's unanswered claim
    # (consumer 2's) is upheld by default and the deal settles.
    params = escrow.deal_params(pork)
    settle_at = deal_rules.settleable_at(
        delivery_deadline=params.delivery_deadline,
        dispute_window=params.dispute_window,
        last_receipt_at=escrow.deal_totals(pork).last_receipt_at,
        pickup_deadline=params.pickup_deadline,
        last_pickup_at=escrow.pickup(pork, neighbour.address).at,
    )
    now = int(chain.w3.eth.get_block("latest")["timestamp"])
    chain.w3.provider.make_request("evm_increaseTime", [max(0, settle_at - now) + 60])  # type: ignore[arg-type]
    chain.w3.provider.make_request("evm_mine", [])  # type: ignore[arg-type]
    escrow.finalize_unanswered_claim(pork, CONSUMERS[1].address, signer=chain.keeper)
    escrow.settle(pork, signer=chain.keeper)
    wait_ready(journeys.base)  # the index has the settlement

    # Rebate to the final price + the upheld pack + the missing pack (GroupBuyEscrow._buyerOwed).
    owed = deal_rules.buyer_owed(
        status=DealStatus.SETTLED,
        now=settle_at,
        delivery_deadline=params.delivery_deadline,
        top_price=deal_rules.top_price(params.price_tiers),
        unit_price=price,
        quantity=ordered,
        upheld_quantity=1,
        leader_received=True,
        short_refund=1 * price,
    )
    assert escrow.owed(pork, neighbour.address) == owed
    page.reload()
    order = page.locator(f"#order-{pork}")
    expect(order).to_have_attribute("data-state", "refunding")
    expect(order.locator(".owed")).to_have_text(f"{money(owed)} tUSD")
    expect(order.locator(".short")).to_contain_text(f"缺货退款 {money(price)} tUSD（已计入退款）")
    expect(order.locator(".picked-up")).to_contain_text(
        "2 份 · 少 1 份，退款给你"
    )  # not the leader's words
    shot(page, "10e-orders-refund-owed")
    order.locator("form[data-action=withdraw] button").click()
    sign_in_sheet(page)
    order = page.locator(f"#order-{pork}")
    expect(order.locator("form[data-action=withdraw]")).to_have_count(0)
    expect(order).to_contain_text(f"{money(owed)} tUSD")  # 已退回
    expect(page.locator("#notices")).to_contain_text(f"{money(owed)} tUSD 已到账（两头乌猪肉）")
    shot(page, "10f-orders-refunds-paid")
    assert escrow.owed(pork, neighbour.address) == 0


def test_a_passkey_account_joins_from_the_shop_with_the_same_steps(journeys: Journeys) -> None:
    """No wallet at all: a passkey made on /passkey (Chromium's virtual authenticator), test
    tokens from the local faucet, then the shop's join form signs through the passkey account
    (a user operation through the bundler) with the same step sheet, and the order is there."""
    rice = journeys.report.deals["rice_open"]
    base = journeys.base.replace("127.0.0.1", "localhost")  # an RP ID is a host name, not an IP
    context, page, _ = passkey_phone(journeys.browser, locale="en-US")
    try:
        page.goto(f"{base}/passkey?lang=en")
        page.locator('[data-action="create"]').click()
        account = page.locator('[data-field="address"]')
        expect(account).to_have_text(re.compile(r"^0x[0-9a-fA-F]{40}$"))
        address = account.inner_text()
        page.locator('[data-action="faucet"]').click()
        expect(page.locator('[data-field="balance"]')).not_to_have_text("0.00")

        page.goto(f"{base}/?lang=en")
        expect(page.locator("#wallet-bar .who")).to_contain_text("Passkey")
        card = page.locator(f"#deal-{rice}")
        card.locator("button[type=submit]").click()
        sheet = page.locator("dialog#tuan-steps")
        expect(sheet.locator("ul.signed li")).to_contain_text("passkey")
        sign_in_sheet(page, "11-passkey-join-review")
        page.wait_for_url(f"**/orders/{address}?lang=en")
        expect(page.locator(f"#order-{rice}")).to_have_attribute("data-state", "joining")
        shot(page, "12-passkey-orders")
    finally:
        context.close()


def test_without_a_wallet_one_browses_looks_up_orders_and_checks_the_trail(
    journeys: Journeys,
) -> None:
    """A WeChat-like browser: no wallet, no passkey. Acting says why in words; the rest works."""
    rice = journeys.report.deals["rice_open"]
    buyer = CONSUMERS[0]
    context = journeys.browser.new_context(viewport=PHONE, is_mobile=True, has_touch=True)
    try:
        page = context.new_page()
        page.set_default_timeout(WAIT_MS)
        page.goto(f"{journeys.base}/?lang=zh")
        page.locator(f"#deal-{rice} button[type=submit]").click()
        expect(page.locator("dialog#tuan-steps .status-line")).to_contain_text("没有找到钱包")
        page.locator("dialog#tuan-steps .sheet-close").click()

        page.goto(f"{journeys.base}/orders?lang=zh")
        page.locator("form.lookup input[name=address]").fill(buyer.address)
        page.locator("form.lookup button").click()
        page.wait_for_url(f"**/orders/{buyer.address}?lang=zh")
        expect(page.locator(f"#order-{rice}")).to_have_attribute("data-state", "joining")

        page.goto(f"{journeys.base}/?lang=zh")
        page.locator(f"#deal-{rice} a", has_text="查看溯源").click()
        expect(page.locator("h1")).to_contain_text("五常大米")
        expect(page.locator('[data-verification="verified"]').first).to_be_visible()
    finally:
        context.close()


def test_an_action_the_contract_refuses_is_explained_in_words(
    journeys: Journeys, phone: tuple[Any, Wallet]
) -> None:
    """Consumer 1 ordered rice at Wang's point; joining again at Chen's is refused at prepare
    (the contract's LeaderMismatch, found by the dry run) and said in words, nothing signed."""
    page, wallet = phone
    rice = journeys.report.deals["rice_open"]
    _, _, chen = LEADERS
    wallet.account = CONSUMERS[0].account
    page.goto(f"{journeys.base}/?lang=en")
    card = page.locator(f"#deal-{rice}")
    card.locator("select[name=leader]").select_option(label=chen.place_en)
    card.locator("button[type=submit]").click()
    sheet = page.locator("dialog#tuan-steps")
    expect(sheet.locator(".status-line")).to_contain_text("You ordered at another pickup point")
    expect(sheet.locator('li[data-step="review"]')).to_have_class("failed")
    shot(page, "13-refused-in-words", full_page=False)
    assert wallet.signed == 0


def test_a_neighbour_applies_to_be_a_leader_and_sees_the_review(
    journeys: Journeys, phone: tuple[Any, Wallet]
) -> None:
    """An account with no role: the leader page offers the application (a public profile, no
    personal data); once relayed, the page says it is under review and names the point."""
    from chain.accounts import dev_account

    page, wallet = phone
    wallet.account = dev_account(17)  # no role in the demo
    page.goto(f"{journeys.base}/leader?lang=zh")
    page.locator("#wallet-bar button").click()
    page.wait_for_url(f"**/leader/{wallet.account.address}?lang=zh")
    licence = _apply_as_leader(page, "赵叔 · 枫林苑", "枫林苑北门自提点")
    sign_in_sheet(page, "14-apply-review")
    expect(page.locator("#review")).to_contain_text("平台审核中")
    expect(page.locator("#me")).to_contain_text("赵叔 · 枫林苑")  # named by its own profile
    expect(page.locator("#me")).to_contain_text("枫林苑北门自提点")
    expect(page.locator("#apply")).to_have_count(0)
    shot(page, "15-leader-under-review")
    # The credentials went to the private store (sealed), and only their digest to the chain.
    registry = journeys.services.chain.clients.registry
    party = registry.party(PartyKind.LEADER, wallet.account.address)
    assert party.credentials_digest == hashlib.sha256(licence["buffer"]).digest()


def _apply_as_leader(page: Any, name: str, place: str) -> dict[str, Any]:
    """Fill the leader page's application and submit it (up to the step sheet); the licence."""
    form = page.locator("#apply form")
    form.locator("input[name=name]").fill(name)
    form.locator("input[name=place]").fill(place)
    form.locator("input[name=street_address]").fill("上海市闵行区枫林路 8 号")
    form.locator("input[name=opening_hours]").fill("08:00–20:00")
    licence = {"name": "licence.png", "mimeType": "image/png", "buffer": photo_png(place)}
    form.locator("input[data-private=credentials_digest]").set_input_files(licence)
    form.locator("button[type=submit]").click()
    expect(page.locator("dialog#tuan-steps")).to_contain_text(place)
    return licence


def test_a_rejected_leader_applicant_applies_again_from_the_page(
    journeys: Journeys, phone: tuple[Any, Wallet]
) -> None:
    """The registry takes a new application after a rejection: the page says it was rejected,
    with the platform's reason, and offers the form again (it offered nothing: a dead end)."""
    from eth_account import Account

    from traceability.ipfs import parse_cid

    page, wallet = phone
    wallet.account = Account.create()  # no role, fresh each run
    applicant = wallet.account.address
    page.goto(f"{journeys.base}/leader?lang=en")
    page.locator("#wallet-bar button").click()
    page.wait_for_url(f"**/leader/{applicant}?lang=en")
    _apply_as_leader(page, "孙阿姨 · 桂花苑", "桂花苑东门自提点")
    sign_in_sheet(page)
    expect(page.locator("#review")).to_be_visible()

    registry = journeys.services.chain.clients.registry
    reason = {"type": "tuanchain:ReviewDecision", "reason": "licence photo unreadable"}
    reason_cid = journeys.services.store.put(json.dumps(reason).encode())
    platform = journeys.services.chain.platform
    registry.reject_leader(applicant, parse_cid(reason_cid), signer=platform)
    until_indexed(page, lambda: page.locator("#why").count() == 1)
    expect(page.locator("#me .party")).to_have_text("Rejected")
    expect(page.locator("#why")).to_contain_text("rejected your leader application")
    expect(page.locator("#why .reason-text")).to_have_text("licence photo unreadable")
    reason_link = page.locator("#why a.reason").get_attribute("href") or ""
    assert "licence photo unreadable" in httpx.get(journeys.base + reason_link).text
    expect(page.locator("#apply h2")).to_have_text("Apply again to be a leader")
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= PHONE["width"], width  # nothing wider than the phone
    shot(page, "15b-leader-rejected-apply-again")

    licence = _apply_as_leader(page, "孙阿姨 · 桂花苑", "桂花苑东门自提点（新）")
    sign_in_sheet(page)
    expect(page.locator("#review")).to_be_visible()
    expect(page.locator("#why")).to_have_count(0)
    party = registry.party(PartyKind.LEADER, applicant)
    assert party.status == PartyStatus.PENDING
    assert party.credentials_digest == hashlib.sha256(licence["buffer"]).digest()
    page.goto(f"{journeys.base}/leader/{applicant}?lang=zh")
    shot(page, "15c-leader-applied-again-zh")


def test_a_consumer_consents_to_sms_notices_and_an_operator_adds_a_gateway(
    journeys: Journeys, phone: tuple[Any, Wallet]
) -> None:
    """Consent is given on the consumer's own page (signed in), kept sealed, and withdrawn; the
    operator's webhooks page shows nothing before sign-in, then registers a gateway (secret once)."""
    from api.webhooks import contacts
    from api.webhooks.runner import document_key

    page, wallet = phone
    buyer = CONSUMERS[1]
    wallet.account = buyer.account
    page.goto(f"{journeys.base}/orders/{buyer.address}?lang=zh")
    box = page.locator("#contact")
    box.locator("summary").click()
    box.locator("input[name=phone]").fill("+86 139 0000 1111")
    box.locator("input[name=consent]").check()
    box.locator("button[type=submit]").click()
    expect(box.locator("output")).to_contain_text("已保存：+8613900001111")
    shot(page, "15-contact-consent", full_page=False)
    key = document_key(journeys.services)
    with Session(journeys.services.engine) as session:
        kept = contacts.get(session, key, buyer.address)
    assert kept is not None and kept.phone == "+8613900001111"
    box.locator("[data-withdraw]").click()
    expect(box.locator("output")).to_contain_text("已撤回")
    with Session(journeys.services.engine) as session:
        assert contacts.get(session, key, buyer.address) is None

    # The operator: a fresh browser (no session yet), then the platform's account signs in.
    page.context.clear_cookies()
    page.evaluate("localStorage.clear()")
    wallet.account = journeys.services.chain.platform
    page.goto(f"{journeys.base}/ops/webhooks?lang=en")
    expect(page.locator("#webhooks-sign-in")).to_be_visible()
    page.locator("[data-sign-in]").click()
    form = page.locator("#webhook-add")
    expect(form).to_be_visible()  # signed in (the page reloaded)
    # A refused URL says why in the page's language (the API's code and English stay).
    page.goto(f"{journeys.base}/ops/webhooks?lang=zh")
    form.locator("input[name=url]").fill("https://169.254.169.254/latest/meta-data")
    form.locator("button[type=submit]").click()
    expect(form.locator("output")).to_contain_text(
        "不能发送到这个网址：169.254.169.254 是链路本地地址"
    )
    shot(page, "16-ops-webhooks-refused", full_page=False)
    page.goto(f"{journeys.base}/ops/webhooks?lang=en")
    form.locator("input[name=url]").fill("https://sms-gateway.example/hook")
    form.locator("input[name=description]").fill("SMS gateway")
    form.locator("button[type=submit]").click()
    expect(form.locator("output")).to_contain_text("whsec_")
    page.reload()
    expect(page.locator("article.webhook code").first).to_contain_text("sms-gateway.example")
    shot(page, "16-ops-webhooks")
    # Disabling is final: the first tap says what it does, the second one disables.
    card = page.locator("article.webhook", has_text="sms-gateway.example").first
    stop = card.locator("details.stop-endpoint")
    expect(stop.locator("[data-disable]")).to_be_hidden()
    stop.locator("summary").click()
    expect(stop.locator(".effect")).to_contain_text("cannot be turned back on")
    shot(page, "16-ops-webhooks-disable", full_page=False)
    stop.locator("[data-disable]").click()
    card = page.locator("article.webhook", has_text="sms-gateway.example").first
    expect(card).to_have_attribute("data-disabled", "true")
    expect(card).to_contain_text("disabled")
