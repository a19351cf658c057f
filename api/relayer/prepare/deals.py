"""Builders of the deal's actions (the escrow): a buyer's join, cancel, withdraw and claim, a
leader's receipt of the goods, the answers to a claim and the platform's arbitration."""

from __future__ import annotations

from datetime import UTC, datetime

from api.errors import ApiError
from api.private.store import evidence_stored
from api.relayer.action_params import (
    ArbitrateParams,
    ClaimAnswerParams,
    ConfirmReceiptParams,
    DealParamsIn,
    FileClaimParams,
    JoinParams,
)
from api.relayer.prepare.builder import (
    PHOTO_FIELD,
    BuilderBase,
    PreparedAction,
    cid_bytes,
    cid_digest,
    event_document,
)
from traceability.epcis import receiving_event
from traceability.epcis.hashing import digest_from_hash_id


class DealActions(BuilderBase):
    """The escrow's gasless actions."""

    # ---------------------------------------------------------------- buyers

    def join(self, p: JoinParams) -> PreparedAction:
        escrow = self.clients.escrow
        params = escrow.deal_params(p.deal_id)  # DealNotFound (404) for an unknown deal
        top_price = max(t.unit_price for t in params.price_tiers)
        amount = p.quantity * top_price
        data = escrow.calldata("join", p.deal_id, p.quantity, p.leader)
        return PreparedAction(
            "join",
            p.sender,
            self._paid_escrow(p.sender, data, amount, "the join"),
            {"deal_id": p.deal_id, "quantity": p.quantity, "amount": amount, "leader": p.leader},
        )

    def cancel(self, p: DealParamsIn) -> PreparedAction:
        return PreparedAction(
            "cancel",
            p.sender,
            {"request": self._escrow(p, "cancel", p.deal_id)},
            {"deal_id": p.deal_id},
        )

    def settle(self, p: DealParamsIn) -> PreparedAction:
        """Settle a succeeded deal now (what the keeper does on its schedule): anyone may, once
        the escrow's conditions hold (it refuses otherwise: SettlementTooEarly, ClaimsPending,
        BatchBlocked, DealAlreadySettled)."""
        return PreparedAction(
            "settle",
            p.sender,
            {"request": self._escrow(p, "settle", p.deal_id)},
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
