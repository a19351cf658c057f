"""The read API through the real app, on the index of real transactions (SQLite and PostgreSQL)."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from fastapi.testclient import TestClient

from api import queries
from api.app import create_app
from api.db import session_factory
from api.index_errors import DealNotFound
from api.routes import read
from api.services import Services, make_engine
from traceability.epcis import commissioning_event, digest_from_hash_id
from traceability.ipfs import parse_cid
from traceability.merkle import verify

from .conftest import make_indexer
from .world import GLN_FARM, T0, World, store_event, world_gtin


@pytest.fixture(scope="module")
def indexed(world: World, services: Services) -> World:
    """The world indexed into the app's own database."""
    make_indexer(services.engine, services).sync()
    return world


def test_provenance_of_a_batch(indexed: World, client: TestClient) -> None:
    gtin, lot = indexed.rice
    response = client.get(f"/v1/batches/{gtin}/{lot}")
    assert response.status_code == 200, response.text
    body = response.json()
    batch = body["batch"]
    assert (batch["gtin"], batch["lot"], batch["status"]) == (gtin, lot, "active")
    assert batch["supplier"]["status"] == "approved"
    assert batch["supplier"]["address"] == indexed.supplier.address
    assert batch["metadata"]["origin"] == "Heilongjiang"
    steps = [e["biz_step"] for e in body["events"]]
    assert steps == ["commissioning", "inspecting", "shipping", "receiving"]
    times = [e["event_time"] for e in body["events"]]
    assert times == sorted(times)
    for event in body["events"]:
        assert event["verification"] == "verified"
        assert event["document"]["bizStep"] == event["biz_step"]
        assert event["anchor"]["tx"].startswith("0x") and event["anchor"]["block"] > 0
    assert body["events"][-1]["anchor"]["kind"] == "receipt"
    assert body["events"][-1]["anchor"]["actor"] == indexed.leader.address
    assert body["verification"] == {"status": "verified", "verified": 4, "total": 4}
    deals = {d["deal_id"]: d for d in body["deals"]}
    assert deals[indexed.settled_deal]["status"] == "settled"
    assert deals[indexed.settled_deal]["unit_price"] == 8_000_000
    assert deals[indexed.failed_deal]["status"] == "failed"
    assert body["recall"] is None and body["cold_chain"]["compliant"] is True
    # The inspection carried no certificate; the consumer page shows none.
    assert body["certificates"] == []


def test_merkle_events_carry_a_proof_of_the_anchored_root(
    indexed: World, client: TestClient
) -> None:
    gtin, lot = indexed.pork
    body = client.get(f"/v1/batches/{gtin}/{lot}").json()
    assert [e["anchor"]["kind"] for e in body["events"]] == ["merkle", "merkle"]
    for event in body["events"]:
        root = bytes.fromhex(event["anchor"]["root"][2:])
        proof = [bytes.fromhex(p[2:]) for p in event["anchor"]["proof"]]
        assert root == indexed.root
        assert verify(root, digest_from_hash_id(event["event_hash_id"]), proof)
    cold = body["cold_chain"]
    assert cold["compliant"] is False
    assert [(b["value"], b["limit"], b["bound"]) for b in cold["breaches"]] == [(7.5, 4.0, "max")]
    assert [r["value"] for r in cold["readings"]] == [2.5, 3.0, 7.5, 3.5]


def test_recalled_and_missing_batches(indexed: World, client: TestClient) -> None:
    recalled = client.get("/v1/batches/{}/{}".format(*indexed.recalled)).json()
    assert recalled["batch"]["status"] == "recalled"
    assert recalled["recall"]["reason_cid"].startswith("bafk")
    assert [d["status"] for d in recalled["deals"]] == ["frozen"]
    # The recall's own transaction froze the deal (the registry notified the escrow).
    assert recalled["recall"]["frozen_deals"] == [indexed.frozen_deal]
    assert recalled["recall"]["notification_failures"] == []
    ghost = client.get("/v1/batches/{}/{}".format(*indexed.missing)).json()
    assert ghost["verification"]["status"] == "missing"
    assert ghost["events"][0]["document"] is None


@pytest.mark.parametrize(
    ("path", "status", "code"),
    [
        ("/v1/batches/123/LOT", 400, "invalid_gtin"),
        ("/v1/batches/16952616500011/LOT", 400, "invalid_gtin"),  # bad check digit
        ("/v1/batches/abcdefghijklmn/LOT", 400, "invalid_gtin"),
        ("/v1/batches/09506000134352/" + "L" * 21, 400, "invalid_lot"),
        ("/v1/batches/09506000134352/NOPE", 404, "batch_not_found"),
        ("/v1/deals/999999", 404, "deal_not_found"),
        ("/v1/deals/0", 400, "invalid_deal_id"),
        ("/v1/deals/abc", 422, "invalid_request"),
        ("/v1/buyers/0x1234/orders", 400, "invalid_address"),
        ("/v1/batches?supplier=nope", 400, "invalid_address"),
        ("/v1/batches?limit=100000", 422, "invalid_request"),
        ("/v1/batches?status=lost", 422, "invalid_request"),
    ],
)
def test_bad_requests_are_4xx_with_a_reason(
    indexed: World, client: TestClient, path: str, status: int, code: str
) -> None:
    response = client.get(path)
    assert response.status_code == status, response.text
    assert response.json()["code"] == code
    assert response.json()["message"]


def test_batches_filters_and_paging(indexed: World, client: TestClient) -> None:
    supplier = indexed.supplier.address
    mine = client.get("/v1/batches", params={"supplier": supplier, "limit": 200}).json()
    lots = {b["lot"] for b in mine["items"]}
    assert {indexed.rice[1], indexed.pork[1], indexed.recalled[1], indexed.missing[1]} <= lots
    breached = client.get("/v1/batches", params={"breach": "true", "limit": 200}).json()
    assert indexed.pork[1] in {b["lot"] for b in breached["items"]}
    assert all(b["breaches"] > 0 for b in breached["items"])
    recalled = client.get("/v1/batches", params={"status": "recalled", "limit": 200}).json()
    assert indexed.recalled[1] in {b["lot"] for b in recalled["items"]}
    assert all(b["status"] == "recalled" for b in recalled["items"])
    by_gtin = client.get("/v1/batches", params={"gtin": indexed.rice[0]}).json()
    assert [b["lot"] for b in by_gtin["items"]] == [indexed.rice[1]]
    page1 = client.get("/v1/batches", params={"limit": 2, "offset": 0}).json()
    page2 = client.get("/v1/batches", params={"limit": 2, "offset": 2}).json()
    assert page1["total"] == page2["total"] >= 4
    assert not {b["batch_id"] for b in page1["items"]} & {b["batch_id"] for b in page2["items"]}


def test_deals_list_and_detail(indexed: World, client: TestClient) -> None:
    deals = {
        d["deal_id"]: d for d in client.get("/v1/deals", params={"limit": 200}).json()["items"]
    }
    assert deals[indexed.open_deal]["status"] == "open"
    assert deals[indexed.open_deal]["seconds_left"] > 0
    assert deals[indexed.open_deal]["unit_price"] == 10_000_000  # top tier: 1 unit sold
    assert deals[indexed.frozen_deal]["status"] == "frozen"
    assert deals[indexed.failed_deal]["status"] == "failed"
    settled = deals[indexed.settled_deal]
    assert (settled["status"], settled["sold"], settled["current_tier"]) == ("settled", 6, 1)
    only_open = client.get("/v1/deals", params={"status": "open", "limit": 200}).json()["items"]
    assert all(d["status"] == "open" for d in only_open)

    detail = client.get(f"/v1/deals/{indexed.settled_deal}").json()
    (leader,) = detail["leaders"]
    assert leader["leader"] == indexed.leader.address
    assert leader["quantity"] == 6 and leader["receipt"]["quantity"] == 6
    assert (leader["receipt"]["delivered"], leader["receipt"]["short"]) == (6, 0)
    on_chain = indexed.chain.clients.escrow.leader_info(
        indexed.settled_deal, indexed.leader.address
    )
    assert leader["commission"] == on_chain.commission == 4_800_000
    assert leader["commission_bps"] == on_chain.commission_bps
    orders = {o["buyer"]: o for o in leader["orders"]}
    b0, _b1, b2 = indexed.buyers
    assert orders[b0.address]["quantity"] == 4 and orders[b0.address]["paid"] == 40_000_000
    assert orders[b2.address]["cancelled"] is True and orders[b2.address]["quantity"] == 0
    assert detail["settlement"]["revenue"] == 48_000_000
    supplier_paid = [p for p in detail["payouts"] if p["account"] == indexed.supplier.address]
    assert supplier_paid and supplier_paid[0]["amount"] == detail["settlement"]["supplier_amount"]


def test_deals_filter_and_page_in_sql_as_the_rules_say(indexed: World, client: TestClient) -> None:
    """The status filter is SQL (``queries._deal_status_sql``); every deal it returns has that
    status as the Python rules compute it, and pages of it add up to the filtered total."""
    everything = client.get("/v1/deals", params={"limit": 200}).json()
    assert everything["total"] == len(everything["items"])
    by_status: dict[str, list[int]] = {}
    for deal in everything["items"]:
        by_status.setdefault(deal["status"], []).append(deal["deal_id"])
    assert {"open", "frozen", "failed", "settled"} <= set(by_status)
    for status in ("open", "succeeded", "failed", "frozen", "settled"):
        body = client.get("/v1/deals", params={"status": status, "limit": 200}).json()
        assert [d["deal_id"] for d in body["items"]] == by_status.get(status, [])
        assert body["total"] == len(by_status.get(status, []))
    pages = [
        client.get("/v1/deals", params={"limit": 2, "offset": offset}).json()
        for offset in range(0, everything["total"], 2)
    ]
    assert [d["deal_id"] for p in pages for d in p["items"]] == [
        d["deal_id"] for d in everything["items"]
    ]
    assert {p["total"] for p in pages} == {everything["total"]}


def test_deals_cursor_pages_are_the_offset_pages(indexed: World, client: TestClient) -> None:
    """``before`` (the previous page's last deal id) walks the same pages as ``offset``, with or
    without a filter, and ``total`` still counts every match; a bad cursor is a 422."""
    for params in ({}, {"status": "open"}):
        everything = client.get("/v1/deals", params={**params, "limit": 200}).json()
        ids = [d["deal_id"] for d in everything["items"]]
        walked: list[int] = []
        cursor: int | None = None
        while True:
            query = {**params, "limit": 2, **({"before": cursor} if cursor else {})}
            page = client.get("/v1/deals", params=query).json()
            assert page["total"] == everything["total"]
            if not page["items"]:
                break
            walked += [d["deal_id"] for d in page["items"]]
            cursor = page["items"][-1]["deal_id"]
        assert walked == ids
    assert client.get("/v1/deals", params={"before": 0}).status_code == 422


def test_deals_list_totals_are_the_detail_totals(indexed: World, client: TestClient) -> None:
    """The list's totals (summed in SQL) are the ones the detail computes from the rows."""
    for item in client.get("/v1/deals", params={"limit": 200}).json()["items"]:
        detail = client.get(f"/v1/deals/{item['deal_id']}").json()
        assert {k: detail[k] for k in item} == item


def test_buyer_orders(indexed: World, client: TestClient) -> None:
    b2 = indexed.buyers[2]
    body = client.get(f"/v1/buyers/{b2.address.lower()}/orders").json()
    assert body["buyer"] == b2.address
    mine = {o["deal"]["deal_id"]: o for o in body["orders"]}
    assert mine[indexed.settled_deal]["cancelled"] is True
    assert mine[indexed.failed_deal]["quantity"] == 1
    assert mine[indexed.failed_deal]["withdrawn"] == 10_000_000


def test_dashboard(indexed: World, client: TestClient) -> None:
    body = client.get("/v1/dashboard").json()
    assert body["gmv"] >= 48_000_000
    assert body["deals_by_state"].get("settled", 0) >= 1
    assert body["refunds"]["cancelled"]["count"] >= 1
    assert body["refunds"]["recall"]["amount"] >= 20_000_000
    leaders = {c["leader"]: c["amount"] for c in body["commissions"]}
    assert leaders[indexed.leader.address] >= 4_800_000
    flagged = {b["lot"] for b in body["flagged_batches"]}
    assert {indexed.pork[1], indexed.recalled[1]} <= flagged


def test_openapi_documents_the_read_models(client: TestClient) -> None:
    spec = client.get("/openapi.json").json()
    schemas = spec["components"]["schemas"]
    assert {"ProvenancePublic", "BatchPage", "DealDetail", "Dashboard", "Health"} <= set(schemas)
    provenance = spec["paths"]["/v1/batches/{gtin}/{lot}"]["get"]["responses"]
    assert "ProvenancePublic" in str(provenance["200"]) and "404" in provenance


def test_provenance_cache_follows_the_index(
    indexed: World, services: Services, client: TestClient
) -> None:
    """A cached response is replaced once the indexer records something new for the batch."""
    registry = services.chain.clients.registry
    gtin = world_gtin()
    lot = "CACHE"
    meta = parse_cid(services.store.put(b'{"product": {"en": "cache"}}'))
    bid = registry.register_batch(gtin, lot, meta, signer=indexed.supplier)
    make_indexer(services.engine, services).sync()
    first = client.get(f"/v1/batches/{gtin}/{lot}").json()
    assert first["events"] == []
    assert client.get(f"/v1/batches/{gtin}/{lot}").json() == first  # served from the cache
    digest, _, cid = store_event(
        services.store,
        commissioning_event(gtin14=gtin, lot=lot, quantity=5, event_time=T0, location=GLN_FARM),
    )
    registry.anchor_event(bid, digest, parse_cid(cid), signer=indexed.supplier)
    make_indexer(services.engine, services).sync()
    second = client.get(f"/v1/batches/{gtin}/{lot}").json()
    assert [e["verification"] for e in second["events"]] == ["verified"]


def test_healthz_ok(indexed: World, client: TestClient) -> None:
    body = client.get("/healthz").json()
    assert body["status"] == "ok" and body["down"] == []
    assert body["chain"]["chain_id"] == 31337
    assert body["index"]["last_block"] is not None and body["index"]["lag_blocks"] >= 0


def test_healthz_503_names_the_chain_when_the_node_is_down(
    services: Services, tmp_path_factory: pytest.TempPathFactory, closed_port: int
) -> None:
    settings = services.settings.model_copy(update={"rpc_url": f"http://127.0.0.1:{closed_port}"})
    # A database nobody initialised yet: the API creates its tables on first use.
    engine = make_engine("sqlite:///" + str(tmp_path_factory.mktemp("h") / "h.db"))
    down = Services(settings=settings, store=services.store, engine=engine)
    with TestClient(create_app(down)) as client:
        response = client.get("/healthz")
    assert response.status_code == 503
    body = response.json()
    assert body["down"] == ["chain"]
    assert body["chain"]["ok"] is False and body["chain"]["error"]
    assert body["store"]["ok"] is True


def _on_event_loop() -> bool:
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return False
    return True


@pytest.mark.parametrize("check_seconds", [0.0, 3600.0])
def test_provenance_never_queries_the_database_on_the_event_loop(
    indexed: World, services: Services, monkeypatch: pytest.MonkeyPatch, check_seconds: float
) -> None:
    """Cache hits are answered on the event loop, but every query (a miss, or the periodic
    index-version check) runs in a worker thread, so a slow or unreachable database cannot
    stall the other requests. ``check_seconds`` 0: a version check on every request; 3600:
    one check, then hits with no query at all."""
    calls: list[tuple[str, bool]] = []

    def spy(name: str, real: Any) -> Any:
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            calls.append((name, _on_event_loop()))
            return real(*args, **kwargs)

        return wrapper

    monkeypatch.setattr(
        queries.ProvenanceCache,
        "_current_version",
        spy("version", queries.ProvenanceCache._current_version),
    )
    monkeypatch.setattr(read, "_provenance_body", spy("query", read._provenance_body))
    app = create_app(services)
    app.state.provenance_cache = queries.ProvenanceCache(
        services.engine, check_seconds=check_seconds
    )
    gtin, lot = indexed.rice
    with TestClient(app) as client:
        bodies = [client.get(f"/v1/batches/{gtin}/{lot}").json() for _ in range(3)]
    assert bodies[0]["batch"]["lot"] == lot and bodies[0] == bodies[1] == bodies[2]
    assert calls and not any(on_loop for _, on_loop in calls)
    assert [name for name, _ in calls].count("query") == 1  # then served from the cache
    assert [name for name, _ in calls].count("version") == (3 if check_seconds == 0 else 1)


def test_deal_details_at_once_are_each_deals_detail(indexed: World, services: Services) -> None:
    """The leader's and buyer's pages load every shown deal's facts at once
    (``queries.deal_details``): the same answer as ``deal_detail`` deal by deal."""
    with session_factory(services.engine)() as session:
        ids = [d["deal_id"] for d in queries.list_deals(session, limit=200)["items"]]
        assert indexed.settled_deal in ids and indexed.frozen_deal in ids
        together = queries.deal_details(session, ids)
        assert list(together) == sorted(ids)
        assert together == {deal_id: queries.deal_detail(session, deal_id) for deal_id in ids}
        with pytest.raises(DealNotFound):
            queries.deal_details(session, [*ids, 10**12])
