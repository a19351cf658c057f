"""A batch whose rows were backed off for different times is settled as a whole.

Found in review: a failed step backs each row off by its own ``attempts`` (a row re-queued
before waits longer), and settling read only the *due* rows of a batch. When those few were
re-queued because the relayer nonce had gone to another transaction (``NonceTooLow``), the
batch's stored bytes were deleted with them — and the rows still waiting, once due, found no
bytes to broadcast: an ``AssertionError`` on every pass, the request ``sending`` forever.
"""

from __future__ import annotations

from eth_account import Account
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from api.app import create_app
from api.db import session_factory
from api.relayer.models import RelayRequest
from api.relayer.worker import RelayWorker
from api.services import Services
from chain import errors as chain_errors
from chain.context import Chain

from ...clock import SetClock
from .conftest import make_deal, own_outbox, relay


class NodeDownAtBroadcast(RelayWorker):
    def _broadcast_batch(
        self, session: Session, chain: Chain, rows: list[RelayRequest], raw: str | None = None
    ) -> None:
        raise chain_errors.NodeUnavailable("the node went away as the batch was broadcast")


def test_rows_of_one_batch_backed_off_apart_are_settled_together(
    services: Services, tmp_path
) -> None:
    own = own_outbox(services, tmp_path)  # no other test's rows
    chain = services.chain
    deal = make_deal(chain, min_quantity=1)
    # Two buyers on one relayer lane, so their joins share one executeBatch.
    first = Account.create()
    second = Account.create()
    while chain.relayer_for(second.address).address != chain.relayer_for(first.address).address:
        second = Account.create()
    for buyer in (first, second):
        chain.clients.token.mint(buyer.address, 100 * 10**6, signer=chain.platform)
    relayer = chain.relayer_for(first.address)
    clock = SetClock(1_000.0)

    def join(buyer):  # type: ignore[no-untyped-def]
        return relay(
            client,
            buyer,
            "join",
            {"deal_id": deal.deal_id, "quantity": 1, "leader": deal.leader.address},
        )["id"]

    with TestClient(create_app(own)) as client:
        a_id, b_id = join(first), join(second)
        with session_factory(own.engine)() as session:
            row = session.get(RelayRequest, b_id)
            assert row is not None
            row.attempts = 3  # retried before: its backoff is longer than the other's
            session.commit()
        # Signed and committed (sending), then the node fails the broadcast: both rows back
        # off, 0.5 s and 4 s.
        NodeDownAtBroadcast(own, clock=clock).run_once()
        with session_factory(own.engine)() as session:
            rows = {i: session.get(RelayRequest, i) for i in (a_id, b_id)}
            assert {r.status for r in rows.values()} == {"sending"}  # type: ignore[union-attr]
            assert rows[a_id].tx_hash == rows[b_id].tx_hash  # type: ignore[union-attr]
        # Meanwhile the batch's relayer nonce goes to another transaction.
        chain.sender.resync_nonce(relayer.address)
        chain.sender.send(relayer, to=relayer.address, value=0)

        worker = RelayWorker(own, clock=clock)
        clock.now += 1  # the first row is due, the second not yet
        worker.run_once()
        clock.now += 10
        worker.run_once()
        statuses = {i: client.get(f"/v1/relay/{i}").json() for i in (a_id, b_id)}

    assert statuses[a_id]["status"] == "mined", statuses[a_id]
    assert statuses[b_id]["status"] == "mined", statuses[b_id]
