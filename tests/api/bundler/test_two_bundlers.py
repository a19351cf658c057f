"""Two bundler workers on one PostgreSQL outbox (as two service processes would run them).

Each worker claims a sender's queue (``SELECT ... FOR UPDATE SKIP LOCKED``) and signs under the
relayer lock: run side by side in threads on the same operations, they bundle each exactly once
and never sign two transactions with one relayer nonce. SQLite has one writer and one worker:
PostgreSQL only.
"""

from __future__ import annotations

import threading
from collections import Counter

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from api.bundler.models import PENDING_OP_STATUSES, UserOperationRow
from api.bundler.worker import BundlerWorker
from api.db import session_factory
from api.services import Services
from chain.context import Chain

from ..conftest import run_side_by_side
from ..relay.conftest import make_deal
from .userops import send_join


class RecordingWorker(BundlerWorker):
    """Records every broadcast of a bundle, by operation row id."""

    broadcasts: Counter[str]
    lock = threading.Lock()

    def _broadcast(self, session: Session, chain: Chain, row: UserOperationRow) -> bool:
        with self.lock:
            self.broadcasts[row.id] += 1
        return super()._broadcast(session, chain, row)


def _statuses(services: Services, hashes: list[str]) -> dict[str, str]:
    with session_factory(services.engine)() as session:
        rows = session.scalars(
            select(UserOperationRow).where(UserOperationRow.user_op_hash.in_(hashes))
        ).all()
        return {r.user_op_hash: r.status for r in rows}


def test_two_bundlers_side_by_side_bundle_each_operation_exactly_once(
    client: TestClient, services: Services, api_chain: Chain
) -> None:
    if services.engine.dialect.name != "postgresql":
        pytest.skip("two workers share an outbox on PostgreSQL only (SQLite: one writer)")
    BundlerWorker(services).run_once()  # other tests' leftovers settled: only ours are pending
    deal = make_deal(api_chain, min_quantity=1)
    hashes = [send_join(client, api_chain, deal) for _ in range(4)]
    relayer_nonce = api_chain.w3.eth.get_transaction_count(api_chain.relayer.address)

    broadcasts: Counter[str] = Counter()
    workers = [RecordingWorker(services) for _ in range(2)]
    for w in workers:
        w.broadcasts = broadcasts
    pending = {s.value for s in PENDING_OP_STATUSES}
    run_side_by_side(workers, lambda: not set(_statuses(services, hashes).values()) & pending, 20)
    assert set(_statuses(services, hashes).values()) == {"mined"}
    assert sorted(broadcasts.values()) == [1, 1, 1, 1]  # each bundled once, by one worker
    # One handleOps per operation: no relayer nonce spent twice, none wasted.
    assert api_chain.w3.eth.get_transaction_count(api_chain.relayer.address) == relayer_nonce + 4
