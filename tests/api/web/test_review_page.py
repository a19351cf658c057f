"""The review queue in Chromium on a phone: the platform opens a supplier's private credentials
(Sign-In with Ethereum, digest checked in the page), approves it, and rejects a leader with a
reason; a stranger's wallet cannot open the credentials. Real pages, API, relayer, registry on
anvil and indexer; the wallet is the test double of tests/api/web/test_journeys.py (eth-account
answering an EIP-6963 provider), and says so.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from eth_account import Account
from eth_account.messages import encode_defunct
from eth_account.signers.local import LocalAccount

from api.demo.seed import SeedReport
from api.indexer import runner as indexer_runner
from api.relayer import worker as relay_worker
from api.services import Services
from chain.clients import PartyKind, PartyStatus
from chain.settings import Settings
from traceability.ipfs import parse_cid
from traceability.ipfs.cid import raw_cid_of_digest

from .conftest import served_on_snapshot, wait_ready
from .phone import Wallet, open_phone
from .test_journeys import shot, sign_in_sheet

playwright_api = pytest.importorskip("playwright.sync_api")


@dataclass
class Review:
    base: str
    services: Services
    browser: Any
    supplier: LocalAccount
    leader: LocalAccount
    licence: bytes


def _apply(
    base: str,
    services: Services,
    account: LocalAccount,
    kind: PartyKind,
    name: str,
    credentials: bytes,
    content_type: str,
) -> None:
    """An applicant as the CLI does it: sign in, upload the credentials sealed, apply on chain."""
    with httpx.Client(base_url=base, timeout=30) as http:
        challenge = http.post("/v1/auth/nonce", json={"address": account.address}).json()
        signature = account.sign_message(encode_defunct(text=challenge["message"])).signature
        token = http.post(
            "/v1/auth/verify",
            json={"message": challenge["message"], "signature": signature.to_0x_hex()},
        ).json()["token"]
        stored = http.post(
            "/v1/documents/private",
            headers={"Authorization": f"Bearer {token}"},
            data={"purpose": "credential"},
            files={"file": ("credentials", credentials, content_type)},
        )
        assert stored.status_code == 201, stored.text
    profile = json.dumps(
        {"type": "tuanchain:PartyProfile", "name": {"zh": name, "en": name}}
    ).encode()
    profile_cid = parse_cid(services.store.put(profile))
    registry = services.chain.clients.registry
    apply = registry.apply_as_supplier if kind == PartyKind.SUPPLIER else registry.apply_as_leader
    apply(profile_cid, hashlib.sha256(credentials).digest(), signer=account)


@pytest.fixture(scope="module")
def review(
    seeded_chain: tuple[Services, SeedReport],
    web_settings: Settings,
    tmp_path_factory: pytest.TempPathFactory,
    browser: Any,
) -> Iterator[Review]:
    loops = (indexer_runner.start_background, relay_worker.start_background)
    index_dir = tmp_path_factory.mktemp("review")
    with served_on_snapshot(seeded_chain, web_settings, index_dir, loops) as (base, services):
        chain = services.chain
        supplier, leader = Account.create(), Account.create()
        for account in (supplier, leader):
            chain.sender.send(chain.platform, to=account.address, value=10**17)
        licence = b"%PDF-1.7\n food business licence JY-2026-0001 \n%%EOF"
        _apply(base, services, supplier, PartyKind.SUPPLIER, "青山茶园", licence, "application/pdf")
        _apply(
            base,
            services,
            leader,
            PartyKind.LEADER,
            "李阿姨",
            b"\x89PNG\r\n\x1a\n id card",
            "image/png",
        )
        wait_ready(base)
        yield Review(base, services, browser, supplier, leader, licence)


def _phone(review: Review, account: LocalAccount) -> tuple[Any, Any, Wallet]:
    wallet = Wallet(account)
    context, page, _ = open_phone(review.browser, wallet)  # each test keeps its own errors
    return context, page, wallet


def test_the_platform_opens_credentials_approves_and_rejects(review: Review) -> None:
    expect = playwright_api.expect
    chain = review.services.chain
    registry = chain.clients.registry
    context, page, wallet = _phone(review, chain.platform)
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    try:
        page.goto(f"{review.base}/ops/review?lang=en")
        supplier_card = page.locator(f"#party-supplier-{review.supplier.address}")
        expect(supplier_card).to_have_attribute("data-status", "pending")
        expect(supplier_card).to_contain_text("青山茶园")
        supplier_card.locator("button.open-credentials").click()
        check = supplier_card.locator("output.credential-check")
        expect(check).to_contain_text("matches the digest on chain")
        assert wallet.signed == 1  # the Sign-In with Ethereum message
        shot(page, "review-01-credentials-checked", full_page=False)

        supplier_card.locator("form.approve button[type=submit]").click()
        sign_in_sheet(page, "review-02-approve-sheet")
        expect(page.locator(f"#party-supplier-{review.supplier.address}")).to_have_attribute(
            "data-status", "approved"
        )
        assert (
            registry.party(PartyKind.SUPPLIER, review.supplier.address).status
            == PartyStatus.APPROVED
        )

        leader_card = page.locator(f"#party-leader-{review.leader.address}")
        leader_card.locator("form.reject textarea").fill("the ID card scan is unreadable")
        leader_card.locator("form.reject button[type=submit]").click()
        expect(page.locator("dialog#tuan-steps")).to_contain_text("the ID card scan is unreadable")
        sign_in_sheet(page)
        rejected = page.locator(f"#party-leader-{review.leader.address}")
        expect(rejected).to_have_attribute("data-status", "rejected")
        expect(rejected.locator("a.reason")).to_have_count(1)
        assert (
            registry.party(PartyKind.LEADER, review.leader.address).status == PartyStatus.REJECTED
        )
        reason = httpx.get(review.base + rejected.locator("a.reason").get_attribute("href")).json()
        assert reason["reason"] == "the ID card scan is unreadable"
        shot(page, "review-03-queue")
    finally:
        context.close()
    assert not errors, errors


def test_another_address_cannot_open_credentials(review: Review) -> None:
    expect = playwright_api.expect
    context, page, _ = _phone(review, Account.create())
    try:
        page.goto(f"{review.base}/ops/review?lang=en")
        card = page.locator(f"#party-supplier-{review.supplier.address}")
        # The page shows no reviewer's control to an address without the role, and says why;
        # shown anyway (as a hand-made request would be), the private store still refuses.
        expect(page.locator("#role-why")).to_contain_text(
            "does not hold the platform operator role"
        )
        expect(card.locator("button.open-credentials")).to_be_hidden()
        page.evaluate("document.querySelectorAll('[data-needs]').forEach((e) => e.hidden = false)")
        card.locator("button.open-credentials").click()
        expect(card.locator("output.credential-check")).to_contain_text("not a platform reviewer")
        # Nor does the public gateway have the file under the CID of its digest.
        cid = raw_cid_of_digest(hashlib.sha256(review.licence).digest())
        assert httpx.get(f"{review.base}/ipfs/{cid}").status_code == 404
    finally:
        context.close()
