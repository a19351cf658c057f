"""The relayer's key pool: each key a nonce lane of its own, a signer always on one lane.

With a pool (``TUANCHAIN_RELAYER_KEYS``; here anvil development keys on the local test chain) the
worker sends one ``executeBatch`` per lane. The properties: every accepted request is executed
once; a signer's requests execute in nonce order and all from the same relayer key (its lane);
the signers spread over several lanes; a crash between committing a lane's signed batch and
broadcasting it loses and repeats nothing; two workers on PostgreSQL, each with the pool, send
each request once and never reuse a key's nonce.
"""

from __future__ import annotations

import dataclasses
from collections import Counter
from typing import Any

import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select
from sqlalchemy.orm import Session

from api.db import session_factory
from api.relayer.models import PENDING_STATUSES, RelayRequest
from api.relayer.worker import RelayWorker
from api.services import Services
from chain.accounts import dev_account
from chain.context import Chain

from ..conftest import run_side_by_side
from .conftest import RecordingWorker, consumer, make_deal, relay

POOL = (dev_account(12), dev_account(13), dev_account(14))


def pooled(services: Services, size: int = len(POOL) + 1) -> Services:
    """The test services with a relayer key pool of ``size`` keys (the relayer first)."""
    chain = services.chain
    relayers = (chain.relayer, *POOL)[:size]
    return Services(
        settings=services.settings,
        store=services.store,
        engine=services.engine,
        _chain=dataclasses.replace(chain, relayers=relayers),
    )


def _join(deal: Any) -> dict[str, Any]:
    return {"deal_id": deal.deal_id, "quantity": 1, "leader": deal.leader.address}


def _rows(services: Services, ids: list[str]) -> dict[str, RelayRequest]:
    with session_factory(services.engine)() as session:
        rows = session.scalars(select(RelayRequest).where(RelayRequest.id.in_(ids))).all()
        session.expunge_all()
        return {r.id: r for r in rows}


def _settle(worker: RelayWorker, services: Services, ids: list[str]) -> dict[str, RelayRequest]:
    for _ in range(30):  # bounded: a bug cannot hang the suite
        worker.run_once()
        rows = _rows(services, ids)
        if not {r.status for r in rows.values()} & {s.value for s in PENDING_STATUSES}:
            return rows
    raise AssertionError(f"not settled: {Counter(r.status for r in _rows(services, ids).values())}")


def _check_lanes(chain: Chain, rows: dict[str, RelayRequest]) -> set[str]:
    """Each signer's requests: executed in nonce order, all by the signer's lane key. Returns
    the lanes used."""
    by_signer: dict[str, list[RelayRequest]] = {}
    for row in rows.values():
        assert row.status == "mined", (row.id, row.status, row.error_code, row.error_message)
        by_signer.setdefault(row.signer, []).append(row)
    lanes = set()
    for signer, requests in by_signer.items():
        requests.sort(key=lambda r: r.nonce)
        lane = chain.relayer_for(signer).address
        positions = []
        for row in requests:
            tx = chain.w3.eth.get_transaction(row.tx_hash)
            assert tx["from"] == lane  # the signer's lane, always
            positions.append((tx["blockNumber"], tx["transactionIndex"]))
            lanes.add(tx["from"])
        assert positions == sorted(positions) and len(set(positions)) == len(positions)
        assert chain.clients.forwarder.nonces(signer) == len(requests)
    return lanes


@settings(
    max_examples=4,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    per_signer=st.lists(st.integers(min_value=1, max_value=3), min_size=2, max_size=5),
    pool_size=st.integers(min_value=1, max_value=len(POOL) + 1),
    max_batch=st.integers(min_value=1, max_value=6),
)
def test_a_signers_requests_stay_on_one_lane_in_nonce_order(
    client: TestClient,
    services: Services,
    per_signer: list[int],
    pool_size: int,
    max_batch: int,
) -> None:
    pool = pooled(services, pool_size)
    RelayWorker(pool).run_once()  # other tests' leftovers: only ours are pending
    deal = make_deal(pool.chain)
    ids = []
    for count in per_signer:
        buyer = consumer(pool.chain)
        ids += [relay(client, buyer, "join", _join(deal))["id"] for _ in range(count)]
    rows = _settle(RelayWorker(pool, max_batch=max_batch), pool, ids)
    lanes = _check_lanes(pool.chain, rows)
    assert lanes <= {a.address for a in pool.chain.relayers}


def test_the_signers_spread_over_the_lanes(client: TestClient, services: Services) -> None:
    pool = pooled(services)
    RelayWorker(pool).run_once()
    deal = make_deal(pool.chain)
    buyers = [consumer(pool.chain) for _ in range(12)]
    ids = [relay(client, b, "join", _join(deal))["id"] for b in buyers]
    lanes = _check_lanes(pool.chain, _settle(RelayWorker(pool), pool, ids))
    expected = {pool.chain.relayer_for(b.address).address for b in buyers}
    assert lanes == expected and len(lanes) >= 2  # 12 signers over 4 keys: never all on one


class Crash(BaseException):
    """Stands for the process dying at a chosen point (nothing after it runs)."""


class CrashBeforeSecondBroadcast(RelayWorker):
    """Dies after one lane's batch was broadcast, before the next lane's is: that one is signed
    and committed (``sending``) but never left the process."""

    broadcasts = 0

    def _broadcast_batch(
        self, session: Session, chain: Chain, rows: list[RelayRequest], raw: str | None = None
    ) -> None:
        if self.broadcasts == 1:
            raise Crash(rows[0].id)
        self.broadcasts += 1
        super()._broadcast_batch(session, chain, rows, raw)


def test_a_crash_between_two_lanes_batches_loses_and_repeats_nothing(
    client: TestClient, services: Services
) -> None:
    pool = pooled(services)
    RelayWorker(pool).run_once()
    deal = make_deal(pool.chain)
    buyers = [consumer(pool.chain) for _ in range(12)]
    ids = [relay(client, b, "join", _join(deal))["id"] for b in buyers]
    nonces = {a.address: pool.chain.sender.pending_nonce(a.address) for a in pool.chain.relayers}

    with pytest.raises(Crash):
        CrashBeforeSecondBroadcast(pool, wait_receipts=False).run_once()
    stored = _rows(pool, ids)
    sending = {r.tx_hash for r in stored.values() if r.status == "sending"}
    assert len(sending) == 1  # the second lane's batch: signed, stored, never broadcast

    rows = _settle(RelayWorker(pool), pool, ids)  # the restart
    _check_lanes(pool.chain, rows)
    assert sending <= {r.tx_hash for r in rows.values()}  # the stored bytes, broadcast again
    # Nothing twice: each key sent exactly the transactions the rows name (batches, permits).
    transactions = {h for r in rows.values() for h in (r.tx_hash, r.permit_tx_hash) if h}
    sent = sum(
        pool.chain.sender.pending_nonce(address) - before for address, before in nonces.items()
    )
    assert sent == len(transactions)
    for buyer in buyers:
        assert pool.chain.clients.escrow.order(deal.deal_id, buyer.address).quantity == 1


def test_two_pooled_workers_on_postgresql_send_each_request_once(
    client: TestClient, services: Services
) -> None:
    if services.engine.dialect.name != "postgresql":
        pytest.skip("two workers share an outbox on PostgreSQL only (SQLite: one writer)")
    pool = pooled(services)
    RelayWorker(pool).run_once()
    deals = [make_deal(pool.chain), make_deal(pool.chain)]
    buyers = [consumer(pool.chain) for _ in range(6)]
    ids = [relay(client, b, "join", _join(d))["id"] for b in buyers for d in deals]
    nonces = {a.address: pool.chain.sender.pending_nonce(a.address) for a in pool.chain.relayers}
    broadcasts: Counter[str] = Counter()
    workers = [RecordingWorker(pool, max_batch=4) for _ in range(2)]
    for w in workers:
        w.broadcasts = broadcasts
    pending = {s.value for s in PENDING_STATUSES}
    run_side_by_side(
        workers, lambda: not {r.status for r in _rows(pool, ids).values()} & pending, 30
    )
    rows = _rows(pool, ids)
    _check_lanes(pool.chain, rows)
    assert broadcasts == Counter(dict.fromkeys(ids, 1))
    transactions = {h for r in rows.values() for h in (r.tx_hash, r.permit_tx_hash) if h}
    sent = sum(
        pool.chain.sender.pending_nonce(address) - before for address, before in nonces.items()
    )
    assert sent == len(transactions)
