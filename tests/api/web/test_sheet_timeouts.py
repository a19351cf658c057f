"""The signing sheet when the service never answers: a bounded wait, words, and "Try again".

A request routed to never answer (Playwright route interception, the request held) stands for a
dead connection; the page's clock (Playwright's fake clock) is moved past the service timeout
rather than waited for. The sheet then says what happened in the page's language and offers to
try again, which runs the attempt afresh once the service answers.
"""

from __future__ import annotations

from typing import Any

import pytest
from playwright.sync_api import expect

from api.demo.catalog import CONSUMERS
from chain.artifacts import REPO_ROOT

from .phone import Wallet, open_phone

pytestmark = pytest.mark.sqlite_only
SHOTS = REPO_ROOT / "test-artifacts"


@pytest.mark.parametrize(
    ("lang", "locale", "words", "again"),
    [
        ("zh", "zh-CN", "服务没有及时回应", "再试一次"),
        ("en", "en-US", "did not answer in time", "Try again"),
    ],
)
def test_a_prepare_that_never_answers_ends_in_words_and_a_retry(
    browser: Any, live_server: str, demo: Any, lang: str, locale: str, words: str, again: str
) -> None:
    context, page, errors = open_phone(browser, Wallet(CONSUMERS[0].account), locale)
    hung: list[Any] = []
    try:
        page.clock.install()
        context.route("**/v1/actions/*/prepare", lambda route: hung.append(route))
        page.goto(f"{live_server}/?lang={lang}")
        expect(page.locator("html")).to_have_attribute("data-js", "ready")
        with page.expect_request("**/v1/actions/*/prepare"):  # the request is out, and held
            page.locator(f"#deal-{demo.report.deals['rice_open']} button[type=submit]").tap()
        sheet = page.locator("dialog#tuan-steps")
        expect(sheet.locator('li[data-step="review"]')).to_have_class("active")
        page.clock.fast_forward("00:30")  # past the service's 20 s
        expect(sheet.locator(".status-line")).to_contain_text(words)
        expect(sheet.locator('li[data-step="review"]')).to_have_class("failed")
        retry = sheet.locator("button[data-retry]")
        expect(retry).to_have_text(again)
        page.screenshot(path=str(SHOTS / f"sheet-timeout-{lang}.png"))
        context.unroute("**/v1/actions/*/prepare")  # the service answers again
        retry.tap()
        expect(sheet.locator("button[data-sign]")).to_be_visible()  # what will be signed, shown
        expect(sheet.locator(".status-line")).to_have_text("")
        sheet.locator("button.sheet-close").tap()  # nothing is signed here
    finally:
        context.close()  # the held request goes with its page
    assert not errors, errors
