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

from collections.abc import Callable
from typing import Any

from pydantic import ValidationError

from api.errors import ApiError
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
from api.relayer.prepare.builder import (
    JOIN_GAS,
    REQUEST_TTL_SECONDS,
    NextNonces,
    PreparedAction,
    cid_bytes,
    cid_digest,
    event_document,
    json_bytes,
)
from api.relayer.prepare.deals import DealActions
from chain.clients import DealStatus
from chain.context import Chain
from traceability.epcis import parse_event
from traceability.epcis.hashing import digest_from_hash_id
from traceability.epcis.vocabulary import DEFAULT_CONTEXT
from traceability.ipfs import DocumentStore
from traceability.merkle import build_manifest


class ActionBuilder(DealActions):
    """Builds each action's typed data against one chain and one document store."""

    # ---------------------------------------------------------------- parties

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
) -> PreparedAction:
    """Validate ``body`` for ``action`` and build its typed data (404 for an unknown action).

    ``nonces(sender)`` gives the nonces after the sender's queued requests; without it the
    request takes the chain's current nonces.
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
    prepared = build(ActionBuilder(chain, store, nonces), params)
    prepared.action = action if action != "refund" else "withdraw"
    return prepared


__all__ = [
    "ACTIONS",
    "JOIN_GAS",
    "REQUEST_TTL_SECONDS",
    "ActionBuilder",
    "NextNonces",
    "PreparedAction",
    "cid_bytes",
    "cid_digest",
    "json_bytes",
    "prepare_action",
]
