"""A request executed by someone else (another relayer's ``executeBatch``) is settled from that
execution as it went: a call that failed there is ``failed`` with its named error, not
``mined``.

Found in review: ``execution_of`` returned the transaction of the ``ExecutedForwardRequest``
log and ignored its ``success`` flag, so the worker reported every request whose forwarder
nonce someone else spent as mined — a join whose call reverted included.
"""

from __future__ import annotations

from fastapi.testclient import TestClient

from api.app import create_app
from api.db import session_factory
from api.relayer.models import RelayRequest
from api.relayer.worker import RelayWorker
from api.services import Services
from chain.eip712 import forward_request_data

from .conftest import consumer, funded, make_deal, own_outbox, relay


def test_a_request_whose_call_failed_in_another_relayers_batch_is_failed_not_mined(
    services: Services, tmp_path
) -> None:
    own = own_outbox(services, tmp_path)  # no other test's rows
    chain = services.chain
    forwarder, escrow = chain.clients.forwarder, chain.clients.escrow
    deal = make_deal(chain, min_quantity=1)
    buyer, other_relayer = consumer(chain), funded(chain)

    with TestClient(create_app(own)) as client:
        accepted = relay(
            client,
            buyer,
            "join",
            {"deal_id": deal.deal_id, "quantity": 1, "leader": deal.leader.address},
        )
        with session_factory(own.engine)() as session:
            row = session.get(RelayRequest, accepted["id"])
            assert row is not None
            request = forward_request_data(row.typed_data, row.signature)
        # Another relayer sends the signed join without its permit: the call fails on the
        # allowance inside that batch, and the buyer's forwarder nonce is spent.
        receipt = chain.sender.send(
            other_relayer,
            to=forwarder.address,
            data=forwarder.calldata("executeBatch", [request], other_relayer.address),
            gas=1_000_000,
        )
        assert forwarder.executions_in(receipt) == {(buyer.address, 0): False}

        RelayWorker(own).run_once()
        status = client.get(f"/v1/relay/{accepted['id']}").json()

    assert escrow.order(deal.deal_id, buyer.address).quantity == 0
    assert status["status"] == "failed", status
    assert status["error"]["code"] == "ERC20InsufficientAllowance"
    assert status["tx_hash"] == receipt["transactionHash"].to_0x_hex()
