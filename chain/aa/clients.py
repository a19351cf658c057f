"""Typed access to the passkey-account stack: EntryPoint v0.8, account factory, paymaster.

:class:`PasskeyAccounts` builds sponsored user operations for a consumer's passkey account
(counterfactual address, ERC-7821 batch, paymaster fields, gas), signs them with a passkey
(challenge = the local EIP-712 userOpHash) and, acting as a bundler, submits them with
``handleOps``. EntryPoint errors decode to :mod:`chain.errors` classes (``errors.FailedOp``,
``errors.FailedOpWithRevert`` whose ``inner`` is the account's or paymaster's revert data,
itself decodable with :meth:`PasskeyAccounts.explain`).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Self

from eth_abi import decode as abi_decode
from eth_abi import encode as abi_encode
from eth_abi.exceptions import DecodingError
from eth_account.signers.local import LocalAccount
from eth_typing import ChecksumAddress
from eth_utils import function_signature_to_4byte_selector
from hexbytes import HexBytes
from web3 import Web3
from web3.contract import Contract
from web3.logs import DISCARD
from web3.types import TxReceipt

from chain.aa.deploy import FACTORY_NAME, PAYMASTER_NAME, SponsorshipLimits
from chain.aa.entrypoint import ENTRYPOINT_V08, load_entrypoint_artifact
from chain.aa.errors import UserOperationFailed
from chain.aa.userop import Call, UserOperation, encode_execute, pre_verification_gas, user_op_hash
from chain.aa.webauthn import SoftwarePasskey, WebAuthnAssertion, account_signature
from chain.clients import ContractClient
from chain.errors import ContractRevert
from chain.manifest import Deployment
from chain.tx import TxSender, translate_errors

logger = logging.getLogger(__name__)

ZERO_SALT = bytes(32)
#: ``isValidSignature(bytes32,bytes)``, also its magic return value (ERC-1271).
ERC1271_SELECTOR = function_signature_to_4byte_selector("isValidSignature(bytes32,bytes)")


@dataclass(frozen=True)
class UserOpGas:
    """Gas limits of a sponsored operation. The defaults cover approve + join, including the
    account's creation on its first operation; a bundler tightens them by estimation."""

    call_gas_limit: int = 300_000
    verification_gas_limit: int = 150_000
    verification_gas_limit_with_creation: int = 450_000
    paymaster_verification_gas_limit: int = 100_000
    paymaster_post_op_gas_limit: int = 40_000  # ≥ ConsumerPaymaster.MIN_POST_OP_GAS (30,000)


@dataclass(frozen=True)
class UserOperationEvent:
    """EntryPoint's ``UserOperationEvent``: the outcome and cost of one included operation."""

    user_op_hash: bytes
    sender: str
    paymaster: str
    nonce: int
    success: bool
    actual_gas_cost: int
    actual_gas_used: int


@dataclass(frozen=True)
class HandleOpsResult:
    """A mined ``handleOps`` and the events of its operations (in bundle order)."""

    receipt: TxReceipt
    events: list[UserOperationEvent]
    revert_reasons: dict[bytes, bytes]  # userOpHash → revert data of a failed execution

    @property
    def gas_used(self) -> int:
        return int(self.receipt["gasUsed"])


class PasskeyAccountFactoryClient(ContractClient):
    artifact_name = FACTORY_NAME

    def get_address(self, qx: bytes, qy: bytes, salt: bytes = ZERO_SALT) -> ChecksumAddress:
        return Web3.to_checksum_address(self._call("getAddress", qx, qy, salt))

    def create_account(
        self, qx: bytes, qy: bytes, salt: bytes = ZERO_SALT, *, signer: LocalAccount
    ) -> TxReceipt:
        return self._send(signer, "createAccount", qx, qy, salt)

    def create_account_calldata(self, qx: bytes, qy: bytes, salt: bytes = ZERO_SALT) -> bytes:
        """``factoryData`` of an operation that creates the account."""
        return self.calldata("createAccount", qx, qy, salt)

    def webauthn_verifier(self) -> ChecksumAddress:
        return Web3.to_checksum_address(self._call("webAuthnVerifier"))

    def account_implementation(self) -> ChecksumAddress:
        return Web3.to_checksum_address(self._call("accountImplementation"))


class ConsumerPaymasterClient(ContractClient):
    artifact_name = PAYMASTER_NAME

    def limits(self) -> SponsorshipLimits:
        window, max_ops, max_cost = self._call("limits")
        return SponsorshipLimits(int(window), int(max_ops), int(max_cost))

    def usage(self, account: str) -> dict[str, int]:
        window_start, ops, pending_ops, cost, pending_cost = self._call("usage", account)
        return {
            "windowStart": int(window_start),
            "ops": int(ops),
            "pendingOps": int(pending_ops),
            "cost": int(cost),
            "pendingCost": int(pending_cost),
        }

    def is_sponsored_call(self, account: str, call: Call) -> bool:
        return bool(self._call("isSponsoredCall", account, call.target, call.value, call.data))

    def get_deposit(self) -> int:
        return int(self._call("getDeposit"))

    def set_limits(self, limits: SponsorshipLimits, *, signer: LocalAccount) -> TxReceipt:
        return self._send(signer, "setLimits", limits.as_tuple())

    def set_blocked(self, account: str, blocked: bool, *, signer: LocalAccount) -> TxReceipt:
        return self._send(signer, "setBlocked", account, blocked)


class PasskeyAccounts:
    """The stack of one deployment, and the operations a consumer's passkey account sends."""

    def __init__(
        self,
        w3: Web3,
        sender: TxSender,
        *,
        factory: PasskeyAccountFactoryClient,
        paymaster: ConsumerPaymasterClient,
        escrow: str,
        token: str,
        gas: UserOpGas | None = None,
    ) -> None:
        self.w3 = w3
        self.sender = sender
        self.factory = factory
        self.paymaster = paymaster
        self.escrow = Web3.to_checksum_address(escrow)
        self.token = Web3.to_checksum_address(token)
        self.gas = gas or UserOpGas()
        artifact = load_entrypoint_artifact()
        # FailedOp / FailedOpWithRevert and the other EntryPoint errors decode by name.
        sender.registry.register_abi(artifact.abi)
        self.entry_point: Contract = w3.eth.contract(address=ENTRYPOINT_V08, abi=artifact.abi)
        self._verifier: ChecksumAddress | None = None

    @classmethod
    def connect(cls, w3: Web3, deployment: Deployment, sender: TxSender, **kwargs: Any) -> Self:
        return cls(
            w3,
            sender,
            factory=PasskeyAccountFactoryClient.from_deployment(w3, deployment, sender),
            paymaster=ConsumerPaymasterClient.from_deployment(w3, deployment, sender),
            escrow=deployment.address("GroupBuyEscrow"),
            token=deployment.address("TestStablecoin"),
            **kwargs,
        )

    @property
    def chain_id(self) -> int:
        return self.sender.chain_id

    @property
    def verifier(self) -> ChecksumAddress:
        if self._verifier is None:
            self._verifier = self.factory.webauthn_verifier()
        return self._verifier

    # ------------------------------------------------------------------ accounts

    def account_address(self, passkey: SoftwarePasskey, salt: bytes = ZERO_SALT) -> ChecksumAddress:
        """The account of ``passkey`` (its first passkey), deployed or not."""
        return self.factory.get_address(passkey.qx, passkey.qy, salt)

    def is_deployed(self, account: str) -> bool:
        return bool(self.w3.eth.get_code(Web3.to_checksum_address(account)))

    def nonce(self, account: str, key: int = 0) -> int:
        return int(self.sender.call(self.entry_point.functions.getNonce(account, key)))

    # ------------------------------------------------------------------ calls

    def approve_and_join(self, deal_id: int, quantity: int, leader: str, amount: int) -> list[Call]:
        """The batch of a join from an account: approve the escrow for ``amount``, then join."""
        return [
            Call(self.token, _calldata("approve(address,uint256)", self.escrow, amount)),
            Call(
                self.escrow,
                _calldata("join(uint256,uint256,address)", deal_id, quantity, leader),
            ),
        ]

    # ------------------------------------------------------------------ operations

    def user_operation(
        self,
        *,
        account: str,
        calls: Sequence[Call],
        create_with: SoftwarePasskey | tuple[bytes, bytes] | None = None,
        salt: bytes = ZERO_SALT,
        nonce: int | None = None,
        call_gas_limit: int | None = None,
        fees: dict[str, int] | None = None,
    ) -> UserOperation:
        """An unsigned operation sponsored by the consumer paymaster.

        ``create_with`` (the first passkey, or its (qx, qy)) adds the ``factory``/``factoryData``
        that deploys the account; ``fees`` defaults to :meth:`TxSender.fees` (EIP-1559 cap and tip).
        """
        fees = fees or self.sender.fees()
        factory, factory_data = None, b""
        if create_with is not None:
            qx, qy = (
                create_with.public_key if isinstance(create_with, SoftwarePasskey) else create_with
            )
            factory = self.factory.address
            factory_data = self.factory.create_account_calldata(qx, qy, salt)
        op = UserOperation(
            sender=account,
            nonce=self.nonce(account) if nonce is None else nonce,
            call_data=encode_execute(calls),
            call_gas_limit=call_gas_limit or self.gas.call_gas_limit,
            verification_gas_limit=(
                self.gas.verification_gas_limit_with_creation
                if factory
                else self.gas.verification_gas_limit
            ),
            pre_verification_gas=0,
            max_fee_per_gas=fees["maxFeePerGas"],
            max_priority_fee_per_gas=fees["maxPriorityFeePerGas"],
            factory=factory,
            factory_data=factory_data,
            paymaster=self.paymaster.address,
            paymaster_verification_gas_limit=self.gas.paymaster_verification_gas_limit,
            paymaster_post_op_gas_limit=self.gas.paymaster_post_op_gas_limit,
        )
        return op.replace(pre_verification_gas=pre_verification_gas(op))

    def estimate_call_gas(self, account: str, call_data: bytes) -> int:
        """Gas of the account's execution (``eth_estimateGas`` as the EntryPoint); deployed accounts."""
        with translate_errors(self.sender.registry):
            return int(
                self.w3.eth.estimate_gas(
                    {
                        "from": ENTRYPOINT_V08,
                        "to": Web3.to_checksum_address(account),
                        "data": call_data,
                    }
                )
            )

    def user_op_hash(self, op: UserOperation) -> bytes:
        return user_op_hash(op, entry_point=ENTRYPOINT_V08, chain_id=self.chain_id)

    def sign(
        self, op: UserOperation, passkey: SoftwarePasskey, *, normalise: bool = True
    ) -> UserOperation:
        """``op`` signed by ``passkey``: a WebAuthn assertion whose challenge is the userOpHash."""
        return self.with_assertion(
            op, passkey, passkey.assertion(self.user_op_hash(op), normalise=normalise)
        )

    def with_assertion(
        self,
        op: UserOperation,
        passkey: SoftwarePasskey | tuple[bytes, bytes],
        assertion: WebAuthnAssertion,
    ) -> UserOperation:
        """``op`` carrying an assertion made elsewhere (a browser) by ``passkey`` (or its (qx, qy))."""
        qx, qy = passkey.public_key if isinstance(passkey, SoftwarePasskey) else passkey
        signer = bytes(HexBytes(self.verifier)) + qx + qy
        return op.replace(signature=account_signature([(signer, assertion)]))

    def handle_ops(
        self, ops: Sequence[UserOperation], *, bundler: LocalAccount, beneficiary: str | None = None
    ) -> HandleOpsResult:
        """Submit ``ops`` in one ``handleOps`` from ``bundler`` (who is repaid by the EntryPoint).

        A refused operation raises the EntryPoint's error before anything is sent (the gas
        estimate simulates it): ``errors.FailedOp`` / ``errors.FailedOpWithRevert``.
        """
        fn = self.entry_point.functions.handleOps(
            [op.packed() for op in ops], beneficiary or bundler.address
        )
        receipt = self.sender.transact(bundler, fn)
        return HandleOpsResult(
            receipt=receipt,
            events=self.user_operation_events(receipt),
            revert_reasons={
                bytes(e["args"]["userOpHash"]): bytes(e["args"]["revertReason"])
                for e in self.entry_point.events.UserOperationRevertReason().process_receipt(
                    receipt, errors=DISCARD
                )
            },
        )

    def submit(self, op: UserOperation, *, bundler: LocalAccount) -> UserOperationEvent:
        """:meth:`handle_ops` of one operation; :class:`UserOperationFailed` if its calls reverted."""
        result = self.handle_ops([op], bundler=bundler)
        (event,) = result.events
        if not event.success:
            data = result.revert_reasons.get(event.user_op_hash, b"")
            raise UserOperationFailed(
                HexBytes(event.user_op_hash).to_0x_hex(), str(self.explain(data))
            )
        return event

    def user_operation_events(self, receipt: TxReceipt) -> list[UserOperationEvent]:
        return [
            UserOperationEvent(
                user_op_hash=bytes(e["args"]["userOpHash"]),
                sender=e["args"]["sender"],
                paymaster=e["args"]["paymaster"],
                nonce=int(e["args"]["nonce"]),
                success=bool(e["args"]["success"]),
                actual_gas_cost=int(e["args"]["actualGasCost"]),
                actual_gas_used=int(e["args"]["actualGasUsed"]),
            )
            for e in self.entry_point.events.UserOperationEvent().process_receipt(
                receipt, errors=DISCARD
            )
        ]

    def is_passkey(self, account: str, qx: bytes, qy: bytes) -> bool:
        """Whether (qx, qy) is one of the deployed ``account``'s passkeys."""
        account = Web3.to_checksum_address(account)
        if not self.is_deployed(account):
            return False
        data = _calldata("isPasskey(bytes32,bytes32)", qx, qy)
        try:
            return bool(int.from_bytes(self.sender.dry_run(sender=account, to=account, data=data)))
        except ContractRevert:
            return False

    def signers(self, account: str) -> list[bytes]:
        """The deployed ``account``'s ERC-7913 signers (verifier ‖ qx ‖ qy each); none for an
        address that is not a passkey account."""
        account = Web3.to_checksum_address(account)
        if not self.is_deployed(account):
            return []
        data = _calldata("getSigners(uint64,uint64)", 0, 2**64 - 1)
        try:
            answer = self.sender.dry_run(sender=account, to=account, data=data)
            (found,) = abi_decode(["bytes[]"], answer)
        except (ContractRevert, DecodingError):
            return []
        return [bytes(s) for s in found]

    def add_passkey_call(self, account: str, qx: bytes, qy: bytes) -> Call:
        """The account's own ``addPasskey`` (a second device), as a call of its batch."""
        return Call(account, _calldata("addPasskey(bytes32,bytes32)", qx, qy))

    def is_valid_signature(self, account: str, digest: bytes, signature: bytes) -> bool:
        """ERC-1271: does the contract at ``account`` accept ``signature`` over ``digest``?
        False for an address without code, a revert, or any other answer than the magic value."""
        account = Web3.to_checksum_address(account)
        if not self.is_deployed(account):
            return False
        data = ERC1271_SELECTOR + abi_encode(["bytes32", "bytes"], [digest, signature])
        try:
            answer = self.sender.dry_run(sender=account, to=account, data=data)
        except ContractRevert:
            return False
        return answer[:4] == ERC1271_SELECTOR

    def explain(self, revert_data: bytes) -> ContractRevert:
        """Revert data (a FailedOpWithRevert's ``inner``, a revert reason) as a named error."""
        return self.sender.registry.decode(revert_data)


def _calldata(signature: str, *args: Any) -> bytes:
    types = signature[signature.index("(") + 1 : -1].split(",")
    return function_signature_to_4byte_selector(signature) + abi_encode(types, list(args))
