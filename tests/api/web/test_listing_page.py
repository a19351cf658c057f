"""The platform lists a deal from /ops/deals/new in Chromium on a phone: price tiers and volume
rewards through the form, a refused tier shown with its reason before anything is signed, then
signed, relayed, mined and indexed, and the deal is on the shop page. A stranger sees which role
it lacks and no controls, here and on the other operators' pages; the API refuses it too.
Real pages, API, relayer, escrow and registry on anvil, and indexer; the wallet is the test
double of tests/api/web/test_journeys.py (eth-account answering an EIP-6963 provider).
"""

from __future__ import annotations

import re
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
from chain.settings import Settings

from .conftest import PHONE, served_on_snapshot
from .phone import Wallet, open_phone
from .test_journeys import shot, sign_in_sheet

playwright_api = pytest.importorskip("playwright.sync_api")


@dataclass
class Ops:
    base: str
    services: Services
    browser: Any


@pytest.fixture(scope="module")
def ops(
    seeded_chain: tuple[Services, SeedReport],
    web_settings: Settings,
    tmp_path_factory: pytest.TempPathFactory,
    browser: Any,
) -> Iterator[Ops]:
    loops = (indexer_runner.start_background, relay_worker.start_background)
    index_dir = tmp_path_factory.mktemp("listing")
    with served_on_snapshot(seeded_chain, web_settings, index_dir, loops) as (base, services):
        yield Ops(base, services, browser)


def _phone(ops: Ops, account: LocalAccount) -> tuple[Any, Any, list[str]]:
    return open_phone(ops.browser, Wallet(account))


def _tier(page: Any, table: str, index: int) -> Any:
    return page.locator(f"#{table} tbody tr").nth(index)


def test_the_platform_lists_a_deal_with_tiers_through_the_form(ops: Ops) -> None:
    expect = playwright_api.expect
    escrow = ops.services.chain.clients.escrow
    before = escrow.deal_count()
    context, page, errors = _phone(ops, ops.services.chain.platform)
    try:
        page.goto(f"{ops.base}/ops/deals/new?lang=en")
        expect(page.locator("#role-why")).to_contain_text("holds the platform operator role")
        page.locator("select[name=supplier]").select_option(c.PORK_FARM.address)
        batches = page.locator(f'.batches[data-supplier="{c.PORK_FARM.address}"]')
        expect(batches).to_contain_text("Liangtouwu pork")
        expect(page.locator("#verdict")).to_contain_text("will accept")
        expect(page.locator("#economics tbody tr")).to_have_count(2)

        # A third price tier below the second's threshold: refused, with the reason, unsigned.
        page.locator("#add-price-tier").click()
        third = _tier(page, "price-tiers", 2)
        third.locator("[name=tier_q]").fill("10")
        third.locator("[name=tier_price]").fill("29.90")
        expect(page.locator("#verdict")).to_contain_text("would refuse")
        expect(third).to_have_class("refused")
        expect(page.locator('output.why[data-for="price_tiers"]')).to_contain_text(
            "Price tier 3 is refused"
        )
        expect(page.locator("#list-deal")).to_be_disabled()
        page.evaluate("window.scrollTo(0, 0)")  # a sticky nav is drawn where the page was scrolled
        shot(page, "listing-01-refused-tier")

        third.locator("[name=tier_q]").fill("50")
        page.locator("#add-commission-tier").click()
        reward = _tier(page, "commission-tiers", 1)
        reward.locator("[name=ctier_volume]").fill("60")
        reward.locator("[name=ctier_pct]").fill("15")
        # Pickup closing before delivery is due: refused too; then at delivery, 5 cash units a leader.
        pickup = page.locator("input[name=pickup_deadline]")
        pickup.fill(page.locator("input[name=join_deadline]").input_value())
        expect(page.locator('output.why[data-for="pickup_deadline"]')).to_contain_text(
            "Pickup must not close before delivery"
        )
        pickup.fill(page.locator("input[name=delivery_deadline]").input_value())
        page.locator("input[name=cash_cap_per_leader]").fill("5")
        expect(page.locator("#verdict")).to_contain_text("will accept")
        expect(page.locator("#economics tbody tr")).to_have_count(3)
        expect(page.locator("#leader-tiers li")).to_have_count(3)
        # The base rate counts from one unit: "1+ unit", never "1+ units" (plural forms).
        expect(page.locator("#leader-tiers li").first).to_contain_text("A leader's 1+ unit: 10")
        page.evaluate("window.scrollTo(0, 0)")
        shot(page, "listing-02-deal-form")  # docs/screenshot-deal-listing.png is a copy
        page.locator("#list-deal").click()
        expect(page.locator("dialog#tuan-steps")).to_contain_text("3 price tiers")
        sign_in_sheet(page, "listing-03-sign-sheet")
        page.wait_for_url(f"{ops.base}/?lang=en")
        deal_id = before + 1
        expect(page.locator(f"#deal-{deal_id}")).to_contain_text("Liangtouwu pork")
        shot(page, "listing-04-on-the-shop")
    finally:
        context.close()
    assert not errors, errors
    params = escrow.deal_params(deal_id)
    assert [(t.min_quantity, t.unit_price) for t in params.price_tiers] == [
        (0, 39_900_000),
        (20, 35_900_000),
        (50, 29_900_000),
    ]
    assert [(t.min_volume, t.commission_bps) for t in params.commission_tiers] == [
        (30, 1200),
        (60, 1500),
    ]
    assert (params.commission_bps, params.platform_fee_bps, params.min_total_quantity) == (
        1000,
        200,
        10,
    )
    assert params.supplier == c.PORK_FARM.address
    assert params.cash_cap_per_leader == 5
    assert params.pickup_deadline == params.delivery_deadline


def test_a_stranger_sees_which_role_it_lacks(ops: Ops) -> None:
    expect = playwright_api.expect
    stranger = Account.create()
    context, page, errors = _phone(ops, stranger)
    try:
        page.goto(f"{ops.base}/ops/deals/new?lang=en")
        why = page.locator("#role-why")
        short = stranger.address[:6] + "…" + stranger.address[-4:]  # the whole address: its title
        expect(why).to_contain_text(f"{short} does not hold the platform operator role")
        expect(why).to_have_attribute("title", stranger.address)
        expect(page.locator("#list-deal")).to_be_hidden()
        shot(page, "listing-05-stranger", full_page=False)
        page.goto(f"{ops.base}/ops/deals/new?lang=zh")
        expect(page.locator("#role-why")).to_contain_text("没有托管合约的平台运营权限")
        # The deadline fields are the phone's wall clock: the form says which zone that is.
        expect(page.locator("[data-local-zone]")).to_have_text(re.compile(r"^（本机时区 UTC"))
        expect(page.locator("#economics tbody tr")).to_have_count(2)
        # The terms are sound; the address is what the contract would refuse.
        expect(page.locator("#verdict")).to_contain_text("合约会接受这些参数")
        expect(page.locator("#verdict")).to_contain_text("平台运营权限")
        shot(page, "listing-07-form-zh")
        for path, role in (
            ("/ops/review", "the platform operator role on the registry"),
            ("/ops/disputes", "the platform arbiter role on the escrow"),
            ("/ops/recalls", "the platform operator role on the registry"),
            ("/ops/tokens", "the platform operator role on the escrow"),
            ("/ops/fee-recipient", "the platform admin role on the escrow"),
        ):
            page.goto(f"{ops.base}{path}?lang=en")
            expect(page.locator("#role-why")).to_contain_text(f"does not hold {role}")
            expect(page.locator("#role-why")).not_to_contain_text("_ROLE")
            expect(page.locator("[data-needs]:not(#role-why):visible")).to_have_count(0)
    finally:
        context.close()
    assert not errors, errors
    # The chain is the authority: the same listing prepared by the stranger is refused.
    body = {
        "from": stranger.address,
        "supplier": c.PORK_FARM.address,
        "price_tiers": [{"min_quantity": 0, "unit_price": 1}],
        "min_total_quantity": 1,
        "max_total_quantity": 1,
        "per_buyer_limit": 1,
        "join_deadline": 2**39,
        "delivery_deadline": 2**39 + 1,
        "dispute_window": 1,
        "answer_window": 1,
        "commission_bps": 1000,
        "batch_ids": ["0x" + "00" * 32],
    }
    refused = httpx.post(f"{ops.base}/v1/actions/create_deal/prepare", json=body)
    assert refused.status_code == 409
    assert refused.json()["details"]["error"] == "AccessControlUnauthorizedAccount"
    # The platform's own listing with a tier that does not fall: the same named error, and the
    # check endpoint gives every refusal with its field.
    platform = ops.services.chain.platform.address
    pork = ops.services.chain.clients.registry.compute_batch_id(c.PORK.gtin14, c.PORK.lot)
    body |= {
        "from": platform,
        "price_tiers": [{"min_quantity": 0, "unit_price": 5}, {"min_quantity": 3, "unit_price": 5}],
        "platform_fee_bps": 1001,
        "batch_ids": ["0x" + pork.hex()],
    }
    refused = httpx.post(f"{ops.base}/v1/actions/create_deal/prepare", json=body)
    assert refused.status_code == 409
    assert refused.json()["details"] == {"error": "InvalidPriceTiers", "args": {"index": 1}}
    checked = httpx.post(f"{ops.base}/v1/ops/deals/check", json=body).json()
    assert not checked["ok"]
    assert [(r["error"], r["field"]) for r in checked["refusals"]] == [
        ("InvalidPriceTiers", "price_tiers[1]"),
        ("InvalidPlatformFee", "platform_fee_bps"),
    ]
    roles = httpx.get(f"{ops.base}/v1/roles/{stranger.address}").json()
    assert roles["escrow"] == {
        "DEFAULT_ADMIN_ROLE": False,
        "PLATFORM_ROLE": False,
        "ARBITER_ROLE": False,
    }


def test_the_platform_allows_a_token_and_the_review_queue_shows_its_controls(ops: Ops) -> None:
    expect = playwright_api.expect
    token = Account.create().address
    context, page, errors = _phone(ops, ops.services.chain.platform)
    try:
        page.goto(f"{ops.base}/ops/tokens?lang=en")
        form = page.locator("form#allow-token")
        form.locator("input[name=token]").fill(token)
        form.locator("button[type=submit]").click()
        sign_in_sheet(page)
        expect(page.locator(f"#token-{token}")).to_have_attribute("data-allowed", "yes")
        page.goto(f"{ops.base}/ops/review?lang=en")
        expect(page.locator("#role-why")).to_contain_text("holds the platform operator role")
        expect(page.locator("details.revoke").first).to_be_visible()
        shot(page, "listing-06-review-queue")
    finally:
        context.close()
    assert not errors, errors
    assert ops.services.chain.clients.escrow.is_token_allowed(token)


def test_an_older_batch_is_found_by_its_lot_gtin_or_id(
    ops: Ops, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The form offers the newest batches only (here one, as if the platform had hundreds): an
    operator listing a deal for an older batch finds it by what is printed on it."""
    from api.routes import ops_listing

    monkeypatch.setattr(ops_listing, "MAX_PAGE", 1)
    expect = playwright_api.expect
    rice = (
        "0x" + ops.services.chain.clients.registry.compute_batch_id(c.RICE.gtin14, c.RICE.lot).hex()
    )
    context, page, errors = _phone(ops, ops.services.chain.platform)
    try:
        page.goto(f"{ops.base}/ops/deals/new?lang=zh")
        box = page.locator(f"input[name=batch][value='{rice}']")
        expect(box).to_have_count(0)  # older than the newest page: not offered
        expect(page.locator("#batch-search-said")).to_contain_text("更早的批次请用上面的搜索")
        for typed in (c.RICE.lot.lower(), c.RICE.gtin14[1:], rice.upper().replace("0X", "0x")):
            search = page.locator("form.batch-search")
            search.locator("input[name=q]").fill(typed)
            search.locator("button[type=submit]").click()
            expect(box).to_be_visible()
            expect(box).to_be_checked()
            expect(page.locator("select[name=supplier]")).to_have_value(c.RICE_FARM.address)
            expect(page.locator("#batch-search-said")).to_contain_text("与「")
            assert page.url.startswith(f"{ops.base}/ops/deals/new?lang=zh&q=")
        shot(page, "listing-08-batch-search", full_page=False)
        page.locator("form.batch-search input[name=q]").fill("no such lot")
        page.locator("form.batch-search button[type=submit]").click()
        expect(page.locator("#batch-search-said")).to_contain_text("0 个")
        expect(page.locator("input[name=batch]")).to_have_count(0)
    finally:
        context.close()
    assert not errors, errors


def test_the_platform_changes_the_fee_recipient_seeing_the_whole_address(ops: Ops) -> None:
    """Found in the operator's-day pass: the sheet that asks to sign "pay the platform fee of new
    deals to 0x…" cut the address off at the phone's edge, so the operator could not check the
    one thing they sign. Now the whole address is on screen, and the page shows the new one."""
    expect = playwright_api.expect
    escrow = ops.services.chain.clients.escrow
    before = escrow.fee_recipient()
    recipient = Account.create().address
    context, page, errors = _phone(ops, ops.services.chain.platform)
    try:
        page.goto(f"{ops.base}/ops/fee-recipient?lang=en")
        form = page.locator("form[data-action=set_fee_recipient]")
        form.locator("input[name=fee_recipient]").fill(recipient)
        form.locator("button[type=submit]").click()
        summary = page.locator("dialog#tuan-steps .summary")
        expect(summary).to_contain_text(recipient)
        box = summary.bounding_box()
        assert box is not None and box["x"] + box["width"] <= PHONE["width"]
        assert summary.evaluate("e => e.scrollWidth <= e.clientWidth"), "cut off at the edge"
        sign_in_sheet(page, "fee-recipient-sheet")
        # The result: the page (reloaded once indexed) names the new recipient.
        expect(page.locator("#recipient")).to_contain_text(recipient)
        shot(page, "fee-recipient-changed", full_page=False)
    finally:
        context.close()
        if escrow.fee_recipient() != before:  # other tests list deals paying the seeded one
            escrow.set_fee_recipient(before, signer=ops.services.chain.platform)
    assert not errors, errors
