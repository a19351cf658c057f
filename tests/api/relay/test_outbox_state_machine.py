"""The outbox's guarantees under random interleavings (hypothesis state machine, real anvil).

Rules: three consumers join two small deals through the API (a join may be refused at accept —
the deal is full — which is fine); worker passes that wait for their receipts or pipeline
(return with batches in flight); workers that crash after committing a signed batch and before
broadcasting it, or after broadcasting and before settling it. Invariants after every step:

- every ``mined`` row is executed on chain by its own transaction (``ExecutedForwardRequest``
  with ``success=true`` for its signer and nonce in its ``tx_hash``) — nothing marked mined that
  did not run;
- each buyer's order quantity on chain equals the sum of their ``mined`` joins — nothing executed
  twice, nothing executed unrecorded once settled.

At the end, passes run until nothing is pending: every accepted request is mined or failed with a
named error (nothing lost).
"""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule

from api.app import create_app
from api.db import init_db, session_factory
from api.relayer.models import PENDING_STATUSES, RelayRequest
from api.relayer.worker import RelayWorker
from api.services import Services, make_engine

from .conftest import Crash, CrashBeforeBroadcast, consumer, make_deal, sign


class CrashBeforeSettling(RelayWorker):
    def _settle(self, session, chain, rows, receipt) -> None:  # type: ignore[no-untyped-def,override]
        raise Crash()


def test_the_outbox_loses_nothing_and_sends_nothing_twice(services: Services, tmp_path) -> None:
    chain = services.chain
    forwarder, escrow = chain.clients.forwarder, chain.clients.escrow
    counter = iter(range(10**6))

    class Outbox(RuleBasedStateMachine):
        def __init__(self) -> None:
            super().__init__()
            engine = make_engine("sqlite:///" + str(tmp_path / f"outbox-{next(counter)}.db"))
            init_db(engine)
            self.own = Services(services.settings, services.store, engine, _chain=chain)
            self.client = TestClient(create_app(self.own))
            self.deals = [make_deal(chain, min_quantity=1, max_quantity=4) for _ in range(2)]
            self.buyers = [consumer(chain) for _ in range(3)]

        def rows(self) -> list[RelayRequest]:
            with session_factory(self.own.engine)() as session:
                return list(session.query(RelayRequest).all())

        @rule(buyer=st.integers(0, 2), deal=st.integers(0, 1), quantity=st.integers(1, 3))
        def join(self, buyer: int, deal: int, quantity: int) -> None:
            account, setup = self.buyers[buyer], self.deals[deal]
            body = {"from": account.address, "deal_id": setup.deal_id, "quantity": quantity}
            response = self.client.post(
                "/v1/actions/join/prepare", json={**body, "leader": setup.leader.address}
            )
            if response.status_code != 200:
                assert response.status_code in (400, 409), response.text  # refused, named
                return
            relayed = self.client.post("/v1/relay", json=sign(account, response.json()))
            assert relayed.status_code in (202, 400, 409), relayed.text

        @rule(wait=st.booleans())
        def work(self, wait: bool) -> None:
            RelayWorker(self.own).run_once(wait=wait)

        @rule()
        def crash_before_broadcast(self) -> None:
            try:
                CrashBeforeBroadcast(self.own).run_once(wait=False)
            except Crash:
                pass

        @rule()
        def crash_before_settling(self) -> None:
            try:
                CrashBeforeSettling(self.own).run_once(wait=True)
            except Crash:
                pass

        @invariant()
        def mined_rows_ran_once_in_their_own_transaction(self) -> None:
            rows = self.rows()
            for row in rows:
                if row.status == "mined":
                    receipt = chain.w3.eth.get_transaction_receipt(row.tx_hash)
                    assert forwarder.executions_in(receipt).get((row.signer, row.nonce)) is True
            for buyer in self.buyers:
                for setup in self.deals:
                    mined = sum(
                        int(r.details["quantity"])
                        for r in rows
                        if r.status == "mined"
                        and r.signer == buyer.address
                        and int(r.details["deal_id"]) == setup.deal_id
                    )
                    in_flight = any(
                        r.status in ("sending", "sent") and r.signer == buyer.address for r in rows
                    )
                    on_chain = escrow.order(setup.deal_id, buyer.address).quantity
                    # A batch in flight may have run already; once settled the two agree.
                    assert on_chain == mined or (in_flight and on_chain >= mined)

        def teardown(self) -> None:
            for _ in range(10):
                if not any(r.status in {s.value for s in PENDING_STATUSES} for r in self.rows()):
                    break
                RelayWorker(self.own, backoff_base=0.0).run_once(wait=True)
            rows = self.rows()
            assert all(r.status in ("mined", "failed") for r in rows), [
                (r.status, r.last_attempt_error) for r in rows
            ]
            assert all(r.error_code for r in rows if r.status == "failed")
            self.mined_rows_ran_once_in_their_own_transaction()
            self.client.close()
            self.own.engine.dispose()

    run: Any = Outbox.TestCase
    run.settings = settings(
        max_examples=4,
        stateful_step_count=8,
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
    )
    run("runTest").runTest()
