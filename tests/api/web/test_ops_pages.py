"""The operators' disputes and recalls pages in Chromium on a phone: the pork farm rejects the
demo's quality claim from its claims page, the platform upholds it from /ops/disputes, then
recalls the rice batch from /ops/recalls, which freezes the open rice deal. Real pages, API,
relayer, escrow and registry on anvil, and indexer; the wallet is the test double of
tests/api/web/test_journeys.py (eth-account answering an EIP-6963 provider), and says so.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from eth_account import Account
from eth_account.signers.local import LocalAccount

from api.demo import catalog as c
from api.demo.seed import SeedReport
from api.indexer import runner as indexer_runner
from api.relayer import worker as relay_worker
from api.services import Services
from chain.clients import BatchStatus, ClaimStatus, DealStatus
from chain.settings import Settings

from .conftest import served_on_snapshot
from .phone import Wallet, open_phone
from .test_journeys import shot, sign_in_sheet

playwright_api = pytest.importorskip("playwright.sync_api")


@dataclass
class Ops:
    base: str
    services: Services
    browser: Any
    deals: dict[str, int]


@pytest.fixture(scope="module")
def ops(
    seeded_chain: tuple[Services, SeedReport],
    web_settings: Settings,
    tmp_path_factory: pytest.TempPathFactory,
    browser: Any,
) -> Iterator[Ops]:
    """One server, indexer and relayer for the module, on the seeded chain; reverted after."""
    loops = (indexer_runner.start_background, relay_worker.start_background)
    index_dir = tmp_path_factory.mktemp("ops")
    with served_on_snapshot(seeded_chain, web_settings, index_dir, loops) as (base, services):
        yield Ops(base, services, browser, seeded_chain[1].deals)


def _phone(ops: Ops, account: LocalAccount) -> tuple[Any, Any, list[str]]:
    return open_phone(ops.browser, Wallet(account))


def test_the_supplier_rejects_and_the_platform_upholds_a_claim(ops: Ops) -> None:
    expect = playwright_api.expect
    escrow = ops.services.chain.clients.escrow
    deal, buyer = ops.deals["pork_claim"], c.CONSUMERS[1].address
    key = f"#claim-{deal}-{buyer}"

    context, page, errors = _phone(ops, c.PORK_FARM.account)
    try:
        page.goto(f"{ops.base}/supplier/{c.PORK_FARM.address}/claims?lang=en")
        card = page.locator(key)
        expect(card).to_have_attribute("data-status", "filed")
        expect(card.locator(".answer")).to_contain_text("due by")
        expect(card.locator("blockquote.note")).to_contain_text("packaging leaked")
        shot(page, "ops-01-supplier-claims")
        card.locator("form.reject button[type=submit]").click()
        sign_in_sheet(page)
        expect(page.locator(key)).to_have_attribute("data-status", "rejected")
        expect(page.locator(key).locator("form")).to_have_count(0)  # nothing left to answer
    finally:
        context.close()
    assert not errors, errors
    assert escrow.claim(deal, buyer).status == ClaimStatus.REJECTED

    context, page, errors = _phone(ops, ops.services.chain.platform)
    try:
        page.goto(f"{ops.base}/ops/disputes?lang=en")
        card = page.locator(key)
        expect(card).to_have_attribute("data-status", "rejected")
        expect(page.locator("#waiting")).to_have_text("1")
        expect(card.locator(".answer")).to_contain_text("the platform decides")
        shot(page, "ops-02-disputes")
        card.locator("form.uphold button[type=submit]").click()
        # A decision is final: the sheet says so before the arbiter signs.
        expect(page.locator("dialog#tuan-steps .summary")).to_contain_text("cannot be undone")
        sign_in_sheet(page, "ops-03-uphold-sheet")
        expect(page.locator(key)).to_have_attribute("data-status", "upheld")
        expect(page.locator("#waiting")).to_have_text("0")
        shot(page, "ops-04-upheld")
    finally:
        context.close()
    assert not errors, errors
    # Closed on chain (the upheld units are refunded when the deal settles).
    assert escrow.claim(deal, buyer).status == ClaimStatus.NONE


def test_the_platform_recalls_a_batch_and_the_open_deal_freezes(ops: Ops) -> None:
    expect = playwright_api.expect
    escrow = ops.services.chain.clients.escrow
    rice_open = ops.deals["rice_open"]
    assert escrow.deal_status(rice_open) == DealStatus.OPEN
    card_id = f"#batch-{c.RICE.gtin14}-{c.RICE.lot}"

    context, page, errors = _phone(ops, ops.services.chain.platform)
    try:
        page.goto(f"{ops.base}/ops/recalls?lang=en")
        card = page.locator(card_id)
        expect(card).to_have_attribute("data-status", "active")
        expect(page.locator(f"#batch-{c.ORANGES.gtin14}-{c.ORANGES.lot}")).to_have_attribute(
            "data-status", "recalled"
        )
        card.locator("details.close-batch summary").click()
        # Found in review: two "Reason" boxes, one per button, and nothing said the difference
        # or the effect. Each says what it is for; the effect is said before anything is signed.
        expect(card.locator(".effect")).to_contain_text("freezes the deals above")
        expect(card.locator("form.recall label")).to_contain_text("Why recall")
        expect(card.locator("form.non-compliant label")).to_contain_text("Why non-compliant")
        card.locator("form.recall textarea").fill("moisture above the limit in lot samples")
        shot(page, "ops-05-recall-form")
        card.locator("form.recall button[type=submit]").click()
        expect(page.locator("dialog#tuan-steps")).to_contain_text("moisture above the limit")
        expect(page.locator("dialog#tuan-steps .summary")).to_contain_text("cannot be undone")
        sign_in_sheet(page, "ops-06-recall-sheet")
        recalled = page.locator(card_id)
        expect(recalled).to_have_attribute("data-status", "recalled")
        expect(recalled.locator(".frozen-count")).not_to_have_text("0")
        frozen = recalled.locator(".frozen")
        expect(frozen).not_to_contain_text("(s)")  # "1 deal frozen by it", "2 deals frozen by it"
        expect(frozen.locator(f'a[href^="/deals/{rice_open}?"]')).to_have_count(1)
        expect(recalled.locator(".frozen")).to_contain_text(f"#{rice_open}")
        shot(page, "ops-07-recalled")
        reason = httpx.get(ops.base + recalled.locator("a.reason").get_attribute("href")).json()
        assert reason["reason"] == "moisture above the limit in lot samples"
        assert reason["action"] == "recall_batch"
    finally:
        context.close()
    assert not errors, errors
    assert escrow.deal_status(rice_open) == DealStatus.FROZEN


def test_the_pages_are_in_the_operators_navigation(ops: Ops) -> None:
    for lang, words in (
        ("zh", ("质量纠纷", "召回与不合规")),
        ("en", ("Quality disputes", "Recalls")),
    ):
        html = httpx.get(f"{ops.base}/dashboard?lang={lang}").text
        assert 'href="/ops/disputes' in html and 'href="/ops/recalls' in html
        assert all(w in html for w in words)
    assert httpx.get(f"{ops.base}/supplier/0xnot/claims").status_code == 400
    # A supplier without a wallet at hand looks their page up by address.
    found = httpx.get(
        f"{ops.base}/supplier/claims", params={"address": c.PORK_FARM.address, "lang": "en"}
    )
    assert found.status_code == 303
    assert found.headers["location"] == f"/supplier/{c.PORK_FARM.address}/claims?lang=en"
    assert 'href="/supplier/claims' in httpx.get(f"{ops.base}/ops/disputes").text

    # One leader's dashboard on the phone: their refunds by reason and trends by day.
    context, page, errors = _phone(ops, Account.create())
    try:
        page.goto(f"{ops.base}/dashboard?leader={c.LEADERS[1].address}&lang=en")
        playwright_api.expect(page.locator("#view-of")).to_be_visible()
        shot(page, "ops-09-dashboard-leader")
    finally:
        context.close()
    assert not errors, errors


def test_a_stranger_is_told_why_the_recall_is_refused(ops: Ops) -> None:
    """The page hides the platform's controls from an address without the role and says which
    role it lacks; shown anyway, the chain decides, and the sheet says why in words."""
    expect = playwright_api.expect
    card_id = f"#batch-{c.PORK.gtin14}-{c.PORK.lot}"
    context, page, errors = _phone(ops, Account.create())
    try:
        page.goto(f"{ops.base}/ops/recalls?lang=en")
        card = page.locator(card_id)
        expect(page.locator("#role-why")).to_contain_text(
            "does not hold the platform operator role"
        )
        expect(card.locator("details.close-batch")).to_be_hidden()
        page.evaluate("document.querySelectorAll('[data-needs]').forEach((e) => e.hidden = false)")
        card.locator("details.close-batch summary").click()
        card.locator("form.recall textarea").fill("I do not like pork")
        card.locator("form.recall button[type=submit]").click()
        expect(page.locator("dialog#tuan-steps")).to_contain_text(
            "Only the batch's supplier or the platform can recall it"
        )
        shot(page, "ops-08-stranger-refused", full_page=False)
    finally:
        context.close()
    assert not errors, errors
    registry = ops.services.chain.clients.registry
    pork = registry.compute_batch_id(c.PORK.gtin14, c.PORK.lot)
    assert registry.batch_status(pork) == BatchStatus.ACTIVE


def test_the_recalls_page_names_each_deal_by_its_product(ops: Ops) -> None:
    """Found in review: the deals selling a batch were a bare "#5"; each says its product."""
    rice_open = ops.deals["rice_open"]
    for lang, rice in (("zh", c.RICE.name_zh), ("en", c.RICE.name_en)):
        html = httpx.get(f"{ops.base}/ops/recalls?lang={lang}").text
        assert f'href="/deals/{rice_open}?lang={lang}">{rice} #{rice_open}</a>' in html


def test_the_webhooks_page_reconnects_the_wallet_like_the_other_operators_pages(
    ops: Ops,
) -> None:
    """Found in review: /ops/webhooks said "No wallet connected" to an operator whose wallet the
    other operators' pages reconnect; it reconnects it too, and says the role it holds."""
    expect = playwright_api.expect
    context, page, errors = _phone(ops, ops.services.chain.platform)
    try:
        page.goto(f"{ops.base}/ops/webhooks?lang=en")
        expect(page.locator("#wallet-bar .who")).to_contain_text("Test wallet")
        expect(page.locator("#wallet-bar button.connect")).to_be_hidden()
        expect(page.locator("#role-why")).to_contain_text("holds the platform operator role")
        expect(page.locator("#webhooks-sign-in")).to_be_visible()  # the API still wants a session
        shot(page, "ops-10-webhooks-reconnected", full_page=False)
    finally:
        context.close()
    assert not errors, errors
