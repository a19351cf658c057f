"""Two workers on one PostgreSQL outbox (as two service processes would run them).

A worker claims a signer's queue with ``SELECT ... FOR UPDATE SKIP LOCKED``: while one holds it,
the other skips that signer and sends everyone else's. Run side by side in threads, on the same
requests, they send each request exactly once (and never sign two transactions with one relayer
nonce). SQLite has a single writer and one worker: these tests are PostgreSQL's only.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from api.db import session_factory
from api.relayer.models import PENDING_STATUSES, RelayRequest
from api.relayer.worker import RelayWorker
from api.services import Services

from ..conftest import run_side_by_side
from .conftest import RecordingWorker, consumer, make_deal, relay


@pytest.fixture
def postgres(services: Services) -> Services:
    if services.engine.dialect.name != "postgresql":
        pytest.skip("two workers share an outbox on PostgreSQL only (SQLite: one writer)")
    return services


def _join(deal: Any, quantity: int = 1) -> dict[str, Any]:
    return {"deal_id": deal.deal_id, "quantity": quantity, "leader": deal.leader.address}


def _statuses(services: Services, ids: list[str]) -> dict[str, str]:
    with session_factory(services.engine)() as session:
        rows = session.scalars(select(RelayRequest).where(RelayRequest.id.in_(ids))).all()
        return {r.id: r.status for r in rows}


def test_a_claimed_signer_is_skipped_and_everyone_else_is_sent(
    client: TestClient, postgres: Services
) -> None:
    services = postgres
    chain = services.chain
    deal = make_deal(chain)
    held, other = consumer(chain), consumer(chain)
    held_ids = [relay(client, held, "join", _join(deal))["id"] for _ in range(2)]
    other_id = relay(client, other, "join", _join(deal))["id"]
    first, second = RelayWorker(services), RelayWorker(services)

    with first.claims.signer(held.address) as claimed:
        assert claimed
        with second.claims.signer(held.address) as also:
            assert not also  # SKIP LOCKED: taken, so not ours
        second.run_once()
        statuses = _statuses(services, [*held_ids, other_id])
        assert statuses[other_id] == "mined"
        assert [statuses[i] for i in held_ids] == ["queued", "queued"]
        assert chain.clients.forwarder.nonces(held.address) == 0

    second.run_once()  # released: now the held signer's queue goes, in nonce order
    assert set(_statuses(services, held_ids).values()) == {"mined"}
    assert chain.clients.escrow.order(deal.deal_id, held.address).quantity == 2


def test_two_workers_side_by_side_send_each_request_exactly_once(
    client: TestClient, postgres: Services
) -> None:
    services = postgres
    chain = services.chain
    RelayWorker(services).run_once()  # settle other tests' leftovers: only ours are pending
    deals = [make_deal(chain), make_deal(chain)]
    buyers = [consumer(chain) for _ in range(4)]
    ids = [relay(client, b, "join", _join(d))["id"] for b in buyers for d in deals]
    relayer_nonce = chain.w3.eth.get_transaction_count(chain.relayer.address)

    broadcasts: Counter[str] = Counter()
    workers = [RecordingWorker(services) for _ in range(2)]
    for w in workers:
        w.broadcasts = broadcasts
    pending = {s.value for s in PENDING_STATUSES}
    run_side_by_side(workers, lambda: not set(_statuses(services, ids).values()) & pending, 20)

    assert set(_statuses(services, ids).values()) == {"mined"}
    assert broadcasts == Counter(dict.fromkeys(ids, 1))  # each sent once, by one worker
    # The batches and their permitAll transactions, nothing resent, no relayer nonce used twice.
    with session_factory(services.engine)() as session:
        sent_by_rows = session.execute(
            select(RelayRequest.tx_hash, RelayRequest.permit_tx_hash).where(
                RelayRequest.id.in_(ids)
            )
        ).all()
    transactions = {h for pair in sent_by_rows for h in pair}
    sent = chain.w3.eth.get_transaction_count(chain.relayer.address) - relayer_nonce
    assert sent == len(transactions) and None not in transactions
    for buyer in buyers:
        assert chain.clients.forwarder.nonces(buyer.address) == len(deals)
        for deal in deals:
            assert chain.clients.escrow.order(deal.deal_id, buyer.address).quantity == 1
