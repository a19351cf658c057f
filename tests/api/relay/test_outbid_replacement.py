"""A batch whose fee cap covers the base fee but which other transactions outbid is replaced after
waiting ``relayer_replace_after_blocks`` blocks and ``..._seconds`` seconds, and settles once.

Its own anvil, mining only when told (``evm_setAutomine false``), its block gas limit the batch's
own gas: one transaction a block. Before each block a competitor (another account) sends a
transfer reserving the whole block and paying 5 % more than the batch, cap and tip: anvil's pool
orders by fees, so every block goes to the competitor and the batch stays pending — what a busy
chain does to a transaction tipping too little. Once it has waited long enough (blocks *and* the
worker's clock) the relayer signs it again with the same nonce and both fees raised >= 10 %: the
next block takes it over the competitor, the request is executed once, the relayer spends one
nonce. At the fee ceiling it is flagged once, left alone (not replaced each poll), shown among
the stuck transactions, and replaced once the ceiling is raised.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from api.db import session_factory
from api.queries.stuck import stuck_transactions
from api.relayer.models import RelayBatch, RelayRequest
from api.relayer.worker import RelayWorker
from api.services import Services
from chain.anvil import Anvil
from chain.tx import REPLACEMENT_BUMP_PERCENT, decode_signed

from ...clock import SetClock
from .conftest import (
    Competitor,
    Crash,
    CrashBeforeBroadcast,
    make_deal,
    own_chain_services,
    repeatable_call,
    signed_forward,
)

AFTER_BLOCKS = 3
AFTER_SECONDS = 30.0


@pytest.fixture
def node() -> Iterator[Anvil]:
    with Anvil() as anvil:
        yield anvil


def _rows(services: Services) -> list[RelayRequest]:
    with session_factory(services.engine)() as session:
        return session.query(RelayRequest).all()


def _batches(services: Services) -> dict[str, RelayBatch]:
    with session_factory(services.engine)() as session:
        return {b.tx_hash: b for b in session.query(RelayBatch).all()}


class Outbid:
    """A relayed request's batch pending on a node where a competitor takes every block."""

    def __init__(self, services: Services, clock: SetClock, *, requests: int = 1) -> None:
        """``requests``: relayed by as many signers, one batch each (consecutive nonces)."""
        self.services, self.clock = services, clock
        self.chain = chain = services.chain
        self.worker = RelayWorker(services, wait_receipts=False, clock=clock, max_batch=1)
        self.signers: list[str] = []
        for _ in range(requests):
            signer, target, data = repeatable_call(chain, make_deal(chain))
            self.signers.append(signer.address)
            self.forwarder_nonce = chain.clients.forwarder.nonces(signer.address)
            body = signed_forward(chain, signer, target, data, nonce=self.forwarder_nonce)
            response = TestClient(create_app(services)).post("/v1/relay", json=body)
            assert response.status_code == 202, response.text
        self.signer = self.signers[0]
        self.relayer_nonce = chain.w3.eth.get_transaction_count(chain.relayer.address)
        self.rpc("evm_setAutomine", False)
        self.worker.run_once()
        self.first = self.hashes()[self.signer]
        self.first_tx = decode_signed(_batches(services)[self.first].raw_tx)
        self.competitor = Competitor(self.chain, self.first_tx)

    def rpc(self, method: str, *params: Any) -> Any:
        return self.chain.sender.rpc(method, list(params))

    def hashes(self) -> dict[str, str | None]:
        return {row.signer: row.tx_hash for row in _rows(self.services)}

    def tx_hash(self) -> str:
        (row,) = _rows(self.services)
        assert row.tx_hash
        return row.tx_hash

    def block(self) -> list[str]:
        """A competitor outbidding the first batch by 5 %, then a block; its transactions."""
        return self.competitor.block()


def _services(node: Anvil, tmp_path: Path, **settings: Any) -> Services:
    services = own_chain_services(node, tmp_path, tmp_path / "outbox.db")
    services.settings = services.settings.model_copy(
        update={
            "relayer_replace_after_blocks": AFTER_BLOCKS,
            "relayer_replace_after_seconds": AFTER_SECONDS,
            **settings,
        }
    )
    return services


def test_an_outbid_batch_is_replaced_after_waiting_and_mined_once(
    tmp_path: Path, node: Anvil
) -> None:
    clock = SetClock()
    case = Outbid(_services(node, tmp_path), clock)
    chain, services = case.chain, case.services
    # Outbid block after block: still pending, its cap above the base fee all along.
    for _ in range(AFTER_BLOCKS):
        assert case.first not in case.block()
        assert case.first_tx["maxFeePerGas"] >= chain.w3.eth.get_block("latest")["baseFeePerGas"]
        case.worker.run_once()
        assert case.tx_hash() == case.first  # the seconds have not passed: not replaced yet
    assert chain.sender.raw_receipt(case.first) is None and chain.sender.known(case.first)
    assert stuck_transactions(services, now=clock()) == []  # not stuck yet either

    clock.now += AFTER_SECONDS
    (stuck,) = stuck_transactions(services, now=clock())  # the operator sees it waiting
    assert stuck["kind"] == "relay" and stuck["tx_hash"] == case.first
    assert not stuck["at_ceiling"]
    case.worker.run_once()
    replacement = case.tx_hash()
    assert replacement != case.first
    stored = _batches(services)
    assert set(stored) == {case.first, replacement} and stored[replacement].series == case.first
    new_tx = decode_signed(stored[replacement].raw_tx)
    assert (new_tx["nonce"], new_tx["data"]) == (case.first_tx["nonce"], case.first_tx["data"])
    for fee in ("maxFeePerGas", "maxPriorityFeePerGas"):
        assert new_tx[fee] * 100 >= case.first_tx[fee] * (100 + REPLACEMENT_BUMP_PERCENT)
    assert stuck_transactions(services, now=clock()) == []  # its replacement waits anew

    # The next block takes the replacement over the competitor.
    assert replacement in case.block()
    for _ in range(2):
        case.worker.run_once()
    assert {(r.status, r.tx_hash) for r in _rows(services)} == {("mined", replacement)}
    assert _batches(services) == {}
    forwarder = chain.clients.forwarder
    assert forwarder.nonces(case.signer) == case.forwarder_nonce + 1
    executed = forwarder.get_events(
        "ExecutedForwardRequest", argument_filters={"signer": case.signer}
    )
    assert [e["args"]["nonce"] for e in executed].count(case.forwarder_nonce) == 1
    assert chain.w3.eth.get_transaction_count(chain.relayer.address) == case.relayer_nonce + 1


def test_an_outbid_batch_at_the_fee_ceiling_is_flagged_once_not_replaced(
    tmp_path: Path, node: Anvil, caplog: pytest.LogCaptureFixture
) -> None:
    clock = SetClock()
    services = _services(node, tmp_path)
    case = Outbid(services, clock)
    # The ceiling is the batch's own cap: no raise fits under it.
    ceiling = case.first_tx["maxFeePerGas"]
    services.settings = services.settings.model_copy(update={"relayer_max_fee_per_gas": ceiling})
    for _ in range(AFTER_BLOCKS):
        case.block()
    clock.now += AFTER_SECONDS
    with caplog.at_level(logging.WARNING, logger="api.relayer"):
        for _ in range(3):
            case.worker.run_once()
            assert case.tx_hash() == case.first
            assert case.first not in case.block()  # still outbid, still pending
    flagged = [r for r in caplog.records if "cannot be raised" in r.getMessage()]
    assert len(flagged) == 1, [r.getMessage() for r in caplog.records]
    (stuck,) = stuck_transactions(services, now=clock())
    assert stuck["tx_hash"] == case.first and stuck["at_ceiling"]
    # The operator's dashboard shows it, in both languages.
    pages = TestClient(create_app(services))
    for lang, words in (("en", "At the fee ceiling"), ("zh", "已达手续费上限")):
        html = pages.get("/dashboard", params={"lang": lang}).text
        assert 'id="stuck-tx"' in html and words in html
        assert f'data-tx="{case.first}" data-kind="relay" data-at-ceiling="true"' in html

    # A person raises the ceiling (a restart with a higher setting): replaced, mined once.
    services.settings = services.settings.model_copy(
        update={"relayer_max_fee_per_gas": ceiling * 2}
    )
    case.worker.run_once()
    replacement = case.tx_hash()
    assert replacement != case.first
    assert replacement in case.block()
    case.worker.run_once()
    assert {(r.status, r.tx_hash) for r in _rows(services)} == {("mined", replacement)}
    assert stuck_transactions(services, now=clock()) == []
    html = pages.get("/dashboard", params={"lang": "en"}).text
    assert 'id="stuck-tx"' in html and "data-tx=" not in html
    chain = case.chain
    assert chain.w3.eth.get_transaction_count(chain.relayer.address) == case.relayer_nonce + 1


@pytest.mark.parametrize("mined", ["replacement", "first"])
def test_an_outbid_batchs_replacement_survives_a_crash_and_only_one_fee_is_mined(
    tmp_path: Path, node: Anvil, mined: str
) -> None:
    clock = SetClock()
    case = Outbid(_services(node, tmp_path), clock)
    chain, services = case.chain, case.services
    for _ in range(AFTER_BLOCKS):
        case.block()
    clock.now += AFTER_SECONDS
    # Replaced and stored with the first, then the process dies before broadcasting it.
    with pytest.raises(Crash):
        CrashBeforeBroadcast(services, wait_receipts=False, clock=clock).run_once()
    replacement = case.tx_hash()
    assert replacement != case.first
    assert {r.status for r in _rows(services)} == {"sending"}
    if mined == "first":
        # The competition stops before the restart: the first fee, still pending, is mined.
        case.rpc("evm_mine")
        assert chain.sender.raw_receipt(case.first) is not None
    # After the restart: the replacement broadcast (its nonce still free) and mined, or the
    # rows settled from the first (found among the stored fees of that nonce).
    case.worker.run_once()
    if mined == "replacement":
        assert replacement in case.block()
    case.worker.run_once()
    settled = case.first if mined == "first" else replacement
    assert {(r.status, r.tx_hash) for r in _rows(services)} == {("mined", settled)}
    assert _batches(services) == {}
    forwarder = chain.clients.forwarder
    assert forwarder.nonces(case.signer) == case.forwarder_nonce + 1
    assert chain.w3.eth.get_transaction_count(chain.relayer.address) == case.relayer_nonce + 1


def test_a_batch_waiting_behind_an_unmined_nonce_is_not_replaced_until_next_in_line(
    tmp_path: Path, node: Anvil
) -> None:
    clock = SetClock()
    case = Outbid(_services(node, tmp_path), clock, requests=2)
    chain, services = case.chain, case.services
    ahead, behind = case.signers
    second = case.hashes()[behind]
    assert second and second != case.first
    assert decode_signed(_batches(services)[second].raw_tx)["nonce"] == case.first_tx["nonce"] + 1
    for _ in range(AFTER_BLOCKS):
        case.block()
    clock.now += AFTER_SECONDS
    case.worker.run_once()
    hashes = case.hashes()
    assert hashes[ahead] != case.first  # outbid: replaced
    assert hashes[behind] == second  # behind it: raising its fees would not help
    assert hashes[ahead] in case.block()
    case.worker.run_once()
    # Next in line now, and outbid in turn: its wait counted from when it was found behind.
    for _ in range(AFTER_BLOCKS):
        assert second not in case.block()
        case.worker.run_once()
        assert case.hashes()[behind] == second
    clock.now += AFTER_SECONDS
    case.worker.run_once()
    replacement = case.hashes()[behind]
    assert replacement != second
    assert replacement in case.block()
    case.worker.run_once()
    assert {r.status for r in _rows(services)} == {"mined"}
    assert chain.w3.eth.get_transaction_count(chain.relayer.address) == case.relayer_nonce + 2
