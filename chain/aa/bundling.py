"""The chain side of a bundler: simulate user operations, sign and read ``handleOps`` bundles.

:class:`Bundling` is what ``api.bundler`` (the ``/v1/bundler`` JSON-RPC and its outbox worker) uses
for every chain call, so no web3 leaves ``chain/``:

- :meth:`Bundling.simulate_validation` — ``handleOps`` ``eth_call``-ed from the bundler account
  with the operations of one sender in order: the EntryPoint runs the factory, the account's and
  the paymaster's validation exactly as in a bundle, and a refusal comes back as its
  ``FailedOp(opIndex, reason)`` / ``FailedOpWithRevert(opIndex, reason, inner)``
  (:class:`ValidationRejected` carries the reason's ``AAxx`` code and the decoded inner revert).
  EntryPoint v0.8 has no on-chain ``simulateValidation``; the full call is the same check.
- :meth:`Bundling.simulate_execution` — the account's ``execute`` as the EntryPoint will call it
  (``eth_estimateGas`` from the EntryPoint): a call that would revert is refused before it costs the
  paymaster anything, and its gas is the estimate of ``callGasLimit``. An account not deployed yet
  is simulated with its future code (the ERC-1167 clone of the factory's implementation) put there
  by a state override: ``execute`` only checks that the EntryPoint calls it, not the passkeys.
- :meth:`Bundling.sign_bundle` / :meth:`Bundling.outcome` / :meth:`Bundling.find_event` — a signed
  ``handleOps`` transaction (the caller stores it before broadcasting), and what a mined one did
  to an operation.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from eth_account.signers.local import LocalAccount
from hexbytes import HexBytes
from web3.logs import DISCARD

from chain import errors as chain_errors
from chain.aa.clients import PasskeyAccounts, UserOperationEvent
from chain.aa.entrypoint import ENTRYPOINT_V08
from chain.aa.errors import AccountAbstractionError
from chain.aa.userop import UserOperation
from chain.address import checksum_address
from chain.tx import SignedTx, translate_errors

logger = logging.getLogger(__name__)

#: ERC-1167 minimal proxy runtime code around the implementation's address (OZ ``Clones``).
CLONE_PREFIX = bytes.fromhex("363d3d373d3d3d363d73")
CLONE_SUFFIX = bytes.fromhex("5af43d82803e903d91602b57fd5bf3")
NONCE_KEY_SHIFT = 64
_AA_CODE = re.compile(r"^(AA\d\d)\b")


class ValidationRejected(AccountAbstractionError):
    """The EntryPoint refuses an operation in validation (``FailedOp`` / ``FailedOpWithRevert``).

    ``aa_code`` is the reason's ``AAxx`` prefix (``AA24`` signature error, ``AA25`` nonce, ``AA33``
    the paymaster reverted ...), ``op_index`` the operation's index in the simulated bundle and
    ``inner`` the decoded revert of the account / paymaster / factory when there is one.
    """

    def __init__(self, op_index: int, reason: str, inner: chain_errors.ContractRevert | None):
        detail = f" ({inner.name or type(inner).__name__}: {inner})" if inner is not None else ""
        super().__init__(f"{reason}{detail}")
        self.op_index = op_index
        self.reason = reason
        self.inner = inner
        match = _AA_CODE.match(reason)
        self.aa_code = match.group(1) if match else ""


class ExecutionReverted(AccountAbstractionError):
    """The account's calls would revert (the operation would be paid for and do nothing)."""

    def __init__(self, revert: chain_errors.ContractRevert) -> None:
        super().__init__(f"{revert.name or type(revert).__name__}: {revert}")
        self.revert = revert


@dataclass(frozen=True)
class BundleOutcome:
    """What a mined bundle did to one operation (None from :meth:`Bundling.outcome`: not in it)."""

    event: UserOperationEvent
    revert_reason: str  # the decoded revert of a failed execution, else ""
    block_number: int
    block_hash: str
    tx_hash: str


def split_nonce(nonce: int) -> tuple[int, int]:
    """(key, sequence) of an ERC-4337 nonce: 192-bit key, 64-bit sequence."""
    return nonce >> NONCE_KEY_SHIFT, nonce & ((1 << NONCE_KEY_SHIFT) - 1)


def clone_code(implementation: str) -> bytes:
    return CLONE_PREFIX + bytes(HexBytes(implementation)) + CLONE_SUFFIX


class Bundling:
    """Bundler operations on one deployment's passkey stack (any account works the same way)."""

    def __init__(self, accounts: PasskeyAccounts) -> None:
        self.accounts = accounts
        self.w3 = accounts.w3
        self.sender = accounts.sender
        self.entry_point = accounts.entry_point
        self._implementation: str | None = None

    @property
    def registry(self) -> chain_errors.ErrorRegistry:
        return self.sender.registry

    def user_op_hash(self, op: UserOperation) -> bytes:
        return self.accounts.user_op_hash(op)

    def nonce_sequence(self, sender: str, key: int) -> int:
        """The sequence the EntryPoint expects next for ``sender`` under nonce ``key``."""
        return split_nonce(self.accounts.nonce(sender, key))[1]

    def base_fee(self) -> int:
        with translate_errors(self.registry):
            return int(self.w3.eth.get_block("latest")["baseFeePerGas"])

    # ------------------------------------------------------------------ simulation

    def simulate_validation(self, ops: Sequence[UserOperation], *, bundler: str) -> None:
        """``handleOps(ops)`` ``eth_call``-ed from ``bundler``; :class:`ValidationRejected`."""
        fn = self.entry_point.functions.handleOps([op.packed() for op in ops], bundler)
        try:
            self.sender.call(fn, sender=bundler)
        except chain_errors.ContractRevert as exc:
            raise self._rejected(exc) from exc

    def _rejected(self, exc: chain_errors.ContractRevert) -> Exception:
        if exc.name not in ("FailedOp", "FailedOpWithRevert"):
            return exc  # not a validation refusal (a bug, or the EntryPoint's own revert)
        inner = None
        if exc.name == "FailedOpWithRevert":
            inner = self.registry.decode(bytes(exc.args.get("inner", b"")))
        return ValidationRejected(int(exc.args.get("opIndex", 0)), str(exc.args["reason"]), inner)

    def simulate_execution(self, op: UserOperation) -> int:
        """Gas of the account's execution of ``op.call_data``; :class:`ExecutionReverted`."""
        tx: dict[str, Any] = {
            "from": ENTRYPOINT_V08,
            "to": op.sender,
            "data": HexBytes(op.call_data),
        }
        override = None
        if op.factory is not None and not self.accounts.is_deployed(op.sender):
            override = {op.sender: {"code": HexBytes(clone_code(self.implementation))}}
        try:
            with translate_errors(self.registry):
                return int(self.w3.eth.estimate_gas(tx, None, override))  # type: ignore[arg-type]
        except chain_errors.ContractRevert as exc:
            raise ExecutionReverted(exc) from exc

    @property
    def implementation(self) -> str:
        if self._implementation is None:
            self._implementation = self.accounts.factory.account_implementation()
        return self._implementation

    # ------------------------------------------------------------------ bundles

    def sign_bundle(
        self,
        ops: Sequence[UserOperation],
        *,
        bundler: LocalAccount,
        market: dict[str, int] | None = None,
    ) -> SignedTx:
        """``handleOps(ops, beneficiary=bundler)`` signed by ``bundler`` (node's pending nonce),
        its gas estimated (a refusal raises :class:`ValidationRejected`).

        Its fees are the operations' lowest (cap and tip): the EntryPoint repays each operation's
        gas at ``min(maxFeePerGas, basefee + maxPriorityFeePerGas)``, so a bundle paying more a
        gas — the node's suggested tip for an operation that offers none — loses the difference
        on every gas of it. ``market``: the node's fees (:meth:`chain.tx.TxSender.fees`), each
        fee at most these, leaving the operations' offer above them for a replacement should the
        bundle wait unmined (:mod:`api.bundler.worker`)."""
        fn = self.entry_point.functions.handleOps([op.packed() for op in ops], bundler.address)
        data = fn._encode_transaction_data()
        try:
            gas = self.sender.estimate_gas(
                {"from": bundler.address, "to": ENTRYPOINT_V08, "data": HexBytes(data)}
            )
        except chain_errors.ContractRevert as exc:
            raise self._rejected(exc) from exc
        fees = {
            "maxFeePerGas": min(op.max_fee_per_gas for op in ops),
            "maxPriorityFeePerGas": min(op.max_priority_fee_per_gas for op in ops),
        }
        if market is not None:
            fees = {name: min(fee, market[name]) for name, fee in fees.items()}
        return self.sender.sign(bundler, to=ENTRYPOINT_V08, data=data, gas=gas, fees=fees)

    def outcome(self, tx_hash: str, user_op_hash: bytes) -> BundleOutcome | None:
        """The operation's event in the mined bundle ``tx_hash``; None if the transaction is not
        mined yet (or unknown to the node) — and also None if mined without the operation."""
        receipt = self.sender.receipt(tx_hash)
        if receipt is None:
            return None
        for event in self.accounts.user_operation_events(receipt):
            if event.user_op_hash == user_op_hash:
                return BundleOutcome(
                    event=event,
                    revert_reason=self._revert_reason(receipt, user_op_hash),
                    block_number=int(receipt["blockNumber"]),
                    block_hash=HexBytes(receipt["blockHash"]).to_0x_hex(),
                    tx_hash=HexBytes(receipt["transactionHash"]).to_0x_hex(),
                )
        return None

    def is_mined(self, tx_hash: str) -> bool:
        return self.sender.receipt(tx_hash) is not None

    def reverted(self, tx_hash: str) -> bool:
        """Whether ``tx_hash`` is mined and reverted (a bundle the EntryPoint refused on chain)."""
        receipt = self.sender.receipt(tx_hash)
        return receipt is not None and receipt["status"] == 0

    def _revert_reason(self, receipt: Any, user_op_hash: bytes) -> str:
        for e in self.entry_point.events.UserOperationRevertReason().process_receipt(
            receipt, errors=DISCARD
        ):
            if bytes(e["args"]["userOpHash"]) == user_op_hash:
                revert = self.accounts.explain(bytes(e["args"]["revertReason"]))
                return f"{revert.name or type(revert).__name__}: {revert}"
        return ""

    def find_event(self, user_op_hash: bytes, *, from_block: int) -> BundleOutcome | None:
        """The operation's ``UserOperationEvent`` anywhere since ``from_block`` (it was bundled by
        someone else, or by us before a crash lost the hash)."""
        topic = HexBytes(self.entry_point.events.UserOperationEvent.topic)
        with translate_errors(self.registry):
            logs = self.w3.eth.get_logs(
                {
                    "address": ENTRYPOINT_V08,
                    "fromBlock": from_block,
                    "toBlock": "latest",
                    "topics": [topic.to_0x_hex(), HexBytes(user_op_hash).to_0x_hex()],
                }
            )
        for log in logs:
            found = self.outcome(HexBytes(log["transactionHash"]).to_0x_hex(), user_op_hash)
            if found is not None:
                return found
        return None

    def receipt_json(self, tx_hash: str) -> dict[str, Any] | None:
        """The transaction receipt as JSON-RPC returns it (hex quantities), for
        ``eth_getUserOperationReceipt``."""
        with translate_errors(self.registry):
            raw = self.w3.provider.make_request(  # type: ignore[arg-type]
                "eth_getTransactionReceipt", [tx_hash]
            )
        result = raw.get("result")
        return dict(result) if isinstance(result, dict) else None

    def block_number(self) -> int:
        with translate_errors(self.registry):
            return int(self.w3.eth.block_number)


def checksum(address: str) -> str:
    return checksum_address(address)


__all__ = [
    "BundleOutcome",
    "Bundling",
    "ExecutionReverted",
    "ValidationRejected",
    "checksum",
    "clone_code",
    "split_nonce",
]
