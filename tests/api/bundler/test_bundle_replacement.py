"""A bundle outbid block after block is replaced within what its operation offers, else its
nonce is freed by a cancellation; either way one transaction of that nonce is mined, once.

Its own anvil, mining only when told, its block gas limit the bundle's gas: one transaction a
block, and before each block a competitor reserving the whole block at 5 % more than the bundle
(cap and tip) — anvil's pool orders by fees, so the bundle waits, as an under-tipped one does on
a busy chain. After ``relayer_replace_after_blocks`` blocks and ``..._seconds`` seconds:

- an operation offering more than the node's fees (the bundle is signed at the node's, capped by
  the operation's): the bundle is signed again, same nonce, both fees raised >= 10 % and at most
  the operation's — mined, the operation executed once;
- an operation offering only the node's fees: no raise is repaid, so a 21,000-gas cancellation
  takes the nonce (the relayer's batches wait behind it) and the operation fails ``underpriced``,
  its own nonce unused.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from hexbytes import HexBytes

from api.app import create_app
from api.bundler.models import UserOperationRow
from api.bundler.worker import BundlerWorker
from api.db import session_factory
from api.queries.stuck import stuck_transactions
from api.services import Services
from chain.aa.entrypoint import ENTRYPOINT_V08
from chain.anvil import Anvil
from chain.tx import REPLACEMENT_BUMP_PERCENT, decode_signed

from ...clock import SetClock
from ..relay.conftest import TOP_PRICE, Competitor, make_deal, own_chain_services
from .userops import funded_account, new_passkey, result

AFTER_BLOCKS = 3
AFTER_SECONDS = 30.0
EARLIER_GAS = 10_000_000


@pytest.fixture
def node() -> Iterator[Anvil]:
    with Anvil() as anvil:
        yield anvil


def _row(services: Services) -> UserOperationRow:
    with session_factory(services.engine)() as session:
        (row,) = session.query(UserOperationRow).all()
        return row


class Outbid:
    """An operation accepted and bundled on a node where a competitor takes every block."""

    def __init__(
        self, node: Anvil, tmp_path: Path, *, offer_percent: int, behind: bool = False
    ) -> None:
        services = own_chain_services(node, tmp_path, tmp_path / "outbox.db")
        services.settings = services.settings.model_copy(
            update={
                "relayer_replace_after_blocks": AFTER_BLOCKS,
                "relayer_replace_after_seconds": AFTER_SECONDS,
            }
        )
        self.services, self.clock = services, SetClock()
        self.chain = chain = services.chain
        client = TestClient(create_app(services))
        deal = make_deal(chain)
        accounts = chain.passkeys
        key = new_passkey()
        self.account = funded_account(chain, key, TOP_PRICE)
        op = accounts.user_operation(
            account=self.account,
            calls=accounts.approve_and_join(deal.deal_id, 1, deal.leader.address, TOP_PRICE),
            create_with=key,
        )
        market = chain.sender.fees()  # what the node asks; the operation offers offer_percent
        op = op.replace(
            max_fee_per_gas=market["maxFeePerGas"] * offer_percent // 100,
            max_priority_fee_per_gas=market["maxPriorityFeePerGas"] * offer_percent // 100,
        )
        self.op = op
        self.op_hash = result(
            client, "eth_sendUserOperation", accounts.sign(op, key).to_rpc(), ENTRYPOINT_V08
        )
        self.relayer_nonce = chain.w3.eth.get_transaction_count(chain.relayer.address)
        self.rpc("evm_setAutomine", False)
        self.earlier: str | None = None
        if behind:  # the shared key's next nonce is taken by a transaction left unmined: more
            # gas than the blocks the competitor leaves (a block's limit is set to the bundle's)
            earlier = chain.sender.sign(chain.relayer, to=chain.relayer.address, gas=EARLIER_GAS)
            chain.sender.broadcast(earlier.raw)
            self.earlier = earlier.hash
        self.worker = BundlerWorker(services, clock=self.clock, wait_receipts=False)
        self.worker.run_once()
        row = _row(services)
        assert row.status == "sent" and row.raw_tx and row.tx_hash
        self.first = row.tx_hash
        self.first_tx = decode_signed(row.raw_tx)
        self.competitor = Competitor(self.chain, self.first_tx)

    def rpc(self, method: str, *params: Any) -> Any:
        return self.chain.sender.rpc(method, list(params))

    def block(self) -> list[str]:
        """A competitor outbidding the first bundle by 5 %, then a block; its transactions."""
        return self.competitor.block()

    def wait_outbid(self) -> None:
        for _ in range(AFTER_BLOCKS):
            assert self.first not in self.block()
            self.worker.run_once()
            assert _row(self.services).tx_hash == self.first  # not replaced before its time
        assert stuck_transactions(self.services, now=self.clock()) == []
        self.clock.now += AFTER_SECONDS
        (stuck,) = stuck_transactions(self.services, now=self.clock())
        assert (stuck["kind"], stuck["tx_hash"]) == ("bundle", self.first)

    def account_nonce(self) -> int:
        return self.chain.bundling.nonce_sequence(self.account, 0)

    def crash_replacing(self) -> UserOperationRow:
        """A pass that dies after storing the replacement, before broadcasting it; the row."""
        crashing = CrashBeforeBroadcastingAReplacement(
            self.services, clock=self.clock, wait_receipts=False
        )
        with pytest.raises(Crash):
            crashing.run_once()
        return _row(self.services)

    def assert_failed_underpriced(self, mined: str | None) -> None:
        """Failed ``underpriced`` by the cancellation ``mined``; the relayer's nonce used once."""
        row = _row(self.services)
        assert (row.status, row.error_code) == ("failed", "underpriced"), row.last_attempt_error
        assert row.error_args and row.error_args["transactionHash"] == mined
        assert self.account_nonce() == 0  # the operation never ran: signed again, it can
        relayer = self.chain.relayer.address
        assert self.chain.w3.eth.get_transaction_count(relayer) == self.relayer_nonce + 1
        assert stuck_transactions(self.services, now=self.clock()) == []


def test_an_outbid_bundle_is_replaced_within_its_operations_offer_and_mined_once(
    node: Anvil, tmp_path: Path
) -> None:
    case = Outbid(node, tmp_path, offer_percent=300)
    # Signed at the node's fees, below the operation's offer.
    assert case.first_tx["maxPriorityFeePerGas"] < case.op.max_priority_fee_per_gas
    case.wait_outbid()
    case.worker.run_once()
    row = _row(case.services)
    assert row.tx_hash != case.first and row.earlier_tx_hashes == [case.first]
    new_tx = decode_signed(row.raw_tx or "")
    assert (new_tx["nonce"], new_tx["data"]) == (case.first_tx["nonce"], case.first_tx["data"])
    for fee, offered in (
        ("maxFeePerGas", case.op.max_fee_per_gas),
        ("maxPriorityFeePerGas", case.op.max_priority_fee_per_gas),
    ):
        assert new_tx[fee] * 100 >= case.first_tx[fee] * (100 + REPLACEMENT_BUMP_PERCENT)
        assert new_tx[fee] <= offered  # never more than the bundler is repaid
    assert row.tx_hash in case.block()
    case.worker.run_once()
    row = _row(case.services)
    assert (row.status, row.success, row.tx_hash) == ("mined", True, new_tx["hash"])
    assert case.account_nonce() == 1
    chain = case.chain
    assert chain.w3.eth.get_transaction_count(chain.relayer.address) == case.relayer_nonce + 1
    case.worker.run_once()  # nothing more to do
    assert _row(case.services).status == "mined"


def test_an_outbid_bundle_whose_operation_offers_no_more_is_cancelled_and_fails_underpriced(
    node: Anvil, tmp_path: Path
) -> None:
    case = Outbid(node, tmp_path, offer_percent=100)
    case.wait_outbid()
    case.worker.run_once()
    row = _row(case.services)
    relayer = case.chain.relayer.address
    cancel = decode_signed(row.raw_tx or "")
    assert row.earlier_tx_hashes == [case.first]
    to = HexBytes(cancel["to"]).to_0x_hex()
    assert (to, cancel["gas"], cancel["data"]) == (relayer.lower(), 21_000, b"")
    assert cancel["nonce"] == case.first_tx["nonce"]
    assert row.tx_hash in case.block()  # its raised fees outbid the competitor
    case.worker.run_once()
    row = _row(case.services)
    assert (row.status, row.error_code) == ("failed", "underpriced"), row.last_attempt_error
    assert row.error_args and row.error_args["maxFeePerGas"] == case.op.max_fee_per_gas
    assert case.account_nonce() == 0  # the operation never ran: signed again, it can
    chain = case.chain
    assert chain.w3.eth.get_transaction_count(relayer) == case.relayer_nonce + 1
    assert stuck_transactions(case.services, now=case.clock()) == []


class Crash(BaseException):
    """Stands for the process dying (nothing after it runs)."""


class CrashBeforeBroadcastingAReplacement(BundlerWorker):
    def _broadcast(self, session: Any, chain: Any, row: UserOperationRow) -> bool:
        if row.earlier_tx_hashes:
            raise Crash(row.tx_hash)
        return super()._broadcast(session, chain, row)


@pytest.mark.parametrize("mined", ["replacement", "first"])
def test_a_bundles_replacement_survives_a_crash_and_only_one_fee_is_mined(
    node: Anvil, tmp_path: Path, mined: str
) -> None:
    case = Outbid(node, tmp_path, offer_percent=300)
    case.wait_outbid()
    row = case.crash_replacing()
    replacement = row.tx_hash
    assert row.status == "sending" and row.earlier_tx_hashes == [case.first]
    if mined == "first":
        # The competition stops before the restart: the first bundle, still pending, is mined.
        case.rpc("evm_mine")
        assert case.chain.sender.raw_receipt(case.first) is not None
    case.worker.run_once()  # the restart: the replacement broadcast, or the first found mined
    if mined == "replacement":
        assert replacement in case.block()
        case.worker.run_once()
    row = _row(case.services)
    settled = case.first if mined == "first" else replacement
    assert (row.status, row.success, row.tx_hash) == ("mined", True, settled)
    assert case.account_nonce() == 1
    chain = case.chain
    assert chain.w3.eth.get_transaction_count(chain.relayer.address) == case.relayer_nonce + 1


def test_a_bundle_behind_an_earlier_unmined_nonce_is_not_replaced_but_waits_again(
    node: Anvil, tmp_path: Path
) -> None:
    """The relayer's key is shared with the relay worker: a bundle whose nonce comes after an
    unmined transaction cannot be mined whatever its fees. Due for a replacement, it is left as
    it is and its wait counted from now; once the earlier nonce is mined, so is the bundle."""
    case = Outbid(node, tmp_path, offer_percent=300, behind=True)
    assert case.earlier is not None
    assert case.first_tx["nonce"] == case.relayer_nonce + 1  # behind the earlier transaction
    case.wait_outbid()
    for _ in range(2):  # due again and again while the earlier nonce waits: never replaced
        case.worker.run_once()
        row = _row(case.services)
        assert (row.tx_hash, row.earlier_tx_hashes, row.status) == (case.first, None, "sent")
        head = case.chain.w3.eth.block_number
        assert (row.sent_block, row.sent_at) == (head, case.clock())
        assert stuck_transactions(case.services, now=case.clock()) == []
        for _ in range(AFTER_BLOCKS):
            assert case.first not in case.block()
        assert case.chain.sender.raw_receipt(case.earlier) is None
        case.clock.now += AFTER_SECONDS
    # The competition stops, blocks are large again: the earlier transaction and the bundle.
    case.rpc("anvil_setBlockGasLimit", hex(3 * EARLIER_GAS))
    assert {case.earlier, case.first} <= set(case.block())
    case.worker.run_once()
    row = _row(case.services)
    assert (row.status, row.success, row.tx_hash) == ("mined", True, case.first)
    assert case.account_nonce() == 1
    chain = case.chain
    assert chain.w3.eth.get_transaction_count(chain.relayer.address) == case.relayer_nonce + 2


def test_an_outbid_cancellation_replaced_then_mined_itself_fails_the_operation(
    node: Anvil, tmp_path: Path
) -> None:
    """A cancellation outbid in its turn is replaced (fees raised again); the process dies
    before the new one leaves, and the earlier cancellation is mined. The restarted worker finds
    it among the earlier hashes of the nonce: the operation failed ``underpriced``, named by the
    cancellation that was mined, the relayer's nonce used once."""
    case = Outbid(node, tmp_path, offer_percent=100)
    case.wait_outbid()
    case.worker.run_once()
    row = _row(case.services)
    cancel, cancel_tx = row.tx_hash, decode_signed(row.raw_tx or "")
    assert (cancel_tx["gas"], row.earlier_tx_hashes) == (21_000, [case.first])
    # Now the cancellation is outbid: blocks filled whole at 5 % more than it offers.
    competitor = Competitor(case.chain, case.first_tx, fill=True)
    competitor.outbid = cancel_tx
    for _ in range(AFTER_BLOCKS):
        assert cancel not in competitor.block()
        case.worker.run_once()
        assert _row(case.services).tx_hash == cancel
    case.clock.now += AFTER_SECONDS
    row = case.crash_replacing()
    second = decode_signed(row.raw_tx or "")
    assert row.earlier_tx_hashes == [case.first, cancel] and row.status == "sending"
    assert (second["nonce"], second["gas"]) == (cancel_tx["nonce"], 21_000)
    case.rpc("evm_mine")  # the competition stops: the first cancellation, still pending, mined
    assert case.chain.sender.raw_receipt(cancel) is not None
    case.worker.run_once()  # the restart
    case.assert_failed_underpriced(cancel)


class MinedMeanwhile(BundlerWorker):
    """A block is mined after the pass looked for the row's receipts, before it broadcasts."""

    def _replace_if_due(self, session: Any, chain: Any, row: UserOperationRow) -> bool:
        chain.sender.rpc("evm_mine", [])
        return super()._replace_if_due(session, chain, row)


def test_a_cancellation_mined_while_it_is_broadcast_again_fails_the_operation(
    node: Anvil, tmp_path: Path
) -> None:
    """The process died after broadcasting a cancellation, before marking it sent; on restart
    it is mined between the look for receipts and the broadcast again, which the node refuses
    (nonce too low). The mined cancellation is the row's own latest hash: the operation fails
    ``underpriced``; it is not queued to be bundled again as if its nonce were reused."""
    case = Outbid(node, tmp_path, offer_percent=100)
    case.wait_outbid()
    row = case.crash_replacing()
    cancel = row.tx_hash
    case.chain.sender.broadcast(row.raw_tx or "")  # it left just before the process died
    MinedMeanwhile(case.services, clock=case.clock, wait_receipts=False).run_once()
    assert case.chain.sender.raw_receipt(cancel or "") is not None
    case.worker.run_once()
    case.assert_failed_underpriced(cancel)
