"""An operator settles a deal from its page on a phone (390 px), instead of waiting for the keeper.

A fresh deal on the seeded chain (its own snapshot, reverted after: the test moves the clock): one
order, the leader's receipt; before the deal is settleable the page says from when, after it the
platform's wallet (the eth-account test double of tests/api/web/phone.py) signs ``settle`` as a
forward request, relayed like the other operators' actions; the escrow checks the conditions.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from api.demo.seed import SeedReport
from api.indexer import runner as indexer_runner
from api.relayer import worker as relay_worker
from api.services import Services
from chain.clients import DealStatus
from chain.settings import Settings

from ..relay.conftest import TOP_PRICE, advance_time, chain_now, funded, make_deal
from .conftest import served_on_snapshot
from .phone import Wallet, open_phone, until_indexed
from .test_journeys import shot, sign_in_sheet

playwright_api = pytest.importorskip("playwright.sync_api")


@pytest.fixture(scope="module")
def site(
    seeded_chain: tuple[Services, SeedReport],
    web_settings: Settings,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[str, Services]]:
    loops = (indexer_runner.start_background, relay_worker.start_background)
    with served_on_snapshot(
        seeded_chain, web_settings, tmp_path_factory.mktemp("settle"), loops
    ) as served:
        yield served


def test_an_operator_settles_a_deal_whose_conditions_hold(
    site: tuple[str, Services], browser: Any
) -> None:
    expect = playwright_api.expect
    base, services = site
    chain = services.chain
    escrow = chain.clients.escrow
    deal = make_deal(chain, min_quantity=1, join_window=600, dispute_window=600)
    buyer = funded(chain)
    chain.clients.token.mint(buyer.address, TOP_PRICE, signer=chain.platform)
    chain.clients.token.approve(escrow.address, TOP_PRICE, signer=buyer)
    escrow.join(deal.deal_id, 1, deal.leader.address, signer=buyer)
    advance_time(chain, 601)  # the join window ends: the deal succeeded
    escrow.confirm_receipt(
        deal.deal_id, deal.batch_id, b"\x01" * 32, b"\x02" * 32, signer=deal.leader
    )
    assert escrow.deal_status(deal.deal_id) == DealStatus.SUCCEEDED

    context, page, errors = open_phone(browser, Wallet(chain.platform), "zh-CN")
    try:
        # Not yet: the escrow's own reason, in words, and no button.
        page.goto(f"{base}/deals/{deal.deal_id}?lang=zh")
        card = page.locator("#settle")
        expect(card).to_have_attribute("data-ready", "false")
        expect(card.locator(".settle-wait")).to_contain_text("起可结算")
        expect(card.locator("form")).to_have_count(0)

        early = httpx.post(
            f"{base}/v1/actions/settle/prepare",
            json={"from": chain.platform.address, "deal_id": deal.deal_id},
        )
        assert early.status_code == 409, early.text  # the escrow's reason, before any signing
        assert early.json()["details"]["error"] == "SettlementTooEarly"

        advance_time(chain, deal.delivery_deadline - chain_now(chain) + 1)  # the pickup deadline
        # The operator's way in: the dashboard lists the deal as due, its link opens the card.
        page.goto(f"{base}/dashboard?lang=zh")
        due = page.locator(f'#to-settle li[data-deal="{deal.deal_id}"][data-ready="true"] a')
        until_indexed(page, lambda: due.count() == 1)
        expect(due).to_contain_text("立即结算")
        due.scroll_into_view_if_needed()
        shot(page, "ops-09-dashboard-to-settle", full_page=False)
        due.click()
        expect(page).to_have_url(re.compile(rf"/deals/{deal.deal_id}\?lang=zh#settle$"))
        expect(card).to_have_attribute("data-ready", "true")
        button = card.locator("form[data-action=settle] button[type=submit]")
        expect(button).to_be_visible()  # the platform's wallet holds PLATFORM_ROLE
        # The role in words and the address short (the whole address is the note's title).
        platform = chain.platform.address
        why = page.locator("#role-why")
        expect(why).to_have_text(
            f"✔ {platform[:6]}…{platform[-4:]} 持有托管合约的平台运营权限，可以操作。"
        )
        expect(why).to_have_attribute("title", platform)
        card.scroll_into_view_if_needed()
        shot(page, "ops-10-settle-ready", full_page=False)
        button.click()
        sheet = page.locator("dialog#tuan-steps")
        expect(sheet).to_contain_text(f"结算团购 #{deal.deal_id}")
        # The request's deadline as every page prints a time (T.when: its zone named).
        expect(sheet).to_contain_text(re.compile(r"\d{4}-\d\d-\d\d \d\d:\d\d UTC"))
        sign_in_sheet(page, "ops-11-settle-sheet")
        expect(page.locator("#settle")).to_have_count(0)  # settled: nothing left to do here
        shot(page, "ops-12-settled", full_page=False)
    finally:
        context.close()
    assert not errors, errors
    assert escrow.deal_status(deal.deal_id) == DealStatus.SETTLED
