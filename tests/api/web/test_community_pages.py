"""The consumer and leader pages on the seeded demo (server-rendered HTML and the notices JSON).

The journeys through them, clicked in Chromium with a wallet, are in ``test_journeys.py``.
"""

from __future__ import annotations

import re
from typing import Any

import pytest
from fastapi.testclient import TestClient

from api.demo.catalog import CONSUMERS, LEADERS, ORDERS, PORK, RICE

WANG, LI, CHEN = LEADERS


def test_home_lists_todays_deals_with_product_prices_progress_and_pickup_points(
    web_client: TestClient, demo: Any
) -> None:
    response = web_client.get("/", params={"lang": "zh"})
    assert response.status_code == 200
    html = response.text
    open_deal = demo.report.deals["rice_open"]
    card = html[html.index(f'id="deal-{open_deal}"') :]
    assert RICE.name_zh in card[:3000]
    assert "45.00" in card[:3000]  # the current price; 5 of 10 sold, tier 2 from 20
    assert "再拼 15 份降到 36.80" in card[:3000]
    assert "还差 5 份成团" in card[:3000]
    assert "距截单" in card[:3000]
    for leader in LEADERS:  # pickup points by name, no hex
        assert leader.place_zh in card[:4000]
    assert f'data-deal="{open_deal}" data-action="join"' in card
    # Closed deals are listed apart, not offered.
    assert 'id="past-deals"' in html
    assert html.count('data-action="join"') == 1


def test_home_preselects_the_shared_leader(web_client: TestClient) -> None:
    html = web_client.get("/", params={"leader": CHEN.address.lower()}).text
    assert f'<option value="{CHEN.address}" selected>' in html


def test_orders_page_says_each_state_in_words(web_client: TestClient, demo: Any) -> None:
    buyer = CONSUMERS[0]  # rice settled (4), rice open (2), oranges frozen (2)
    response = web_client.get(f"/orders/{buyer.address}", params={"lang": "zh"})
    assert response.status_code == 200
    html = response.text
    deals = demo.report.deals
    states = dict(
        re.findall(r'<article class="card order" id="order-(\d+)"[^>]*data-state="(\w+)"', html)
    )
    assert states[str(deals["rice_open"])] == "joining"
    assert states[str(deals["oranges_frozen"])] == "refunding"  # recalled: refund owed
    assert states[str(deals["rice_settled"])] == "done"
    assert "拼团中" in html and "退款中" in html
    assert WANG.place_zh in html and CHEN.place_zh in html
    frozen = html[html.index(f'id="order-{deals["oranges_frozen"]}"') :]
    assert 'data-action="withdraw"' in frozen.split("</article>")[0]
    opened = html[html.index(f'id="order-{deals["rice_open"]}"') :]
    assert 'data-action="cancel"' in opened.split("</article>")[0]
    assert 'id="notices"' in html and "已成团" in html
    # Why money came back on a completed order: the final tier's price (4 × (45.00 − 39.90)).
    settled = html[html.index(f'id="order-{deals["rice_settled"]}"') :].split("</article>")[0]
    assert "成交价 39.90 tUSD/份，差价 20.40 tUSD 退给你" in settled


def test_claim_form_offered_after_the_receipt_in_the_dispute_window(
    web_client: TestClient, demo: Any
) -> None:
    # Consumer 2 bought pork from Li, who confirmed receipt; consumer 2 already filed a claim.
    filed = web_client.get(f"/orders/{CONSUMERS[1].address}", params={"lang": "en"}).text
    pork = filed[filed.index(f'id="order-{demo.report.deals["pork_claim"]}"') :]
    pork = pork.split("</article>")[0]
    assert 'data-state="ready"' in pork and "Claim filed" in pork
    assert 'data-action="file_claim"' not in pork
    assert "Arrived: " + PORK.name_en in filed  # 到货通知


def test_leader_page_shares_each_open_deal_and_totals_the_group(
    web_client: TestClient, demo: Any
) -> None:
    html = web_client.get(f"/leader/{CHEN.address}", params={"lang": "en"}).text
    assert CHEN.name_en in html and CHEN.place_en in html and "Approved leader" in html
    deals = demo.report.deals
    group = html[html.index(f'id="group-{deals["rice_open"]}"') :].split("</article>")[0]
    assert "<svg" in group and f"/?leader={CHEN.address}#deal-{deals['rice_open']}" in group
    assert CONSUMERS[3].name_en in group  # the neighbour's name, not hex
    pork = html[html.index(f'id="group-{deals["pork_claim"]}"') :].split("</article>")[0]
    units = sum(o.quantity for o in ORDERS if o.deal == "pork_claim" and o.leader is CHEN)
    assert 'data-action="confirm_receipt"' in pork and f"({units} units)" in pork
    assert 'data-photos="photos"' in pork


def test_connect_pages_and_address_lookup(web_client: TestClient) -> None:
    page = web_client.get("/orders", params={"lang": "en"})
    assert page.status_code == 200 and 'data-go="/orders/{address}?lang=en"' in page.text
    found = web_client.get("/orders", params={"address": CONSUMERS[0].address.lower()})
    assert found.status_code == 303 and found.headers["location"].startswith(
        f"/orders/{CONSUMERS[0].address}"
    )
    assert web_client.get("/leader", params={"address": "nope"}).status_code == 400
    assert web_client.get("/orders/0x123").status_code == 400
    found = web_client.get("/supplier", params={"address": CONSUMERS[0].address.lower()})
    assert found.status_code == 303 and found.headers["location"].startswith(
        f"/supplier/{CONSUMERS[0].address}?lang="
    )
    assert web_client.get("/supplier", params={"address": "nope"}).status_code == 400
    assert web_client.get("/supplier/0x123").status_code == 400


def test_notices_json_names_people_and_places(web_client: TestClient) -> None:
    response = web_client.get(f"/v1/notices/{CONSUMERS[1].address}", params={"lang": "en"})
    assert response.status_code == 200
    notices = response.json()["notices"]
    kinds = [n["kind"] for n in notices]
    assert "arrived" in kinds and "joined" in kinds and "formed" in kinds
    arrived = [n["text"] for n in notices if n["kind"] == "arrived"]  # the pork
    assert f"Arrived: {PORK.name_en} is at {LI.place_en}, ready for pickup" in arrived
    # The rice reached 李姐's point one bag short (the seed's short receipt): said at once.
    (short,) = [n["text"] for n in notices if n["kind"] == "arrived_short"]
    assert (
        short
        == f"Arrived short: {RICE.name_en} is at {LI.place_en}, 1 short (refunded at settlement)"
    )
    assert len({n["id"] for n in notices}) == len(notices)  # stable, distinct ids
    leader = web_client.get(f"/v1/notices/{LI.address}", params={"lang": "zh"}).json()
    assert any(n["kind"] == "group_claim" and "消费者 2" in n["text"] for n in leader["notices"])
    assert web_client.get("/v1/notices/0x12").status_code == 400


def test_names_come_from_credentials_then_the_demo_catalog(
    demo: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from sqlalchemy.orm import Session

    from api import names

    services = demo.services
    stranger = "0x000000000000000000000000000000000000dEaD"
    with Session(services.engine) as session:
        directory = names.Directory(session, services.store)
        directory.load([WANG.address, CONSUMERS[0].address, stranger])
        assert directory.get(WANG.address).label("zh") == WANG.name_zh
        assert directory.get(CONSUMERS[0].address).label("en") == CONSUMERS[0].name_en
        assert directory.get(stranger).label("en") == "0x0000…dEaD"
    # Without the catalog, leaders are still named: by their credential documents in the store.
    monkeypatch.setattr(names, "_catalog", dict)
    with Session(services.engine) as session:
        directory = names.Directory(session, services.store)
        wang = directory.get(WANG.address)
        assert (wang.label("en"), wang.place_label("zh"), wang.gln) == (
            WANG.name_en,
            WANG.place_zh,
            WANG.gln,
        )
        assert wang.role == "leader"
        assert directory.get(CONSUMERS[0].address).label("en").startswith("0x")


def test_every_word_the_pages_and_wallet_js_use_exists_in_both_languages() -> None:
    from api import notices, shop
    from api.render import STATIC_DIR, TEMPLATES_DIR, messages

    table = messages()
    wanted = {f"order_{s}" for s in shop.ORDER_STATES} | {f"notice_{k}" for k in notices.KINDS}
    for template in TEMPLATES_DIR.glob("*.html"):
        wanted |= set(re.findall(r"t(?:_for_script)?\('([a-z_0-9]+)'[,)]", template.read_text()))
    script = (STATIC_DIR / "wallet.js").read_text()
    wanted |= set(re.findall(r't\("(js_[a-z_0-9]+[a-z0-9])"', script))
    for other in STATIC_DIR.glob("*.js"):  # supplier.js, listing.js, handout.js ...
        wanted |= set(re.findall(r'(?:t|words)\("(js_[a-z_0-9]+[a-z0-9])"', other.read_text()))
    steps = re.search(r"const STEPS = \[(.*?)\]", script)[1]  # type: ignore[index]
    wanted |= {f"js_step_{s}" for s in re.findall(r'"(\w+)"', steps)}
    wanted |= {f"js_relay_{s}" for s in ("queued", "sending", "sent")}
    missing = sorted(k for k in wanted if set(table.get(k, {})) != {"zh", "en"})
    assert not missing, missing
