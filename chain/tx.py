"""Send transactions signed with local keys: nonces, gas, EIP-1559 fees, receipts, named reverts.

Nonces: one lock and one local counter per sending address, so threads sharing an account
get contiguous nonces without asking the node each time; the counter is resynchronised from
the node's ``pending`` count whenever a send fails. Gas: ``eth_estimateGas`` plus a margin.
Reverts, whether found by the estimate, by ``eth_call`` or after mining, are raised as the
named exception of :mod:`chain.errors` (``DealClosed`` ...).

The steps of a send are also offered one by one, for a caller that must record a transaction
before it exists anywhere else (the relayer's outbox): :meth:`TxSender.sign` (nothing leaves the
process), :meth:`TxSender.broadcast`, :meth:`TxSender.receipt` and :meth:`TxSender.wait`.
Foreign errors (web3, requests, the node's messages) are translated into :mod:`chain.errors`
once, in :func:`translate_errors`: a refused nonce is :class:`NonceRejected` (``NonceTooLow``),
a transaction the pool holds already :class:`AlreadyKnown`.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, TypeVar

from eth_account import Account
from eth_account.signers.local import LocalAccount
from eth_account.typed_transactions import TypedTransaction
from eth_typing import ChecksumAddress
from hexbytes import HexBytes
from web3 import Web3
from web3.contract.contract import ContractFunction
from web3.exceptions import (
    ContractLogicError,
    ProviderConnectionError,
    TransactionNotFound,
    Web3RPCError,
)
from web3.types import TxParams, TxReceipt

from chain.errors import (
    AlreadyKnown,
    ContractRevert,
    ErrorRegistry,
    NodeRejected,
    NodeUnavailable,
    NonceRejected,
    NonceTooLow,
    ReceiptWaitStopped,
    TransactionFailed,
    TransactionTimeout,
    load_default_registry,
)
from chain.rpc_http import JsonRpcHttp
from chain.txsign import sign_dynamic_fee

logger = logging.getLogger(__name__)

T = TypeVar("T")

DEFAULT_GAS_MARGIN_PERCENT = 20
DEFAULT_TIMEOUT = 60.0
# A pool replaces a pending transaction by one of the same sender and nonce only when both its
# fees are raised by this much at least (geth's ``txpool.pricebump`` default; anvil asks less).
REPLACEMENT_BUMP_PERCENT = 10


def revert_data(exc: BaseException) -> bytes | None:
    """The ABI-encoded revert data carried by a web3 exception, if any."""
    data: Any = getattr(exc, "data", None)
    if data is None and isinstance(exc, Web3RPCError) and isinstance(exc.rpc_response, dict):
        error = exc.rpc_response.get("error") or {}
        data = error.get("data") if isinstance(error, dict) else None
    if isinstance(data, dict):
        data = data.get("data")
    if isinstance(data, str | bytes):
        return HexBytes(data) if data not in ("", "0x") else b""
    return None


@contextmanager
def translate_errors(registry: ErrorRegistry) -> Iterator[None]:
    """Turn web3 / transport errors into :mod:`chain.errors` exceptions, once, at the boundary."""
    try:
        yield
    except ContractLogicError as exc:
        raise registry.decode(revert_data(exc)) from exc
    except Web3RPCError as exc:
        data = revert_data(exc)
        if data is not None and "revert" in str(exc).lower():
            raise registry.decode(data) from exc
        raise node_rejected(str(exc)) from exc
    except (ProviderConnectionError, ConnectionError) as exc:
        raise NodeUnavailable(str(exc)) from exc
    except OSError as exc:
        raise NodeUnavailable(str(exc)) from exc
    except Exception as exc:
        # requests' ConnectionError is not an OSError subclass in every version.
        if type(exc).__module__.startswith(("requests", "urllib3")):
            raise NodeUnavailable(str(exc)) from exc
        raise


def node_rejected(message: str) -> NodeRejected:
    """The :class:`NodeRejected` subclass a node's refusal message stands for (geth, anvil and
    reth word these alike)."""
    text = message.lower()
    if "already known" in text or "already imported" in text:
        return AlreadyKnown(message)
    if "nonce too low" in text or "nonce is too low" in text:
        return NonceTooLow(message)
    if "nonce" in text:
        return NonceRejected(message)
    return NodeRejected(message)


@dataclass(frozen=True)
class SignedTx:
    """A signed transaction, not sent yet: what to broadcast and the hash it will have."""

    raw: str  # 0x hex of the raw transaction
    hash: str  # 0x hex
    nonce: int


class _NonceTracker:
    """Local nonce counter of one address, guarded by a lock held from allocation to send."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.next_nonce: int | None = None


class TxSender:
    """Signs with local accounts and sends through one Web3 connection. Thread-safe."""

    def __init__(
        self,
        w3: Web3,
        *,
        registry: ErrorRegistry | None = None,
        gas_margin_percent: int = DEFAULT_GAS_MARGIN_PERCENT,
        timeout: float = DEFAULT_TIMEOUT,
        poll_latency: float = 0.05,
    ) -> None:
        self.w3 = w3
        self.registry = registry if registry is not None else load_default_registry()
        self.gas_margin_percent = gas_margin_percent
        self.timeout = timeout
        self.poll_latency = poll_latency
        self._trackers: dict[str, _NonceTracker] = {}
        self._trackers_lock = threading.Lock()
        self._chain_id: int | None = None
        # The hot reads' transport (rpc, rpc_batch): web3's HTTPProvider cost ~10× the round trip
        # in CPU (chain.rpc_http); None for another provider, which is then used as it is.
        self._http = JsonRpcHttp.for_provider(w3.provider)

    # ------------------------------------------------------------------ helpers

    @property
    def chain_id(self) -> int:
        if self._chain_id is None:
            with translate_errors(self.registry):
                self._chain_id = int(self.w3.eth.chain_id)
        return self._chain_id

    def _tracker(self, address: str) -> _NonceTracker:
        with self._trackers_lock:
            return self._trackers.setdefault(address, _NonceTracker())

    def resync_nonce(self, address: str) -> None:
        """Forget the local counter: the next send asks the node (after a revert to snapshot...)."""
        tracker = self._tracker(address)
        with tracker.lock:
            tracker.next_nonce = None

    def reset_all_nonces(self) -> None:
        """Forget every local counter (e.g. after ``evm_revert``)."""
        with self._trackers_lock:
            trackers = list(self._trackers.values())
        for tracker in trackers:
            with tracker.lock:
                tracker.next_nonce = None

    def fees(self) -> dict[str, int]:
        """EIP-1559 fees: tip from the node, cap = 2 × base fee + tip (survives 6 full blocks)."""
        return self.fees_at_head()[0]

    def fees_at_head(self) -> tuple[dict[str, int], int]:
        """:meth:`fees` and the number of the latest block they were read from (the block a
        transaction signed with them is sent at: :mod:`api.relayer.replace` counts from it)."""
        # One JSON-RPC batch (the relay worker asks once per batch; issue 15).
        block, tip_hex = self.rpc_batch(
            [("eth_getBlockByNumber", ["latest", False]), ("eth_maxPriorityFeePerGas", [])]
        )
        for answer in (block, tip_hex):
            if isinstance(answer, Exception):
                raise answer
        base_fee, tip = int(block["baseFeePerGas"], 16), int(tip_hex, 16)
        fees = {"maxFeePerGas": 2 * base_fee + tip, "maxPriorityFeePerGas": tip}
        return fees, int(block["number"], 16)

    def head(self) -> tuple[int, int]:
        """(number, base fee) of the latest block."""
        block = self.rpc("eth_getBlockByNumber", ["latest", False])
        return int(block["number"], 16), int(block.get("baseFeePerGas") or "0x0", 16)

    def chain_time(self) -> int:
        """The latest block's timestamp: the clock on-chain deadlines are compared with."""
        block = self.rpc("eth_getBlockByNumber", ["latest", False])
        return int(block["timestamp"], 16)

    def pending_nonce(self, address: str) -> int:
        """The node's count of ``address``'s transactions, pending ones included."""
        return int(self.rpc("eth_getTransactionCount", [address, "pending"]), 16)

    def rpc(self, method: str, params: list[Any]) -> Any:
        """One JSON-RPC request straight to the provider, its ``result``; an error answer is
        raised as :mod:`chain.errors` (a revert by its name), like :func:`translate_errors`.

        For the hot reads (calls, nonces, the clock): web3's method machinery (parameter
        formatters, result formatters, middleware) cost several times the round trip itself
        when profiled under the relayer's load (issue 15)."""
        return self._result(self._one(method, params))

    def rpc_batch(self, calls: list[tuple[str, list[Any]]]) -> list[Any]:
        """Several JSON-RPC requests in one HTTP round trip (a JSON-RPC batch): each item is the
        result, or the :mod:`chain.errors` exception it answered (returned, not raised: one
        request's revert is that request's answer). A transport failure raises, as :meth:`rpc`;
        a node that refuses batches is asked one request at a time."""
        if not calls:
            return []
        if self._http is not None:
            responses = self._http.batch(calls)
        else:
            with translate_errors(self.registry):
                responses = self.w3.provider.make_batch_request(calls)  # type: ignore[arg-type]
        if not isinstance(responses, list) or len(responses) != len(calls):
            responses = [self._one(method, params) for method, params in calls]
        out: list[Any] = []
        for response in responses:
            try:
                out.append(self._result(response))
            except (ContractRevert, NodeRejected) as exc:
                out.append(exc)
        return out

    def _one(self, method: str, params: list[Any]) -> Any:
        """One request's response object (not its result)."""
        if self._http is not None:
            return self._http.request(method, params)
        with translate_errors(self.registry):
            return self.w3.provider.make_request(method, params)  # type: ignore[arg-type]

    def _result(self, response: Any) -> Any:
        """The ``result`` of a JSON-RPC response; its error as a :mod:`chain.errors` exception."""
        error = response.get("error")
        if error:
            message = str(error.get("message", error)) if isinstance(error, dict) else str(error)
            data = error.get("data") if isinstance(error, dict) else None
            if isinstance(data, dict):
                data = data.get("data")
            if "revert" in message.lower() or (isinstance(data, str) and len(data) > 2):
                raise self.registry.decode(data if isinstance(data, str) else None)
            raise node_rejected(message)
        return response.get("result")

    def estimate_gas(self, tx: TxParams) -> int:
        """``eth_estimateGas`` plus the margin; a revert is raised as its named exception."""
        with translate_errors(self.registry):
            estimate = int(self.w3.eth.estimate_gas(tx))
        return estimate * (100 + self.gas_margin_percent) // 100

    # ------------------------------------------------------------------ sending

    def send(
        self,
        account: LocalAccount,
        *,
        to: ChecksumAddress | str | None,
        data: bytes | str = b"",
        value: int = 0,
        gas: int | None = None,
        wait: bool = True,
    ) -> TxReceipt | HexBytes:
        """Sign and send a transaction; wait for its receipt unless ``wait=False`` (hash)."""
        tx: dict[str, Any] = {
            "from": account.address,
            "value": value,
            "data": HexBytes(data),
            "chainId": self.chain_id,
        }
        if to is not None:
            tx["to"] = Web3.to_checksum_address(to)
        if gas is None:
            gas = self.estimate_gas(tx)  # type: ignore[arg-type]
        tx["gas"] = gas
        tx.update(self.fees())
        tx.pop("from")
        tracker = self._tracker(account.address)
        with tracker.lock:
            try:
                if tracker.next_nonce is None:
                    tracker.next_nonce = self.pending_nonce(account.address)
                signed = self._sign(account, tx, tracker.next_nonce)
                if not self._handed_over(signed):
                    # Someone else used this key (another process, a restarted service):
                    # resync from the node's pending count and try once more.
                    logger.info("nonce of %s out of sync; resyncing", account.address)
                    tracker.next_nonce = self.pending_nonce(account.address)
                    signed = self._sign(account, tx, tracker.next_nonce)
                    self.broadcast(signed.raw)
            except BaseException:
                tracker.next_nonce = None  # unknown state: ask the node next time
                raise
            tracker.next_nonce += 1
        logger.debug("sent %s nonce %d from %s", signed.hash, signed.nonce, account.address)
        if not wait:
            return HexBytes(signed.hash)
        receipt = self.wait(signed.hash)
        if receipt["status"] != 1:
            raise self._revert_of_mined(account.address, tx, receipt)
        return receipt

    def _handed_over(self, signed: SignedTx) -> bool:
        """Broadcast ``signed``: True once the node has it, False when its nonce went to another
        transaction. The same bytes may reach the node twice (a request resent on a connection
        the node had closed, :mod:`chain.rpc_http`): the second copy is refused as known already,
        or, mined by then, as "nonce too low" — this very transaction, not another one, so it is
        not signed again with the next nonce (which would send it twice)."""
        try:
            self.broadcast(signed.raw)
        except AlreadyKnown:
            return True
        except NonceRejected:
            return self.rpc("eth_getTransactionByHash", [signed.hash]) is not None
        return True

    def sign(
        self,
        account: LocalAccount,
        *,
        to: str,
        data: bytes | str = b"",
        value: int = 0,
        gas: int,
        nonce: int | None = None,
        fees: dict[str, int] | None = None,
    ) -> SignedTx:
        """Sign a transaction without sending it (default nonce: the node's pending count).

        For a caller that stores the transaction before broadcasting it; :meth:`send` keeps its
        own nonce counter instead. ``fees``: :meth:`fees` read once for several signatures."""
        tx: dict[str, Any] = {
            "to": Web3.to_checksum_address(to),
            "data": HexBytes(data),
            "value": value,
            "gas": gas,
            "chainId": self.chain_id,
        }
        if nonce is None:
            nonce = self.pending_nonce(account.address)
        return self._sign(account, {**tx, **(fees or self.fees())}, nonce)

    @staticmethod
    def _sign(account: LocalAccount, tx: dict[str, Any], nonce: int) -> SignedTx:
        full = {**tx, "nonce": nonce}
        # The relayer's shape signed directly (chain.txsign: eth-account's same bytes, a sixth
        # of its CPU for a batch's calldata); anything else by eth-account.
        direct = sign_dynamic_fee(account.key, full)
        if direct is not None:
            raw, tx_hash = direct
            return SignedTx("0x" + raw.hex(), "0x" + tx_hash.hex(), nonce)
        signed = account.sign_transaction(full)
        return SignedTx(signed.raw_transaction.to_0x_hex(), signed.hash.to_0x_hex(), nonce)

    def resign(self, account: LocalAccount, raw_tx: bytes | str, fees: dict[str, int]) -> SignedTx:
        """``raw_tx`` (signed by ``account``) signed again with other ``fees``: the same nonce,
        recipient, calldata, value and gas — a replacement (:func:`replacement_fees`)."""
        old = decode_signed(raw_tx)
        assert old["sender"] == account.address, "a replacement is signed by the same key"
        tx = {k: old[k] for k in ("data", "value", "gas", "chainId")}
        tx["to"] = Web3.to_checksum_address(old["to"])
        return self._sign(account, {**tx, **fees}, old["nonce"])

    def broadcast(self, raw_tx: bytes | str) -> str:
        """Hand a signed transaction to the node; returns its hash.

        Raises :class:`AlreadyKnown` when the pool holds it already and :class:`NonceTooLow` when
        its nonce went to another transaction (see :func:`node_rejected`)."""
        # Straight to the node (rpc): web3's method machinery cost more than the round trip.
        return str(self.rpc("eth_sendRawTransaction", [HexBytes(raw_tx).to_0x_hex()]))

    def transact(
        self,
        account: LocalAccount,
        fn: ContractFunction,
        *,
        value: int = 0,
        gas: int | None = None,
    ) -> TxReceipt:
        """Send a contract function call (``contract.functions.join(1, 2, leader)``)."""
        receipt = self.send(
            account, to=fn.address, data=fn._encode_transaction_data(), value=value, gas=gas
        )
        assert not isinstance(receipt, bytes | HexBytes)
        return receipt

    def call(
        self, fn: ContractFunction, *, sender: str | None = None, block: Any = "latest"
    ) -> Any:
        """``eth_call`` a view (or dry-run a write) with named reverts."""
        params: dict[str, Any] = {"from": sender} if sender else {}
        with translate_errors(self.registry):
            return fn.call(params, block_identifier=block)  # type: ignore[arg-type]

    def dry_run(
        self, *, sender: str, to: str, data: bytes, value: int = 0, block: Any = "latest"
    ) -> bytes:
        """``eth_call`` raw calldata as ``sender`` (on ``block``); returns the output, raises
        named reverts."""
        return bytes(HexBytes(self.rpc(*dry_run_call(sender, to, data, value=value, block=block))))

    def receipt(self, tx_hash: HexBytes | str) -> TxReceipt | None:
        """The transaction's receipt, or None while it is not mined (or unknown to the node)."""
        with translate_errors(self.registry):
            try:
                return self.w3.eth.get_transaction_receipt(HexBytes(tx_hash))
            except TransactionNotFound:  # (a Web3RPCError: caught before the translation)
                return None

    def raw_receipt(self, tx_hash: HexBytes | str) -> dict[str, Any] | None:
        """The receipt as the node's JSON (quantities and hashes as hex text), or None while not
        mined: for a hot poll that reads a few fields (the relayer settling its batches), where
        web3's receipt formatters cost more than the round trip (issue 15)."""
        result = self.rpc("eth_getTransactionReceipt", [HexBytes(tx_hash).to_0x_hex()])
        return result if isinstance(result, dict) else None

    def known(self, tx_hash: HexBytes | str) -> bool:
        """Whether the node knows the transaction (in its pool or mined)."""
        # Raw (rpc): the relay worker asks on every poll of a batch not mined yet (issue 15).
        found = self.rpc("eth_getTransactionByHash", [HexBytes(tx_hash).to_0x_hex()])
        return found is not None

    def wait(self, tx_hash: HexBytes | str, *, stop: threading.Event | None = None) -> TxReceipt:
        """Poll for the receipt: :class:`TransactionTimeout` past ``self.timeout``, and
        :class:`ReceiptWaitStopped` as soon as ``stop`` is set (the transaction may still land)."""
        shown = HexBytes(tx_hash).to_0x_hex()
        deadline = time.monotonic() + self.timeout
        while (receipt := self.receipt(tx_hash)) is None:
            if stop is not None and stop.is_set():
                raise ReceiptWaitStopped(shown)
            if time.monotonic() > deadline:
                raise TransactionTimeout(shown, self.timeout)
            if stop is not None:
                stop.wait(self.poll_latency)
            else:
                time.sleep(self.poll_latency)
        return receipt

    def _revert_of_mined(self, sender: str, tx: dict[str, Any], receipt: TxReceipt) -> Exception:
        """Recover a mined failure's reason by replaying it with ``eth_call`` on the parent block."""
        replay = {k: tx[k] for k in ("to", "data", "value", "gas") if k in tx}
        replay["from"] = sender
        try:
            with translate_errors(self.registry):
                self.w3.eth.call(replay, block_identifier=receipt["blockNumber"] - 1)  # type: ignore[arg-type]
        except ContractRevert as exc:
            return exc
        except Exception:
            logger.debug("replay of %s failed", receipt["transactionHash"].hex(), exc_info=True)
        return TransactionFailed(receipt["transactionHash"].to_0x_hex())


def bumped(fee: int) -> int:
    """``fee`` raised by :data:`REPLACEMENT_BUMP_PERCENT` (rounded up, and by 1 wei at least)."""
    return fee + max(1, -(-fee * REPLACEMENT_BUMP_PERCENT // 100))


def replacement_fees(
    old: dict[str, int], market: dict[str, int], *, ceiling: int
) -> dict[str, int] | None:
    """EIP-1559 fees of a transaction replacing one priced ``old`` (same nonce): each fee raised
    by the pool's bump at least, and to the ``market``'s (:meth:`TxSender.fees`) if higher; the
    cap at most ``ceiling``. None when the bump alone would pass the ceiling."""
    cap = min(max(bumped(old["maxFeePerGas"]), market["maxFeePerGas"]), ceiling)
    tip = min(max(bumped(old["maxPriorityFeePerGas"]), market["maxPriorityFeePerGas"]), cap)
    if cap < bumped(old["maxFeePerGas"]) or tip < bumped(old["maxPriorityFeePerGas"]):
        return None
    return {"maxFeePerGas": cap, "maxPriorityFeePerGas": tip}


def replacement_due(
    *,
    max_fee_per_gas: int,
    base_fee: int,
    sent_block: int | None,
    head: int,
    sent_at: float | None,
    now: float,
    after_blocks: int,
    after_seconds: float,
) -> str | None:
    """Why a transaction still unmined should be replaced (same nonce, raised fees), or None:
    ``"priced_out"`` when the base fee outgrew its cap (no block takes it), ``"outbid"`` when it
    has waited ``after_blocks`` blocks and ``after_seconds`` seconds since it was signed at block
    ``sent_block`` (time ``sent_at``) — its cap reaches the base fee, so blocks went to
    transactions tipping more. Unknown send marks (a row stored before they were) never wait."""
    if max_fee_per_gas < base_fee:
        return "priced_out"
    if sent_block is None or sent_at is None:
        return None
    if head - sent_block >= after_blocks and now - sent_at >= after_seconds:
        return "outbid"
    return None


def at_ceiling(max_fee_per_gas: int, ceiling: int) -> bool:
    """Whether a transaction with this cap can no longer be replaced under ``ceiling``
    (:func:`replacement_fees` is None exactly then: the tip never exceeds the cap)."""
    return bumped(max_fee_per_gas) > ceiling


def decode_signed(raw_tx: bytes | str) -> dict[str, Any]:
    """The fields of a signed EIP-1559 transaction (``nonce``, ``to``, ``data``, ``gas``,
    ``maxFeePerGas`` ...), its ``sender`` (recovered from the signature) and its ``hash``."""
    raw = HexBytes(raw_tx)
    fields = TypedTransaction.from_bytes(raw).as_dict()
    fields["sender"] = Account.recover_transaction(raw)
    fields["hash"] = Web3.keccak(raw).to_0x_hex()
    return fields


def block_tag(block: Any) -> str:
    return hex(block) if isinstance(block, int) else str(block)


def dry_run_call(
    sender: str | None,
    to: str,
    data: bytes,
    *,
    value: int = 0,
    block: Any = "latest",
    gas: int | None = None,
) -> tuple[str, list[Any]]:
    """The ``eth_call`` request (method, params) of raw calldata, for :meth:`TxSender.rpc` and
    :meth:`TxSender.rpc_batch`. ``gas``: the call's gas limit (default: the node's)."""
    call: dict[str, Any] = {"to": to, "data": "0x" + bytes(data).hex()}
    if sender is not None:
        call["from"] = sender
    if value:
        call["value"] = hex(value)
    if gas is not None:
        call["gas"] = hex(gas)
    return "eth_call", [call, block_tag(block)]


def intrinsic_gas(data: bytes) -> int:
    """A transaction's gas before its code runs: the base cost and its calldata's (EIP-2028)."""
    # 16 a byte, 4 a zero byte: counted in C (a Python loop over a join's ~1.5 KB of calldata
    # was ~40 us of every accept's gas-limited simulation, issue 15)
    data = bytes(data)
    return 21_000 + 16 * len(data) - 12 * data.count(0)


def decode_uint(result: Any) -> int:
    """A ``uint`` returned by ``eth_call`` (hex text)."""
    return int(result, 16) if result not in (None, "0x") else 0


def quantity(value: Any) -> int:
    """A JSON-RPC quantity as the node gives it (hex text) or as web3 formats it (an int)."""
    return int(value, 16) if isinstance(value, str) else int(value)


def retry_on_node_unavailable(fn: Callable[[], T], *, attempts: int = 3) -> T:
    """Call ``fn`` again when the node was momentarily unreachable (not on reverts)."""
    for attempt in range(1, attempts + 1):
        try:
            return fn()
        except NodeUnavailable:
            if attempt == attempts:
                raise
            logger.warning("node unavailable, retrying (%d/%d)", attempt, attempts)
            time.sleep(0.5 * attempt)
    raise AssertionError("unreachable")
