"""Batched sending (``executeBatch``) on real anvil: one request's failed call, or one invalid
request, settles exactly that request, named, and nothing else.

Four requests are accepted through the API; one worker pass sends the three queue heads in one
batch: A's join fills the deal, so B's join — fine when B's was checked alone — fails *inside*
the batch (``DealFull``, read from a trace: the forwarder only logs ``success=false``), and its
nonce is spent, so B's next request (a join of another deal) stays valid and goes in the next
batch. C's row had its signature replaced in the outbox after it was accepted (standing in for a
request that became invalid between checking and mining): the forwarder skips it (the refund
receiver is the relayer), its nonce stays unspent, and it fails with the forwarder's own error.
"""

from __future__ import annotations

from eth_account import Account
from fastapi.testclient import TestClient

from api.app import create_app
from api.db import session_factory
from api.relayer.models import RelayRequest
from api.relayer.worker import RelayWorker
from api.services import Services

from .conftest import consumer, make_deal, own_outbox, relay


def test_a_failed_call_and_an_invalid_request_inside_a_batch_settle_only_themselves(
    services: Services, tmp_path
) -> None:
    own = own_outbox(services, tmp_path)  # no other test's rows
    chain = services.chain
    forwarder, escrow = chain.clients.forwarder, chain.clients.escrow
    small = make_deal(chain, min_quantity=1, max_quantity=2)
    other = make_deal(chain, min_quantity=1)
    a, b, c = consumer(chain), consumer(chain), consumer(chain)

    def join(deal, quantity):  # type: ignore[no-untyped-def]
        return {"deal_id": deal.deal_id, "quantity": quantity, "leader": deal.leader.address}

    with TestClient(create_app(own)) as client:
        a_id = relay(client, a, "join", join(small, 2))["id"]
        b_first = relay(client, b, "join", join(small, 2))["id"]  # fine alone: the deal is empty
        b_second = relay(client, b, "join", join(other, 1))["id"]  # nonce 1, queued behind
        c_id = relay(client, c, "join", join(other, 1))["id"]
        with session_factory(own.engine)() as session:
            row = session.get(RelayRequest, c_id)
            assert row is not None
            forged = Account.create().sign_typed_data(full_message=row.typed_data)
            row.signature = forged.signature.to_0x_hex()
            session.commit()

        worker = RelayWorker(own)
        worker.run_once()
        statuses = {i: client.get(f"/v1/relay/{i}").json() for i in (a_id, b_first, b_second, c_id)}

    assert statuses[a_id]["status"] == "mined"
    assert statuses[b_first]["status"] == "failed"
    assert statuses[b_first]["error"]["code"] == "DealFull"
    assert statuses[c_id]["status"] == "failed"
    assert statuses[c_id]["error"]["code"] == "ERC2771ForwarderInvalidSigner"
    # A, B's first and C went in one batch; B's second in the next one.
    batch = statuses[a_id]["tx_hash"]
    assert statuses[b_first]["tx_hash"] == batch == statuses[c_id]["tx_hash"]
    assert statuses[b_second]["status"] == "mined" and statuses[b_second]["tx_hash"] != batch
    receipt = chain.w3.eth.get_transaction_receipt(batch)
    assert forwarder.executions_in(receipt) == {(a.address, 0): True, (b.address, 0): False}
    assert forwarder.nonces(b.address) == 2 and forwarder.nonces(c.address) == 0
    assert escrow.order(small.deal_id, a.address).quantity == 2
    assert escrow.order(small.deal_id, b.address).quantity == 0
    assert escrow.order(other.deal_id, b.address).quantity == 1
    assert escrow.order(other.deal_id, c.address).quantity == 0
