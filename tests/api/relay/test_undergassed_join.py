"""A join signed with too little ``request.gas`` for its call is refused at accept.

Found in review: accept caught a request with too little gas only by ``eth_call``-ing
``execute`` as the relayer, which a permit-paid call (join, bookCashOrder) skips (its permit
is not on chain yet); the simulation of ``joinWithPermit`` ran with the node's whole gas. So
a join signed with e.g. 30,000 gas was accepted, sent, ran out of gas inside the batch and
spent the signer's nonce: the relayer paid for a call that could never succeed, and the same
token balance could be used again and again (no tokens move).
"""

from __future__ import annotations

import copy
from typing import Any

from fastapi.testclient import TestClient

from api.app import create_app
from api.relayer.worker import RelayWorker
from api.services import Services

from .conftest import (
    consumer,
    make_deal,
    own_outbox,
    prepare,
    repeatable_call,
    sign,
    signed_forward,
)


def test_a_join_signed_with_too_little_gas_is_refused_at_accept(
    services: Services, tmp_path
) -> None:
    own = own_outbox(services, tmp_path)  # no other test's rows
    chain = services.chain
    deal = make_deal(chain, min_quantity=1)
    buyer = consumer(chain)
    body = {"from": buyer.address, "deal_id": deal.deal_id, "quantity": 1}
    with TestClient(create_app(own)) as client:
        prepared = prepare(client, "join", {**body, "leader": deal.leader.address})
        starved = copy.deepcopy(prepared)
        starved["payloads"]["request"]["message"]["gas"] = 30_000
        response = client.post("/v1/relay", json=sign(buyer, starved))
        assert response.status_code == 400, response.text
        assert response.json()["code"] == "gas_too_low"
        # The join as prepared (its gas untouched) still goes through.
        accepted = client.post("/v1/relay", json=sign(buyer, prepared))
        assert accepted.status_code == 202, accepted.text
        RelayWorker(own).run_once()
        assert client.get(f"/v1/relay/{accepted.json()['id']}").json()["status"] == "mined"


def test_a_request_queued_behind_another_with_too_little_gas_is_refused(
    services: Services, tmp_path
) -> None:
    """Not only joins: ``execute`` as the relayer is ``eth_call``-ed only for a request next on
    chain, so one queued behind the signer's others was taken with any gas — here a call any
    leader can make again and again (``updateProfile``) signed with 1,000 gas, which would run out
    of gas in the batch, its nonce spent and the relayer's gas paid."""
    own = own_outbox(services, tmp_path)  # no other test's rows
    chain = services.chain
    deal = make_deal(chain, min_quantity=1)
    signer, target, data = repeatable_call(chain, deal)

    def signed(nonce: int, gas: int) -> dict[str, Any]:
        return signed_forward(chain, signer, target, data, nonce=nonce, gas=gas)

    with TestClient(create_app(own)) as client:
        assert client.post("/v1/relay", json=signed(0, 100_000)).status_code == 202
        response = client.post("/v1/relay", json=signed(1, 1_000))  # queued behind nonce 0
        assert response.status_code == 400, response.text
        assert response.json()["code"] == "gas_too_low"
        assert client.post("/v1/relay", json=signed(1, 100_000)).status_code == 202
