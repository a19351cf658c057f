"""The operator's dashboard on a phone (Chromium at 390 px, zh and en), over the seeded demo with
a leader the platform has just approved (on chain, indexed): that leader is in the dashboard's
leader list with zeros and in its "view one leader" chooser; each money figure says what it is
under it (tier rebates and what is still in escrow too), and "what these figures mean" opens to the
identity that ties them together, with this page's figures; nothing runs off the screen."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from eth_account import Account

from api.demo.seed import SeedReport
from api.indexer import runner as indexer_runner
from api.render import messages
from api.services import Services
from chain.settings import Settings
from traceability.ipfs import parse_cid

from .conftest import PHONE, served_on_snapshot, wait_ready
from .test_journeys import shot

pytestmark = pytest.mark.sqlite_only  # the DOM a browser builds; the reads run on both elsewhere


@dataclass
class Served:
    base: str
    newcomer: str


@pytest.fixture(scope="module")
def served(
    seeded_chain: tuple[Services, SeedReport],
    web_settings: Settings,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Served]:
    index_dir = tmp_path_factory.mktemp("dashboard")
    loops = (indexer_runner.start_background,)
    with served_on_snapshot(seeded_chain, web_settings, index_dir, loops) as (base, services):
        chain = services.chain
        registry = chain.clients.registry
        leader = Account.create()
        chain.sender.send(chain.platform, to=leader.address, value=10**17)
        profile = json.dumps(
            {"type": "tuanchain:PartyProfile", "name": {"zh": "新团长", "en": "New"}}
        )
        cid = parse_cid(services.store.put(profile.encode()))
        registry.apply_as_leader(cid, hashlib.sha256(b"id card").digest(), signer=leader)
        registry.approve_leader(leader.address, signer=chain.platform)
        wait_ready(base)  # indexed up to the approval
        yield Served(base, leader.address)


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_the_dashboard_lists_a_new_leader_and_explains_its_figures_on_a_phone(
    browser: Any, served: Served, lang: str
) -> None:
    words = {k: v[lang] for k, v in messages().items()}
    context = browser.new_context(viewport=PHONE, is_mobile=True, has_touch=True)
    errors: list[str] = []
    page = context.new_page()
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    try:
        page.goto(f"{served.base}/dashboard?lang={lang}")
        # The leader just approved, with no order yet: listed, with zeros.
        row = page.locator(f'#leader-table tr[data-leader="{served.newcomer}" i]')
        assert row.count() == 1
        assert [c.strip() for c in row.locator("td").all_inner_texts()[1:]] == ["0", "0.00"]
        chooser = page.locator(f'#views a[href*="leader={served.newcomer}" i]')
        assert chooser.count() == 1
        # Each figure says what it is, visibly, under it.
        for kpi, key in (
            ("gmv", "gmv_def"),
            ("paid-in", "paid_in_def"),
            ("rebates", "rebates_def"),
            ("in-escrow", "in_escrow_def"),
            ("orders", "orders_def"),
            ("refunds", "refunds_def"),
        ):
            definition = page.locator(f"#kpi-{kpi} .def")
            assert definition.is_visible() and definition.inner_text() == words[key], kpi
        explained = page.locator("#figures-explained")
        explained.locator("summary").click()
        assert explained.locator("li").first.is_visible()
        assert words["explain_identity"] in explained.inner_text()
        # The identity with this page's figures, and they add up (no mismatch mark).
        identity = explained.locator("#identity-figures")
        assert identity.is_visible() and "mismatch" not in (identity.get_attribute("class") or "")
        figures = {
            kpi: page.locator(f"#kpi-{kpi} strong").inner_text()
            for kpi in ("paid-in", "rebates", "gmv", "in-escrow")
        }
        assert all(f in identity.inner_text() for f in figures.values()), figures
        assert page.locator("#leader-count").inner_text().strip()
        # Nothing wider than the phone, with the explanation open.
        assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
        shot(page, f"dashboard-phone-{lang}")
    finally:
        context.close()
    assert not errors, errors
