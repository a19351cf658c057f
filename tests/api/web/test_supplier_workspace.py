"""The supplier workspace (/supplier/{address}) in Chromium on a 390 px phone.

The pork farm (an approved demo supplier) registers a new batch with product master data (the
GTIN's check digit checked before signing), builds its trail from forms (commissioning,
processing, an inspection with its certificate, shipping) and a sensor CSV with a breach,
anchors all of them under one Merkle root and a receiving event on its own, answers the demo's
quality claim, and recalls the batch; the public provenance page shows the trail, the breach and
the recall. A stranger sees no controls and why; a new account applies as a supplier and sees the
review. Real pages, API, relayer, registry and escrow on anvil, indexer; the wallet is the test
double of tests/api/web/test_journeys.py (eth-account behind an EIP-6963 provider).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from eth_account.signers.local import LocalAccount
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import select
from sqlalchemy.orm import Session

from api.db import models as m
from api.demo import catalog as c
from api.demo.seed import SeedReport
from api.indexer import runner as indexer_runner
from api.relayer import worker as relay_worker
from api.services import Services
from chain.accounts import dev_account
from chain.clients import BatchStatus, ClaimStatus, PartyKind, PartyStatus
from chain.settings import Settings
from traceability.epcis.errors import InvalidIdentifier
from traceability.epcis.identifiers import (
    gs1_check_digit,
    gtin_company_prefix,
    is_restricted_circulation,
    validate_gtin14,
)
from traceability.ipfs import compute_cid, parse_cid

from .conftest import served_on_snapshot
from .phone import Wallet, open_phone, until_indexed
from .test_journeys import photo_png, shot, sign_in_sheet

playwright_api = pytest.importorskip("playwright.sync_api")

GTIN = c.with_check("0690123459876")
LOT = "PK-WS-01"
CSV = (
    "time,device_id,type,value,unit\n"
    "2026-11-01T09:00:00+08:00,T-01,Temperature,2.5,CEL\n"
    "2026-11-01T10:00:00+08:00,T-01,Temperature,7.5,CEL\n"
    "2026-11-01T09:30:00+08:00,T-02,Temperature,37.4,FAR\n"
)


@dataclass
class Site:
    base: str
    services: Services
    browser: Any
    deals: dict[str, int]


@pytest.fixture(scope="module")
def site(
    seeded_chain: tuple[Services, SeedReport],
    web_settings: Settings,
    tmp_path_factory: pytest.TempPathFactory,
    browser: Any,
) -> Iterator[Site]:
    loops = (indexer_runner.start_background, relay_worker.start_background)
    index_dir = tmp_path_factory.mktemp("supplier-workspace")
    with served_on_snapshot(seeded_chain, web_settings, index_dir, loops) as (base, services):
        yield Site(base, services, browser, seeded_chain[1].deals)


@pytest.fixture
def phone(site: Site) -> Iterator[tuple[Any, Wallet]]:
    wallet = Wallet(c.PORK_FARM.account)
    context, page, errors = open_phone(site.browser, wallet)
    try:
        yield page, wallet
    finally:
        context.close()
    assert not errors, errors


def _connect(page: Any, base: str, account: LocalAccount) -> None:
    page.goto(f"{base}/supplier?lang=en")
    page.locator("#wallet-bar button.connect").click()
    page.wait_for_url(f"**/supplier/{account.address}?lang=en")


def test_a_supplier_builds_a_trail_anchors_it_answers_a_claim_and_recalls(
    site: Site, phone: tuple[Any, Wallet]
) -> None:
    expect = playwright_api.expect
    page, _ = phone
    registry, escrow = site.services.chain.clients.registry, site.services.chain.clients.escrow
    _connect(page, site.base, c.PORK_FARM.account)
    expect(page.locator("#party-status")).to_have_text("Approved supplier")

    # Register: the check digit is checked as it is typed, before anything is signed.
    page.locator("#register summary").click()  # folded: the farm has batches already
    form = page.locator("#register-form")
    expect(form).to_be_visible()
    wrong = GTIN[:-1] + str((int(GTIN[-1]) + 1) % 10)
    form.locator("input[name=gtin14]").fill(wrong)
    expect(page.locator("#gtin-check")).to_contain_text(f"it should be {GTIN[-1]}")
    # The rice farm's product, and an in-store number: neither is the pork farm's to register.
    form.locator("input[name=gtin14]").fill(c.RICE.gtin14)
    expect(page.locator("#gtin-check")).to_contain_text("not under your GS1 Company Prefix")
    form.locator("input[name=gtin14]").fill("02000000000008")
    expect(page.locator("#gtin-check")).to_contain_text("in-store (restricted-circulation)")
    form.locator("input[name=gtin14]").fill(GTIN)
    expect(page.locator("#gtin-check")).to_contain_text("Check digit correct")
    form.locator("input[name=name_zh]").fill("两头乌猪排")
    form.locator("input[name=name_en]").fill("Liangtouwu pork chops")
    photo = {"name": "chops.png", "mimeType": "image/png", "buffer": photo_png()}
    form.locator("input[name=photo]").set_input_files(photo)
    form.locator("input[name=specification]").fill("500 g / 盒")
    form.locator("input[name=unit]").fill("盒 / box")
    form.locator("input[name=origin_zh]").fill("浙江省金华市")
    form.locator("input[name=origin_en]").fill("Jinhua, Zhejiang")
    form.locator("input[name=lot]").fill(LOT)
    form.locator("input[name=quantity]").fill("300")
    form.locator("input[name=harvest_date]").fill("2026-10-30")
    form.locator("input[name=min_c]").fill("0")
    form.locator("input[name=max_c]").fill("4")
    shot(page, "supplier-01-register-form")
    form.locator("button[type=submit]").click()
    sign_in_sheet(page, "supplier-02-register-sheet")
    card = page.locator(f"#batch-{GTIN}-{LOT}")
    expect(card).to_have_attribute("data-status", "active")
    expect(card.locator("h3")).to_have_text("Liangtouwu pork chops")
    batch_id = registry.compute_batch_id(GTIN, LOT)
    assert registry.batch_info(batch_id).supplier == c.PORK_FARM.address
    # The product's master data: a public document of its own, named by the lot's.
    product = page.locator(f'#products li[data-gtin="{GTIN}"]')
    expect(product).to_contain_text("500 g / 盒")
    master = httpx.get(site.base + product.locator("a").get_attribute("href")).json()
    assert master["type"] == "tuanchain:ProductMasterData" and master["gtin"] == GTIN
    assert master["name"] == {"zh": "两头乌猪排", "en": "Liangtouwu pork chops"}
    assert master["image"].startswith("ipfs://")

    # The trail from forms, staged for one Merkle root.
    gln = c.PORK_FARM.gln
    card.locator("details.add-event summary").click()
    event_form = card.locator("form.event-form")
    steps = [
        ("commissioning", "300", None),
        ("processing", "280", None),
        ("inspecting", None, {"name": "cert.pdf", "mimeType": "application/pdf",
                              "buffer": b"%PDF-1.7\nquarantine certificate\n%%EOF"}),
        ("shipping", "280", None),
    ]  # fmt: skip
    for kind, quantity, certificate in steps:
        event_form.locator("select[name=kind]").select_option(kind)
        event_form.locator("input[name=location]").fill(gln)
        event_form.locator("input[name=time]").fill("2026-11-01T08:00")
        if quantity:
            event_form.locator("input[name=quantity]").fill(quantity)
        if certificate:
            event_form.locator("input[name=certificate]").set_input_files(certificate)
        event_form.locator("button[value=stage]").click()
        expect(event_form.locator("output")).to_contain_text("Added to the Merkle batch")
        event_form.locator("output").evaluate("o => o.textContent = ''")
    card.locator("details.sensors summary").click()
    sensors = card.locator("form.sensor-form")
    sensors.locator("input[name=file]").set_input_files(
        {"name": "readings.csv", "mimeType": "text/csv", "buffer": CSV.encode()}
    )
    sensors.locator("button[type=submit]").click()
    expect(sensors.locator(".csv-result")).to_contain_text("3 readings read, 2 events built")
    expect(sensors.locator(".csv-result")).to_contain_text("1 reading out of range")
    staged = page.locator("#staged")
    expect(staged.locator(".staged-list li")).to_have_count(6)
    shot(page, "supplier-03-staged")
    staged.locator("#anchor-root").click()
    expect(page.locator("dialog#tuan-steps")).to_contain_text("6 trail events under one Merkle")
    sign_in_sheet(page, "supplier-04-merkle-sheet")
    expect(page.locator("#staged")).to_be_hidden()
    until_indexed(
        page, lambda: page.locator(f"#batch-{GTIN}-{LOT} .event-count").inner_text() == "6"
    )

    # One more on its own: receiving at the cold store.
    card = page.locator(f"#batch-{GTIN}-{LOT}")
    card.locator("details.add-event summary").click()
    event_form = card.locator("form.event-form")
    event_form.locator("select[name=kind]").select_option("receiving")
    event_form.locator("input[name=location]").fill(gln)
    event_form.locator("input[name=quantity]").fill("280")
    event_form.locator("button[value=now]").click()
    sign_in_sheet(page)
    until_indexed(
        page, lambda: page.locator(f"#batch-{GTIN}-{LOT} .event-count").inner_text() == "7"
    )
    shot(page, "supplier-05-batch-with-trail")

    # The public provenance page shows the trail, the product and the cold-chain breach.
    page.locator(f"#batch-{GTIN}-{LOT} a.trail-link").click()
    expect(page.locator("#product h1")).to_have_text("Liangtouwu pork chops")
    timeline = page.locator("#timeline li.event")
    until_indexed(page, lambda: page.locator("#timeline li.event").count() == 7)
    for step in ("commissioning", "transforming", "inspecting", "shipping", "receiving"):
        expect(page.locator(f"#timeline li.step-{step}")).to_have_count(1)
    expect(page.locator("#timeline li.step-sensor_reporting")).to_have_count(2)
    expect(page.locator("#cold-chain")).to_contain_text("7.5")
    assert timeline.count() == 7
    shot(page, "supplier-06-provenance")

    # Answer the demo's claim from the claims page the workspace links to.
    deal, buyer = site.deals["pork_claim"], c.CONSUMERS[1].address
    page.goto(f"{site.base}/supplier/{c.PORK_FARM.address}?lang=en")
    page.locator("#claims-link").click()
    claim = page.locator(f"#claim-{deal}-{buyer}")
    expect(claim).to_have_attribute("data-status", "filed")
    claim.locator("form.accept button[type=submit]").click()
    sign_in_sheet(page)
    expect(page.locator(f"#claim-{deal}-{buyer}")).not_to_have_attribute("data-status", "filed")
    assert escrow.claim(deal, buyer).status == ClaimStatus.NONE

    # The deal settles (the keeper's call; no keeper runs here): the farm's share is owed until it
    # collects it from the workspace, where the index shows share, paid and owed.
    chain = site.services.chain
    params = escrow.deal_params(deal)
    settle_at = max(
        params.delivery_deadline,
        escrow.deal_totals(deal).last_receipt_at + params.dispute_window,
    )
    now = int(chain.w3.eth.get_block("latest")["timestamp"])
    if now <= settle_at:
        chain.w3.provider.make_request("evm_increaseTime", [settle_at - now + 60])  # type: ignore[arg-type]
        chain.w3.provider.make_request("evm_mine", [])  # type: ignore[arg-type]
    escrow.settle(deal, signer=chain.keeper)
    owed = escrow.owed(deal, c.PORK_FARM.address)
    assert owed > 0
    page.locator("#workspace-link").click()
    row = f"#payout-{deal}"
    until_indexed(page, lambda: page.locator(f"{row} td.owed form").count() == 1)
    expect(page.locator(f"{row} td.owed")).to_contain_text(f"{owed / 1e6:,.2f}")
    expect(page.locator(f"{row} td.owed button")).to_be_visible()  # the farm's wallet is back
    shot(page, "supplier-06b-payout-owed")
    page.locator(f"{row} td.owed button[type=submit]").click()
    sign_in_sheet(page)
    expect(page.locator(f"{row} td.paid")).to_have_text(f"{owed / 1e6:,.2f}")
    expect(page.locator(f"{row} td.owed")).to_have_text("0.00")
    assert escrow.owed(deal, c.PORK_FARM.address) == 0

    # Authorize the carrier to write the batch's events.
    card = page.locator(f"#batch-{GTIN}-{LOT}")
    card.locator("details.writers-form summary").click()
    card.locator("form.writer input[name=writer]").fill(c.CARRIER.address)
    card.locator("form.writer button[type=submit]").click()
    sign_in_sheet(page)
    expect(page.locator(f"#batch-{GTIN}-{LOT} .writers")).to_contain_text(c.CARRIER.name_en)
    assert registry.is_batch_writer(batch_id, c.CARRIER.address)

    # Recall the new batch with a reason, from the workspace.
    card = page.locator(f"#batch-{GTIN}-{LOT}")
    card.locator("details.close-batch summary").click()
    card.locator("form.recall textarea").fill("metal fragment found in one box")
    card.locator("form.recall button[type=submit]").click()
    expect(page.locator("dialog#tuan-steps")).to_contain_text("metal fragment")
    sign_in_sheet(page, "supplier-07-recall-sheet")
    expect(page.locator(f"#batch-{GTIN}-{LOT}")).to_have_attribute("data-status", "recalled")
    assert registry.batch_status(batch_id) == BatchStatus.RECALLED
    expect(page.locator("#payouts")).to_be_visible()
    shot(page, "supplier-08-recalled")
    page.goto(f"{site.base}/01/{GTIN}/10/{LOT}?lang=en")
    expect(page.locator("#recall-banner")).to_contain_text("metal fragment found in one box")


def test_a_stranger_sees_no_controls_and_why(site: Site, phone: tuple[Any, Wallet]) -> None:
    expect = playwright_api.expect
    page, wallet = phone
    wallet.account = c.CONSUMERS[0].account
    page.goto(f"{site.base}/supplier/{c.PORK_FARM.address}?lang=en")
    expect(page.locator("#connect-first")).to_be_visible()  # no wallet yet: no controls
    expect(page.locator("#register-form")).to_be_hidden()
    page.locator("#wallet-bar button.connect").click()
    expect(page.locator("#not-you")).to_be_visible()
    expect(page.locator("#register")).to_be_hidden()
    expect(page.locator("details.close-batch").first).to_be_hidden()
    shot(page, "supplier-09-stranger")
    # Payouts per deal from the index: the settled rice deal paid the rice farm its share.
    page.goto(f"{site.base}/supplier/{c.RICE_FARM.address}?lang=en")
    row = page.locator(f"#payout-{site.deals['rice_settled']}")
    share = row.locator("td").nth(1).inner_text()
    assert share not in ("—", "0.00")
    expect(row.locator("td.paid")).to_have_text(share)
    expect(row.locator("td.owed")).to_have_text("0.00")
    expect(row.locator("form")).to_have_count(0)  # nothing left to collect
    # What the page says is owed (from the index) is what the escrow owes, deal by deal.
    escrow = site.services.chain.clients.escrow
    for farm in (c.RICE_FARM, c.PORK_FARM):
        page.goto(f"{site.base}/supplier/{farm.address}?lang=en")
        for owed in page.locator("table.payouts tbody tr").all():
            deal_id = int((owed.get_attribute("id") or "").removeprefix("payout-"))
            shown = owed.locator("td.owed").inner_text().split()[0]
            assert shown == f"{escrow.owed(deal_id, farm.address) / 1e6:,.2f}", (
                farm.address,
                deal_id,
            )
    page.goto(f"{site.base}/supplier/{c.RICE_FARM.address}?lang=en")
    shot(page, "supplier-12-payouts")
    page.goto(f"{site.base}/supplier/{c.RICE_FARM.address}?lang=zh")
    expect(page.locator("#party-status")).to_have_text("已审核的供应商")
    # A batch card's name sits at its top like every card's heading (the browser's default h3
    # margin put a blank line above it on a phone).
    gap = page.locator(".batch-card").first.evaluate(
        "card => card.querySelector('h3').getBoundingClientRect().top"
        " - card.getBoundingClientRect().top - parseFloat(getComputedStyle(card).paddingTop)"
    )
    assert abs(gap) < 1, gap
    shot(page, "supplier-13-zh")
    # An account with no role: told why, and offered the application instead.
    page.goto(f"{site.base}/supplier/{c.CONSUMERS[0].address}?lang=en")
    expect(page.locator("#why")).to_contain_text("not a supplier yet")
    expect(page.locator("#register-form")).to_have_count(0)


def test_a_new_supplier_applies_and_sees_the_review(site: Site, phone: tuple[Any, Wallet]) -> None:
    expect = playwright_api.expect
    page, wallet = phone
    wallet.account = dev_account(18)  # no role in the demo
    _connect(page, site.base, wallet.account)
    form = page.locator("#apply-form")
    form.locator("input[name=name_zh]").fill("青山茶园")
    form.locator("input[name=name_en]").fill("Green Hill Tea")
    form.locator("input[name=place]").fill("浙江省安吉县")
    form.locator("input[name=products]").fill("白茶 white tea")
    licence = {"name": "licence.png", "mimeType": "image/png", "buffer": photo_png()}
    form.locator("input[name=credentials]").set_input_files(licence)
    shot(page, "supplier-10-apply-form")
    form.locator("button[type=submit]").click()
    expect(page.locator("dialog#tuan-steps")).to_contain_text("青山茶园")
    sign_in_sheet(page)
    expect(page.locator("#review")).to_contain_text("reviewing")
    # Pending: the name it declared, marked unverified (a name is checked by the review).
    expect(page.locator("#me h2")).to_contain_text("Green Hill Tea")
    expect(page.locator("#me h2")).to_contain_text("declared name, not verified")
    expect(page.locator("#apply")).to_have_count(0)
    shot(page, "supplier-11-under-review")
    registry = site.services.chain.clients.registry
    party = registry.party(PartyKind.SUPPLIER, wallet.account.address)
    assert party.status == PartyStatus.PENDING
    assert party.credentials_digest == hashlib.sha256(licence["buffer"]).digest()

    # The platform refuses it with a reason (from /ops/review in its own tests): the page says so,
    # links the reason, and offers the application again.
    reason = json.dumps({"type": "tuanchain:ReviewDecision", "reason": "licence expired"}).encode()
    reason_cid = site.services.store.put(reason)
    platform = site.services.chain.platform
    registry.reject_supplier(wallet.account.address, parse_cid(reason_cid), signer=platform)
    until_indexed(page, lambda: "rejected" in page.locator("#party-status").inner_text())
    expect(page.locator("#why")).to_contain_text("rejected the application")
    expect(page.locator("#why .reason-text")).to_have_text("licence expired")
    assert (
        "licence expired"
        in httpx.get(site.base + page.locator("#why a.reason").get_attribute("href")).text
    )
    expect(page.locator("#apply-form")).to_be_visible()
    shot(page, "supplier-11b-rejected")


def test_the_pages_gtin_check_is_the_python_one(site: Site, phone: tuple[Any, Wallet]) -> None:
    """The check digit shown before signing (supplier.js) agrees with the service's
    (traceability.epcis.identifiers) on any 14 digits: right ones pass, all others are refused."""
    page, _ = phone
    page.goto(f"{site.base}/supplier/{c.PORK_FARM.address}?lang=en")

    bodies = st.text(alphabet="0123456789", min_size=13, max_size=13)
    valid = bodies.map(lambda body: body + gs1_check_digit(body))  # a tenth of random ones are

    @settings(max_examples=300, deadline=None, derandomize=True)
    @given(
        st.one_of(
            st.just("0" * 14),  # all zeros: a right check digit, no product (both refuse it)
            valid,
            st.text(alphabet="0123456789", min_size=14, max_size=14),
        )
    )
    def agrees(digits: str) -> None:
        try:
            validate_gtin14(digits)
            python_ok = True
        except InvalidIdentifier:
            python_ok = False
        page_says = page.evaluate("d => window.TuanSupplier.gtin14(d)", digits)
        assert ("gtin" in page_says) == python_ok, (digits, page_says)
        assert page.evaluate("d => window.TuanSupplier.checkDigit(d)", digits[:13]) == int(
            gs1_check_digit(digits[:13])
        )

    agrees()

    # Whose GTIN (supplier.js's gtinOwnership) agrees with the registry's Python mirror too.
    @settings(max_examples=200, deadline=None, derandomize=True)
    @given(
        bodies,
        st.lists(st.text(alphabet="0123456789", min_size=6, max_size=12), max_size=2),
        st.none() | st.integers(6, 12),
    )
    def owns(body: str, prefixes: list[str], own_length: int | None) -> None:
        gtin = body + gs1_check_digit(body)
        if own_length is not None:  # the GTIN's own prefix among them
            prefixes = [*prefixes, gtin[1 : 1 + own_length]]
        python_ok = (
            not is_restricted_circulation(gtin[1:])
            and gtin_company_prefix(gtin, prefixes) is not None
        )
        page_says = page.evaluate(
            "([g, p]) => window.TuanSupplier.gtinOwnership(g, p)", [gtin, prefixes]
        )
        assert ("gtin" in page_says) == python_ok, (gtin, prefixes, page_says)

    owns()

    # A known product fills the form from its master data (the select carries it as JSON).
    filled = page.evaluate(
        """gtin => {
          const select = document.getElementById("known-product");
          select.value = gtin;
          select.dispatchEvent(new Event("change"));
          const f = document.getElementById("register-form").elements;
          return [f.gtin14.value, f.name_en.value, f.origin_en.value,
                  document.getElementById("gtin-check").textContent];
        }""",
        c.PORK.gtin14,
    )
    assert filled[:3] == [c.PORK.gtin14, c.PORK.name_en, c.PORK.origin_en]
    assert "Check digit correct" in filled[3]


def test_a_batch_with_bare_master_data_has_a_trail_page(
    site: Site, phone: tuple[Any, Wallet]
) -> None:
    """What `tuanchain supplier register-batch GTIN LOT` registers without --metadata or --product
    ({"gtin", "lot"} only): the provenance page and the workspace still render, by GTIN."""
    expect = playwright_api.expect
    page, _ = phone
    gtin, lot = c.with_check("0690123459877"), "BARE-1"
    cid = site.services.store.put(json.dumps({"gtin": gtin, "lot": lot}).encode())
    registry = site.services.chain.clients.registry
    registry.register_batch(gtin, lot, parse_cid(cid), signer=c.PORK_FARM.account)
    page.goto(f"{site.base}/01/{gtin}/10/{lot}?lang=en")

    def loaded() -> bool:  # the enricher has read the master data document
        with Session(site.services.engine) as session:
            row = session.scalar(select(m.Batch).where(m.Batch.gtin == gtin, m.Batch.lot == lot))
            return row is not None and row.metadata_status == "loaded"

    until_indexed(page, loaded)
    page.reload()  # `loaded` reads the database: the page itself may predate the index's row
    expect(page.locator("#product h1")).to_have_text(gtin)
    expect(page.locator("#product")).to_contain_text(lot)
    page.goto(f"{site.base}/supplier/{c.PORK_FARM.address}?lang=en")
    expect(page.locator(f"#batch-{gtin}-{lot} h3")).to_have_text(f"GTIN {gtin}")


def test_a_batch_card_gets_its_product_name_when_the_master_data_arrives(
    site: Site, phone: tuple[Any, Wallet]
) -> None:
    """The indexer stores a batch a moment before it reads the batch's lot master data from the
    store, so the page reloaded after signing can show the card by GTIN. The card says its details
    are on their way and the page fills the name in — without a reload, which would lose a form
    being typed. Here the document reaches the store only after the page is shown."""
    expect = playwright_api.expect
    page, _ = phone
    gtin, lot = c.with_check("0690123459877"), "LATE-1"
    data = json.dumps(
        {"gtin": gtin, "lot": lot, "product": {"en": "Late chops", "zh": "迟到的猪排"}}
    )
    cid = compute_cid(data.encode())
    registry = site.services.chain.clients.registry
    registry.register_batch(gtin, lot, parse_cid(cid), signer=c.PORK_FARM.account)
    card = page.locator(f"#batch-{gtin}-{lot}")

    def indexed_without_details() -> bool:
        with Session(site.services.engine) as session:
            row = session.scalar(select(m.Batch).where(m.Batch.gtin == gtin, m.Batch.lot == lot))
            return row is not None and row.metadata_status == "missing"

    page.goto(f"{site.base}/supplier/{c.PORK_FARM.address}?lang=en")
    until_indexed(page, indexed_without_details)
    page.reload()  # the check reads the database: the page itself may predate the index's row
    expect(card).to_have_attribute("data-details-pending", "")
    expect(card.locator("h3")).to_have_text(f"GTIN {gtin}")
    page.evaluate("window.notReloaded = true")
    site.services.store.put(data.encode())
    expect(card.locator("h3")).to_have_text("Late chops")
    expect(card).not_to_have_attribute("data-details-pending", "")
    assert page.evaluate("window.notReloaded === true")  # filled in place
