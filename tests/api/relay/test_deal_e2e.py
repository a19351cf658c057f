"""A deal from creation to payouts through the real app on anvil, every consumer step gasless.

Three consumers holding stablecoins and no ETH join (permit + forward request, signed with
eth-account as a v4 wallet signs them), the leader confirms receipt (the API builds and stores the
EPCIS receiving event), one consumer uploads a photo and files a quality claim, the supplier
rejects it, the platform arbitrates in the buyer's favour, and the keeper settles and pushes every
payout. Then every party's on-chain balance must be exactly what the escrow's rules say, the
escrow must hold nothing, and no consumer ever held ETH.
"""

from __future__ import annotations

import json

from fastapi.testclient import TestClient

from api.keeper import Keeper
from api.relayer.prepare import JOIN_GAS
from api.relayer.worker import RelayWorker
from api.services import Services
from traceability.epcis import hash_events_in_document

from .conftest import (
    PNG,
    TIER_PRICE,
    TOP_PRICE,
    advance_time,
    consumer,
    make_deal,
    relay_and_mine,
    upload,
)


def test_deal_walks_from_gasless_joins_to_exact_payouts(
    client: TestClient, services: Services, worker: RelayWorker, chain_snapshot: None
) -> None:
    chain = services.chain
    token, escrow, registry = chain.clients.token, chain.clients.escrow, chain.clients.registry
    deal = make_deal(chain)
    fee_recipient = escrow.fee_recipient()
    buyers = [consumer(chain) for _ in range(3)]
    quantities = [2, 3, 1]  # 6 units: past the 5-unit tier, so every unit costs TIER_PRICE
    watched = [
        *(b.address for b in buyers),
        deal.supplier.address,
        deal.leader.address,
        fee_recipient,
    ]
    before = {a: token.balance_of(a) for a in watched}

    for buyer, quantity in zip(buyers, quantities, strict=True):
        status = relay_and_mine(
            client,
            worker,
            buyer,
            "join",
            {"deal_id": deal.deal_id, "quantity": quantity, "leader": deal.leader.address},
        )
        assert status["action"] == "join" and status["permit_tx_hash"]
        used = chain.w3.eth.get_transaction_receipt(status["tx_hash"])["gasUsed"]
        assert used < JOIN_GAS * 3 // 4, used  # the fixed join gas keeps a wide margin
        assert escrow.order(deal.deal_id, buyer.address).quantity == quantity
    assert token.balance_of(escrow.address) >= sum(quantities) * TOP_PRICE

    advance_time(chain, 3601)  # past the join deadline: the deal succeeded
    receipt = relay_and_mine(
        client,
        worker,
        deal.leader,
        "confirm_receipt",
        {
            "deal_id": deal.deal_id,
            "gtin14": deal.gtin14,
            "lot": deal.lot,
            "pickup_point": "geo:31.2304,121.4737",
        },
    )
    details = receipt["details"]
    document = json.loads(services.store.get(details["document_cid"]))
    assert hash_events_in_document(document) == [details["event_hash_id"]]
    anchor = registry.anchor_of(deal.batch_id, bytes.fromhex(details["event_hash"][2:]))
    assert anchor.is_receipt and anchor.actor == deal.leader.address
    assert anchor.batch_id == deal.batch_id
    assert escrow.leader_info(deal.deal_id, deal.leader.address).received_at > 0

    claimant = buyers[0]
    uploaded = upload(client, claimant, PNG, deal_id=deal.deal_id)
    assert uploaded.status_code == 201, uploaded.text
    evidence = uploaded.json()["cid"]
    assert client.get(f"/ipfs/{evidence}").content == PNG
    relay_and_mine(
        client,
        worker,
        claimant,
        "file_claim",
        {"deal_id": deal.deal_id, "quantity": 1, "evidence_cid": evidence},
    )
    relay_and_mine(
        client,
        worker,
        deal.supplier,
        "reject_claim",
        {"deal_id": deal.deal_id, "buyer": claimant.address},
    )
    relay_and_mine(
        client,
        worker,
        chain.platform,
        "arbitrate",
        {"deal_id": deal.deal_id, "buyer": claimant.address, "uphold": True},
    )
    assert escrow.order(deal.deal_id, claimant.address).upheld_quantity == 1

    keeper = Keeper(chain, deal_ids={deal.deal_id})  # the chain is shared: only this deal's money
    assert not [a for a in keeper.plan() if a.deal_id == deal.deal_id and a.kind == "settle"]
    advance_time(chain, 86_400)  # the dispute window is over
    planned = [a for a in keeper.plan() if a.deal_id == deal.deal_id]
    assert [a.kind for a in planned] == ["settle", "push_payouts"]
    keeper.run_once()

    revenue = (sum(quantities) - 1) * TIER_PRICE  # one unit refunded by the upheld claim
    fee = revenue * 200 // 10_000
    commission = (sum(quantities) - 1) * TIER_PRICE * 1000 // 10_000
    paid = {
        buyers[0].address: 2 * TOP_PRICE - 2 * (TOP_PRICE - TIER_PRICE) - 1 * TIER_PRICE,
        buyers[1].address: 3 * TOP_PRICE - 3 * (TOP_PRICE - TIER_PRICE),
        buyers[2].address: 1 * TOP_PRICE - 1 * (TOP_PRICE - TIER_PRICE),
    }
    after = {a: token.balance_of(a) for a in watched}
    for address, net in paid.items():
        assert before[address] - after[address] == net
    assert after[deal.leader.address] - before[deal.leader.address] == commission
    assert after[fee_recipient] - before[fee_recipient] == fee
    assert (
        after[deal.supplier.address] - before[deal.supplier.address] == revenue - fee - commission
    )
    assert sum(paid.values()) == revenue  # money in = money out
    for address in watched:
        assert escrow.owed(deal.deal_id, address) == 0
    for buyer in buyers:
        assert chain.w3.eth.get_balance(buyer.address) == 0  # never held ETH
    assert not [a for a in keeper.plan() if a.deal_id == deal.deal_id]  # nothing left to do
