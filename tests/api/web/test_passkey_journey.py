"""A consumer with nothing installed, through the shop and order pages on a phone: a passkey
instead of a wallet (issue 14).

Playwright drives Debian's Chromium (390x844) on ``http://localhost:<port>`` (a WebAuthn RP ID
cannot be an IP address) against the seeded demo chain (between ``evm_snapshot`` and
``evm_revert``), its own index, and the service's indexer and bundler worker as in ``tuanchain
serve``. The authenticator is Chromium's virtual platform authenticator (DevTools
``WebAuthn.addVirtualAuthenticator``: CTAP2, internal transport, user verification that
succeeds); the pages' own ``navigator.credentials`` calls make real P-256 signatures. Nothing is
faked: the account is created by its first operation and the paymaster pays every one.

The consumer creates a passkey, gets test tokens from the faucet, joins the rice deal from the
shop, cancels (refunded to the contract account), joins again; another one, once the goods arrive,
shows a pickup code (signed by the passkey: ERC-1271) that the leader records, then files a claim
with a photo (uploads signed by the passkey through ERC-1271) — and neither ever holds any ETH.
Screenshots: ``test-artifacts/passkey/``.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import segno

from api.bundler import worker as bundler_worker
from api.demo.catalog import LEADERS, RICE
from api.demo.seed import SeedReport
from api.indexer import runner as indexer_runner
from api.relayer import worker as relay_worker
from api.services import Services
from chain.aa import compact
from chain.aa.webauthn import base64url_decode
from chain.artifacts import REPO_ROOT
from chain.eip712 import typed_data_digest
from chain.settings import Settings

from ..relay.conftest import advance_time, make_deal
from .conftest import served_on_snapshot
from .phone import ADDRESS, SET, Wallet, open_phone, passkey_phone, read_code
from .test_journeys import photo_png, sign_in_sheet

playwright_api = pytest.importorskip("playwright.sync_api")  # a pinned dev dependency

SHOTS = REPO_ROOT / "test-artifacts" / "passkey"


@pytest.fixture(scope="module")
def site(
    seeded_chain: tuple[Services, SeedReport],
    web_settings: Settings,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[str, Services, SeedReport]]:
    loops = (
        indexer_runner.start_background,
        bundler_worker.start_background,
        relay_worker.start_background,  # the leader's handover (a wallet's forward request)
    )
    index_dir = tmp_path_factory.mktemp("passkey-journey")
    # localhost: a WebAuthn RP ID cannot be an IP address.
    with served_on_snapshot(seeded_chain, web_settings, index_dir, loops, host="localhost") as (
        base,
        services,
    ):
        yield base, services, seeded_chain[1]


@pytest.fixture
def phone(site: tuple[str, Services, SeedReport], browser: Any) -> Iterator[Any]:
    context, page, errors = passkey_phone(browser)
    try:
        yield page
    finally:
        context.close()
    assert not errors, errors


def shot(page: Any, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    path = SHOTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=False)
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


# The QR code as a phone screen shows it (4 device pixels per CSS pixel), read by TuanScan.image.
SCAN_SHOWN_QR = """async (selector) => {
  const svg = document.querySelector(selector);
  const side = Math.round(svg.getBoundingClientRect().width * 4);
  const image = new Image();
  image.src = "data:image/svg+xml;charset=utf-8,"
    + encodeURIComponent(new XMLSerializer().serializeToString(svg));
  await image.decode();
  const canvas = document.createElement("canvas");
  canvas.width = canvas.height = side;
  const context = canvas.getContext("2d");
  context.fillStyle = "#fff";
  context.fillRect(0, 0, side, side);
  context.drawImage(image, 0, 0, side, side);
  const blob = await new Promise((resolve) => canvas.toBlob(resolve, "image/png"));
  return window.TuanScan.image(blob);
}"""


def indexed(base: str, block: int) -> None:
    """Until the server's index reaches ``block`` (readiness only, bounded)."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if httpx.get(base + "/healthz", timeout=2).json()["index"].get("last_block", 0) >= block:
            return
        time.sleep(0.1)
    pytest.fail(f"the index did not reach block {block}")


def known(page: Any) -> None:
    """Until the page knows the passkey: the wallet bar fetches its address after the page has
    loaded (readiness before a tap; the bar keeps its height either way)."""
    playwright_api.expect(page.locator("#wallet-bar .who")).to_contain_text("通行密钥账户")


def sign(page: Any, name: str | None = None) -> None:
    """The step sheet shows the operation; press Sign (the passkey answers by itself)."""
    sheet = page.locator("dialog#tuan-steps")
    button = sheet.locator("button[data-sign]")
    button.wait_for()
    if name:
        shot(page, name)
    button.click()


def join_with_a_new_passkey(page: Any, base: str, deal: Any) -> str:
    """A neighbour's first visit from a share link: a passkey made, the faucet's 200 tUSD taken,
    one unit joined; the passkey account's address."""
    expect = playwright_api.expect
    page.goto(f"{base}/passkey?lang=zh&deal={deal.deal_id}&leader={deal.leader.address}")
    page.click('[data-action="create"]')
    expect(page.locator("#passkey")).to_have_attribute("data-address", ADDRESS)
    account = page.get_attribute("#passkey", "data-address")
    page.click('[data-action="faucet"]')
    expect(page.locator("[data-field=balance]")).to_have_text("200.00")
    page.click('form.passkey-join button[type="submit"]')
    expect(page.locator("#passkey")).to_have_attribute("data-joined", SET)
    return str(account)


def test_a_passkey_consumer_joins_cancels_and_joins_again_paying_no_eth(
    site: tuple[str, Services, SeedReport], phone: Any
) -> None:
    base, services, report = site
    chain = services.chain
    page, expect = phone, playwright_api.expect
    rice = report.deals["rice_open"]
    _, _, chen = LEADERS

    page.goto(f"{base}/passkey?lang=zh")
    page.click('[data-action="create"]')
    expect(page.locator("#passkey")).to_have_attribute("data-address", ADDRESS)
    key = json.loads(page.evaluate("localStorage.getItem('tuan.passkey')"))
    account = chain.passkeys.factory.get_address(
        bytes.fromhex(key["qx"][2:]), bytes.fromhex(key["qy"][2:])
    )
    page.click('[data-action="faucet"]')
    expect(page.locator("[data-field=balance]")).to_have_text("200.00")
    expect(page.locator("#wallet-bar .who")).to_contain_text("通行密钥账户")
    shot(page, "01-passkey-signed-in")

    def join() -> None:
        page.goto(f"{base}/?lang=zh")
        known(page)
        card = page.locator(f"#deal-{rice}")
        card.locator("input[name=quantity]").fill("2")
        card.locator("select[name=leader]").select_option(label=chen.place_zh)
        card.locator("button[type=submit]").click()
        sheet = page.locator("dialog#tuan-steps")
        expect(sheet).to_contain_text("平台支付")  # the operation, in words: fees paid for you
        sign(page, "02-join-review")
        page.wait_for_url(f"**/orders/{account}?lang=zh")
        expect(page.locator(f"#order-{rice}")).to_have_attribute("data-state", "joining")

    join()
    assert chain.clients.escrow.order(rice, account).quantity == 2
    shot(page, "03-orders-joined")

    known(page)
    page.locator(f"#order-{rice} form[data-action=cancel] button").click()
    sign(page)
    expect(page.locator(f"#order-{rice}")).to_have_attribute("data-state", "refunded")
    assert chain.clients.token.balance_of(account) == 200 * 10**6  # refunded to the account

    join()
    shot(page, "04-orders-joined-again")
    assert chain.clients.escrow.order(rice, account).quantity == 2
    assert chain.w3.eth.get_balance(account) == 0  # never any ETH


def test_a_neighbour_without_a_wallet_scans_the_label_and_joins_from_the_deal_page(
    site: tuple[str, Services, SeedReport], browser: Any
) -> None:
    """From the label's QR code to an order with nothing installed: the join's step sheet,
    finding no wallet, offers a passkey instead of ending there; the passkey page brings one back
    to the deal, where the same button now joins (in English, as a visitor may read it)."""
    base, services, report = site
    chain = services.chain
    rice = report.deals["rice_open"]
    expect = playwright_api.expect
    context, page, errors = passkey_phone(browser, locale="en-US")
    try:
        page.goto(f"{base}/01/{RICE.gtin14}/10/{RICE.lot}?lang=en")
        page.locator(f'a[href^="/deals/{rice}"]').first.click()
        page.wait_for_url(f"**/deals/{rice}?lang=en")
        page.locator("form[data-action=join] button[type=submit]").click()
        sheet = page.locator("dialog#tuan-steps")
        expect(sheet).to_contain_text("No wallet found")
        way_on = sheet.locator("a[data-passkey]")
        expect(way_on).to_contain_text("Continue with a passkey")
        shot(page, "08-no-wallet-offers-a-passkey")
        way_on.click()
        page.wait_for_url("**/passkey?**")
        page.click('[data-action="create"]')
        expect(page.locator("#passkey")).to_have_attribute("data-address", ADDRESS)
        account = page.get_attribute("#passkey", "data-address")
        page.click('[data-action="faucet"]')
        expect(page.locator("[data-field=balance]")).to_have_text("200.00")
        page.locator("a[data-field=next]").click()
        page.wait_for_url(f"**/deals/{rice}?lang=en")
        expect(page.locator("#wallet-bar .who")).to_contain_text("Passkey")
        page.locator("form[data-action=join] button[type=submit]").click()
        sign(page, "09-deal-page-join-with-the-passkey")
        page.wait_for_url(f"**/orders/{account}**")
        expect(page.locator(f"#order-{rice}")).to_have_attribute("data-state", "joining")
    finally:
        context.close()
    assert not errors, errors
    assert chain.clients.escrow.order(rice, account).quantity == 1


def test_a_passkey_consumer_files_a_claim_with_a_photo_after_pickup(
    site: tuple[str, Services, SeedReport], phone: Any, tmp_path: Path, browser: Any
) -> None:
    """Evidence uploads are signed by the passkey through ERC-1271; the claim is a sponsored
    operation. The deal (min 1) succeeds when its join window ends; its leader confirms receipt."""
    base, services, _ = site
    chain = services.chain
    page, expect = phone, playwright_api.expect
    deal = make_deal(chain, min_quantity=1, join_window=600)

    account = join_with_a_new_passkey(page, base, deal)
    assert chain.clients.escrow.order(deal.deal_id, account).quantity == 1

    advance_time(chain, 601)  # the join window ends: min reached, the deal succeeded
    chain.clients.escrow.confirm_receipt(
        deal.deal_id, deal.batch_id, b"\x01" * 32, b"\x02" * 32, signer=deal.leader
    )
    indexed(base, chain.w3.eth.block_number)

    # 待提货: the pickup code, signed by the passkey (nothing sent); the leader records it and
    # the escrow checks the account's signature through ERC-1271.
    page.goto(f"{base}/orders/{account}?lang=zh")
    order = page.locator(f"#order-{deal.deal_id}")
    expect(order.locator(".state")).to_have_text("待提货")
    order.locator(".pickup-code button[type=submit]").click()
    sign(page)
    expect(order.locator(".pickup-qr svg")).to_be_visible()
    shot(page, "05-pickup-code")
    text = order.locator("[data-pickup-code]").text_content() or ""
    # A passkey's code carries the passkey's own part of the signature only (chain/aa/compact.py:
    # ~275 characters, a version-12 QR code; the whole ERC-1271 signature in hex made ~2,090, a
    # version-38 one); the service rebuilds the account signature the escrow checks (ERC-1271).
    # (Chromium now and then adds a key to clientDataJSON, ~110 bytes more: the bound allows it.)
    page.add_script_tag(url="/static/scan.js")
    assert page.evaluate(SCAN_SHOWN_QR, f"#order-{deal.deal_id} .pickup-qr svg") == text
    assert len(text) < 450 and segno.make(text, error="m").version <= 16
    code = read_code(text)
    assert code["buyer"].lower() == account.lower() and code["quantity"] == 1
    typed = chain.clients.escrow.handover_typed_data(
        deal.deal_id, account, deal.leader.address, 1, code["expiry"]
    )
    signature = compact.expand(
        base64url_decode(code["webauthn"]),
        typed_data=typed,
        account=account,
        chain_id=chain.passkeys.chain_id,
        signers=chain.passkeys.signers(account),
    )
    assert chain.passkeys.is_valid_signature(account, typed_data_digest(typed), signature)

    # The leader pastes it on the handout page (a wallet); the service rebuilds the account's
    # signature, the escrow checks it through ERC-1271.
    context, leader, errors = open_phone(browser, Wallet(deal.leader), "zh-CN")
    try:
        leader.goto(f"{base}/leader/{deal.leader.address}/handout/{deal.deal_id}?lang=zh")
        row = leader.locator(f'.pick-list li[data-buyer="{account}"]')
        expect(row).to_have_attribute("data-state", "awaiting_pickup")
        leader.locator("#paste").fill(text)
        leader.locator("#paste-add").click()
        expect(leader.locator("#queue li")).to_have_count(1)
        leader.locator("#hand-out").click()
        sign_in_sheet(leader)
        expect(row).to_have_attribute("data-state", "picked_up")
    finally:
        context.close()
    assert not errors, errors
    assert chain.clients.escrow.pickup(deal.deal_id, account).quantity == 1
    indexed(base, chain.w3.eth.block_number)

    photo = tmp_path / "goods.png"
    photo.write_bytes(photo_png())
    page.goto(f"{base}/orders/{account}?lang=zh")
    order = page.locator(f"#order-{deal.deal_id}")
    expect(order).to_have_attribute("data-state", "picked_up")
    order.locator("details.claim-box summary").click()
    claim = order.locator("form[data-action=file_claim]")
    claim.locator("textarea[name=note]").fill("一盒有异味")
    claim.locator("input[type=file]").set_input_files(str(photo))
    claim.locator("button[type=submit]").click()
    sign(page, "06-claim-review")
    expect(page.locator(f"#order-{deal.deal_id} .claim")).to_contain_text("等待供应商答复")
    shot(page, "07-claim-filed")
    assert chain.clients.escrow.claim(deal.deal_id, account).quantity == 1
    assert chain.w3.eth.get_balance(account) == 0


def test_goods_that_never_arrive_come_back_in_full_from_the_orders_page(
    site: tuple[str, Services, SeedReport], phone: Any
) -> None:
    """不到货: the group formed, but its leader never confirms receipt. Before the delivery
    deadline the order says when the goods are due and that nothing needs asking; after it the
    order is 退款中 (not 已成团) with the reason, and the neighbour collects the whole payment."""
    base, services, _ = site
    chain = services.chain
    page, expect = phone, playwright_api.expect
    deal = make_deal(chain, min_quantity=1, join_window=600)

    account = join_with_a_new_passkey(page, base, deal)
    token = chain.clients.token
    paid = 200 * 10**6 - token.balance_of(account)
    assert paid > 0

    advance_time(chain, 601)  # the join window ends: min reached, the group formed
    indexed(base, chain.w3.eth.block_number)
    page.goto(f"{base}/orders/{account}?lang=zh")
    order = page.locator(f"#order-{deal.deal_id}")
    expect(order).to_have_attribute("data-state", "formed")
    expect(order.locator(".delivery-deadline")).to_contain_text("无需申请")

    advance_time(chain, 3600)  # the delivery deadline passes without a receipt
    indexed(base, chain.w3.eth.block_number)
    page.reload()
    expect(order).to_have_attribute("data-state", "refunding")
    expect(order.locator(".state")).to_have_text("退款中")
    expect(order.locator(".undelivered")).to_contain_text("全额退给你")
    shot(page, "10-not-delivered-refund")
    order.locator("form[data-action=withdraw] button[type=submit]").click()
    sign(page)
    expect(page.locator(f"#order-{deal.deal_id}")).to_have_attribute("data-state", "refunded")
    assert token.balance_of(account) == 200 * 10**6  # all of it back


def test_a_passkey_added_on_a_second_device_acts_for_the_same_account(
    site: tuple[str, Services, SeedReport], phone: Any, browser: Any
) -> None:
    """The first device adds the second device's passkey to its account (a sponsored
    add_passkey operation, signed in the step sheet); the second device then names that account
    and, from then on, shows it, joins for it and signs for it (ERC-1271) — not for its own empty
    counterfactual account, which is what a remembered passkey without ``account`` did."""
    base, services, _ = site
    chain = services.chain
    first, expect = phone, playwright_api.expect
    deal = make_deal(chain, min_quantity=1, join_window=600)

    first.goto(f"{base}/passkey?lang=zh")
    first.click('[data-action="create"]')
    expect(first.locator("#passkey")).to_have_attribute("data-address", ADDRESS)
    account = first.get_attribute("#passkey", "data-address")
    first.click('[data-action="faucet"]')
    expect(first.locator("[data-field=balance]")).to_have_text("200.00")

    context, second, errors = passkey_phone(browser)
    try:
        second.goto(f"{base}/passkey?lang=zh&deal={deal.deal_id}&leader={deal.leader.address}")
        second.click('[data-action="create"]')
        expect(second.locator("#passkey")).to_have_attribute("data-address", ADDRESS)
        assert second.get_attribute("#passkey", "data-address") != account  # its own, empty
        second.locator("details.other-device summary").click()
        code = second.locator("[data-field=key]").text_content() or ""
        assert len(code) == 130
        shot(second, "08-second-device-key")

        first.locator("details.other-device summary").click()
        first.locator("form.add-device input[name=key]").fill(code)
        first.locator("form.add-device button[type=submit]").click()
        sign(first, "09-add-device-review")
        expect(first.locator("dialog#tuan-steps")).to_have_count(0)  # done: the page reloaded
        qx, qy = bytes.fromhex(code[2:66]), bytes.fromhex(code[66:])
        assert chain.passkeys.is_passkey(account, qx, qy)

        second.locator("form.use-account input[name=account]").fill(account)
        second.locator("form.use-account button[type=submit]").click()
        expect(second.locator("#passkey")).to_have_attribute("data-address", account)
        expect(second.locator("[data-field=balance]")).to_have_text("200.00")
        expect(second.locator("[data-field=status]")).to_contain_text(account)
        shot(second, "10-second-device-linked")
        second.reload()  # remembered on the device
        expect(second.locator("#passkey")).to_have_attribute("data-address", account)

        second.click('form.passkey-join button[type="submit"]')
        expect(second.locator("#passkey")).to_have_attribute("data-joined", "yes")
        assert chain.clients.escrow.order(deal.deal_id, account).quantity == 1

        message = "signed on the second device"
        signature = second.evaluate("(m) => TuanPasskey.signer().signMessage(m)", message)
        from chain.aa.erc7739 import personal_sign_hash

        assert chain.passkeys.is_valid_signature(
            account, personal_sign_hash(message), bytes.fromhex(signature[2:])
        )
    finally:
        context.close()
    assert not errors, errors


def _scan(page: Any, selector: str) -> str:
    """What a phone's camera reads from the QR code ``selector`` shows on ``page`` (the handout
    page's reader, TuanScan.image, on the picture of the code as the screen shows it)."""
    page.add_script_tag(url="/static/scan.js")
    page.locator(selector).wait_for()
    return page.evaluate(SCAN_SHOWN_QR, selector)


def test_a_second_device_is_added_by_scanning_qr_codes_between_the_two_phones(
    site: tuple[str, Services, SeedReport], phone: Any, browser: Any
) -> None:
    """Nothing copied by hand: the first phone shows its account as a QR code, the new phone
    opens it (its camera's link) and, once it has a passkey, shows its key as a QR code for the
    first phone to scan; the first phone's add form comes filled in, and still asks its passkey
    (the step sheet); then the new phone's "use this account", filled in too, links it. Each link
    carries a public value in its #fragment, which the browser never sends to the service."""
    base, services, _ = site
    chain = services.chain
    first, expect = phone, playwright_api.expect
    first.goto(f"{base}/passkey?lang=zh")
    first.click('[data-action="create"]')
    expect(first.locator("#passkey")).to_have_attribute("data-address", ADDRESS)
    account = first.get_attribute("#passkey", "data-address")
    first.locator("details.other-device summary").click()
    link = _scan(first, "[data-field=account-qr] svg")
    assert link == f"{base}/passkey?lang=zh#link={account}"
    shot(first, "11-first-device-account-qr")

    context, second, errors = passkey_phone(browser)
    requests: list[str] = []
    for device in (first, second):
        device.on("request", lambda r: requests.append(r.url))
    try:
        second.goto(link)  # the camera opens the link
        assert second.url == f"{base}/passkey?lang=zh"  # the fragment is read, then dropped
        second.click('[data-action="create"]')
        expect(second.locator("#passkey")).to_have_attribute("data-address", ADDRESS)
        expect(second.locator("details.other-device")).to_have_attribute("open", "")
        expect(second.locator("form.use-account input[name=account]")).to_have_value(account)
        code = second.locator("[data-field=key]").text_content() or ""
        key_link = _scan(second, "[data-field=key-qr] svg")
        assert key_link == f"{base}/passkey?lang=zh#add={code}"
        shot(second, "12-second-device-key-qr")

        first.goto(key_link)  # the first phone's camera opens the new phone's link
        expect(first.locator("#passkey")).to_have_attribute("data-address", account)
        expect(first.locator("form.add-device input[name=key]")).to_have_value(code)
        expect(first.locator("[data-field=scanned]")).to_contain_text(code[-8:])
        shot(first, "13-first-device-scanned-key")
        first.locator("form.add-device button[type=submit]").click()
        sign(first)  # the account's passkey still signs add_passkey
        expect(first.locator("dialog#tuan-steps")).to_have_count(0)
        assert chain.passkeys.is_passkey(
            account, bytes.fromhex(code[2:66]), bytes.fromhex(code[66:])
        )

        second.locator("form.use-account button[type=submit]").click()
        expect(second.locator("#passkey")).to_have_attribute("data-address", account)
        shot(second, "14-second-device-linked-by-qr")
    finally:
        context.close()
    assert not errors, errors
    # The links' fragments never reached the service (the pages ask it about public values only).
    assert requests and not [
        url for url in requests if "#" in url or "link=" in url or "add=" in url
    ]


def test_a_passkey_neighbour_who_becomes_a_leader_is_told_to_use_a_wallet_and_goes_on_with_one(
    site: tuple[str, Services, SeedReport], browser: Any
) -> None:
    """A neighbour made a passkey to shop, then applies to be a leader from the same phone. The
    paymaster pays for consumers' actions only: the form uploaded the licence, then the sheet
    said "Unknown action", and the page kept the passkey as its signer (no way to a wallet).
    Now the sheet says so before any upload, and "Use a wallet instead" signs it with the
    phone's wallet: the application is relayed and the page is the wallet's, under review."""
    from eth_account import Account

    from .phone import Wallet, add_passkey_authenticator, open_phone

    expect = playwright_api.expect
    base, _services, _report = site
    wallet = Wallet(Account.create())  # no role, fresh each run
    context, page, errors = open_phone(browser, wallet, locale="en-US")
    add_passkey_authenticator(context, page)
    try:
        page.goto(f"{base}/passkey?lang=en")
        page.click('[data-action="create"]')
        expect(page.locator("#passkey")).to_have_attribute("data-address", ADDRESS)
        account = page.get_attribute("#passkey", "data-address")
        page.goto(f"{base}/leader/{account}?lang=en")
        expect(page.locator("#wallet-bar .who")).to_contain_text("Passkey")
        form = page.locator("#apply form")
        form.locator("input[name=name]").fill("Uncle Zhao · Maple Court")
        form.locator("input[name=place]").fill("Maple Court north gate")
        form.locator("input[name=street_address]").fill("8 Maple Road, Minhang, Shanghai")
        licence = {"name": "licence.png", "mimeType": "image/png", "buffer": photo_png("licence")}
        form.locator("input[data-private=credentials_digest]").set_input_files(licence)
        form.locator("button[type=submit]").click()
        sheet = page.locator("dialog#tuan-steps")
        expect(sheet).to_contain_text("A passkey account can do a consumer's actions only")
        assert wallet.signed == 0
        shot(page, "leader-01-needs-a-wallet")
        sheet.locator("button[data-use-wallet]").click()
        sign_in = page.locator("dialog#tuan-steps button[data-sign]")
        sign_in.wait_for()
        shot(page, "leader-02-signed-by-the-wallet")
        sign_in.click()
        page.wait_for_url(f"**/leader/{wallet.account.address}?lang=en")
        expect(page.locator("#review")).to_be_visible()
        expect(page.locator("#me")).to_contain_text("Uncle Zhao · Maple Court")
        shot(page, "leader-03-under-review")
    finally:
        context.close()
    assert not errors, errors
