"""The ProvenanceRegistry client."""

from __future__ import annotations

from eth_account.signers.local import LocalAccount
from web3.types import TxReceipt

from chain.clients.base import ContractClient
from chain.clients.views import (
    AnchorInfo,
    BatchInfo,
    BatchStatus,
    Party,
    PartyKind,
    PartyStatus,
    RootInfo,
)


def _unless_zero(address: str) -> str | None:
    return None if int(address, 16) == 0 else str(address)


class RegistryClient(ContractClient):
    """ProvenanceRegistry: onboarding, batches, event and Merkle-root anchors, recalls."""

    artifact_name = "ProvenanceRegistry"

    # onboarding
    def apply_as_supplier(
        self, profile_cid: bytes, credentials_digest: bytes, *, signer: LocalAccount
    ) -> TxReceipt:
        """Apply with a public profile (IPFS CID) and the SHA-256 of private credentials."""
        return self._send(signer, "applyAsSupplier", profile_cid, credentials_digest)

    def apply_as_leader(
        self, profile_cid: bytes, credentials_digest: bytes, *, signer: LocalAccount
    ) -> TxReceipt:
        return self._send(signer, "applyAsLeader", profile_cid, credentials_digest)

    def update_profile(
        self, kind: PartyKind, profile_cid: bytes, *, signer: LocalAccount
    ) -> TxReceipt:
        return self._send(signer, "updateProfile", int(kind), profile_cid)

    def approve_supplier(self, account: str, *, signer: LocalAccount) -> TxReceipt:
        return self._send(signer, "approveSupplier", account)

    def approve_leader(self, account: str, *, signer: LocalAccount) -> TxReceipt:
        return self._send(signer, "approveLeader", account)

    def reject_supplier(
        self, account: str, reason_cid: bytes, *, signer: LocalAccount
    ) -> TxReceipt:
        return self._send(signer, "rejectSupplier", account, reason_cid)

    def reject_leader(self, account: str, reason_cid: bytes, *, signer: LocalAccount) -> TxReceipt:
        return self._send(signer, "rejectLeader", account, reason_cid)

    def revoke_supplier(
        self, account: str, reason_cid: bytes, *, signer: LocalAccount
    ) -> TxReceipt:
        return self._send(signer, "revokeSupplier", account, reason_cid)

    def revoke_leader(self, account: str, reason_cid: bytes, *, signer: LocalAccount) -> TxReceipt:
        return self._send(signer, "revokeLeader", account, reason_cid)

    def is_approved_supplier(self, account: str) -> bool:
        return bool(self._call("isApprovedSupplier", account))

    def is_approved_leader(self, account: str) -> bool:
        return bool(self._call("isApprovedLeader", account))

    def party(self, kind: PartyKind, account: str) -> Party:
        status, block, profile, credentials = self._call("party", int(kind), account)
        return Party(PartyStatus(status), block, bytes(profile), bytes(credentials))

    # GS1 Company Prefixes (the platform assigns each to the supplier holding it; only that supplier
    # registers batches of GTINs under it)
    def assign_company_prefix(
        self, prefix: str, supplier: str, *, signer: LocalAccount
    ) -> TxReceipt:
        return self._send(signer, "assignCompanyPrefix", prefix, supplier)

    def revoke_company_prefix(self, prefix: str, *, signer: LocalAccount) -> TxReceipt:
        return self._send(signer, "revokeCompanyPrefix", prefix)

    def company_prefix_owner(self, prefix: str) -> str | None:
        """The supplier ``prefix`` is assigned to (None if nobody)."""
        return _unless_zero(self._call("companyPrefixOwner", prefix))

    def gtin_owner(self, gtin14: str) -> tuple[str | None, int]:
        """Who holds ``gtin14``'s assigned company prefix, and its length (None, 0 if nobody):
        the only supplier ``registerBatch`` accepts for the GTIN."""
        owner, length = self._call("gtinOwner", gtin14)
        return _unless_zero(owner), int(length)

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

    # escrows notified of recalls (their open deals freeze in the recall's transaction)
    def add_escrow(self, escrow: str, *, signer: LocalAccount) -> TxReceipt:
        return self._send(signer, "addEscrow", escrow)

    def remove_escrow(self, escrow: str, *, signer: LocalAccount) -> TxReceipt:
        return self._send(signer, "removeEscrow", escrow)

    def escrows(self) -> list[str]:
        return [str(a) for a in self._call("escrows")]

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

    def anchor_of(self, batch_id: bytes, event_hash: bytes) -> AnchorInfo:
        """The anchor of ``event_hash`` under ``batch_id`` (an event hash is unique per batch only)."""
        v = list(self._call("anchorOf", batch_id, event_hash))
        return AnchorInfo(bytes(v[0]), bytes(v[1]), v[2], v[3], bool(v[4]))

    def anchor_root(
        self, root: bytes, leaf_count: int, manifest_cid: bytes, *, signer: LocalAccount
    ) -> TxReceipt:
        return self._send(signer, "anchorRoot", root, leaf_count, manifest_cid)

    # Roots are unique per anchorer (another supplier anchoring the same root is its own record).
    def root_info(self, anchorer: str, root: bytes) -> RootInfo:
        return RootInfo(*self._call("rootInfo", anchorer, root))

    def verify_event_in_root(
        self, anchorer: str, root: bytes, event_hash: bytes, proof: list[bytes]
    ) -> bool:
        return bool(self._call("verifyEventInRoot", anchorer, root, event_hash, proof))

    # roles (``has_role(role_name, account)`` is the base client's, by the role's constant name)
    def is_platform(self, account: str) -> bool:
        """Whether ``account`` holds PLATFORM_ROLE (the platform's reviewers and operators)."""
        return self.has_role("PLATFORM_ROLE", account)
