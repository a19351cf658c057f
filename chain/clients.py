"""Typed clients of tuanchain's contracts: one thin class per contract, one method per function.

Views return Python values (dataclasses and IntEnums for structs and enums); writes take the
signing account as ``signer=`` and return the receipt (or the id they create). Every revert is
raised as its named exception (:mod:`chain.errors`). For gasless use, ``calldata(...)`` gives
the bytes a forward request carries and :class:`ForwarderClient` prepares, verifies and
executes the signed requests.
"""

from __future__ import annotations

import logging
from dataclasses import astuple, dataclass, field
from enum import IntEnum
from typing import Any, ClassVar, Self, TypeVar

from eth_account.signers.local import LocalAccount
from eth_typing import ChecksumAddress
from hexbytes import HexBytes
from web3 import Web3
from web3.contract import Contract
from web3.logs import DISCARD
from web3.types import EventData, TxReceipt

from chain.artifacts import Artifact, load_artifact
from chain.deploy import Deployment
from chain.eip712 import (
    Signature,
    forward_request_data,
    forward_request_typed_data,
    permit_typed_data,
    sign_typed_data,
)
from chain.tx import TxSender

logger = logging.getLogger(__name__)

S = TypeVar("S")


# ---------------------------------------------------------------------- enums and structs


class BatchStatus(IntEnum):
    UNKNOWN = 0
    ACTIVE = 1
    RECALLED = 2
    NON_COMPLIANT = 3


class PartyKind(IntEnum):
    SUPPLIER = 0
    LEADER = 1


class PartyStatus(IntEnum):
    NONE = 0
    PENDING = 1
    APPROVED = 2
    REVOKED = 3


class DealStatus(IntEnum):
    NONE = 0
    OPEN = 1
    FAILED = 2
    SUCCEEDED = 3
    SETTLED = 4
    FROZEN = 5


class ClaimStatus(IntEnum):
    NONE = 0
    FILED = 1
    REJECTED = 2


@dataclass(frozen=True)
class Party:
    status: PartyStatus
    updated_at_block: int
    credential_digest: bytes


@dataclass(frozen=True)
class BatchInfo:
    supplier: str
    status: BatchStatus
    registered_at_block: int
    metadata_digest: bytes
    status_reason_digest: bytes
    gtin14: str
    lot: str


@dataclass(frozen=True)
class AnchorInfo:
    batch_id: bytes
    document_digest: bytes
    actor: str
    anchored_at_block: int
    is_receipt: bool


@dataclass(frozen=True)
class RootInfo:
    anchorer: str
    anchored_at_block: int
    leaf_count: int


@dataclass(frozen=True)
class PriceTier:
    min_quantity: int
    unit_price: int


@dataclass(frozen=True)
class CommissionTier:
    min_volume: int
    commission_bps: int


@dataclass(frozen=True)
class DealParams:
    """What the platform states when it lists a deal (field order = the Solidity struct)."""

    supplier: str
    token: str
    price_tiers: list[PriceTier]
    min_total_quantity: int
    max_total_quantity: int
    per_buyer_limit: int
    join_deadline: int
    delivery_deadline: int
    dispute_window: int
    answer_window: int
    commission_bps: int
    commission_tiers: list[CommissionTier] = field(default_factory=list)
    platform_fee_bps: int = 0
    batch_ids: list[bytes] = field(default_factory=list)

    def to_abi(self) -> tuple[Any, ...]:
        return (
            Web3.to_checksum_address(self.supplier),
            Web3.to_checksum_address(self.token),
            [astuple(t) for t in self.price_tiers],
            self.min_total_quantity,
            self.max_total_quantity,
            self.per_buyer_limit,
            self.join_deadline,
            self.delivery_deadline,
            self.dispute_window,
            self.answer_window,
            self.commission_bps,
            [astuple(t) for t in self.commission_tiers],
            self.platform_fee_bps,
            [bytes(b) for b in self.batch_ids],
        )

    @classmethod
    def from_abi(cls, value: Any) -> DealParams:
        v = list(value)
        return cls(
            v[0],
            v[1],
            [PriceTier(*t) for t in v[2]],
            *v[3:11],
            [CommissionTier(*t) for t in v[11]],
            v[12],
            [bytes(b) for b in v[13]],
        )


@dataclass(frozen=True)
class OrderView:
    leader: str
    quantity: int
    claimed_quantity: int
    upheld_quantity: int
    paid_out: bool
    claim_open: bool


@dataclass(frozen=True)
class LeaderView:
    quantity: int
    refunded_quantity: int
    received_at: int
    commission_bps: int
    commission: int
    paid_out: bool


@dataclass(frozen=True)
class DealTotals:
    total_quantity: int
    received_quantity: int
    refunded_quantity: int
    commission_total: int
    open_claims: int
    last_receipt_at: int
    supplier_amount: int
    platform_fee: int


@dataclass(frozen=True)
class ClaimView:
    status: ClaimStatus
    quantity: int
    filed_at: int


# ---------------------------------------------------------------------- base


class ContractClient:
    """A deployed contract, a sender, and helpers shared by the typed clients."""

    artifact_name: ClassVar[str] = ""

    def __init__(
        self,
        w3: Web3,
        address: str,
        sender: TxSender,
        *,
        artifact: Artifact | None = None,
    ) -> None:
        self.w3 = w3
        self.sender = sender
        self.artifact = artifact or load_artifact(self.artifact_name)
        self.address: ChecksumAddress = Web3.to_checksum_address(address)
        self.contract: Contract = w3.eth.contract(address=self.address, abi=self.artifact.abi)

    @classmethod
    def from_deployment(
        cls, w3: Web3, deployment: Deployment, sender: TxSender, **kwargs: Any
    ) -> Self:
        name = cls.artifact_name  # type: ignore[attr-defined]
        return cls(w3, deployment.address(name), sender, **kwargs)  # type: ignore[call-arg]

    def _call(self, fn_name: str, *args: Any, block: Any = "latest") -> Any:
        return self.sender.call(getattr(self.contract.functions, fn_name)(*args), block=block)

    def _send(self, signer: LocalAccount, fn_name: str, *args: Any) -> TxReceipt:
        return self.sender.transact(signer, getattr(self.contract.functions, fn_name)(*args))

    def calldata(self, fn_name: str, *args: Any) -> bytes:
        """ABI-encoded call of ``fn_name(*args)`` (what a forward request carries)."""
        fn = getattr(self.contract.functions, fn_name)(*args)
        return bytes(HexBytes(fn._encode_transaction_data()))

    def role(self, role_name: str) -> bytes:
        return bytes(self._call(role_name))

    def has_role(self, role_name: str, account: str) -> bool:
        return bool(self._call("hasRole", self.role(role_name), account))

    def grant_role(self, role_name: str, account: str, *, signer: LocalAccount) -> TxReceipt:
        return self._send(signer, "grantRole", self.role(role_name), account)

    def events_in(self, receipt: TxReceipt, event_name: str) -> list[EventData]:
        """The ``event_name`` logs this contract emitted in ``receipt``."""
        event = getattr(self.contract.events, event_name)()
        return [
            e
            for e in event.process_receipt(receipt, errors=DISCARD)
            if e["address"] == self.address
        ]

    def get_events(
        self,
        event_name: str,
        *,
        from_block: int = 0,
        to_block: int | str = "latest",
        argument_filters: dict[str, Any] | None = None,
    ) -> list[EventData]:
        """``eth_getLogs`` for one event of this contract, decoded."""
        event = getattr(self.contract.events, event_name)()
        return list(
            event.get_logs(
                from_block=from_block, to_block=to_block, argument_filters=argument_filters
            )
        )


# ---------------------------------------------------------------------- registry


class RegistryClient(ContractClient):
    """ProvenanceRegistry: onboarding, batches, event and Merkle-root anchors, recalls."""

    artifact_name = "ProvenanceRegistry"

    # onboarding
    def apply_as_supplier(self, credential_cid: bytes, *, signer: LocalAccount) -> TxReceipt:
        return self._send(signer, "applyAsSupplier", credential_cid)

    def apply_as_leader(self, credential_cid: bytes, *, signer: LocalAccount) -> TxReceipt:
        return self._send(signer, "applyAsLeader", credential_cid)

    def approve_supplier(self, account: str, *, signer: LocalAccount) -> TxReceipt:
        return self._send(signer, "approveSupplier", account)

    def approve_leader(self, account: str, *, signer: LocalAccount) -> TxReceipt:
        return self._send(signer, "approveLeader", account)

    def revoke_supplier(self, account: str, *, signer: LocalAccount) -> TxReceipt:
        return self._send(signer, "revokeSupplier", account)

    def revoke_leader(self, account: str, *, signer: LocalAccount) -> TxReceipt:
        return self._send(signer, "revokeLeader", account)

    def is_approved_supplier(self, account: str) -> bool:
        return bool(self._call("isApprovedSupplier", account))

    def is_approved_leader(self, account: str) -> bool:
        return bool(self._call("isApprovedLeader", account))

    def party(self, kind: PartyKind, account: str) -> Party:
        status, block, digest = self._call("party", int(kind), account)
        return Party(PartyStatus(status), block, bytes(digest))

    # batches
    def register_batch(
        self, gtin14: str, lot: str, metadata_cid: bytes, *, signer: LocalAccount
    ) -> bytes:
        """Register a batch; returns its id ``keccak256(abi.encode(gtin14, lot))``."""
        self._send(signer, "registerBatch", gtin14, lot, metadata_cid)
        return self.compute_batch_id(gtin14, lot)

    def compute_batch_id(self, gtin14: str, lot: str) -> bytes:
        return bytes(self._call("computeBatchId", gtin14, lot))

    def set_batch_writer(
        self, batch_id: bytes, writer: str, allowed: bool, *, signer: LocalAccount
    ) -> TxReceipt:
        return self._send(signer, "setBatchWriter", batch_id, writer, allowed)

    def can_anchor(self, batch_id: bytes, account: str) -> bool:
        return bool(self._call("canAnchor", batch_id, account))

    def is_batch_writer(self, batch_id: bytes, writer: str) -> bool:
        return bool(self._call("isBatchWriter", batch_id, writer))

    def recall_batch(
        self, batch_id: bytes, reason_cid: bytes, *, signer: LocalAccount
    ) -> TxReceipt:
        return self._send(signer, "recallBatch", batch_id, reason_cid)

    def mark_non_compliant(
        self, batch_id: bytes, reason_cid: bytes, *, signer: LocalAccount
    ) -> TxReceipt:
        return self._send(signer, "markNonCompliant", batch_id, reason_cid)

    def batch_status(self, batch_id: bytes) -> BatchStatus:
        return BatchStatus(self._call("batchStatus", batch_id))

    def batch_supplier(self, batch_id: bytes) -> str:
        return str(self._call("batchSupplier", batch_id))

    def batch_info(self, batch_id: bytes) -> BatchInfo:
        v = list(self._call("batchInfo", batch_id))
        return BatchInfo(v[0], BatchStatus(v[1]), v[2], bytes(v[3]), bytes(v[4]), v[5], v[6])

    # anchors
    def anchor_event(
        self, batch_id: bytes, event_hash: bytes, document_cid: bytes, *, signer: LocalAccount
    ) -> TxReceipt:
        return self._send(signer, "anchorEvent", batch_id, event_hash, document_cid)

    def anchor_of(self, event_hash: bytes) -> AnchorInfo:
        v = list(self._call("anchorOf", event_hash))
        return AnchorInfo(bytes(v[0]), bytes(v[1]), v[2], v[3], bool(v[4]))

    def anchor_root(
        self, root: bytes, leaf_count: int, manifest_cid: bytes, *, signer: LocalAccount
    ) -> TxReceipt:
        return self._send(signer, "anchorRoot", root, leaf_count, manifest_cid)

    def root_info(self, root: bytes) -> RootInfo:
        return RootInfo(*self._call("rootInfo", root))

    def verify_event_in_root(self, root: bytes, event_hash: bytes, proof: list[bytes]) -> bool:
        return bool(self._call("verifyEventInRoot", root, event_hash, proof))


# ---------------------------------------------------------------------- token


class TokenClient(ContractClient):
    """TestStablecoin (ERC-20 + EIP-2612 permit + minter faucet)."""

    artifact_name = "TestStablecoin"

    def name(self) -> str:
        return str(self._call("name"))

    def decimals(self) -> int:
        return int(self._call("decimals"))

    def balance_of(self, account: str) -> int:
        return int(self._call("balanceOf", account))

    def allowance(self, owner: str, spender: str) -> int:
        return int(self._call("allowance", owner, spender))

    def nonces(self, owner: str) -> int:
        return int(self._call("nonces", owner))

    def mint(self, to: str, amount: int, *, signer: LocalAccount) -> TxReceipt:
        return self._send(signer, "mint", to, amount)

    def transfer(self, to: str, amount: int, *, signer: LocalAccount) -> TxReceipt:
        return self._send(signer, "transfer", to, amount)

    def approve(self, spender: str, amount: int, *, signer: LocalAccount) -> TxReceipt:
        return self._send(signer, "approve", spender, amount)

    def permit(
        self,
        owner: str,
        spender: str,
        value: int,
        deadline: int,
        signature: Signature,
        *,
        signer: LocalAccount,
    ) -> TxReceipt:
        return self._send(
            signer, "permit", owner, spender, value, deadline, signature.v, signature.r, signature.s
        )

    def permit_typed_data(
        self, *, owner: str, spender: str, value: int, deadline: int
    ) -> dict[str, Any]:
        """Typed data of a permit from ``owner`` (current nonce) to ``spender``."""
        return permit_typed_data(
            token=self.address,
            chain_id=self.sender.chain_id,
            owner=owner,
            spender=spender,
            value=value,
            nonce=self.nonces(owner),
            deadline=deadline,
            name=self.name(),
        )

    def sign_permit(
        self, owner: LocalAccount, *, spender: str, value: int, deadline: int
    ) -> Signature:
        typed = self.permit_typed_data(
            owner=owner.address, spender=spender, value=value, deadline=deadline
        )
        return sign_typed_data(owner, typed)


# ---------------------------------------------------------------------- forwarder


class ForwarderClient(ContractClient):
    """TuanchainForwarder (OpenZeppelin ERC2771Forwarder): gasless requests."""

    artifact_name = "TuanchainForwarder"

    def nonces(self, owner: str) -> int:
        return int(self._call("nonces", owner))

    def prepare(
        self,
        *,
        sender: str,
        target: str,
        data: bytes,
        gas: int | None = None,
        deadline: int | None = None,
        value: int = 0,
        ttl_seconds: int = 3600,
    ) -> dict[str, Any]:
        """Typed data of a forward request from ``sender`` (current nonce), to sign.

        ``gas`` defaults to an estimate of the call made directly by ``sender`` (what the
        target sees through ERC-2771 is the same sender) plus the sender's margin; a call that
        would revert raises its named error here, before anyone signs.
        """
        if gas is None:
            gas = self.sender.estimate_gas(
                {
                    "from": Web3.to_checksum_address(sender),
                    "to": Web3.to_checksum_address(target),
                    "data": HexBytes(data),
                    "value": value,
                }  # type: ignore[typeddict-item]
            )
        if deadline is None:
            # Chain time, not wall-clock time: the forwarder compares with block.timestamp.
            deadline = int(self.w3.eth.get_block("latest")["timestamp"]) + ttl_seconds
        return forward_request_typed_data(
            forwarder=self.address,
            chain_id=self.sender.chain_id,
            sender=sender,
            to=target,
            data=data,
            nonce=self.nonces(sender),
            deadline=deadline,
            gas=gas,
            value=value,
        )

    def verify(self, typed_data: dict[str, Any], signature: bytes | str) -> bool:
        """The forwarder's own check (signature, nonce, deadline, trusted target)."""
        return bool(self._call("verify", forward_request_data(typed_data, signature)))

    def execute(
        self, typed_data: dict[str, Any], signature: bytes | str, *, relayer: LocalAccount
    ) -> TxReceipt:
        """Relay a signed request; the relayer pays the gas. Reverts are named exceptions.

        The forwarder reports a failed inner call only as ``FailedCall()``; so the inner call is
        dry-run first as its signer, to raise the target's own named error (``DealClosed``...).
        Forwarder errors (``ERC2771ForwarderInvalidSigner``, ``...ExpiredRequest``) come from
        the forwarder's own checks, which run before the inner call.
        """
        request = forward_request_data(typed_data, signature)
        if self.sender.call(self.contract.functions.verify(request)):
            self.sender.dry_run(sender=request[0], to=request[1], data=request[5], value=request[2])
        fn = self.contract.functions.execute(request)
        return self.sender.transact(relayer, fn, value=int(typed_data["message"]["value"]))


# ---------------------------------------------------------------------- escrow


class EscrowClient(ContractClient):
    """GroupBuyEscrow: deals, orders, receipts, claims, freeze, settlement and payouts."""

    artifact_name = "GroupBuyEscrow"

    # admin
    def set_token_allowed(self, token: str, allowed: bool, *, signer: LocalAccount) -> TxReceipt:
        return self._send(signer, "setTokenAllowed", token, allowed)

    def set_fee_recipient(self, recipient: str, *, signer: LocalAccount) -> TxReceipt:
        return self._send(signer, "setFeeRecipient", recipient)

    def create_deal(self, params: DealParams, *, signer: LocalAccount) -> int:
        """List a deal; returns its id (from the ``DealCreated`` event)."""
        receipt = self._send(signer, "createDeal", params.to_abi())
        (event,) = self.events_in(receipt, "DealCreated")
        return int(event["args"]["dealId"])

    # buyers
    def join(self, deal_id: int, quantity: int, leader: str, *, signer: LocalAccount) -> TxReceipt:
        return self._send(signer, "join", deal_id, quantity, leader)

    def join_with_permit(
        self,
        deal_id: int,
        quantity: int,
        leader: str,
        *,
        permit_deadline: int,
        permit: Signature,
        signer: LocalAccount,
    ) -> TxReceipt:
        return self._send(
            signer,
            "joinWithPermit",
            deal_id,
            quantity,
            leader,
            permit_deadline,
            permit.v,
            permit.r,
            permit.s,
        )

    def cancel(self, deal_id: int, *, signer: LocalAccount) -> TxReceipt:
        return self._send(signer, "cancel", deal_id)

    def file_claim(
        self, deal_id: int, quantity: int, evidence_cid: bytes, *, signer: LocalAccount
    ) -> TxReceipt:
        return self._send(signer, "fileClaim", deal_id, quantity, evidence_cid)

    # leaders
    def confirm_receipt(
        self,
        deal_id: int,
        batch_id: bytes,
        event_hash: bytes,
        document_digest: bytes,
        *,
        signer: LocalAccount,
    ) -> TxReceipt:
        return self._send(signer, "confirmReceipt", deal_id, batch_id, event_hash, document_digest)

    # claims
    def accept_claim(self, deal_id: int, buyer: str, *, signer: LocalAccount) -> TxReceipt:
        return self._send(signer, "acceptClaim", deal_id, buyer)

    def reject_claim(self, deal_id: int, buyer: str, *, signer: LocalAccount) -> TxReceipt:
        return self._send(signer, "rejectClaim", deal_id, buyer)

    def arbitrate_claim(
        self, deal_id: int, buyer: str, uphold: bool, *, signer: LocalAccount
    ) -> TxReceipt:
        return self._send(signer, "arbitrateClaim", deal_id, buyer, uphold)

    def finalize_unanswered_claim(
        self, deal_id: int, buyer: str, *, signer: LocalAccount
    ) -> TxReceipt:
        return self._send(signer, "finalizeUnansweredClaim", deal_id, buyer)

    # recall, settlement, payouts
    def freeze(self, deal_id: int, *, signer: LocalAccount) -> TxReceipt:
        return self._send(signer, "freeze", deal_id)

    def settle(self, deal_id: int, *, signer: LocalAccount) -> TxReceipt:
        return self._send(signer, "settle", deal_id)

    def withdraw(self, deal_id: int, *, signer: LocalAccount) -> TxReceipt:
        return self._send(signer, "withdraw", deal_id)

    def push_payouts(self, deal_id: int, accounts: list[str], *, signer: LocalAccount) -> TxReceipt:
        return self._send(signer, "pushPayouts", deal_id, accounts)

    # views
    def owed(self, deal_id: int, account: str) -> int:
        return int(self._call("owed", deal_id, account))

    def deal_status(self, deal_id: int) -> DealStatus:
        return DealStatus(self._call("dealStatus", deal_id))

    def final_unit_price(self, deal_id: int) -> int:
        return int(self._call("finalUnitPrice", deal_id))

    def deal_params(self, deal_id: int) -> DealParams:
        return DealParams.from_abi(self._call("dealParams", deal_id))

    def deal_totals(self, deal_id: int) -> DealTotals:
        return DealTotals(*self._call("dealTotals", deal_id))

    def order(self, deal_id: int, buyer: str) -> OrderView:
        return OrderView(*self._call("order", deal_id, buyer))

    def leader_info(self, deal_id: int, leader: str) -> LeaderView:
        return LeaderView(*self._call("leaderInfo", deal_id, leader))

    def claim(self, deal_id: int, buyer: str) -> ClaimView:
        status, quantity, filed_at = self._call("claim", deal_id, buyer)
        return ClaimView(ClaimStatus(status), quantity, filed_at)

    def is_token_allowed(self, token: str) -> bool:
        return bool(self._call("isTokenAllowed", token))

    def fee_recipient(self) -> str:
        return str(self._call("feeRecipient"))

    def deal_count(self) -> int:
        return int(self._call("dealCount"))


@dataclass
class Clients:
    """Every client of one deployment."""

    registry: RegistryClient
    escrow: EscrowClient
    token: TokenClient
    forwarder: ForwarderClient

    @classmethod
    def connect(
        cls,
        w3: Web3,
        deployment: Deployment,
        sender: TxSender,
        *,
        artifacts: dict[str, Artifact] | None = None,
    ) -> Clients:
        def make(client_cls: type[Any]) -> Any:
            artifact = (artifacts or {}).get(client_cls.artifact_name)
            return client_cls(
                w3, deployment.address(client_cls.artifact_name), sender, artifact=artifact
            )

        return cls(
            registry=make(RegistryClient),
            escrow=make(EscrowClient),
            token=make(TokenClient),
            forwarder=make(ForwarderClient),
        )
