"""A form tapped before the page's deferred scripts have run must not submit natively.

The pages' forms are driven by their scripts (wallet.js's signing sheet, the passkey page, the
supplier and operator forms): a native submission — a GET of the page with the form's fields, the
language and the tap lost — is never what the person meant. Each such form says
``method="dialog"``: outside a <dialog> its submission does nothing, while the ``submit`` event the
scripts listen to still fires.
"""

from __future__ import annotations

import re
from typing import Any

import pytest
from playwright.sync_api import expect

from api.demo.catalog import CONSUMERS
from chain.artifacts import REPO_ROOT

from .phone import Wallet, open_phone

pytestmark = pytest.mark.sqlite_only
TEMPLATES = REPO_ROOT / "api" / "templates"
SHOTS = REPO_ROOT / "test-artifacts"


def test_every_form_a_script_drives_says_method_dialog() -> None:
    """A form without its own ``action`` is a script's (there is nothing for it to submit to)."""
    seen = 0
    for template in sorted(TEMPLATES.glob("*.html")):
        for tag in re.findall(r"<form\b[^>]*>", template.read_text(), flags=re.DOTALL):
            if re.search(r"\saction=", tag):
                continue  # a real form (connect.html's lookup: a GET the server answers)
            seen += 1
            assert 'method="dialog"' in tag, f"{template.name}: {tag[:120]}"
    assert seen > 20


def test_a_join_tapped_before_the_scripts_run_stays_on_the_page(
    browser: Any, live_server: str, demo: Any
) -> None:
    """The scripts are held back (route interception) while the person taps 参团: the page stays
    as it is; once they run, the same tap opens the signing sheet."""
    context, page, errors = open_phone(browser, Wallet(CONSUMERS[0].account), "zh-CN")
    held: list[Any] = []
    navigations: list[str] = []
    try:
        context.route("**/static/*.js", lambda route: held.append(route))
        page.on(
            "request",
            lambda r: navigations.append(r.url) if r.is_navigation_request() else None,
        )
        url = f"{live_server}/?lang=zh"
        page.goto(url, wait_until="commit")
        join = page.locator(f"#deal-{demo.report.deals['rice_open']} button[type=submit]")
        join.scroll_into_view_if_needed()
        expect(join).to_have_css("opacity", "0.55")  # dimmed while the scripts are not there
        hint = page.locator("p.js-wait")
        expect(hint).to_be_hidden()  # nothing said before a tap
        join.tap()
        # The tap that does nothing yet says why, in the page's language.
        expect(hint).to_be_visible()
        expect(hint).to_have_text("页面还在加载…请稍候再点一次")
        page.screenshot(path=str(SHOTS / "join-before-js.png"))
        page.locator(f"#deal-{demo.report.deals['rice_open']} input[name=quantity]").press("Enter")
        assert held, "the page's scripts were not requested"
        for route in held:
            route.continue_()
        context.unroute("**/static/*.js")
        expect(page.locator("html")).to_have_attribute("data-js", "ready")
        assert page.url == url
        assert navigations == [url]  # no native submission was sent
        expect(join).to_have_css("opacity", "1")
        join.focus()
        expect(hint).to_be_hidden()  # once the scripts run, a tap acts and the hint is gone
        join.tap()
        expect(page.locator("dialog#tuan-steps")).to_be_visible()
        page.screenshot(path=str(SHOTS / "join-after-js.png"))
    finally:
        context.close()
    assert not errors, errors
