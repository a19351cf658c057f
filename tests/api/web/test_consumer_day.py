"""A consumer's day read back from the pages (a review with fresh eyes, on the seeded demo):
what an order says once its deal is settled, numbers with their units, a visitor's own address
said once. The clicked journeys are in ``test_passkey_journey.py`` and ``test_journeys.py``.
"""

from __future__ import annotations

import re
from typing import Any

from fastapi.testclient import TestClient

from api.demo.catalog import CONSUMERS, ORANGES, PORK

from .test_page_words import text_of


def order_card(html: str, deal_id: int) -> str:
    start = html.index(f'id="order-{deal_id}"')
    return html[start:].split("</article>")[0]


def test_a_settled_order_never_picked_up_says_so_not_completed(
    web_client: TestClient, demo: Any
) -> None:
    """Consumer 3 (陈静 of the demo) never came for her 3 bags of the settled rice deal: her
    order said 已完成 (Completed), as if she had them, with nothing about the pickup deadline."""
    deal = demo.report.deals["rice_settled"]
    for lang, state, missed in (
        ("zh", "逾期未提", "已过，没有提货"),
        ("en", "Not picked up in time", "passed without a pickup"),
    ):
        html = web_client.get(f"/orders/{CONSUMERS[2].address}", params={"lang": lang}).text
        card = order_card(html, deal)
        assert 'data-state="no_show"' in card, card
        words = text_of(card)
        assert state in words and missed in words, words
        deadline = card[card.index('<dd class="no-show">') :].split("</dd>")[0]
        assert re.match(r" ?\d{4}-\d\d-\d\d \d\d:\d\d UTC", text_of(deadline)), deadline
    # One who did pick up keeps 已完成 with the time of the pickup.
    taken = order_card(
        web_client.get(f"/orders/{CONSUMERS[0].address}", params={"lang": "zh"}).text, deal
    )
    assert 'data-state="done"' in taken and "已提货" in text_of(taken)


def test_an_orders_quantity_has_its_unit(web_client: TestClient, demo: Any) -> None:
    """数量 4 read as a bare number beside amounts with their currency."""
    deal = demo.report.deals["rice_settled"]
    for lang, unit in (("zh", "4 份"), ("en", "4 units")):
        html = web_client.get(f"/orders/{CONSUMERS[0].address}", params={"lang": lang}).text
        assert f'<dd class="quantity">{unit}</dd>' in order_card(html, deal)


def test_prices_and_commissions_on_the_trail_and_deal_pages_have_their_currency(
    web_client: TestClient, demo: Any
) -> None:
    """The trail's deal list said 单价 52.00 and the deal page's leaders' table 0.00: no
    currency, where every other amount says tUSD."""
    trail = web_client.get(
        f"/01/{ORANGES.gtin14}/10/{ORANGES.lot}",
        params={"lang": "zh"},
        headers={"Accept": "text/html"},  # a phone's browser, not the resolver's JSON
    ).text
    assert re.search(r"单价 \d+\.\d\d tUSD · 已售 \d+ 份 / 成团数量 \d+ 份", text_of(trail))
    deal = web_client.get(f"/deals/{demo.report.deals['rice_settled']}", params={"lang": "en"})
    sold = deal.text[deal.text.index('<p class="sold">') :].split("</p>")[0]
    assert re.fullmatch(
        r"Sold \d+ units / Needed to succeed \d+ units \(at most \d+\)", text_of(sold).strip()
    )
    table = deal.text[deal.text.index("<tbody>") :].split("</tbody>")[0]
    cells = re.findall(r"<td class=\"commission\">([^<]*)</td>\s*</tr>", table)
    assert cells and all(re.fullmatch(r"\d+\.\d\d tUSD", c) for c in cells), table


def test_an_unnamed_visitors_orders_page_shows_the_address_once(web_client: TestClient) -> None:
    """A new passkey account has no name: the page read '0x29bc…9b8d · 0x29bc…9b8d'."""
    stranger = "0x29bcfB1592D767AC804A297FEb547d3427549b8d"
    html = web_client.get(f"/orders/{stranger}", params={"lang": "zh"}).text
    header = html[html.index("<h1") :].split("</p>")[0]
    assert text_of(header).count("0x29bc…9b8d") == 1, header
    # No orders: maybe on another phone's account; the way to link it, not only today's deals.
    empty = html[html.index('class="card no-orders"') :].split("</div>")[0]
    assert (
        "在另一台手机上下过单" in text_of(empty) and 'href="/passkey?lang=zh#other-device"' in empty
    )
    named = web_client.get(f"/orders/{CONSUMERS[0].address}", params={"lang": "en"}).text
    assert CONSUMERS[0].name_en in named[named.index("<h1") :].split("</p>")[0]


def test_a_cold_chain_breach_names_its_limit_in_the_pages_language(web_client: TestClient) -> None:
    """The pork's breach read '6.2 °C (max 4.0 °C)' on the Chinese page: a code, not a word."""
    for lang, bound in (("zh", "上限"), ("en", "max")):
        html = web_client.get(
            f"/01/{PORK.gtin14}/10/{PORK.lot}",
            params={"lang": lang},
            headers={"Accept": "text/html"},
        ).text
        breaches = [text_of(b) for b in re.findall(r'<p class="breach">(.*?)</p>', html)]
        assert breaches and all(re.search(rf"°C \({bound} [\d.]+ °C\)", b) for b in breaches)


def test_a_recall_banner_leads_to_the_refund(web_client: TestClient) -> None:
    """The recalled oranges' label said every order is refundable, with no way to the refund."""
    html = web_client.get(
        f"/01/{ORANGES.gtin14}/10/{ORANGES.lot}",
        params={"lang": "zh"},
        headers={"Accept": "text/html"},
    ).text
    banner = html[html.index('id="recall-banner"') :].split("</section>")[0]
    assert '<a class="go-on" href="/orders?lang=zh">去我的订单领取退款</a>' in banner, banner


def test_my_orders_without_the_chain_node_say_so_and_never_call_a_refund_done(
    web_client: TestClient, demo: Any, monkeypatch: Any
) -> None:
    """What the escrow owes now is read live from the node. Unreachable, the recalled oranges'
    unpaid refund read 已退款 (refunded) with no button, every order waited for the node in turn,
    and nothing said why."""
    asked: list[int] = []

    def unreachable(deal_id: int, account: str) -> int:
        asked.append(deal_id)
        raise ConnectionError("the node does not answer")

    monkeypatch.setattr(demo.services.chain.clients.escrow, "owed", unreachable)
    html = web_client.get(f"/orders/{CONSUMERS[0].address}", params={"lang": "zh"}).text
    card = order_card(html, demo.report.deals["oranges_frozen"])
    assert 'data-state="refunding"' in card and "退款中" in text_of(card), card
    assert "暂时连不上区块链节点" in text_of(html)
    assert len(asked) == 1  # one unanswered read, not one per order
    monkeypatch.undo()
    fine = web_client.get(f"/orders/{CONSUMERS[0].address}", params={"lang": "zh"}).text
    assert "暂时连不上区块链节点" not in text_of(fine)


def test_a_joined_order_says_how_far_its_group_is_from_forming(
    web_client: TestClient, demo: Any
) -> None:
    """After joining, the order said only 拼团中: not how many more are needed, nor when 截单 is
    (the shop's card said both; the orders page is where a neighbour comes back to)."""
    html = web_client.get(f"/orders/{CONSUMERS[0].address}", params={"lang": "zh"}).text
    card = order_card(html, demo.report.deals["rice_open"])
    progress = text_of(card[card.index('class="small progress-text"') :].split("</p>")[0])
    assert re.search(r"已拼 \d+ 份，还差 \d+ 份成团 · 距截单 \d+天 \d+小时", progress), progress
    settled = order_card(html, demo.report.deals["rice_settled"])
    assert "progress-text" not in settled
