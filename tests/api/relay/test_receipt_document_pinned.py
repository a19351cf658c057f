"""A leader's receipt document survives garbage collection even when the client never posts the
prepare response's ``details`` back: only its digest is on chain, and the relayer derives the
CID from that digest (a small document is one raw block)."""

from __future__ import annotations

from fastapi.testclient import TestClient
from multiformats import CID

from api.relayer.worker import RelayWorker
from api.services import Services

from .conftest import advance_time, chain_now, consumer, make_deal, prepare, sign


def test_receipt_document_is_pinned_without_details(
    client: TestClient, services: Services, worker: RelayWorker, chain_snapshot: None
) -> None:
    chain = services.chain
    deal = make_deal(chain, join_window=600)
    buyer = consumer(chain)
    joined = sign(buyer, prepare(client, "join", {
        "from": buyer.address, "deal_id": deal.deal_id, "quantity": 3, "leader": deal.leader.address,
    }))  # fmt: skip
    assert client.post("/v1/relay", json=joined).status_code == 202
    worker.run_once()
    advance_time(chain, deal.join_deadline - chain_now(chain))

    prepared = prepare(client, "confirm_receipt", {
        "from": deal.leader.address, "deal_id": deal.deal_id, "gtin14": deal.gtin14,
        "lot": deal.lot, "pickup_point": "geo:31.2,121.4",
    })  # fmt: skip
    signed = sign(deal.leader, prepared)
    signed.pop("details", None)  # a minimal client: payloads and signatures only
    accepted = client.post("/v1/relay", json=signed)
    assert accepted.status_code == 202, accepted.text

    cid = prepared["details"]["document_cid"]
    assert CID.decode(cid).codec.name == "raw"  # one block: the CID follows from the digest
    store = services.store
    assert store.is_pinned(cid)
    store.gc()  # everything unpinned goes
    assert store.has(cid)


def test_receipt_names_its_photos_in_the_signed_document(
    client: TestClient, services: Services, worker: RelayWorker, chain_snapshot: None
) -> None:
    """Photos of the goods (uploaded first) are named by the receiving event itself, so the
    signed digest covers them; a photo the store does not hold is refused before signing."""
    import json

    chain = services.chain
    deal = make_deal(chain, join_window=600)
    buyer = consumer(chain)
    joined = sign(buyer, prepare(client, "join", {
        "from": buyer.address, "deal_id": deal.deal_id, "quantity": 3, "leader": deal.leader.address,
    }))  # fmt: skip
    assert client.post("/v1/relay", json=joined).status_code == 202
    worker.run_once()
    advance_time(chain, deal.join_deadline - chain_now(chain))
    photo = services.store.put(b"\x89PNG\r\n\x1a\n a photo of two boxes")
    body = {
        "from": deal.leader.address, "deal_id": deal.deal_id, "gtin14": deal.gtin14,
        "lot": deal.lot, "pickup_point": "geo:31.2,121.4",
    }  # fmt: skip

    missing = "bafkreigh2akiscaildcqabsyg3dfr6chu3fgpregiymsck7e7aqa4s52zy"
    refused = client.post("/v1/actions/confirm_receipt/prepare", json={**body, "photos": [missing]})
    assert refused.status_code == 400 and refused.json()["code"] == "photo_not_stored"

    prepared = prepare(client, "confirm_receipt", {**body, "photos": [photo]})
    (event,) = prepared["details"]["document"]["epcisBody"]["eventList"]
    assert event["tuan:photo"] == [f"ipfs://{photo}"]
    accepted = client.post("/v1/relay", json=sign(deal.leader, prepared))
    assert accepted.status_code == 202, accepted.text
    details = accepted.json()["details"]  # decoded from the signed payload, not the client's
    assert details["document_cid"] == prepared["details"]["document_cid"]
    stored = json.loads(services.store.get(details["document_cid"]))
    assert stored["epcisBody"]["eventList"][0]["tuan:photo"] == [f"ipfs://{photo}"]
    worker.run_once()
    assert client.get(f"/v1/relay/{accepted.json()['id']}").json()["status"] == "mined"
