"""The dashboard for one supplier or one leader, on the seeded demo: the figures are that party's
part of the platform's, and the parts add up to the whole."""

from __future__ import annotations

from fastapi.testclient import TestClient

from api.demo import catalog as c

from .conftest import Demo

USD = 10**6


def _dashboard(client: TestClient, **params: str) -> dict:
    response = client.get("/v1/dashboard", params=params)
    assert response.status_code == 200, response.text
    return response.json()


def test_a_leaders_view_is_their_groups_part(web_client: TestClient) -> None:
    _, li, _ = c.LEADERS
    mine = _dashboard(web_client, leader=li.address)
    # 李姐's group: rice (settled, one bag short), pork (a claim filed), the failed pork deal.
    assert mine["orders"] == sum(1 for o in c.ORDERS if o.leader is li)
    assert mine["commissions"] == [
        x for x in _dashboard(web_client)["commissions"] if x["leader"] == li.address
    ]
    failed = next(d for d in c.DEALS if d.name == "pork_failed")
    failed_price = dict(failed.tiers)[0]  # one tier
    assert mine["refunds"]["deal_failed"] == {"count": 1, "amount": int(2 * failed_price * USD)}
    assert mine["refunds"]["short_delivery"]["count"] == 1
    assert "recall" not in mine["refunds"]  # no order of hers was in the recalled oranges


def test_the_parts_add_up_to_the_platform(web_client: TestClient) -> None:
    whole = _dashboard(web_client)
    leaders = [_dashboard(web_client, leader=x.address) for x in c.LEADERS]
    suppliers = [_dashboard(web_client, supplier=x.address) for x in (c.RICE_FARM, c.PORK_FARM)]
    for parts in (leaders, suppliers):
        assert sum(p["orders"] for p in parts) == whole["orders"]
        for reason, total in whole["refunds"].items():
            assert (
                sum(p["refunds"].get(reason, {}).get("amount", 0) for p in parts) == total["amount"]
            )
    assert sum(x["orders"] for x in whole["by_day"]) == whole["orders"]
    days = [x["day"] for x in whole["by_day"]]
    assert days == sorted(days) and len(set(days)) == len(days)
    # The platform's GMV is settled revenue; the leaders' parts are their delivered units at it.
    assert sum(p["gmv"] for p in leaders) == whole["gmv"]
    assert sum(p["gmv"] for p in suppliers) == whole["gmv"]
    pork = suppliers[1]
    assert sum(pork["deals_by_state"].values()) == sum(1 for d in c.DEALS if d.product is c.PORK)
    assert {b["supplier"] for b in pork["flagged_batches"]} <= {c.PORK_FARM.address}


def test_the_dashboard_page_names_the_party_and_refuses_bad_input(web_client: TestClient) -> None:
    html = web_client.get("/dashboard", params={"supplier": c.PORK_FARM.address, "lang": "en"}).text
    assert 'id="view-of"' in html and c.PORK_FARM.address in html
    assert 'id="trends"' in html and "data-day=" in html
    assert 'id="refund-table"' in html and 'data-reason="deal_failed"' in html
    assert f"/dashboard?leader={c.LEADERS[0].address}" in html  # the chooser
    assert 'id="leader-count"' in html  # the leaders of the farm's deals
    # Found in review: one leader's own view said "1 leader in all"; it says no count there.
    for lang in ("en", "zh"):
        mine = web_client.get("/dashboard", params={"leader": c.LEADERS[0].address, "lang": lang})
        assert 'id="view-of"' in mine.text and 'id="leader-table"' in mine.text
        assert 'id="leader-count"' not in mine.text
        assert "leader in all" not in mine.text and "共 1 位团长" not in mine.text
    assert web_client.get("/dashboard", params={"leader": "0x12"}).status_code == 400
    both = {"leader": c.LEADERS[0].address, "supplier": c.PORK_FARM.address}
    assert web_client.get("/dashboard", params=both).status_code == 400
    assert web_client.get("/v1/dashboard", params=both).json()["code"] == "invalid_request"


def test_the_disputes_and_recalls_pages_read_the_demo(web_client: TestClient, demo: Demo) -> None:
    """In Chinese: the demo's filed pork claim with its note and answer deadline, nothing for
    the platform to decide yet; the recalled oranges with the deal their recall froze."""
    pork_claim = f'id="claim-{demo.report.deals["pork_claim"]}-{c.CONSUMERS[1].address}"'
    html = web_client.get("/ops/disputes", params={"lang": "zh"}).text
    assert pork_claim in html and 'data-status="filed"' in html
    assert "包装漏气" in html and 'class="deadline"' in html
    assert '<strong id="waiting">0</strong>' in html
    assert 'data-action="arbitrate"' not in html  # the supplier has not answered yet
    mine = web_client.get(f"/supplier/{c.PORK_FARM.address}/claims", params={"lang": "zh"}).text
    assert pork_claim in mine and 'data-action="reject_claim"' in mine
    others = web_client.get(f"/supplier/{c.RICE_FARM.address}/claims").text
    assert pork_claim not in others

    html = web_client.get("/ops/recalls", params={"lang": "zh"}).text
    oranges = html[html.index(f'id="batch-{c.ORANGES.gtin14}-{c.ORANGES.lot}"') :]
    oranges = oranges[: oranges.index("</article>")]
    assert 'data-status="recalled"' in oranges and "已召回" in oranges
    frozen = demo.report.deals["oranges_frozen"]
    assert '<strong class="frozen-count">1</strong>' in oranges and f"#{frozen}" in oranges
    assert 'data-action="recall_batch"' not in oranges  # closed: nothing left to do
