"""Server-rendered pages on the seeded demo: content, badges, banners, languages, charts."""

from __future__ import annotations

import re
from typing import Any

from fastapi.testclient import TestClient

from api.demo.catalog import ORANGES, PORK, RICE

HTML = {"Accept": "text/html"}


def page(client: TestClient, product: Any, **params: str) -> str:
    response = client.get(f"/01/{product.gtin14}/10/{product.lot}", headers=HTML, params=params)
    assert response.status_code == 200
    return response.text


def test_rice_page_has_timeline_badges_certificates_and_deals(web_client: TestClient) -> None:
    html = page(web_client, RICE)
    events = re.findall(r'<li class="event step-([a-z_]+)"', html)
    assert events[:2] == ["commissioning", "transforming"]
    assert "receiving" in events and "inspecting" in events
    # Every event carries a verification badge, and all of them are green.
    assert html.count('data-verification="verified"') >= len(events) + 1  # + the overall badge
    assert 'data-verification="mismatch"' not in html
    assert "大米质量检验报告" in html  # certificate title read from its IPFS document
    assert "黑龙江省五常市民乐乡" in html  # origin place name
    assert "已通过平台资质审核" in html  # supplier approval
    # The open deal offers the gasless join form; the settled one does not.
    assert re.search(r'<form method="dialog" class="join" data-deal="\d+" data-action="join"', html)
    assert "/static/wallet.js" in html
    assert 'id="recall-banner"' not in html


def test_pork_page_plots_temperatures_and_flags_the_breach(web_client: TestClient) -> None:
    html = page(web_client, PORK)
    assert '<svg class="chart temperature"' in html
    assert html.count('class="reading breach"') == 1
    assert html.count('class="reading"') == 5
    assert "6.2 °C" in html and "温度超标" in html


def test_oranges_page_shows_the_recall_banner_in_english(web_client: TestClient) -> None:
    html = page(web_client, ORANGES, lang="en")
    assert 'id="recall-banner"' in html and "This batch has been recalled" in html
    assert "carbendazim" in html  # the reason, read from the recall notice in the store
    assert "Frozen (recall)" in html
    assert '<html lang="en">' in html


def test_language_from_accept_language(web_client: TestClient) -> None:
    path = f"/01/{RICE.gtin14}/10/{RICE.lot}"
    english = web_client.get(path, headers={**HTML, "Accept-Language": "en-GB,en;q=0.9,zh;q=0.5"})
    chinese = web_client.get(path, headers={**HTML, "Accept-Language": "zh-CN,zh;q=0.9,en;q=0.8"})
    default = web_client.get(path, headers={**HTML, "Accept-Language": "fr"})
    assert "Timeline" in english.text and english.headers["content-language"] == "en"
    assert "溯源时间线" in chinese.text and chinese.headers["content-language"] == "zh"
    assert default.headers["content-language"] == "zh"
    override = web_client.get(path + "?lang=zh", headers={**HTML, "Accept-Language": "en"})
    assert override.headers["content-language"] == "zh"


def test_deal_page(web_client: TestClient, demo: Any) -> None:
    open_deal = demo.report.deals["rice_open"]
    response = web_client.get(f"/deals/{open_deal}", params={"lang": "en"})
    assert response.status_code == 200
    html = response.text
    assert "Open" in html and 'role="progressbar"' in html and "Price tiers" in html
    assert '<form method="dialog" class="join"' in html
    settled = web_client.get(f"/deals/{demo.report.deals['rice_settled']}", params={"lang": "en"})
    assert "Settled" in settled.text and '<form method="dialog" class="join"' not in settled.text
    assert "✔" in settled.text  # leaders' receipts


def test_unknown_deal_page_is_404(web_client: TestClient) -> None:
    response = web_client.get("/deals/999999", headers=HTML)
    assert response.status_code == 404 and "999999" in response.text


def test_dashboard_has_charts_and_flagged_batches(web_client: TestClient) -> None:
    response = web_client.get("/dashboard", params={"lang": "en"})
    assert response.status_code == 200
    html = response.text
    assert '<svg class="chart donut"' in html and '<svg class="chart bars"' in html
    flagged = re.findall(r'<tr class="flagged"><td><a href="/01/(\d+)/10/', html)
    assert sorted(flagged) == sorted([PORK.gtin14, ORANGES.gtin14])


def test_static_files_and_no_traversal(web_client: TestClient) -> None:
    css = web_client.get("/static/style.css")
    assert css.status_code == 200 and css.headers["content-type"].startswith("text/css")
    assert web_client.get("/static/wallet.js").status_code == 200
    for name in ("..%2Fapp.py", ".hidden", "nope.css"):
        assert web_client.get(f"/static/{name}").status_code == 404


def test_join_form_flow_is_what_the_relay_api_accepts(web_client: TestClient, demo: Any) -> None:
    """The requests ``/static/wallet.js`` makes for the join form, with a wallet's signatures (eth-account signs
    typed data exactly as ``eth_signTypedData_v4``): the relayer accepts them into its outbox."""
    import json

    from eth_account import Account

    from api.demo.catalog import LEADERS

    html = page(web_client, RICE)
    deal_id = int(re.search(r'<form method="dialog" class="join" data-deal="(\d+)"', html)[1])  # type: ignore[index]
    leader = re.search(r'<option value="(0x[0-9a-fA-F]{40})" selected>', html)[1]  # type: ignore[index]
    assert leader in {actor.address for actor in LEADERS}
    buyer = Account.create()
    chain = demo.services.chain
    chain.clients.token.mint(buyer.address, 100 * 10**6, signer=chain.platform)

    prepared = web_client.post(
        "/v1/actions/join/prepare",
        json={"from": buyer.address, "deal_id": deal_id, "quantity": 1, "leader": leader},
    )
    assert prepared.status_code == 200, prepared.text
    body = prepared.json()
    signatures = {
        # What the page hands the wallet: the typed data as a JSON string.
        name: buyer.sign_typed_data(
            full_message=json.loads(json.dumps(typed))
        ).signature.to_0x_hex()
        for name, typed in body["payloads"].items()
    }
    accepted = web_client.post(
        "/v1/relay",
        json={"payloads": body["payloads"], "signatures": signatures, "details": body["details"]},
    )
    assert accepted.status_code == 202, accepted.text
    status = web_client.get(f"/v1/relay/{accepted.json()['id']}").json()
    assert status["action"] == "join" and status["signer"] == buyer.address
    script = web_client.get("/static/wallet.js").text
    for call in (
        '"/v1/actions/"',
        "eth_signTypedData_v4",
        '"/v1/relay"',
        "eip6963:requestProvider",
    ):
        assert call in script


def test_the_passkey_link_brings_one_back_to_the_page_and_only_to_this_site(
    web_client: TestClient,
) -> None:
    """Every page's "no wallet? passkey" link names the page (``next``); the passkey page offers
    the way back once signed in, for a path on this site only."""
    deal_page = web_client.get("/deals/2", params={"lang": "en"}, headers=HTML).text
    link = re.search(r'class="passkey-link small" href="([^"]+)"', deal_page)
    assert link and link.group(1) == "/passkey?lang=en&amp;next=/deals/2%3Flang%3Den"
    back = web_client.get("/passkey", params={"lang": "en", "next": "/deals/2?lang=en"}).text
    assert '<a class="go-on" data-field="next" href="/deals/2?lang=en">' in back
    assert "Continue where you were" in back
    assert "next=" not in re.search(r'class="passkey-link[^>]*>', back).group(0)
    for elsewhere in ("https://evil.example/", "//evil.example/", "/\\evil.example", "deals/2"):
        html = web_client.get("/passkey", params={"next": elsewhere}).text
        assert 'data-field="next"' not in html, elsewhere


def test_the_join_form_does_not_send_a_neighbour_away_for_a_wallet(web_client: TestClient) -> None:
    """Nothing needs installing to join (the mission: consumers need no wallet extension): the
    hint under 参团 names the passkey, not a browser wallet as a requirement."""
    for lang, passkey in (("zh", "通行密钥"), ("en", "passkey")):
        html = web_client.get("/", params={"lang": lang}, headers=HTML).text
        hint = re.search(r'<p class="small hint">([^<]+)</p>', html)
        assert hint and passkey in hint.group(1) and "MetaMask" not in hint.group(1)


def test_the_passkey_page_asks_for_a_deal_number_and_an_address_only_from_a_share_link(
    web_client: TestClient,
) -> None:
    """Opened by itself, the passkey page leads to the shop (its join form asked a neighbour for
    a deal number and a leader's 0x address); from a share link it joins that deal at that
    point; from another page it leads back there."""
    alone = web_client.get("/passkey", params={"lang": "zh"}).text
    assert "passkey-join" not in alone
    assert '<a class="go-on" data-field="shop" href="/?lang=zh">去挑今日团购</a>' in alone
    leader = "0x9965507D1a55bcC2695C58ba16FB37d819B0A4dc"
    shared = web_client.get("/passkey", params={"deal": "2", "leader": leader}).text
    assert 'class="join passkey-join" data-deal="2"' in shared and f'value="{leader}"' in shared
    back = web_client.get("/passkey", params={"next": "/deals/2"}).text
    assert "passkey-join" not in back and 'data-field="shop"' not in back
    assert 'data-field="next" href="/deals/2"' in back


def test_a_batchs_state_reads_like_every_other_badge_in_english(web_client: TestClient) -> None:
    """Badges start with a capital in English ('Open', 'Settled'); a batch's read 'active',
    'recalled' on the supplier workspace, a deal and the recalls page."""
    from api.demo.catalog import RICE_FARM

    html = web_client.get(f"/supplier/{RICE_FARM.address}", params={"lang": "en"}).text
    badges = re.findall(r'<span class="badge batch-\w+">([^<]+)</span>', html)
    assert set(badges) == {"Active", "Recalled"}


def test_the_handout_counts_units_not_taken_by_the_deadline_as_no_shows(
    web_client: TestClient, demo: Any
) -> None:
    """The settled rice deal at Wang's point: consumer 3's 3 units were never collected. The
    totals said '3 待提货' (to pick up) beside the row's 逾期未提 after the pickup deadline."""
    from api.demo.catalog import LEADERS

    deal = demo.report.deals["rice_settled"]
    html = web_client.get(f"/leader/{LEADERS[0].address}/handout/{deal}?lang=zh").text
    totals = html[html.index('class="totals"') :].split("</div>\n  </div>")[0]
    assert '<strong class="to-pick-up">3</strong>' in totals
    assert '<span class="small to-pick-up-label">逾期未提</span>' in totals


def test_the_join_summary_reads_right_for_one_unit_in_english(web_client: TestClient) -> None:
    """The sheet said 'Join “Wuchang rice”: 1 units' for the usual order of one."""
    html = web_client.get("/", params={"lang": "en"}, headers=HTML).text
    summary = re.search(r'data-action="join"[^>]*data-summary="([^"]+)"', html, re.DOTALL)
    assert summary and "× {quantity}" in summary.group(1)
    assert "{quantity} units" not in summary.group(1)
