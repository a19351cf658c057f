"""A batch the base fee priced out is replaced (same relayer nonce, raised fees) and mined once.

Its own anvil, mining only when told (``evm_setAutomine false``), and its own outbox. Two joins
are sent (one ``permitAll`` and one ``executeBatch``) with the fees of their moment; then the base
fee jumps past their cap and a block leaves them out (anvil drops them from its pool, and refuses
the same bytes again). A worker signs both again with the same nonces and raised fees and
"crashes" before broadcasting them; after the restart either the replacement is mined (a fresh
worker broadcasts it), or the first transaction was mined after all (handed to the node again
from elsewhere, the base fee down again): the outbox knows both hashes and settles from the one
mined, each request executed once, and the relayer spent two nonces, no more.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import update

from api.app import create_app
from api.db import session_factory
from api.relayer.models import RelayBatch, RelayRequest
from api.relayer.worker import RelayWorker
from api.services import Services
from chain.anvil import Anvil
from chain.tx import (
    REPLACEMENT_BUMP_PERCENT,
    at_ceiling,
    bumped,
    decode_signed,
    replacement_due,
    replacement_fees,
)

from .conftest import Crash, CrashBeforeBroadcast, consumer, make_deal, own_chain_services, relay


@pytest.fixture
def node() -> Iterator[Anvil]:
    with Anvil() as anvil:
        yield anvil


def _rows(services: Services) -> list[RelayRequest]:
    with session_factory(services.engine)() as session:
        return session.query(RelayRequest).order_by(RelayRequest.created_at).all()


def _batches(services: Services) -> dict[str, RelayBatch]:
    with session_factory(services.engine)() as session:
        return {b.tx_hash: b for b in session.query(RelayBatch).all()}


@pytest.mark.parametrize("mined", ["replacement", "first"])
def test_a_priced_out_batch_is_replaced_and_mined_once(
    tmp_path: Path, node: Anvil, mined: str
) -> None:
    services = own_chain_services(node, tmp_path, tmp_path / "outbox.db")
    chain = services.chain
    client = TestClient(create_app(services))
    forwarder, escrow = chain.clients.forwarder, chain.clients.escrow

    def rpc(method: str, *params: Any) -> Any:
        return chain.sender.rpc(method, list(params))

    deal = make_deal(chain)
    buyers = [consumer(chain) for _ in range(2)]
    for buyer, quantity in zip(buyers, (1, 2), strict=True):
        body = {"deal_id": deal.deal_id, "quantity": quantity, "leader": deal.leader.address}
        relay(client, buyer, "join", body)
    relayer_nonce = chain.w3.eth.get_transaction_count(chain.relayer.address)
    rpc("evm_setAutomine", False)

    # Sent with the fees of the moment: a permitAll and an executeBatch, both pending.
    RelayWorker(services, wait_receipts=False).run_once()
    first = _rows(services)[0].tx_hash
    assert first and {(r.status, r.tx_hash) for r in _rows(services)} == {("sent", first)}
    first_tx = decode_signed(_batches(services)[first].raw_tx)
    assert first_tx["nonce"] == relayer_nonce + 1  # after the permit's

    # The base fee jumps past their cap: the next block leaves them out.
    rpc("anvil_setNextBlockBaseFeePerGas", hex(first_tx["maxFeePerGas"] * 4))
    rpc("evm_mine")
    assert chain.sender.raw_receipt(first) is None
    if mined == "first":
        # (Its cap unrecorded, as on a batch stored before migration 0012: read from its bytes.)
        with session_factory(services.engine)() as session:
            session.execute(update(RelayBatch).values(max_fee_per_gas=None))
            session.commit()

    # Replaced (same nonces, raised fees), stored with the first, then a crash before broadcast.
    with pytest.raises(Crash):
        CrashBeforeBroadcast(services, wait_receipts=False).run_once()
    replacement = _rows(services)[0].tx_hash
    assert replacement and replacement != first
    assert {(r.status, r.tx_hash) for r in _rows(services)} == {("sending", replacement)}
    stored = _batches(services)
    assert set(stored) == {first, replacement} and stored[replacement].series == first
    new_tx = decode_signed(stored[replacement].raw_tx)
    assert new_tx["nonce"] == first_tx["nonce"] and new_tx["data"] == first_tx["data"]
    for fee in ("maxFeePerGas", "maxPriorityFeePerGas"):
        assert new_tx[fee] * 100 >= first_tx[fee] * (100 + REPLACEMENT_BUMP_PERCENT)
    assert new_tx["maxFeePerGas"] >= chain.w3.eth.get_block("latest")["baseFeePerGas"]
    assert len(stored[replacement].permits_raw or []) == 1  # the permit, signed again

    if mined == "first":
        # The first transactions reach a block after all (another node kept them): the base fee
        # comes down and they are handed to the node again, before the restart.
        rpc("anvil_setNextBlockBaseFeePerGas", hex(first_tx["maxFeePerGas"] // 4))
        for raw in [*(stored[first].permits_raw or []), stored[first].raw_tx]:
            chain.sender.broadcast(raw)
        rpc("evm_mine")
        assert chain.sender.raw_receipt(first) is not None

    # After the restart: settled from whichever was mined (the replacement: broadcast, mined).
    RelayWorker(services, wait_receipts=False).run_once()
    rpc("evm_mine")
    RelayWorker(services, wait_receipts=False).run_once()
    RelayWorker(services, wait_receipts=False).run_once()  # nothing more to do

    settled = first if mined == "first" else replacement
    assert {(r.status, r.tx_hash) for r in _rows(services)} == {("mined", settled)}
    assert _batches(services) == {}  # every fee of the settled batch forgotten
    for buyer, quantity in zip(buyers, (1, 2), strict=True):
        assert forwarder.nonces(buyer.address) == 1
        executed = forwarder.get_events(
            "ExecutedForwardRequest", argument_filters={"signer": buyer.address}
        )
        assert len(executed) == 1 and executed[0]["args"]["success"]
        assert escrow.order(deal.deal_id, buyer.address).quantity == quantity
    # The permit and the batch, each mined once: two relayer nonces.
    assert chain.w3.eth.get_transaction_count(chain.relayer.address) == relayer_nonce + 2


fee = st.integers(min_value=0, max_value=10**15)


@given(old_cap=fee, old_tip=fee, market_cap=fee, market_tip=fee, ceiling=fee)
def test_replacement_fees_outbid_the_pool_and_keep_under_the_ceiling(
    old_cap: int, old_tip: int, market_cap: int, market_tip: int, ceiling: int
) -> None:
    old = {"maxFeePerGas": old_cap, "maxPriorityFeePerGas": min(old_tip, old_cap)}
    market = {"maxFeePerGas": market_cap, "maxPriorityFeePerGas": min(market_tip, market_cap)}
    fees = replacement_fees(old, market, ceiling=ceiling)
    # The dashboard and the worker tell "no raise fits" from the cap alone.
    assert (fees is None) == at_ceiling(old["maxFeePerGas"], ceiling)
    if fees is None:  # only when a bump of both would pass the ceiling
        assert ceiling < bumped(old["maxFeePerGas"])
        return
    assert fees["maxPriorityFeePerGas"] <= fees["maxFeePerGas"] <= ceiling
    for name in fees:
        assert fees[name] * 100 >= old[name] * (100 + REPLACEMENT_BUMP_PERCENT)
        assert fees[name] > old[name]
    assert fees["maxFeePerGas"] >= min(market["maxFeePerGas"], ceiling)


@given(
    cap=fee,
    base_fee=fee,
    sent_block=st.integers(0, 100),
    waited_blocks=st.integers(0, 10),
    waited_seconds=st.floats(0, 120),
    after_blocks=st.integers(1, 5),
    after_seconds=st.floats(0, 60),
)
def test_a_transaction_is_due_for_replacement_priced_out_or_after_both_waits(
    cap: int,
    base_fee: int,
    sent_block: int,
    waited_blocks: int,
    waited_seconds: float,
    after_blocks: int,
    after_seconds: float,
) -> None:
    reason = replacement_due(
        max_fee_per_gas=cap,
        base_fee=base_fee,
        sent_block=sent_block,
        head=sent_block + waited_blocks,
        sent_at=0.0,
        now=waited_seconds,
        after_blocks=after_blocks,
        after_seconds=after_seconds,
    )
    if cap < base_fee:
        assert reason == "priced_out"
    elif waited_blocks >= after_blocks and waited_seconds >= after_seconds:
        assert reason == "outbid"
    else:
        assert reason is None  # a quiet chain (no new block) never counts as outbid
