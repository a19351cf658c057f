"""The phone pages say things in the page's language and in one form: a batch's state, time
left, price tiers, people and places, times with their zone, an error's words, the deals due to
settle (rendered through the app's test client on the seeded demo: no browser needed)."""

from __future__ import annotations

import re
from typing import Any

from fastapi.testclient import TestClient


def text_of(html: str) -> str:
    """The page's visible words, tags stripped and spaces collapsed."""
    body = re.sub(r"<(script|style)\b.*?</\1>", " ", html, flags=re.DOTALL)
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", body))


def deal_page(client: TestClient, deal_id: int, lang: str) -> str:
    response = client.get(f"/deals/{deal_id}", params={"lang": lang})
    assert response.status_code == 200, response.text
    return response.text


def test_a_deals_batch_state_and_limit_are_in_the_pages_language(
    web_client: TestClient, demo: Any
) -> None:
    deal_id = demo.report.deals["rice_open"]
    html = deal_page(web_client, deal_id, "zh")
    zh = text_of(html)
    assert "(active)" not in zh and "max" not in zh
    assert 'data-status="active">正常</span>' in html and "最多" in zh
    assert re.search(r"剩余时间 \d+(天 \d+小时|小时 \d+分) ", zh), zh  # not "29 d 18 h"
    en = text_of(deal_page(web_client, deal_id, "en"))
    assert " Active " in en and "at most" in en
    assert re.search(r"\d+(d \d+h|h \d+min) ", en)


def test_price_tiers_read_naturally_with_their_currency(web_client: TestClient, demo: Any) -> None:
    deal_id = demo.report.deals["rice_open"]
    for lang, first, later in (
        ("zh", r"1 份起 [\d.]+ tUSD", r"满 \d+ 份 [\d.]+ tUSD"),
        ("en", r"from 1: [\d.]+ tUSD", r"from \d+: [\d.]+ tUSD"),
    ):
        tiers = re.findall(
            r'<span class="tier">([^<]*)</span>', deal_page(web_client, deal_id, lang)
        )
        assert tiers, lang
        assert re.fullmatch(first, tiers[0]), tiers  # never "满 0: 10.00"
        for tier in tiers[1:]:
            assert re.fullmatch(later, tier), tiers


def test_a_pickup_point_shows_an_address_once(web_client: TestClient) -> None:
    from api.demo.catalog import CONSUMERS, LEADERS
    from api.names import Person

    nameless = Person("0x599e0000000000000000000000000000000a3aCD")
    assert nameless.place_label("zh") == "0x599e…3aCD" and nameless.keeper_label("zh") == ""
    named = Person(LEADERS[0].address, {"zh": "王姐"}, {"zh": "阳光小区 3 栋"})
    assert (named.place_label("zh"), named.keeper_label("zh")) == ("阳光小区 3 栋", "王姐")
    html = web_client.get(f"/orders/{CONSUMERS[0].address}", params={"lang": "zh"}).text
    points = re.findall(r'<dd class="pickup-point" title="0x[0-9a-fA-F]{40}">(.*?)</dd>', html)
    assert points
    for point in points:  # a place, then who keeps it, never the same words twice
        words = text_of(point).strip()
        place, _, keeper = words.partition(" (")
        assert keeper.rstrip(")") != place, words


def test_every_time_names_its_zone(web_client: TestClient, demo: Any) -> None:
    from datetime import datetime

    from api.render import format_time, format_timestamp

    assert format_time("2026-12-01T04:24:00Z") == "2026-12-01 04:24 UTC"
    assert format_time(datetime(2026, 12, 1, 4, 24)) == "2026-12-01 04:24 UTC"  # naive: UTC
    assert format_time("2025-11-07T21:45:00+08:00") == "2025-11-07 21:45 UTC+8"
    assert format_time("2025-11-07T08:15:00-03:30") == "2025-11-07 08:15 UTC-3:30"
    assert format_timestamp(1_764_563_040) == format_time(1_764_563_040) == "2025-12-01 04:24 UTC"
    assert format_time(None) == format_timestamp(0) == ""
    stamp = r"\d{4}-\d\d-\d\d \d\d:\d\d UTC(?:[+-]\d+(?::\d\d)?)?"
    deal = text_of(deal_page(web_client, demo.report.deals["rice_settled"], "zh"))
    assert re.search(rf"截单时间 {stamp} ", deal) and re.search(rf"送达期限 {stamp} ", deal)
    assert re.search(rf"✔ {stamp} ", deal)  # a leader's receipt
    from api.demo.catalog import CONSUMERS

    orders = web_client.get(f"/orders/{CONSUMERS[0].address}", params={"lang": "zh"}).text
    arrived = re.findall(r"<dt>已到自提点</dt><dd>(.*?)</dd>", orders)
    assert arrived, "a seeded order whose goods arrived"
    for value in arrived:
        assert re.fullmatch(rf"✔ {stamp}", text_of(value).strip()), value


def test_the_error_page_says_the_code_in_the_pages_language(web_client: TestClient) -> None:
    zh = web_client.get("/deals/999999", params={"lang": "zh"})
    assert zh.status_code == 404
    reason = re.search(
        r'<p class="reason" data-code="deal_not_found" title="([^"]*)">([^<]*)</p>', zh.text
    )
    assert reason, zh.text
    assert "999999" in reason[1] and reason[2] == "找不到这个团购"  # the English kept as the title
    en = web_client.get("/deals/999999", params={"lang": "en"}).text
    assert 'data-code="deal_not_found"' in en and "找不到" not in en


def test_the_dashboard_links_each_deal_due_to_settle(web_client: TestClient, demo: Any) -> None:
    """The operator's way: dashboard → the deal → settle now (its #settle card)."""
    due = web_client.get("/v1/dashboard").json()["to_settle"]
    html = web_client.get("/dashboard", params={"lang": "zh"}).text
    links = re.findall(r'<li data-deal="(\d+)" data-ready="(true|false)"><a href="([^"]+)">', html)
    assert [(int(d), r == "true") for d, r, _ in links] == [(x["deal_id"], x["ready"]) for x in due]
    for deal_id, _, href in links:
        assert href == f"/deals/{deal_id}?lang=zh#settle"
    assert due, "the seeded pork deal: its leader confirmed receipt, a claim is open"
    for deal_id, _, href in links:
        target = web_client.get(href.split("#")[0]).text
        assert 'id="settle"' in target, deal_id  # the card the link lands on


def test_the_passkey_pages_words_are_all_in_the_pages_language(web_client: TestClient) -> None:
    """What passkey.js says while signing comes from the page's words (no English inside the
    Chinese sentence: 'approve 10.00 tUSD + join #3')."""
    import json

    from api.render import STATIC_DIR

    script = (STATIC_DIR / "passkey.js").read_text()
    used = set(re.findall(r'\bt\("(\w+)"', script))
    for lang, join in (
        ("zh", "授权支付 10.00 tUSD 并参团 #3"),
        ("en", "approve 10.00 tUSD and join deal #3"),
    ):
        html = web_client.get("/passkey", params={"lang": lang}).text
        found = re.search(r'<script type="application/json" id="passkey-i18n">(.*?)</script>', html)
        assert found, html
        words = json.loads(found[1])
        assert used <= set(words), used - set(words)
        text = words["join_what"].replace("{amount}", "10.00").replace("{deal}", "3")
        assert text == join
