"""A neighbour with a passkey comes back the next day on a poor connection (Chromium, 390 px).

The phone keeps the passkey's public key in localStorage (``tuan.passkey``, as ``/passkey``
leaves it; no authenticator is needed to be recognised, only to sign). Its account's address
used to be asked of the service on every page (``/v1/passkeys/account``, which reads the chain):
when that did not answer (a slow network, the chain node down), the bar said 未连接钱包 with a
connect button that could not help, "my orders" stayed on its connect page, and the page threw
an unhandled error. Screenshots: ``test-artifacts/consumer/``.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from playwright.sync_api import expect

from api.demo.catalog import CONSUMERS
from api.render import short
from chain.aa.webauthn import SoftwarePasskey
from chain.artifacts import REPO_ROOT

from .conftest import PHONE, Demo

pytestmark = pytest.mark.sqlite_only
SHOTS = REPO_ROOT / "test-artifacts" / "consumer"
ACCOUNT_API = "**/v1/passkeys/account**"


@pytest.fixture
def phone(browser: Any, demo: Demo) -> Iterator[tuple[Any, str, list[str]]]:
    """A phone that made a passkey before (its key in localStorage, kept across visits): the
    page, the passkey account's address and the page's script errors."""
    key = SoftwarePasskey.from_secret(uuid.uuid4().int)
    account = demo.services.chain.passkeys.factory.get_address(key.qx, key.qy)
    stored = json.dumps({"id": "dGVzdA", "qx": "0x" + key.qx.hex(), "qy": "0x" + key.qy.hex()})
    context = browser.new_context(
        viewport=PHONE, device_scale_factor=1, is_mobile=True, has_touch=True, locale="zh-CN"
    )
    # Set once, as /passkey does; later visits keep what the pages stored beside it.
    context.add_init_script(
        f"localStorage.getItem('tuan.passkey') || localStorage.setItem('tuan.passkey', {json.dumps(stored)})"
    )
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    try:
        yield page, account, errors
    finally:
        context.close()
    assert not errors, errors


def shot(page: Any, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}.png"))


def test_a_returning_passkey_neighbour_is_known_and_one_tap_from_their_orders_offline(
    live_server: str, phone: tuple[Any, str, list[str]]
) -> None:
    page, account, _ = phone
    who = page.locator("#wallet-bar .who")
    page.goto(f"{live_server}/?lang=zh")  # the first day: the service answers
    expect(who).to_have_text(f"通行密钥账户 · {short(account)}")

    # The next day the service does not answer about the account (no connection to it, or its
    # chain node down): the phone still knows who it is, and "my orders" is one tap away.
    page.route(ACCOUNT_API, lambda route: route.abort("timedout"))
    page.goto(f"{live_server}/?lang=zh")
    expect(who).to_have_text(f"通行密钥账户 · {short(account)}")
    expect(page.locator("#wallet-bar button.connect")).to_be_hidden()
    shot(page, "01-next-day-known-offline")
    page.locator("nav.tabs a", has_text="我的订单").click()
    page.wait_for_url(f"**/orders/{account}?lang=zh")
    expect(page.locator("h1")).to_have_text("我的订单")


def test_a_passkey_whose_account_cannot_be_asked_says_so_with_a_way_on(
    live_server: str, phone: tuple[Any, str, list[str]]
) -> None:
    """Never known on this phone and the service unreachable: the bar says what is wrong and
    offers to try again, not "not connected" with a connect button that would do nothing."""
    page, account, _ = phone
    page.route(ACCOUNT_API, lambda route: route.abort("internetdisconnected"))
    page.goto(f"{live_server}/?lang=zh")
    who = page.locator("#wallet-bar .who")
    expect(who).to_have_text("通行密钥账户 · 暂时查不到账户（网络不好？）")
    expect(who).to_have_attribute("title", re.compile("连不上服务"))  # the whole reason
    expect(page.locator("#wallet-bar button.connect")).to_be_hidden()
    shot(page, "02-passkey-account-unreachable")
    page.unroute(ACCOUNT_API)
    retry = page.locator("#wallet-bar a.retry")
    expect(retry).to_be_visible()
    expect(page.locator("#wallet-bar .passkey-link")).to_be_hidden()
    retry.click()
    expect(who).to_have_text(f"通行密钥账户 · {short(account)}")


def test_someone_elses_orders_say_so_before_a_tap_and_lead_to_ones_own(
    live_server: str, phone: tuple[Any, str, list[str]]
) -> None:
    """A neighbour's orders page opened from a link: its 出示提货码 answered 没有这笔订单 only
    after a tap and a signature sheet (the signed-in account has no such order)."""
    page, account, _ = phone
    page.goto(f"{live_server}/orders/{CONSUMERS[1].address}?lang=zh")
    note = page.locator(".not-yours")
    expect(note).to_be_visible()
    expect(note).to_contain_text("这不是你现在登录的账户的订单")
    # Titled with whose they are: 我的订单 said they were the signed-in person's.
    expect(page.locator("h1")).to_have_text("消费者 2 的订单")
    expect(page).to_have_title(re.compile("^消费者 2 的订单 · "))
    shot(page, "04-someone-elses-orders")
    note.locator("a", has_text="看我的订单").click()
    page.wait_for_url(f"**/orders/{account}?lang=zh")
    expect(page.locator("#wallet-bar .who")).to_have_text(f"通行密钥账户 · {short(account)}")
    expect(page.locator(".not-yours")).to_be_hidden()  # one's own: nothing to say
    expect(page.locator("h1")).to_have_text("我的订单")


def test_a_join_without_enough_money_says_so_and_leads_to_the_accounts_balance(
    live_server: str, demo: Demo, phone: tuple[Any, str, list[str]]
) -> None:
    """A passkey account with no tUSD joins: the sheet said only 这个操作会被合约拒绝，未提交
    (the contract would refuse), with no reason and no way on."""
    page, _, _ = phone
    rice = demo.report.deals["rice_open"]
    page.goto(f"{live_server}/?lang=zh")
    expect(page.locator("#wallet-bar .who")).to_contain_text("通行密钥账户 · 0x")
    page.locator(f"#deal-{rice} button[type=submit]").click()
    sheet = page.locator("dialog#tuan-steps")
    expect(sheet).to_contain_text("账户余额不够付这笔订单")
    way_on = sheet.locator("a[data-balance]")
    expect(way_on).to_have_text("查看我的账户余额")
    shot(page, "05-join-without-enough-money")
    way_on.click()
    page.wait_for_url("**/passkey?lang=zh&next=**")
    expect(page.locator("[data-field=balance]")).to_have_text("0.00")


def test_the_empty_orders_link_to_another_devices_account_opens_that_section(
    live_server: str, phone: tuple[Any, str, list[str]]
) -> None:
    """No orders on this phone's account: 关联另一台设备的账户 led to the passkey page with
    that section folded away (a <details> among others), so the link seemed to do nothing."""
    page, account, _ = phone
    page.goto(f"{live_server}/orders/{account}?lang=zh")
    page.locator(".no-orders a", has_text="关联另一台设备的账户").click()
    page.wait_for_url("**/passkey?lang=zh#other-device")
    section = page.locator("details.other-device")
    expect(section).to_have_attribute("open", "")
    use = section.locator("form.use-account")
    expect(use).to_be_visible()
    expect(section.locator("summary")).to_be_in_viewport()
    tabs = page.locator("nav.tabs").bounding_box()
    top = section.locator("summary").bounding_box()
    assert tabs and top and top["y"] >= tabs["y"] + tabs["height"]  # not under the sticky tabs
    shot(page, "06-link-another-devices-account")
