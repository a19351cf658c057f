"""A join's permit must allow exactly what ``joinWithPermit`` computes (quantity × the deal's top
price): the permit's signature covers its value, and the contract permits that amount.

Found in review: accept took any permit value at least the join's cost. A larger one makes
``joinWithPermit``'s permit fail its signature (the contract permits quantity × top price), so
the simulation fails on the allowance: refused when the join heads its queue (409, misleading),
but accepted (202) when it waits behind a queued join — whose allowance failure accept expects —
and then failed by the worker, unsent, on every attempt.
"""

from __future__ import annotations

import copy

from fastapi.testclient import TestClient

from api.app import create_app
from api.relayer.worker import RelayWorker
from api.services import Services

from .conftest import consumer, make_deal, own_outbox, prepare, relay, sign


def test_a_permit_for_more_than_the_join_is_refused_at_accept(services: Services, tmp_path) -> None:
    own = own_outbox(services, tmp_path)  # no other test's rows
    chain = services.chain
    first, second = make_deal(chain, min_quantity=1), make_deal(chain, min_quantity=1)
    buyer = consumer(chain)
    with TestClient(create_app(own)) as client:
        queued = relay(
            client,
            buyer,
            "join",
            {"deal_id": first.deal_id, "quantity": 1, "leader": first.leader.address},
        )
        prepared = prepare(
            client,
            "join",
            {
                "from": buyer.address,
                "deal_id": second.deal_id,
                "quantity": 1,
                "leader": second.leader.address,
            },
        )
        generous = copy.deepcopy(prepared)
        generous["payloads"]["permit"]["message"]["value"] += 1
        response = client.post("/v1/relay", json=sign(buyer, generous))
        assert response.status_code == 400, response.text
        assert response.json()["code"] == "invalid_permit"
        # The permit as prepared (exactly the join's cost) is taken behind the first join.
        behind = client.post("/v1/relay", json=sign(buyer, prepared))
        assert behind.status_code == 202, behind.text
        worker = RelayWorker(own)
        worker.run_once()
        worker.run_once()
        for accepted in (queued["id"], behind.json()["id"]):
            assert client.get(f"/v1/relay/{accepted}").json()["status"] == "mined"
