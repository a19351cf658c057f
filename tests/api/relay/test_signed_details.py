"""The outbox records only what was signed: for every action the relay serves, a signed request
posted with forged ``details`` is accepted as signed, and the outbox (the row, and
``GET /v1/relay/{id}``) shows the values decoded from the signed payloads — the same values
``prepare`` reported — never the forged ones.

The first case is the one found: a join signed for 1 unit, posted with details claiming 50 units
for an amount of "1".
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from eth_account.signers.local import LocalAccount
from fastapi.testclient import TestClient

from api.db import session_factory
from api.relayer.models import RelayRequest
from api.relayer.worker import RelayWorker
from api.services import Services
from traceability.epcis import commissioning_event, serialize_document

from .conftest import PNG, TOP_PRICE, advance_time, consumer, make_deal, new_gtin, prepare, sign
from .conftest import upload as upload_document

MARK = "FORGED"
# What prepare reports but no signature covers, so the outbox never records it: a withdrawal's
# amount owed when it was prepared, and a receipt's whole document (only its digest is signed).
UNSIGNED = {"withdraw": {"amount"}, "confirm_receipt": {"document"}}


def forge(value: Any) -> Any:
    """A different value of the same kind (and the marker in every string)."""
    if isinstance(value, bool):
        return not value
    if isinstance(value, int):
        return value + 49
    if isinstance(value, str):
        return MARK + value
    return {MARK: True}


def relay_forged(
    client: TestClient,
    worker: RelayWorker,
    services: Services,
    account: LocalAccount,
    action: str,
    body: dict[str, Any],
    forged: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """prepare → sign → post with forged details → mine; checks the outbox shows the signed ones."""
    prepared = prepare(client, action, {"from": account.address, **body})
    honest = prepared["details"]
    lies = {k: forge(v) for k, v in honest.items()} | {"note": MARK} | (forged or {})
    response = client.post("/v1/relay", json=sign(account, prepared) | {"details": lies})
    assert response.status_code == 202, response.text
    accepted = response.json()
    expected = {k: v for k, v in honest.items() if k not in UNSIGNED.get(prepared["action"], ())}
    if prepared["action"] == "join":  # the allowance the signed permit grants
        expected["permit_value"] = int(prepared["payloads"]["permit"]["message"]["value"])
    assert accepted["details"] == expected, action
    worker.run_once()
    status = client.get(f"/v1/relay/{accepted['id']}").json()
    assert status["status"] == "mined", status
    assert status["details"] == expected
    with session_factory(services.engine)() as session:
        row = session.get(RelayRequest, accepted["id"])
        assert row is not None and row.details == expected
        assert MARK not in json.dumps(row.details)
    return status


def test_every_action_records_what_was_signed_not_the_details_posted(
    client: TestClient, services: Services, worker: RelayWorker, chain_snapshot: None
) -> None:
    chain = services.chain
    escrow = chain.clients.escrow
    deal = make_deal(chain, min_quantity=3)
    failing = make_deal(chain, min_quantity=50)  # will fail: its buyers get refunds
    b0, b1, b2, b3 = (consumer(chain) for _ in range(4))
    join = {"deal_id": deal.deal_id, "quantity": 1, "leader": deal.leader.address}

    status = relay_forged(
        client, worker, services, b0, "join", join, forged={"quantity": 50, "amount": "1"}
    )
    assert status["details"]["quantity"] == 1 and status["details"]["amount"] == TOP_PRICE
    assert escrow.order(deal.deal_id, b0.address).quantity == 1
    for buyer in (b1, b2, b3):
        relay_forged(client, worker, services, buyer, "join", join)
    relay_forged(client, worker, services, b3, "cancel", {"deal_id": deal.deal_id})
    for buyer in (b0, b1):
        relay_forged(client, worker, services, buyer, "join", {**join, "deal_id": failing.deal_id})

    advance_time(chain, 3601)  # past both join deadlines: one deal succeeded, one failed
    relay_forged(
        client,
        worker,
        services,
        deal.leader,
        "confirm_receipt",
        {
            "deal_id": deal.deal_id,
            "gtin14": deal.gtin14,
            "lot": deal.lot,
            "pickup_point": "geo:31.2304,121.4737",
        },
    )
    for buyer in (b0, b1):
        uploaded = upload_document(
            client, buyer, PNG + buyer.address.encode(), deal_id=deal.deal_id
        )
        assert uploaded.status_code == 201, uploaded.text
        claim = {"deal_id": deal.deal_id, "quantity": 1, "evidence_cid": uploaded.json()["cid"]}
        relay_forged(client, worker, services, buyer, "file_claim", claim)
    answer = {"deal_id": deal.deal_id}
    relay_forged(
        client, worker, services, deal.supplier, "accept_claim", answer | {"buyer": b0.address}
    )
    relay_forged(
        client, worker, services, deal.supplier, "reject_claim", answer | {"buyer": b1.address}
    )
    relay_forged(
        client,
        worker,
        services,
        chain.platform,
        "arbitrate",
        answer | {"buyer": b1.address, "uphold": True},
    )
    relay_forged(client, worker, services, b0, "withdraw", {"deal_id": failing.deal_id})
    relay_forged(client, worker, services, b1, "refund", {"deal_id": failing.deal_id})

    gtin, lot = new_gtin(deal.prefix), "FD-1"
    relay_forged(
        client,
        worker,
        services,
        deal.supplier,
        "register_batch",
        {"gtin14": gtin, "lot": lot, "metadata": {"product": "五常大米"}},
    )
    event = commissioning_event(
        gtin14=gtin,
        lot=lot,
        quantity=500,
        event_time=datetime(2026, 9, 1, 8, tzinfo=UTC),
        location="geo:45.75,126.63",
        origin_country="CN",
        producer="Wuchang Rice Co-op",
    )
    relay_forged(
        client,
        worker,
        services,
        deal.supplier,
        "anchor_event",
        {
            "gtin14": gtin,
            "lot": lot,
            "event": serialize_document([event])["epcisBody"]["eventList"][0],
        },
    )


def test_a_request_posted_without_details_gets_the_same_details(
    client: TestClient, services: Services, worker: RelayWorker, chain_snapshot: None
) -> None:
    """A minimal client (payloads and signatures only) sees the same decoded details."""
    deal = make_deal(services.chain)
    buyer = consumer(services.chain)
    body = {
        "from": buyer.address,
        "deal_id": deal.deal_id,
        "quantity": 2,
        "leader": deal.leader.address,
    }
    prepared = prepare(client, "join", body)
    signed = sign(buyer, prepared)
    signed.pop("details")
    response = client.post("/v1/relay", json=signed)
    assert response.status_code == 202, response.text
    assert response.json()["details"] == prepared["details"] | {"permit_value": 2 * TOP_PRICE}
    worker.run_once()
    assert client.get(f"/v1/relay/{response.json()['id']}").json()["status"] == "mined"
