"""Two bundler workers on one PostgreSQL outbox (as two service processes would run them).

Each worker claims a sender's queue (``SELECT ... FOR UPDATE SKIP LOCKED``) and signs under the
relayer lock: run side by side in threads on the same operations, they bundle each exactly once
and never sign two transactions with one relayer nonce. SQLite has one writer and one worker:
PostgreSQL only.
"""

from __future__ import annotations

import secrets
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
from chain.aa.entrypoint import ENTRYPOINT_V08
from chain.aa.webauthn import SoftwarePasskey
from chain.context import Chain

from ..conftest import run_side_by_side
from ..relay.conftest import TOP_PRICE, make_deal


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
    accounts = api_chain.passkeys
    hashes = []
    for _ in range(4):
        key = SoftwarePasskey.from_secret(secrets.token_bytes(32))
        account = accounts.account_address(key)
        api_chain.clients.token.mint(account, TOP_PRICE, signer=api_chain.platform)
        op = accounts.user_operation(
            account=account,
            calls=accounts.approve_and_join(deal.deal_id, 1, deal.leader.address, TOP_PRICE),
            create_with=key,
        )
        answer = client.post(
            "/v1/bundler",
            json={
                "jsonrpc": "2.0",
                "id": 1,
                "method": "eth_sendUserOperation",
                "params": [accounts.sign(op, key).to_rpc(), ENTRYPOINT_V08],
            },
        ).json()
        hashes.append(answer["result"])
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
