"""The outbox loses nothing and duplicates nothing across a stopped node and crashed workers.

Its own anvil (with ``--state``, so a restart keeps the chain) and its own database. Three
consumers' signed joins are accepted (committed before any send); then:

1. a worker "crashes" right after committing its signed transaction, before broadcasting it;
2. the node goes down: the next pass keeps the request, counts the attempt and backs off, and the
   API still answers its status (and refuses new submissions with 503, not a 500);
3. the node comes back with its state; a fresh worker broadcasts the *same* stored transaction
   (same hash) and goes on with the rest; a second crash, after broadcasting but before recording
   the receipt, is reconciled from the stored hash without sending again.

Finally: every request mined exactly once (forwarder nonce 1 per consumer, one
``ExecutedForwardRequest`` each, order quantities exact) and the relayer sent exactly one permit
and one ``execute`` per join — no more transactions than that.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from api.db import session_factory
from api.relayer.models import RelayBatch, RelayRequest
from api.relayer.worker import RelayWorker
from api.services import Services
from chain.anvil import Anvil, free_port

from ...clock import SetClock
from .conftest import Crash, CrashBeforeBroadcast, consumer, make_deal, own_chain_services, relay


class CrashBeforeReceiptIsRecorded(RelayWorker):
    def _settle(self, session, chain, rows, receipt) -> None:  # type: ignore[no-untyped-def,override]
        raise Crash(rows[0].id)


@pytest.fixture
def node_with_state(tmp_path: Path) -> Iterator[tuple[Anvil, Path]]:
    state, port = tmp_path / "anvil-state.json", free_port()
    node = Anvil(port=port, state_path=state).start()
    yield node, state
    node.stop()  # idempotent: the test stops it itself


def _rows(services: Services) -> dict[str, RelayRequest]:
    with session_factory(services.engine)() as session:
        return {r.id: r for r in session.query(RelayRequest).all()}


def _batches(services: Services) -> list[str]:
    """The batch transactions whose bytes the outbox keeps (relay_batches)."""
    with session_factory(services.engine)() as session:
        return [b.tx_hash for b in session.query(RelayBatch).all()]


def test_a_stopped_node_and_crashed_workers_lose_and_duplicate_nothing(
    tmp_path: Path, node_with_state: tuple[Anvil, Path]
) -> None:
    node, state = node_with_state
    services = own_chain_services(node, tmp_path, tmp_path / "data" / "outbox.db")
    chain = services.chain
    client = TestClient(create_app(services))
    forwarder, escrow = chain.clients.forwarder, chain.clients.escrow

    deal = make_deal(chain)
    buyers = [consumer(chain) for _ in range(3)]
    ids = [
        relay(
            client,
            b,
            "join",
            {"deal_id": deal.deal_id, "quantity": q, "leader": deal.leader.address},
        )["id"]
        for b, q in zip(buyers, (1, 2, 3), strict=True)
    ]
    relayer_nonce_before = chain.w3.eth.get_transaction_count(chain.relayer.address)
    clock = SetClock(1_000.0)

    # 1. crash between committing the signed batch transaction and broadcasting it
    with pytest.raises(Crash):
        CrashBeforeBroadcast(services, clock=clock).run_once()
    first = _rows(services)[ids[0]]
    assert first.status == "sending" and first.tx_hash
    # One executeBatch carries all three, its hash on each row and its bytes stored once, before
    # it exists anywhere else.
    assert {(r.status, r.tx_hash) for r in _rows(services).values()} == {("sending", first.tx_hash)}
    assert _batches(services) == [first.tx_hash]
    assert forwarder.nonces(buyers[0].address) == 0  # it never left

    # 2. the node goes down (SIGTERM: anvil writes its state)
    node.stop()
    worker = RelayWorker(services, clock=clock)
    assert worker.run_once() == 0
    first = _rows(services)[ids[0]]
    assert first.status == "sending" and first.attempts == 1
    assert "NodeUnavailable" in (first.last_attempt_error or "")
    assert first.next_attempt_at > clock.now  # backing off
    assert client.get(f"/v1/relay/{ids[0]}").json()["status"] == "sending"
    assert (
        client.post(
            "/v1/actions/cancel/prepare", json={"from": buyers[0].address, "deal_id": deal.deal_id}
        ).status_code
        == 503
    )
    assert worker.run_once() == 0  # still backing off: not even tried
    assert _rows(services)[ids[0]].attempts == 1

    # 3. the node is back with its chain; a crash after broadcasting, before recording the receipt
    restarted = Anvil(port=node.port, state_path=state).start()
    try:
        assert escrow.deal_count() >= deal.deal_id  # the chain survived the restart
        clock.now += 3600
        with pytest.raises(Crash):
            CrashBeforeReceiptIsRecorded(services, clock=clock).run_once()
        row = _rows(services)[ids[0]]
        assert row.status == "sent" and row.tx_hash == first.tx_hash  # the same transaction
        assert forwarder.nonces(buyers[0].address) == 1

        RelayWorker(services, clock=clock).run_once()
        RelayWorker(services, clock=clock).run_once()  # a second pass finds nothing to do
        rows = _rows(services)
        assert [rows[i].status for i in ids] == ["mined"] * 3
        assert {rows[i].tx_hash for i in ids} == {first.tx_hash}  # one batch, sent once
        assert _batches(services) == []  # settled: its bytes are not kept

        for buyer, quantity in zip(buyers, (1, 2, 3), strict=True):
            assert forwarder.nonces(buyer.address) == 1
            executed = forwarder.get_events(
                "ExecutedForwardRequest", argument_filters={"signer": buyer.address}
            )
            assert len(executed) == 1 and executed[0]["args"]["success"]
            assert escrow.order(deal.deal_id, buyer.address).quantity == quantity
        # One permitAll for the three permits and one executeBatch for the three joins, nothing
        # resent.
        sent = chain.w3.eth.get_transaction_count(chain.relayer.address) - relayer_nonce_before
        assert sent == 2
        assert len({rows[i].permit_tx_hash for i in ids}) == 1
    finally:
        restarted.stop()
