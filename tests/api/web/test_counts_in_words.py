"""Counts in words on the pages, in English: "1 request" / "2 requests", "Take 1 unit" / "Take
2 units" (never "1 units"), in Chinese without a plural. The server's ``t(key, n=…)`` and the
browser's ``Tuan.fill`` choose the form (``api.render.words``; tests/api/test_plurals.py)."""

from __future__ import annotations

import re
from typing import Any

import pytest
from fastapi.testclient import TestClient
from playwright.sync_api import expect

from api.demo.catalog import CONSUMERS

from .phone import Wallet, open_phone
from .test_browser import ARTIFACTS
from .test_page_words import text_of


def _stuck(requests: int, tx: str) -> dict[str, Any]:
    return {
        "kind": "relay",
        "tx_hash": "0x" + tx * 64,
        "nonce": 7,
        "requests": requests,
        "waited": 180,
        "max_fee_per_gas": None,
        "at_ceiling": False,
    }


def test_the_dashboard_counts_one_request_and_two_requests(
    web_client: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    from api.routes import pages

    monkeypatch.setattr(pages, "_stuck", lambda services: [_stuck(1, "a"), _stuck(2, "b")])
    said = {}
    for lang in ("en", "zh"):
        response = web_client.get("/dashboard", params={"lang": lang})
        assert response.status_code == 200, response.text
        said[lang] = re.findall(r"· nonce 7 · (\d+ \S+) 0x", text_of(response.text))
    assert said == {"en": ["1 request", "2 requests"], "zh": ["1 笔请求", "2 笔请求"]}, said


@pytest.mark.sqlite_only
def test_the_pickup_code_sheet_counts_the_units_being_typed(
    browser: Any, live_server: str, demo: Any
) -> None:
    """The count is the buyer's to type: the page hands the words' plural forms to the script,
    which chooses "unit" or "units" for what is typed (nothing is signed: the sheet is closed)."""
    buyer = CONSUMERS[1]  # 李娜: the demo's pork is at her pickup point (3 ordered)
    pork = demo.report.deals["pork_claim"]
    context, page, errors = open_phone(browser, Wallet(buyer.account))
    try:
        page.goto(f"{live_server}/orders/{buyer.address}?lang=en")
        box = page.locator(f"#order-{pork} .pickup-code")
        sheet = page.locator("dialog#tuan-steps")
        for quantity, words in ((1, "Take 1 unit of"), (2, "Take 2 units of")):
            box.locator("input[name=quantity]").fill(str(quantity))
            box.locator("button[type=submit]").click()
            expect(sheet.locator("p.summary")).to_contain_text(words)
            if quantity == 1:
                expect(sheet.locator("p.summary")).not_to_contain_text("units")
                ARTIFACTS.mkdir(exist_ok=True)
                page.screenshot(path=str(ARTIFACTS / "counts-pickup-code-1-unit.png"))
            sheet.locator("button.sheet-close").click()
            expect(sheet).not_to_be_visible()
        assert page.evaluate("Tuan.t('js_units', { n: 1 })") == "1 unit"
        assert page.evaluate("Tuan.t('js_units', { n: 2 })") == "2 units"
    finally:
        context.close()
    assert not errors, errors
