"""Builders of the registry's actions: applications and their review, batches, EPCIS events and
Merkle roots anchored, batch writers, recalls and non-compliance (which freeze the batch's
deals)."""

from __future__ import annotations

from typing import Any

from api.errors import ApiError
from api.relayer.action_params import (
    AnchorEventParams,
    AnchorRootParams,
    ApplyLeaderParams,
    ApplyParams,
    BatchWriterParams,
    CompanyPrefixParams,
    RecallBatchParams,
    RegisterBatchParams,
    ReviewParams,
)
from api.relayer.prepare.builder import (
    BuilderBase,
    PreparedAction,
    cid_bytes,
    event_anchor,
    json_bytes,
    root_anchor,
)
from chain import errors as chain_errors
from chain.clients import DealStatus


def _not_owned(gtin14: str, sender: str, owner: str) -> ApiError:
    """The registry's GtinNotOwned in words: whose prefix it is, and what to do."""
    held = (
        f"its GS1 Company Prefix is held by {owner}"
        if int(owner, 16)
        else "no supplier holds its GS1 Company Prefix: ask the platform to assign yours"
    )
    return ApiError(
        409,
        "gtin_not_owned",
        f"GTIN {gtin14} is not under a GS1 Company Prefix of {sender} ({held}); only the "
        "prefix's holder registers batches of its products",
        error="GtinNotOwned",
        owner=owner,
    )


class RegistryActions(BuilderBase):
    """The registry's gasless actions."""

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
        cid = (
            self._cid(data)
            if data is not None
            else self._stored(str(p.metadata_cid), "metadata_not_stored")
        )
        try:
            request = self._registry(p, "registerBatch", p.gtin14, p.lot, cid_bytes(cid))
        except chain_errors.GtinNotOwned as exc:
            raise _not_owned(p.gtin14, p.sender, exc.args["owner"]) from None
        except chain_errors.RestrictedCirculationGtin:
            raise ApiError(
                409,
                "restricted_circulation_gtin",
                f"GTIN {p.gtin14} is a restricted-circulation (in-store) number, starting 02, 04 "
                "or 2: no brand owns it, so no batch can be registered under it",
                error="RestrictedCirculationGtin",
            ) from None
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
        data, details = event_anchor(p.gtin14, p.lot, p.event, self._cid)
        batch_id = bytes.fromhex(details["batch_id"][2:])
        event_hash = bytes.fromhex(details["event_hash"][2:])
        cid = details["document_cid"]
        request = self._registry(p, "anchorEvent", batch_id, event_hash, cid_bytes(cid))
        self._keep(data, cid)
        return PreparedAction("anchor_event", p.sender, {"request": request}, details)

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

    def company_prefix(self, p: CompanyPrefixParams) -> PreparedAction:
        """The platform assigns a GS1 Company Prefix to the supplier holding it (checked against
        GS1's licence record off chain), or revokes it: only its holder registers batches of its
        GTINs; batches registered before a revoke stay their supplier's."""
        if p.decision == "assign":
            request = self._registry(p, "assignCompanyPrefix", p.prefix, p.supplier)
        else:
            request = self._registry(p, "revokeCompanyPrefix", p.prefix)
        return PreparedAction(
            "company_prefix",
            p.sender,
            {"request": request},
            {"prefix": p.prefix, "supplier": p.supplier, "decision": p.decision},
        )

    def anchor_root(self, p: AnchorRootParams) -> PreparedAction:
        documents, manifest, details = root_anchor(
            [(item.gtin14, item.lot, item.event) for item in p.events], self._cid
        )
        manifest_data, manifest_cid = manifest.dumps(), details["manifest_cid"]
        request = self._registry(
            p, "anchorRoot", manifest.root, details["leaf_count"], cid_bytes(manifest_cid)
        )
        for data, cid in [*documents, (manifest_data, manifest_cid)]:
            self._keep(data, cid)
        return PreparedAction("anchor_root", p.sender, {"request": request}, details)

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
        cid = (
            self._cid(data)
            if data is not None
            else self._stored(str(p.reason_cid), "reason_not_stored")
        )
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
