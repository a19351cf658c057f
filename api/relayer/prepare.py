"""Typed-data builders, one per gasless action: what ``POST /v1/actions/{action}/prepare`` returns.

Each builder takes the action's parameters (a pydantic model, the request body) and returns a
:class:`PreparedAction`: the EIP-712 payloads exactly as ``eth_signTypedData_v4`` takes them
(``request``: an ERC-2771 ``ForwardRequest`` for the forwarder; ``permit``: an EIP-2612 permit
for joins) and ``details`` (ids, CIDs and hashes the action created). The client signs each
payload and posts the whole thing back, with ``signatures``, to ``POST /v1/relay``.

Why a join carries two payloads: ``joinWithPermit`` would need the permit's signature inside the
forward request's calldata, which the wallet has not produced yet. So the request calls plain
``join`` and the relayer submits the signed permit first (anyone may submit a permit; the escrow
would accept a front-run one the same way). The relayer simulates ``joinWithPermit`` as the buyer
to check both together before accepting them.

A signer may have requests waiting in the relayer's outbox: ``prepare`` is then given the next
nonces after them (:class:`NextNonces`, from :mod:`api.relayer.queue`), so a request prepared
while another is queued signs the next forwarder nonce (and a join's permit the next token nonce)
instead of the one the queued request already holds. (The contract's checks below still run
against the chain as it is now, not as it will be after the queued requests.)

Preparing already runs the contract's checks (gas estimate or ``eth_call`` as the signer), so a
request that would revert is refused with its named error before anyone signs it.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from pydantic import ValidationError
from sqlalchemy import Engine

from api.errors import ApiError
from api.private.store import evidence_stored
from api.relayer.action_params import (
    ActionParams,
    AnchorEventParams,
    AnchorRootParams,
    ApplyLeaderParams,
    ApplyParams,
    ArbitrateParams,
    BatchWriterParams,
    ClaimAnswerParams,
    ConfirmReceiptParams,
    DealParamsIn,
    FileClaimParams,
    JoinParams,
    RecallBatchParams,
    RegisterBatchParams,
    ReviewParams,
)
from chain import errors as chain_errors
from chain.clients import DealStatus
from chain.context import Chain
from traceability.epcis import (
    hash_events_in_document,
    parse_event,
    receiving_event,
    serialize_document,
)
from traceability.epcis.hashing import digest_from_hash_id
from traceability.epcis.vocabulary import DEFAULT_CONTEXT
from traceability.ipfs import DocumentStore, compute_cid, parse_cid
from traceability.ipfs.cid import split_cid
from traceability.merkle import build_manifest

logger = logging.getLogger(__name__)

# Gas the forwarder must pass to ``join``: it cannot be estimated before the permit exists (the
# transfer would fail on allowance). A relayed join used 119k-159k gas on anvil (a deal's first
# join costs most), so this leaves a wide margin; the relayer pays, and unused gas is not charged.
JOIN_GAS = 400_000
# Lifetime of a prepared request (chain time): long enough for a person to look and sign.
REQUEST_TTL_SECONDS = 3600
# The receiving event's extension member naming photos of the goods (tuanchain's namespace).
PHOTO_FIELD = "tuan:photo"


@dataclass(frozen=True)
class NextNonces:
    """The nonces a signer's next request and permit must carry (after its queued requests)."""

    request: int
    permit: int


@dataclass
class PreparedAction:
    action: str
    sender: str
    payloads: dict[str, dict[str, Any]]
    details: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {
            "action": self.action,
            "from": self.sender,
            "payloads": self.payloads,
            "details": self.details,
        }


def json_bytes(data: dict[str, Any]) -> bytes:
    """A JSON document as compact UTF-8: the exact bytes whose CID is anchored."""
    return json.dumps(data, ensure_ascii=False, separators=(",", ":")).encode()


def cid_bytes(cid: str) -> bytes:
    """Binary CID (what the contracts take); ``InvalidCid`` (400) for a malformed one."""
    return parse_cid(cid)


def cid_digest(cid: str) -> bytes:
    """The CID's sha2-256 digest: the ``documentDigest`` the registry keeps for a CID."""
    return split_cid(parse_cid(cid))[2]


def event_document(event: Any) -> tuple[bytes, str, dict[str, Any]]:
    """One EPCIS document per event (the anchoring convention): (bytes, CBV hash id, document)."""
    document = serialize_document([event])
    (hash_id,) = hash_events_in_document(document)  # the stored document, as anyone hashes it
    return json_bytes(document), hash_id, document


class ActionBuilder:
    """Builds each action's typed data against one chain and one document store."""

    def __init__(
        self,
        chain: Chain,
        store: DocumentStore,
        nonces: Callable[[str], NextNonces] | None = None,
        engine: Engine | None = None,
    ) -> None:
        self.chain = chain
        self.store = store
        self.engine = engine  # the private document store's (claim evidence), if any
        self.clients = chain.clients
        self._nonces = nonces
        self._next: dict[str, NextNonces] = {}

    def next_nonces(self, sender: str) -> NextNonces | None:
        """The sender's next nonces after its queued requests (None: the chain's, no outbox)."""
        if self._nonces is None:
            return None
        if sender not in self._next:
            self._next[sender] = self._nonces(sender)
        return self._next[sender]

    def _cid(self, data: bytes) -> str:
        """The CID the store will give ``data`` (computed, nothing stored yet)."""
        return compute_cid(data, profile=self.store.profile)

    def _keep(self, data: bytes, cid: str) -> None:
        """Store a prepared document once its request passed the contract's checks, *unpinned*.

        Preparing is not authenticated (``from`` is only a claim until the request is signed), so
        a prepared document stays garbage-collectable until ``POST /v1/relay`` has verified the
        signature and pins the CIDs the signed calldata names (:mod:`api.relayer.accept`); and a
        doomed prepare (the simulation reverted) stores nothing at all.
        """
        stored = self.store.put(data, pin=False)
        if stored != cid:  # a store with another import profile than it claims
            raise ApiError(502, "store_cid_mismatch", f"store returned {stored}, expected {cid}")

    def _stored_uri(self, cid: str) -> str:
        """``ipfs://{cid}`` of a document the store holds (400 if malformed or not uploaded)."""
        cid_bytes(cid)
        if not self.store.has(cid):
            raise ApiError(400, "photo_not_stored", f"upload the photo first: {cid} is unknown")
        return f"ipfs://{cid}"

    def _request(
        self, sender: str, target: str, data: bytes, *, gas: int | None = None
    ) -> dict[str, Any]:
        request = self.clients.forwarder.prepare(
            sender=sender, target=target, data=data, gas=gas, ttl_seconds=REQUEST_TTL_SECONDS
        )
        queued = self.next_nonces(sender)
        if queued is not None:  # after the signer's requests waiting in the outbox
            request["message"]["nonce"] = queued.request
        return request

    def _escrow(self, p: ActionParams, fn: str, *args: Any) -> dict[str, Any]:
        escrow = self.clients.escrow
        return self._request(p.sender, escrow.address, escrow.calldata(fn, *args))

    def _registry(self, p: ActionParams, fn: str, *args: Any) -> dict[str, Any]:
        registry = self.clients.registry
        return self._request(p.sender, registry.address, registry.calldata(fn, *args))

    # ---------------------------------------------------------------- buyers

    def join(self, p: JoinParams) -> PreparedAction:
        escrow, token = self.clients.escrow, self.clients.token
        params = escrow.deal_params(p.deal_id)  # DealNotFound (404) for an unknown deal
        top_price = max(t.unit_price for t in params.price_tiers)
        amount = p.quantity * top_price
        # Every check of join runs before the transfer: a dry run that fails only on the
        # allowance (which the permit will give) means the join itself is acceptable.
        try:
            self.clients.forwarder.simulate(
                sender=p.sender,
                target=escrow.address,
                data=escrow.calldata("join", p.deal_id, p.quantity, p.leader),
            )
        except chain_errors.ContractRevert as exc:
            if exc.name != "ERC20InsufficientAllowance":
                raise
        balance = token.balance_of(p.sender)
        if balance < amount:
            raise ApiError(
                409,
                "insufficient_balance",
                f"{p.sender} holds {balance} but the join costs {amount}",
                balance=balance,
                amount=amount,
            )
        request = self._request(
            p.sender,
            escrow.address,
            escrow.calldata("join", p.deal_id, p.quantity, p.leader),
            gas=JOIN_GAS,
        )
        permit = token.permit_typed_data(
            owner=p.sender,
            spender=escrow.address,
            value=amount,
            deadline=int(request["message"]["deadline"]),
        )
        queued = self.next_nonces(p.sender)
        if queued is not None:  # after the permits of the signer's queued joins
            permit["message"]["nonce"] = queued.permit
        return PreparedAction(
            "join",
            p.sender,
            {"permit": permit, "request": request},
            {"deal_id": p.deal_id, "quantity": p.quantity, "amount": amount, "leader": p.leader},
        )

    def cancel(self, p: DealParamsIn) -> PreparedAction:
        return PreparedAction(
            "cancel",
            p.sender,
            {"request": self._escrow(p, "cancel", p.deal_id)},
            {"deal_id": p.deal_id},
        )

    def withdraw(self, p: DealParamsIn) -> PreparedAction:
        owed = self.clients.escrow.owed(p.deal_id, p.sender)
        return PreparedAction(
            "withdraw",
            p.sender,
            {"request": self._escrow(p, "withdraw", p.deal_id)},
            {"deal_id": p.deal_id, "amount": owed},
        )

    def file_claim(self, p: FileClaimParams) -> PreparedAction:
        evidence = cid_bytes(p.evidence_cid)
        if not evidence_stored(
            self.store, self.engine, cid=p.evidence_cid, owner=p.sender, deal_id=p.deal_id
        ):
            raise ApiError(
                400,
                "evidence_not_stored",
                f"upload the evidence first: {p.evidence_cid} is unknown",
            )
        request = self._escrow(p, "fileClaim", p.deal_id, p.quantity, evidence)
        return PreparedAction(
            "file_claim",
            p.sender,
            {"request": request},
            {"deal_id": p.deal_id, "quantity": p.quantity, "evidence_cid": p.evidence_cid},
        )

    # ---------------------------------------------------------------- leaders

    def confirm_receipt(self, p: ConfirmReceiptParams) -> PreparedAction:
        escrow, registry = self.clients.escrow, self.clients.registry
        batch_id = registry.compute_batch_id(p.gtin14, p.lot)
        if batch_id not in escrow.deal_params(p.deal_id).batch_ids:
            raise ApiError(
                409,
                "batch_not_in_deal",
                f"deal {p.deal_id} does not sell {p.gtin14}/{p.lot}",
            )
        ordered = escrow.leader_info(p.deal_id, p.sender).quantity
        if not ordered:
            raise ApiError(
                409, "not_leader_of_deal", f"{p.sender} has no orders in deal {p.deal_id}"
            )
        quantity = ordered if p.quantity is None else p.quantity
        # The escrow counts deal units: a quantity in another unit says nothing about how many
        # were short, so such a receipt records the group's ordered units.
        if p.uom == "EA" and not float(quantity).is_integer():
            raise ApiError(
                400, "invalid_request", f"a quantity in deal units (EA) is whole, not {quantity}"
            )
        received = int(quantity) if p.uom == "EA" else ordered
        event = receiving_event(
            gtin14=p.gtin14,
            lot=p.lot,
            quantity=quantity,
            uom=p.uom,
            event_time=(p.event_time or datetime.now(UTC)).astimezone(UTC),
            pickup_point=p.pickup_point,
        )
        if p.photos:
            # An EPCIS 2.0 extension member: the photos are part of the anchored document, so
            # the signed digest covers them (describe.py decodes the document from that digest).
            event = event.model_copy(update={PHOTO_FIELD: [self._stored_uri(c) for c in p.photos]})
        data, hash_id, document = event_document(event)
        cid = self._cid(data)
        event_hash, digest = digest_from_hash_id(hash_id), cid_digest(cid)
        request = self._escrow(
            p, "confirmReceipt", p.deal_id, batch_id, event_hash, digest, received
        )
        self._keep(data, cid)
        return PreparedAction(
            "confirm_receipt",
            p.sender,
            {"request": request},
            {
                "deal_id": p.deal_id,
                "batch_id": "0x" + batch_id.hex(),
                "event_hash_id": hash_id,
                "event_hash": "0x" + event_hash.hex(),
                "document_cid": cid,
                "document_digest": "0x" + digest.hex(),
                "received_quantity": received,
                "document": document,
            },
        )

    # ---------------------------------------------------------------- claims

    def accept_claim(self, p: ClaimAnswerParams) -> PreparedAction:
        request = self._escrow(p, "acceptClaim", p.deal_id, p.buyer)
        return PreparedAction(
            "accept_claim", p.sender, {"request": request}, {"deal_id": p.deal_id, "buyer": p.buyer}
        )

    def reject_claim(self, p: ClaimAnswerParams) -> PreparedAction:
        request = self._escrow(p, "rejectClaim", p.deal_id, p.buyer)
        return PreparedAction(
            "reject_claim", p.sender, {"request": request}, {"deal_id": p.deal_id, "buyer": p.buyer}
        )

    def arbitrate(self, p: ArbitrateParams) -> PreparedAction:
        request = self._escrow(p, "arbitrateClaim", p.deal_id, p.buyer, p.uphold)
        return PreparedAction(
            "arbitrate",
            p.sender,
            {"request": request},
            {"deal_id": p.deal_id, "buyer": p.buyer, "uphold": p.uphold},
        )

    def apply_as_leader(self, p: ApplyLeaderParams) -> PreparedAction:
        """Apply as a leader with a public profile document (its CID is what the registry keeps;
        :mod:`api.names` reads the name and pickup point from it)."""
        profile = {
            "type": "tuanchain:PickupPointProfile",
            "holder": {"zh": p.name, "en": p.name, "gln": p.gln or "", "address": p.sender},
            "place": {"zh": p.place, "en": p.place},
            "street_address": p.street_address,
            "opening_hours": p.opening_hours,
        }
        data = json_bytes(profile)
        cid = self._cid(data)
        digest = bytes.fromhex(p.credentials_digest[2:])
        request = self._registry(p, "applyAsLeader", cid_bytes(cid), digest)
        self._keep(data, cid)
        return PreparedAction(
            "apply_as_leader",
            p.sender,
            {"request": request},
            {
                "profile_cid": cid,
                "credentials_digest": p.credentials_digest,
                "profile": profile,
            },
        )

    # ---------------------------------------------------------------- provenance

    def register_batch(self, p: RegisterBatchParams) -> PreparedAction:
        if (p.metadata is None) == (p.metadata_cid is None):
            raise ApiError(400, "invalid_request", "give exactly one of metadata, metadata_cid")
        data = json_bytes(p.metadata) if p.metadata is not None else None
        cid = self._cid(data) if data is not None else str(p.metadata_cid)
        request = self._registry(p, "registerBatch", p.gtin14, p.lot, cid_bytes(cid))
        if data is not None:
            self._keep(data, cid)
        batch_id = self.clients.registry.compute_batch_id(p.gtin14, p.lot)
        return PreparedAction(
            "register_batch",
            p.sender,
            {"request": request},
            {
                "batch_id": "0x" + batch_id.hex(),
                "gtin14": p.gtin14,
                "lot": p.lot,
                "metadata_cid": cid,
            },
        )

    def anchor_event(self, p: AnchorEventParams) -> PreparedAction:
        # A standalone EPCIS event carries its @context; one sent without it gets tuanchain's.
        raw = p.event if "@context" in p.event else {"@context": DEFAULT_CONTEXT, **p.event}
        event = parse_event(raw)  # InvalidEpcisDocument → 400 with the JSON path
        data, hash_id, _ = event_document(event)
        cid = self._cid(data)
        batch_id = self.clients.registry.compute_batch_id(p.gtin14, p.lot)
        event_hash = digest_from_hash_id(hash_id)
        request = self._registry(p, "anchorEvent", batch_id, event_hash, cid_bytes(cid))
        self._keep(data, cid)
        return PreparedAction(
            "anchor_event",
            p.sender,
            {"request": request},
            {
                "batch_id": "0x" + batch_id.hex(),
                "event_hash_id": hash_id,
                "event_hash": "0x" + event_hash.hex(),
                "document_cid": cid,
            },
        )

    def apply(self, p: ApplyParams) -> PreparedAction:
        data = json_bytes(p.profile)
        cid = self._cid(data)
        digest = bytes.fromhex(p.credentials_digest[2:])
        fn = "applyAsSupplier" if p.kind == "supplier" else "applyAsLeader"
        request = self._registry(p, fn, cid_bytes(cid), digest)
        self._keep(data, cid)
        return PreparedAction(
            "apply",
            p.sender,
            {"request": request},
            {"kind": p.kind, "profile_cid": cid, "credentials_digest": p.credentials_digest},
        )

    def set_batch_writer(self, p: BatchWriterParams) -> PreparedAction:
        """The supplier authorizes (or no longer) a carrier or inspector to anchor the batch's events."""
        batch_id = self.clients.registry.compute_batch_id(p.gtin14, p.lot)
        request = self._registry(p, "setBatchWriter", batch_id, p.writer, p.allowed)
        return PreparedAction(
            "set_batch_writer",
            p.sender,
            {"request": request},
            {"batch_id": "0x" + batch_id.hex(), "writer": p.writer, "allowed": p.allowed},
        )

    def review(self, p: ReviewParams) -> PreparedAction:
        """The platform's decision on an application (approve, reject) or a party (revoke)."""
        fn = {"approve": "approve", "reject": "reject", "revoke": "revoke"}[p.decision]
        fn += "Supplier" if p.kind == "supplier" else "Leader"
        details: dict[str, Any] = {"kind": p.kind, "account": p.account, "decision": p.decision}
        if p.decision == "approve":
            request = self._registry(p, fn, p.account)
        else:
            if not (p.reason or "").strip():
                raise ApiError(400, "reason_required", f"say why to {p.decision} {p.account}")
            data = json_bytes(
                {
                    "type": "tuanchain:ReviewDecision",
                    "kind": p.kind,
                    "account": p.account,
                    "decision": p.decision,
                    "reason": (p.reason or "").strip(),
                    "by": p.sender,
                }
            )
            cid = self._cid(data)
            request = self._registry(p, fn, p.account, cid_bytes(cid))
            self._keep(data, cid)
            details["reason_cid"] = cid
        return PreparedAction("review", p.sender, {"request": request}, details)

    def anchor_root(self, p: AnchorRootParams) -> PreparedAction:
        documents, entries = [], []
        for item in p.events:
            raw = (
                item.event
                if "@context" in item.event
                else {"@context": DEFAULT_CONTEXT, **item.event}
            )
            data, hash_id, _ = event_document(parse_event(raw))
            cid = self._cid(data)
            documents.append((data, cid))
            entries.append((hash_id, cid, item.gtin14, item.lot))
        if len({hash_id for hash_id, _, _, _ in entries}) != len(entries):
            raise ApiError(400, "duplicate_event", "the same event appears twice under the root")
        manifest = build_manifest(entries)
        manifest_data = manifest.dumps()
        manifest_cid = self._cid(manifest_data)
        request = self._registry(
            p, "anchorRoot", manifest.root, len(entries), cid_bytes(manifest_cid)
        )
        for data, cid in [*documents, (manifest_data, manifest_cid)]:
            self._keep(data, cid)
        return PreparedAction(
            "anchor_root",
            p.sender,
            {"request": request},
            {
                "root": "0x" + manifest.root.hex(),
                "leaf_count": len(entries),
                "manifest_cid": manifest_cid,
                "event_hash_ids": [hash_id for hash_id, _, _, _ in entries],
            },
        )

    def recall_batch(self, p: RecallBatchParams) -> PreparedAction:
        """A supplier's (or the platform's) recall. The registry notifies the escrow in the same
        transaction, which freezes every open deal selling the batch: ``frozen_deals`` lists them
        as of now (not signed; the chain decides when the request is mined)."""
        return self._close_batch(p, "recall_batch", "recallBatch")

    def mark_non_compliant(self, p: RecallBatchParams) -> PreparedAction:
        """The platform closes a batch as non-compliant (``PLATFORM_ROLE``): the same effects on
        deals as a recall."""
        return self._close_batch(p, "mark_non_compliant", "markNonCompliant")

    def _close_batch(self, p: RecallBatchParams, action: str, fn: str) -> PreparedAction:
        if (p.reason is None) == (p.reason_cid is None):
            raise ApiError(400, "invalid_request", "give exactly one of reason, reason_cid")
        reason = p.reason
        if isinstance(reason, str):  # a form's text: the notice around it
            reason = {
                "type": "tuanchain:BatchNotice",
                "action": action,
                "gtin14": p.gtin14,
                "lot": p.lot,
                "reason": reason,
                "by": p.sender,
            }
        data = json_bytes(reason) if reason is not None else None
        cid = self._cid(data) if data is not None else str(p.reason_cid)
        batch_id = self.clients.registry.compute_batch_id(p.gtin14, p.lot)
        request = self._registry(p, fn, batch_id, cid_bytes(cid))
        if data is not None:
            self._keep(data, cid)
        escrow = self.clients.escrow
        frozen = [
            d
            for d in escrow.live_deals(batch_id)
            if escrow.deal_status(d) in (DealStatus.OPEN, DealStatus.SUCCEEDED)
        ]
        return PreparedAction(
            action,
            p.sender,
            {"request": request},
            {
                "batch_id": "0x" + batch_id.hex(),
                "gtin14": p.gtin14,
                "lot": p.lot,
                "reason_cid": cid,
                "frozen_deals": frozen,
            },
        )


# action name → (params model, builder method name)
ACTIONS: dict[str, tuple[type[ActionParams], Callable[[ActionBuilder, Any], PreparedAction]]] = {
    "join": (JoinParams, ActionBuilder.join),
    "cancel": (DealParamsIn, ActionBuilder.cancel),
    "withdraw": (DealParamsIn, ActionBuilder.withdraw),
    "refund": (DealParamsIn, ActionBuilder.withdraw),
    "confirm_receipt": (ConfirmReceiptParams, ActionBuilder.confirm_receipt),
    "file_claim": (FileClaimParams, ActionBuilder.file_claim),
    "accept_claim": (ClaimAnswerParams, ActionBuilder.accept_claim),
    "reject_claim": (ClaimAnswerParams, ActionBuilder.reject_claim),
    "arbitrate": (ArbitrateParams, ActionBuilder.arbitrate),
    "apply_as_leader": (ApplyLeaderParams, ActionBuilder.apply_as_leader),
    "register_batch": (RegisterBatchParams, ActionBuilder.register_batch),
    "anchor_event": (AnchorEventParams, ActionBuilder.anchor_event),
    "apply": (ApplyParams, ActionBuilder.apply),
    "review": (ReviewParams, ActionBuilder.review),
    "set_batch_writer": (BatchWriterParams, ActionBuilder.set_batch_writer),
    "anchor_root": (AnchorRootParams, ActionBuilder.anchor_root),
    "recall_batch": (RecallBatchParams, ActionBuilder.recall_batch),
    "mark_non_compliant": (RecallBatchParams, ActionBuilder.mark_non_compliant),
}


def prepare_action(
    chain: Chain,
    store: DocumentStore,
    action: str,
    body: dict[str, Any],
    *,
    nonces: Callable[[str], NextNonces] | None = None,
    engine: Engine | None = None,
) -> PreparedAction:
    """Validate ``body`` for ``action`` and build its typed data (404 for an unknown action).

    ``nonces(sender)`` gives the nonces after the sender's queued requests; without it the
    request takes the chain's current nonces. ``engine``: the database of the private document
    store, where a claim's evidence is kept.
    """
    try:
        model, build = ACTIONS[action]
    except KeyError:
        raise ApiError(
            404, "unknown_action", f"no action {action!r}; known: {', '.join(sorted(ACTIONS))}"
        ) from None
    try:
        params = model.model_validate(body)
    except ValidationError as exc:
        errors = [{"loc": list(e["loc"]), "msg": e["msg"]} for e in exc.errors()]
        raise ApiError(
            422, "invalid_request", f"bad parameters for {action}", errors=errors
        ) from None
    prepared = build(ActionBuilder(chain, store, nonces, engine), params)
    prepared.action = action if action != "refund" else "withdraw"
    return prepared
