"""A whole day on a 390 px phone, from application to a settled deal, through the pages only.

A NEW supplier (an anvil dev account the demo seed does not use) applies from its workspace with
private credentials; a NEW leader applies from its page; the platform opens both credentials in
the review queue (digest checked in the page) and approves them, while the public gateway and
another address cannot read them. The supplier registers a batch with product master data and a
commissioning event from forms; the platform lists a deal for that batch through the listing form
(price tiers and commission tiers); two consumers join through the shop at the new leader's point
until the deal forms (成团); chain time passes 截单 (anvil's evm_increaseTime, as a day would);
the leader confirms receipt from its page (the page writes the receiving event); time passes the
delivery deadline and the keeper (running as in ``tuanchain serve``) settles; the supplier sees
its payout and collects it from its workspace; the leader sees its commission.

Everything is real (pages, wallet.js, API, relayer, keeper, indexer, contracts on anvil) except the
wallet: the eth-account test double of tests/api/web/test_journeys.py. Screenshots land in
test-artifacts/journeys/whole-day-*.png.
"""

from __future__ import annotations

import functools
import hashlib
import re
import time
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest
from eth_account import Account
from eth_account.signers.local import LocalAccount

from api.demo import catalog as c
from api.demo.seed import SeedReport
from api.indexer import runner as indexer_runner
from api.keeper import runner as keeper_runner
from api.relayer import worker as relay_worker
from api.services import Services
from chain.accounts import dev_account
from chain.clients import DealStatus, PartyKind, PartyStatus
from chain.settings import Settings
from traceability.ipfs.cid import raw_cid_of_digest

from ..conftest import siwe_token
from .conftest import served_on_snapshot
from .phone import WAIT_MS, Wallet, open_phone
from .test_journeys import photo_png, shot, sign_in_sheet

playwright_api = pytest.importorskip("playwright.sync_api")

SUPPLIER = dev_account(16)  # no role in the demo seed
LEADER = dev_account(19)  # no role in the demo seed
PREFIX = "69012345111"  # the new supplier's GS1 Company Prefix (GTIN-13 part of its GTINs)
GTIN = c.with_check("0690123451111")
LOT = "TEA-2026-11"
LEADER_GLN = c.with_check("690123400077")
PLACE = "枫林苑北门自提点"


@pytest.fixture(scope="module")
def day(
    seeded_chain: tuple[Services, SeedReport],
    web_settings: Settings,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[str, Services]]:
    loops = (
        indexer_runner.start_background,
        relay_worker.start_background,
        # The keeper as `tuanchain serve` runs it, polled often so the day does not wait.
        functools.partial(keeper_runner.start_background, interval=0.5),
    )
    index_dir = tmp_path_factory.mktemp("whole-day")
    with served_on_snapshot(seeded_chain, web_settings, index_dir, loops) as served:
        yield served


def _until(what: str, check: Callable[[], bool], reload: Any = None) -> None:
    """Poll until ``check`` holds (readiness with a deadline, not a timing assertion)."""
    deadline = time.monotonic() + WAIT_MS / 1000
    while time.monotonic() < deadline:
        if check():
            return
        if reload is not None:
            reload.wait_for_timeout(300)
            reload.reload()
        else:
            time.sleep(0.2)
    pytest.fail(f"never: {what}")


def _advance(services: Services, seconds: int) -> None:
    w3 = services.chain.w3
    w3.provider.make_request("evm_increaseTime", [seconds])  # type: ignore[arg-type]
    w3.provider.make_request("evm_mine", [])  # type: ignore[arg-type]


def _token(base: str, account: LocalAccount) -> str:
    """A Sign-In with Ethereum session for ``account`` (as the CLI gets one)."""
    with httpx.Client(base_url=base, timeout=30) as http:
        return siwe_token(http, account)


def test_a_new_supplier_and_leader_reach_a_settled_deal_through_pages(
    day: tuple[str, Services], browser: Any, seeded_chain: tuple[Services, SeedReport]
) -> None:
    seeded_deals = seeded_chain[1].deals
    expect = playwright_api.expect
    base, services = day
    chain = services.chain
    registry, escrow = chain.clients.registry, chain.clients.escrow
    wallet = Wallet(SUPPLIER)
    context, page, errors = open_phone(browser, wallet)

    def be(account: LocalAccount) -> None:
        """Another person picks up the phone: a fresh session, the wallet on its account."""
        context.clear_cookies()
        page.goto(f"{base}/?lang=en")
        page.evaluate("localStorage.clear(); sessionStorage.clear()")
        wallet.account = account
        # A fresh page: the one the storage was cleared on may already have reconnected the last
        # person's wallet silently (its own copy in memory, not remembered in storage any more).
        page.goto(f"{base}/?lang=en")

    try:
        # 1. The supplier applies from its workspace (found from the nav), credentials private.
        page.goto(f"{base}/?lang=en")
        # Five tabs fit the phone's width: none is cut off behind a scroll.
        fits = "n => n.scrollWidth <= n.clientWidth"
        assert page.locator("nav.tabs").evaluate(fits)
        page.locator("nav.tabs a[href^='/supplier']").click()
        page.locator("#wallet-bar button.connect").click()
        page.wait_for_url(f"**/supplier/{SUPPLIER.address}?lang=en")
        form = page.locator("#apply-form")
        form.locator("input[name=name_zh]").fill("青山茶园")
        form.locator("input[name=name_en]").fill("Green Hill Tea")
        form.locator("input[name=place]").fill("浙江省安吉县")
        form.locator("input[name=products]").fill("白茶 white tea")
        licence = b"%PDF-1.7\n food business licence JY-2026-7777 \n%%EOF"
        form.locator("input[name=credentials]").set_input_files(
            {"name": "licence.pdf", "mimeType": "application/pdf", "buffer": licence}
        )
        form.locator("button[type=submit]").click()
        sign_in_sheet(page, "whole-day-01-supplier-applies")
        expect(page.locator("#review")).to_contain_text("reviewing")

        # 2. The leader applies from its page, with an ID card photo kept private.
        be(LEADER)
        page.locator("nav.tabs a[href^='/leader']").click()
        page.locator("#wallet-bar button").click()
        page.wait_for_url(f"**/leader/{LEADER.address}?lang=en")
        form = page.locator("#apply form")
        form.locator("input[name=name]").fill("赵叔 · 枫林苑")
        form.locator("input[name=place]").fill(PLACE)
        form.locator("input[name=street_address]").fill("上海市闵行区枫林路 8 号")
        form.locator("input[name=opening_hours]").fill("08:00–20:00")
        form.locator("input[name=gln]").fill(LEADER_GLN)
        # Bytes no other test publishes: the same photo made public by another test of the
        # session would rightly be on the gateway, under the same CID.
        id_card = photo_png("the ID card of a new leader, whole-day journey")
        form.locator("input[data-private=credentials_digest]").set_input_files(
            {"name": "id.png", "mimeType": "image/png", "buffer": id_card}
        )
        form.locator("button[type=submit]").click()
        sign_in_sheet(page, "whole-day-02-leader-applies")
        expect(page.locator("#review")).to_be_visible()

        # Personal documents: not on the public gateway, not readable by another address.
        stranger = _token(base, Account.create())
        for document in (licence, id_card):
            digest = hashlib.sha256(document).digest()
            assert httpx.get(f"{base}/ipfs/{raw_cid_of_digest(digest)}").status_code == 404
            refused = httpx.get(
                f"{base}/v1/documents/private/{digest.hex()}",
                headers={"Authorization": f"Bearer {stranger}"},
            )
            assert refused.status_code == 403, refused.text

        # 3. The platform opens both credentials in the review queue and approves both.
        be(chain.platform)
        page.goto(f"{base}/ops/review?lang=en")
        for kind in ("supplier", "leader"):
            card = page.locator(
                f"#party-{kind}-{(SUPPLIER if kind == 'supplier' else LEADER).address}"
            )
            expect(card).to_have_attribute("data-status", "pending")
            card.locator("button.open-credentials").click()
            expect(card.locator("output.credential-check")).to_contain_text(
                "matches the digest on chain"
            )
        shot(page, "whole-day-03-review-checked")
        for kind, who in (("supplier", SUPPLIER), ("leader", LEADER)):
            page.locator(f"#party-{kind}-{who.address} form.approve button[type=submit]").click()
            sign_in_sheet(page)
            expect(page.locator(f"#party-{kind}-{who.address}")).to_have_attribute(
                "data-status", "approved"
            )
        assert registry.party(PartyKind.SUPPLIER, SUPPLIER.address).status == PartyStatus.APPROVED
        assert registry.party(PartyKind.LEADER, LEADER.address).status == PartyStatus.APPROVED

        # The platform assigns the new supplier its GS1 Company Prefix (from its GS1 licence):
        # from now on only it registers batches of GTINs under the prefix.
        card = page.locator(f"#party-supplier-{SUPPLIER.address}")
        expect(card.locator(".prefixes .none")).to_be_visible()
        assign = card.locator("form.assign-prefix")
        assign.locator("input[name=prefix]").fill(PREFIX)
        shot(page, "whole-day-03b-assign-prefix")
        assign.locator("button[type=submit]").click()
        sign_in_sheet(page, "whole-day-03c-assign-prefix-sheet")
        expect(page.locator(f"#party-supplier-{SUPPLIER.address} code.prefix")).to_have_text(PREFIX)
        assert registry.company_prefix_owner(PREFIX) == SUPPLIER.address
        shot(page, "whole-day-03d-prefix-assigned")

        # 4. The supplier registers a batch with product master data, then commissions it.
        be(SUPPLIER)
        page.goto(f"{base}/supplier?lang=en")
        page.locator("#wallet-bar button.connect").click()
        page.wait_for_url(f"**/supplier/{SUPPLIER.address}?lang=en")
        expect(page.locator("#party-status")).to_have_text("Approved supplier")
        expect(page.locator("#register")).to_be_visible()  # the owner's controls, once connected
        form = page.locator("#register-form")
        expect(form).to_be_visible()  # unfolded: the new supplier has no batch yet
        expect(page.locator("#prefixes code.prefix")).to_have_text(PREFIX)
        # Another brand's product (the demo rice farm's GTIN): refused before anything is signed.
        form.locator("input[name=gtin14]").fill(c.RICE.gtin14)
        expect(page.locator("#gtin-check")).to_contain_text(
            f"not under your GS1 Company Prefix ({PREFIX})"
        )
        shot(page, "whole-day-04a-foreign-gtin")
        form.locator("input[name=gtin14]").fill(GTIN)
        form.locator("input[name=name_zh]").fill("安吉白茶")
        form.locator("input[name=name_en]").fill("Anji white tea")
        form.locator("input[name=photo]").set_input_files(
            {"name": "tea.png", "mimeType": "image/png", "buffer": photo_png()}
        )
        form.locator("input[name=specification]").fill("250 g / 罐")
        form.locator("input[name=unit]").fill("罐 / tin")
        form.locator("input[name=origin_zh]").fill("浙江省安吉县")
        form.locator("input[name=origin_en]").fill("Anji, Zhejiang")
        form.locator("input[name=lot]").fill(LOT)
        form.locator("input[name=quantity]").fill("100")
        form.locator("input[name=harvest_date]").fill("2026-10-30")
        form.locator("input[name=min_c]").fill("0")
        form.locator("input[name=max_c]").fill("25")
        shot(page, "whole-day-04-register-batch")
        form.locator("button[type=submit]").click()
        sign_in_sheet(page)
        card = page.locator(f"#batch-{GTIN}-{LOT}")
        expect(card).to_have_attribute("data-status", "active")
        card.locator("details.add-event summary").click()
        event = card.locator("form.event-form")
        event.locator("select[name=kind]").select_option("commissioning")
        event.locator("input[name=location]").fill(c.with_check("690123400011"))
        event.locator("input[name=quantity]").fill("100")
        event.locator("button[value=now]").click()
        sign_in_sheet(page)
        _until(
            "the commissioning event is indexed",
            lambda: page.locator(f"#batch-{GTIN}-{LOT} .event-count").inner_text() == "1",
            reload=page,
        )
        expect(page.locator("#wallet-bar")).to_contain_text("Test wallet")  # reconnected
        shot(page, "whole-day-05-batch-commissioned")

        # 5. The platform lists a deal for the batch: two price tiers, a commission tier.
        be(chain.platform)
        before = escrow.deal_count()
        page.goto(f"{base}/ops/deals/new?lang=en")
        page.locator("select[name=supplier]").select_option(SUPPLIER.address)
        expect(page.locator(f'.batches[data-supplier="{SUPPLIER.address}"]')).to_contain_text(
            "Anji white tea"
        )
        tiers = page.locator("#price-tiers tbody tr")
        tiers.nth(0).locator("[name=tier_price]").fill("20.00")
        tiers.nth(1).locator("[name=tier_q]").fill("3")
        tiers.nth(1).locator("[name=tier_price]").fill("18.00")
        page.locator("input[name=min_total_quantity]").fill("4")
        page.locator("input[name=dispute_window]").fill("1")  # hours; the contract needs > 0
        page.locator("input[name=answer_window]").fill("1")
        reward = page.locator("#commission-tiers tbody tr").nth(0)
        reward.locator("[name=ctier_volume]").fill("3")
        reward.locator("[name=ctier_pct]").fill("12")
        # The economics follow the terms typed (checked by the server), then the verdict.
        expect(page.locator("#economics")).to_contain_text("18.00")
        expect(page.locator("#leader-tiers")).to_contain_text("3+ units: 12.00%")
        expect(page.locator("#verdict")).to_contain_text("will accept")
        expect(page.locator("#list-deal")).to_be_enabled()
        page.evaluate("window.scrollTo(0, 0)")
        shot(page, "whole-day-06-listing")
        page.locator("#list-deal").click()
        sign_in_sheet(page)
        page.wait_for_url(f"{base}/?lang=en")
        deal = before + 1
        expect(page.locator(f"#deal-{deal}")).to_contain_text("Anji white tea")
        params = escrow.deal_params(deal)
        assert params.supplier == SUPPLIER.address

        # 6. Two neighbours join at the new leader's point through the shop: 4 tins, 成团.
        for buyer in (c.CONSUMERS[2], c.CONSUMERS[3]):
            be(buyer.account)
            card = page.locator(f"#deal-{deal}")
            card.locator("input[name=quantity]").fill("2")
            card.locator("select[name=leader]").select_option(label=PLACE)
            card.locator("button[type=submit]").click()
            sign_in_sheet(page)
            page.wait_for_url(f"**/orders/{buyer.address}?lang=en")
            expect(page.locator(f"#order-{deal}")).to_have_attribute("data-state", "joining")
        # The order shows the product's photo from its master data, as the shop does.
        photo = page.locator(f"#order-{deal} img.photo")
        expect(photo).to_have_attribute("src", re.compile(r"^/ipfs/"))
        expect(page.locator("#wallet-bar")).to_contain_text("Test wallet")  # reconnected
        shot(page, "whole-day-07-orders-joined")
        assert escrow.deal_totals(deal).total_quantity == 4

        # 7. 截单 passes (the day goes by), then the leader confirms receipt from its page.
        now = int(chain.w3.eth.get_block("latest")["timestamp"])
        _advance(services, params.join_deadline - now + 60)
        be(LEADER)
        page.goto(f"{base}/leader/{LEADER.address}?lang=en")
        page.locator("#wallet-bar button").click()
        group = page.locator(f"#group-{deal}")
        _until(
            "the leader can confirm receipt",
            lambda: page.locator(f"#group-{deal} form[data-action=confirm_receipt]").count() == 1,
            reload=page,
        )
        group.locator("input[type=file]").set_input_files(
            {"name": "goods.png", "mimeType": "image/png", "buffer": photo_png()}
        )
        group.locator("form[data-action=confirm_receipt] button").click()
        sign_in_sheet(page, "whole-day-08-receipt-sheet")
        expect(page.locator(f"#group-{deal} .received")).to_be_visible()
        expect(page.locator(f"#group-{deal} img.photo")).to_have_count(1)

        # 8. The pickup deadline passes (the delivery one when none); nobody presses anything:
        # the keeper, running in the service as on `make run`, settles the deal and pushes the
        # payouts (so there is nothing left for the supplier to collect by hand; the workspace's
        # collect button for a payout still owed is covered in test_supplier_workspace.py).
        settle_at = getattr(params, "pickup_deadline", None) or params.delivery_deadline
        now = int(chain.w3.eth.get_block("latest")["timestamp"])
        _advance(services, settle_at - now + 60)
        _until("the keeper settles", lambda: escrow.deal_status(deal) == DealStatus.SETTLED)
        _until("the keeper pays out", lambda: escrow.owed(deal, SUPPLIER.address) == 0)
        # 4 tins at the second tier's 18.00: 72.00; the leader's 3+ units tier pays 12%.
        commission = "8.64"

        # The leader sees the settled deal and its commission.
        _until(
            "the leader page shows the settled deal",
            lambda: "settled" in page.locator(f"#group-{deal}").inner_text().lower(),
            reload=page,
        )
        expect(page.locator(f"#group-{deal} .totals")).to_contain_text(commission)
        assert escrow.owed(deal, LEADER.address) == 0
        shot(page, "whole-day-09-leader-commission")

        # 9. The supplier sees its payout on its workspace: its share, paid, nothing owed.
        be(SUPPLIER)
        page.goto(f"{base}/supplier?lang=en")
        page.locator("#wallet-bar button.connect").click()
        page.wait_for_url(f"**/supplier/{SUPPLIER.address}?lang=en")
        row = page.locator(f"#payout-{deal}")
        _until(
            "the payout is shown paid",
            lambda: (
                page.locator(f"#payout-{deal} td.owed").count() == 1
                and page.locator(f"#payout-{deal} td.owed").inner_text().startswith("0.00")
            ),
            reload=page,
        )
        share = row.locator("td").nth(1).inner_text()
        assert share not in ("—", "0.00")
        expect(row.locator("td.paid")).to_have_text(share)
        shot(page, "whole-day-10-supplier-paid")

        # A neighbour's order is settled, and the tier's difference (2 × 2.00) came back to it.
        # Nobody handed the tea over on this day (no pickup codes were scanned before the pickup
        # deadline): the order says 逾期未提 with the deadline, not 已完成.
        buyer = c.CONSUMERS[3]
        page.goto(f"{base}/orders/{buyer.address}?lang=en")
        expect(page.locator(f"#order-{deal}")).to_have_attribute("data-state", "no_show")
        expect(page.locator(f"#order-{deal} .no-show")).to_contain_text("passed without a pickup")
        assert escrow.owed(deal, buyer.address) == 0
        # Its pork order (the demo's, at a point that never confirmed receipt) came back in
        # full after the delivery deadline passed: refunded, not "group formed".
        pork = f"#order-{seeded_deals['pork_claim']}"
        _until(
            "the undelivered pork order shows refunded",
            lambda: page.locator(pork).get_attribute("data-state") == "refunded",
            reload=page,
        )
        shot(page, "whole-day-11-order-done")
    finally:
        context.close()
    assert not errors, errors
