"""A group leader's day, read side: what their page and notices say when their group is cash
orders only, when a deal fails or its batch is recalled, and what their commission is before the
goods arrive (the same figure on every page; nothing when the deal cannot deliver).

From the seeded index (chain time set by the test). The cash-only group is the indexed row of a
``CashOrderBooked`` log added in a transaction that is rolled back (the seeded deals' join
deadlines have passed: no cash order can be booked on chain any more), so the session's other
tests see the seed as it was.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session
from web3 import Web3

from api import notices as notice_feed
from api import shop
from api.db import models as m
from api.demo.catalog import LEADERS
from api.handout import handout_view
from api.names import Directory
from api.render import price
from chain import deal_rules

from .conftest import Demo


def _deal(session: Session, deal_id: int) -> m.Deal:
    return session.scalars(select(m.Deal).where(m.Deal.deal_id == deal_id)).one()


def _booked_cash_order(
    deal: m.Deal, leader: str, *, quantity: int, amount: int
) -> m.CashOrderEvent:
    """The row the indexer writes for a CashOrderBooked a minute before the deal's 截单 (for a
    fresh neighbour: a unique reference and transaction)."""
    return m.CashOrderEvent(
        deal_id=deal.deal_id,
        leader=leader,
        beneficiary_ref="0x" + uuid.uuid4().hex * 2,
        kind="booked",
        quantity=quantity,
        amount=amount,
        block_number=1,
        tx_hash="0x" + uuid.uuid4().hex * 2,
        log_index=0,
        block_time=datetime.fromtimestamp(deal.join_deadline - 60, UTC),
    )


@pytest.fixture
def cash_only(demo: Demo) -> Iterator[tuple[Session, str, int]]:
    """A leader (a fresh address) whose group in the pork deal (formed; no receipt) is one cash
    order of 2 units booked for a neighbour: the row the indexer writes for CashOrderBooked."""
    pork = demo.report.deals["pork_claim"]
    leader = Web3.to_checksum_address("0x" + uuid.uuid4().hex + uuid.uuid4().hex[:8])
    with Session(demo.services.engine) as session:
        deal = _deal(session, pork)
        top = deal_rules.top_price(deal.price_tiers)
        session.add(_booked_cash_order(deal, leader, quantity=2, amount=2 * top))
        session.flush()
        try:
            yield session, leader, pork
        finally:
            session.rollback()


def _notices(
    session: Session, demo: Demo, monkeypatch: pytest.MonkeyPatch, address: str, now: int
) -> dict[str, dict]:
    monkeypatch.setattr(notice_feed.queries, "chain_now", lambda _session: now)
    directory = Directory(session, demo.services.store)
    found = notice_feed.notices(session, directory, address)
    return {n["kind"]: {**n, "text": notice_feed.sentence(n, directory, "en")} for n in found}


def test_a_leader_whose_group_is_cash_orders_only_hears_their_goods_never_arrived(
    demo: Demo, monkeypatch: pytest.MonkeyPatch, cash_only: tuple[Session, str, int]
) -> None:
    """Leftover: the notice read only the buyers' orders, so a leader with nothing but cash
    orders heard neither 成团 nor 未到货, and the webhooks never sent to them."""
    session, leader, pork = cash_only
    deadline = _deal(session, pork).delivery_deadline
    before = _notices(session, demo, monkeypatch, leader, deadline - 1)
    assert "group_formed" in before and "group_undelivered" not in before
    gone = _notices(session, demo, monkeypatch, leader, deadline)["group_undelivered"]
    assert gone["id"] == f"group_undelivered:{pork}" and gone["n"] == 2
    assert "(2 units)" in gone["text"]
    assert pork in notice_feed.address_deals(session, leader)[0]
    assert leader in notice_feed.recipients_of(session, {pork})


def test_a_leader_whose_group_is_cash_orders_only_sees_the_deal_and_can_confirm_receipt(
    demo: Demo, monkeypatch: pytest.MonkeyPatch, cash_only: tuple[Session, str, int]
) -> None:
    """Their page listed only deals with a buyer's order under them (or open ones): once the
    deal closed, the leader who paid for their neighbours had no way to confirm receipt."""
    session, leader, pork = cash_only
    deadline = _deal(session, pork).delivery_deadline
    monkeypatch.setattr(notice_feed.queries, "chain_now", lambda _session: deadline - 1)
    view = shop.leader_view(session, demo.services, leader, "http://testserver/")
    group = next(g for g in view["deals"] if g["deal"]["deal_id"] == pork)
    assert group["units"] == 2 and group["cash_units"] == 2 and group["cash_count"] == 1
    assert group["paid"] == group["cash_paid"] > 0  # what the leader paid in for them
    assert group["can_receive"]


def test_the_group_totals_add_up_to_the_rows_with_cash_orders(
    demo: Demo, web_client: TestClient
) -> None:
    """王阿姨's rice: 2 buyers (7 units) and a 2-unit cash order: 9 units. The totals said 9
    units but 2 orders and the buyers' money only; the cash order now has its row and is in the
    totals, so the rows add up to them."""
    wang = LEADERS[0].address
    rice = demo.report.deals["rice_settled"]
    with Session(demo.services.engine) as session:
        view = shop.leader_view(session, demo.services, wang, "http://testserver/")
    group = next(g for g in view["deals"] if g["deal"]["deal_id"] == rice)
    rows = sum(o["quantity"] for o in group["orders"]) + group["cash_units"]
    assert group["units"] == rows == 9
    paid = sum(o["paid"] - o["refunded"] for o in group["orders"]) + group["cash_paid"]
    assert group["paid"] == paid and group["cash_paid"] > 0
    page = web_client.get(f"/leader/{wang}?lang=en")
    assert page.status_code == 200
    card = page.text.split(f'id="group-{rice}"')[1].split("</article>")[0]
    assert "Cash orders (1)" in card and "<strong>3</strong>" in card  # 2 orders + 1 cash


def test_the_leader_hears_when_their_deal_fails_or_its_batch_is_recalled(
    demo: Demo, monkeypatch: pytest.MonkeyPatch, web_client: TestClient
) -> None:
    """李哥's pork did not form; 陈姐's oranges were recalled. Their buyers heard it; the leaders,
    who must tell the neighbours (and hand no recalled goods out), heard nothing."""
    _wang, li, chen = LEADERS
    failed = demo.report.deals["pork_failed"]
    frozen = demo.report.deals["oranges_frozen"]
    with Session(demo.services.engine) as session:
        join_deadline = _deal(session, failed).join_deadline
        assert "group_failed" not in _notices(session, demo, monkeypatch, li.address, 0)
        heard = _notices(session, demo, monkeypatch, li.address, join_deadline)
        assert heard["group_failed"]["deal_id"] == failed and heard["group_failed"]["n"] == 2
        assert heard["group_failed"]["text"].endswith("please let your neighbours know")
        # Found in review: the cash orders' refunds were mentioned to a group without any.
        assert "cash" not in heard["group_failed"]["text"]
        directory = Directory(session, demo.services.store)
        assert "现金" not in notice_feed.sentence(heard["group_failed"], directory, "zh")
        recalled = _notices(session, demo, monkeypatch, chen.address, 2**40)["group_frozen"]
        assert recalled["deal_id"] == frozen and recalled["n"] == 3
        assert "do not hand them out" in recalled["text"]
        assert "召回" in notice_feed.sentence(recalled, directory, "zh")
    monkeypatch.undo()
    page = web_client.get(f"/leader/{chen.address}?lang=en")
    assert page.status_code == 200
    assert 'data-kind="group_frozen"' in page.text


def test_a_failed_group_with_cash_orders_hears_their_refunds_come_to_the_leader(
    demo: Demo, monkeypatch: pytest.MonkeyPatch
) -> None:
    """李哥's failed pork with a 1-unit cash order he booked (the indexed row, rolled back): the
    notice says the cash orders' refunds come to him, in both languages."""
    li = LEADERS[1].address
    failed = demo.report.deals["pork_failed"]
    with Session(demo.services.engine) as session:
        deal = _deal(session, failed)
        session.add(
            _booked_cash_order(deal, li, quantity=1, amount=deal_rules.top_price(deal.price_tiers))
        )
        session.flush()
        try:
            heard = _notices(session, demo, monkeypatch, li, deal.join_deadline)["group_failed"]
            assert heard["n"] == 3 and heard["cash"] == 1
            assert "cash orders' refunds come to you" in heard["text"]
            directory = Directory(session, demo.services.store)
            assert "现金代下单的退款退到你的账户" in notice_feed.sentence(heard, directory, "zh")
        finally:
            session.rollback()


def test_the_commission_before_receipt_is_the_same_estimate_on_both_pages_and_none_when_lost(
    demo: Demo, web_client: TestClient
) -> None:
    """陈姐's open rice showed 0.00 commission on her group page and 13.50 (estimate) on its
    handout page; her recalled oranges and 李哥's failed pork earn nothing, and say so."""
    _wang, li, chen = LEADERS
    rice = demo.report.deals["rice_open"]
    frozen = demo.report.deals["oranges_frozen"]
    failed = demo.report.deals["pork_failed"]
    with Session(demo.services.engine) as session:
        view = shop.leader_view(session, demo.services, chen.address, "http://testserver/")
        groups = {g["deal"]["deal_id"]: g for g in view["deals"]}
        handout = handout_view(session, demo.services, chen.address, rice)
        assert groups[rice]["commission"] == handout["commission"] > 0
        assert groups[rice]["commission_estimated"] and handout["commission_estimated"]
        assert (groups[frozen]["commission"], groups[frozen]["commission_estimated"]) == (0, False)
        lost = handout_view(session, demo.services, li.address, failed)
        assert (lost["commission"], lost["commission_estimated"]) == (0, False)
    # Found in review: the public deal page's leaders table showed the chain's 0.00 (nothing is
    # recorded before receipt); it shows the same estimate, labelled so, in both languages.
    for lang, word in (("en", "(estimate)"), ("zh", "(预估)")):
        page = web_client.get(f"/deals/{rice}?lang={lang}")
        assert page.status_code == 200
        table = page.text.split('id="leaders"')[1].split("</section>")[0]
        row = table.split(f'title="{chen.address}"')[1].split("</tr>")[0]
        said = f'<td class="commission">{price(handout["commission"])} <span class="small">'
        assert said + word in row, row


def test_a_lost_deals_rows_say_whether_the_money_is_back(
    demo: Demo, web_client: TestClient
) -> None:
    """李哥's failed pork: his group's row said "paid 136.00" and nothing else, the same before
    and after the refund left the escrow. Now it says "Refund due", then "Refunded" once the
    refund was paid out (the indexed Withdrawn; rolled back after)."""
    _wang, li, _chen = LEADERS
    failed = demo.report.deals["pork_failed"]
    page = web_client.get(f"/leader/{li.address}?lang=en")
    card = page.text.split(f'id="group-{failed}"')[1].split("</article>")[0]
    assert '<span class="state state-refunding">Refund due</span>' in card
    with Session(demo.services.engine) as session:
        view = shop.leader_view(session, demo.services, li.address, "http://testserver/")
        group = next(g for g in view["deals"] if g["deal"]["deal_id"] == failed)
        (order,) = group["orders"]
        assert order["state"] == "refunding"
        session.add(
            m.Payout(
                deal_id=failed,
                account=order["buyer"],
                kind="withdrawn",
                amount=order["paid"],
                block_number=2**31,
                tx_hash="0x" + uuid.uuid4().hex * 2,
                log_index=0,
                block_time=datetime.now(UTC),
            )
        )
        session.flush()
        view = shop.leader_view(session, demo.services, li.address, "http://testserver/")
        group = next(g for g in view["deals"] if g["deal"]["deal_id"] == failed)
        assert group["orders"][0]["state"] == "refunded"
        rice = demo.report.deals["rice_settled"]
        settled = next(g for g in view["deals"] if g["deal"]["deal_id"] == rice)
        assert all(o["state"] is None for o in settled["orders"])  # nothing to say there
        session.rollback()


def test_the_handout_page_of_a_recalled_or_failed_deal_says_hand_nothing_out(
    demo: Demo, web_client: TestClient
) -> None:
    """陈姐's recalled oranges: the handout page counted 3 units "to pick up" and said "handout
    opens once you confirm receipt" — of goods that must not be handed out, and a receipt the
    escrow will never take. It now says why there is nothing to hand out, and 0 to pick up."""
    _wang, li, chen = LEADERS
    frozen = demo.report.deals["oranges_frozen"]
    failed = demo.report.deals["pork_failed"]
    page = web_client.get(f"/leader/{chen.address}/handout/{frozen}?lang=en")
    assert page.status_code == 200
    assert 'id="no-handout"' in page.text and "do not hand these goods out" in page.text
    assert '<strong class="to-pick-up">0</strong>' in page.text
    assert "Handout opens once you confirm receipt" not in page.text
    zh = web_client.get(f"/leader/{li.address}/handout/{failed}?lang=zh")
    assert "未成团：没有货要发放" in zh.text
    open_rice = demo.report.deals["rice_open"]
    waiting = web_client.get(f"/leader/{chen.address}/handout/{open_rice}?lang=en")
    assert 'id="no-handout"' not in waiting.text  # open: it still can come


def test_both_leader_pages_say_a_refund_was_paid_the_same_way(demo: Demo) -> None:
    """The group page read the payouts; the handout page said 退款中 to the end. One rule."""
    _wang, _li, chen = LEADERS
    frozen = demo.report.deals["oranges_frozen"]
    with Session(demo.services.engine) as session:
        before = handout_view(session, demo.services, chen.address, frozen)
        assert {o["state"] for o in before["orders"]} == {"refunding"}
        buyer = before["orders"][0]["buyer"]
        session.add(
            m.Payout(
                deal_id=frozen,
                account=buyer,
                kind="withdrawn",
                amount=1,
                block_number=2**31,
                tx_hash="0x" + uuid.uuid4().hex * 2,
                log_index=0,
                block_time=datetime.now(UTC),
            )
        )
        session.flush()
        handout = handout_view(session, demo.services, chen.address, frozen)
        view = shop.leader_view(session, demo.services, chen.address, "http://testserver/")
        group = next(g for g in view["deals"] if g["deal"]["deal_id"] == frozen)
        states = {o["buyer"]: o["state"] for o in handout["orders"]}
        assert states == {o["buyer"]: o["state"] for o in group["orders"]}
        assert states[buyer] == "refunded"
        session.rollback()


def test_a_leader_shares_a_deal_from_the_phone(live_server: str, browser: Any) -> None:
    """Sharing was a long link to press and hold: now one button opens the phone's share sheet
    with the deal's words and the leader's link (Web Share API), or, where there is none, copies
    the link and says so. Screenshots: test-artifacts/leader/."""
    from playwright.sync_api import expect

    from chain.artifacts import REPO_ROOT

    from .conftest import PHONE

    shots = REPO_ROOT / "test-artifacts" / "leader"
    shots.mkdir(parents=True, exist_ok=True)
    _wang, _li, chen = LEADERS
    context = browser.new_context(viewport=PHONE, device_scale_factor=1, is_mobile=True)
    # A phone's share sheet, recorded (headless Chromium has none of its own).
    context.add_init_script(
        "navigator.share = (data) => { window.sharedWith = data; return Promise.resolve(); };"
    )
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    try:
        page.goto(f"{live_server}/leader/{chen.address}?lang=zh")
        card = page.locator("article.group", has=page.locator("details.share")).first
        button = card.locator("button[data-share]")
        expect(button).to_be_visible()
        expect(button).to_have_text("📤 分享给邻居")
        button.click()
        shared = page.evaluate("window.sharedWith")
        link = card.locator(".share-link a").get_attribute("href")
        assert shared["url"] == link and f"leader={chen.address}" in link
        assert "五常大米" in shared["title"] and "tUSD" in shared["title"]
        card.scroll_into_view_if_needed()
        page.screenshot(path=str(shots / "share-01-button.png"))
    finally:
        context.close()
    # No share sheet: the link is copied, and the page says so.
    context = browser.new_context(viewport=PHONE, device_scale_factor=1, is_mobile=True)
    context.grant_permissions(["clipboard-read", "clipboard-write"], origin=live_server)
    context.add_init_script("delete Navigator.prototype.share;")
    page = context.new_page()
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    try:
        page.goto(f"{live_server}/leader/{chen.address}?lang=en")
        card = page.locator("article.group", has=page.locator("details.share")).first
        card.locator("button[data-share]").click()
        expect(card.locator(".share-actions output")).to_have_text(
            "✔ Link copied: paste it into your neighbours' group chat"
        )
        copied = page.evaluate("navigator.clipboard.readText()")
        assert copied == card.locator(".share-link a").get_attribute("href")
        card.scroll_into_view_if_needed()
        page.screenshot(path=str(shots / "share-02-copied.png"))
    finally:
        context.close()
    assert not errors, errors


def test_a_cash_order_not_in_this_phones_cash_book_is_said_in_words_not_hex(
    demo: Demo, web_client: TestClient
) -> None:
    """王阿姨 opens the handout page on another phone: the neighbour's name is not in this
    browser's cash book, and the row said "0x62e952b8…". It now says which cash order it is and
    where the name is; the reference stays behind a tap (title) for the cash book to match."""
    wang = LEADERS[0].address
    rice = demo.report.deals["rice_settled"]
    page = web_client.get(f"/leader/{wang}/handout/{rice}?lang=en")
    assert page.status_code == 200
    cell = page.text.split('<span class="who" data-ref="')[1].split("</span>")[0]
    ref = cell.split('"')[0]
    assert f'title="{ref}">Cash order 1 (the neighbour&#39;s name is kept on the phone' in cell
    assert f">{ref[:10]}…" not in page.text


def test_after_settlement_the_leader_sees_the_money_paid_or_a_button_to_collect_it(
    demo: Demo, web_client: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The settled rice showed a commission figure and nothing about the money: paid or not. The
    keeper pushed 王阿姨's (the seed's indexed Withdrawn): the card says so. When the escrow still
    owes a leader (a push skipped) the card offers to collect it — here the escrow's live owed()
    read is replaced by a figure, the one part of the page that is not from the index."""
    wang = LEADERS[0].address
    rice = demo.report.deals["rice_settled"]
    page = web_client.get(f"/leader/{wang}?lang=en")
    card = page.text.split(f'id="group-{rice}"')[1].split("</article>")[0]
    with Session(demo.services.engine) as session:
        paid = sum(
            int(p.amount)
            for p in session.scalars(
                select(m.Payout).where(m.Payout.deal_id == rice, m.Payout.account == wang)
            )
        )
    assert paid > 0 and f"✔ {paid / 10**6:.2f} tUSD paid to you" in card
    assert 'data-action="withdraw"' not in card
    monkeypatch.setattr(shop, "_owed", lambda _services, deal_id, _account: 1_230_000)
    owed = web_client.get(f"/leader/{wang}?lang=zh")
    card = owed.text.split(f'id="group-{rice}"')[1].split("</article>")[0]
    assert 'data-action="withdraw"' in card and "领取佣金 1.23 tUSD" in card
    assert "领取这个团购欠你的 1.23 tUSD（团长佣金）" in card


def test_a_leaders_older_groups_stay_on_their_page_behind_newer_deals(
    demo: Demo, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The page showed the leader's groups among the platform's 200 newest deals only: with more
    deals listed since, 王阿姨's settled rice (its payout, its claims) left her page. Here the
    platform's newest deals are one, as if hundreds had been listed since; her groups are read
    from her own orders and cash orders, however old."""
    wang = LEADERS[0].address
    rice = demo.report.deals["rice_settled"]
    real = shop.queries.list_deals

    def newest_only(session: Session, **kwargs: Any) -> dict[str, Any]:
        page = real(session, **kwargs)
        return {**page, "items": [i for i in page["items"] if i["deal_id"] > rice]}

    monkeypatch.setattr(shop.queries, "list_deals", newest_only)
    with Session(demo.services.engine) as session:
        view = shop.leader_view(session, demo.services, wang, "http://testserver/")
    shown = [g["deal"]["deal_id"] for g in view["deals"]]
    assert rice in shown
    assert demo.report.deals["rice_open"] in shown  # open: hers to share
