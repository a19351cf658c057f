"""Builders of the last mile's actions (issue 11): the buyer's pickup code (核销), the leader's
handover of scanned codes (one or a queue's worth), cash orders booked by the leader (线下支付 /
代下单) and their handover.

The pickup code is not a relayed request: the buyer signs the ``Handover`` typed data in their wallet
and the page shows the message and the signature as a QR code; the leader's page scans it and posts
it in ``items`` of the ``handover`` action, which the leader signs as a forward request. Items
that cannot be recorded are reported in ``details.skipped`` with the reason (as the escrow's
``HandoverSkipped`` event would say it) and still sent: the escrow skips them itself, so one bad code
never blocks the queue; a request where every item is refused is not prepared (409).
"""

from __future__ import annotations

import secrets
from typing import Any

from eth_utils import to_checksum_address

from api.errors import ApiError
from api.relayer.action_params import (
    CashHandoverParams,
    CashOrderParams,
    HandoverCodeParams,
    HandoverParams,
)
from api.relayer.prepare.builder import BuilderBase, PreparedAction
from chain import errors as chain_errors
from chain.aa import compact
from chain.aa.errors import InvalidAssertion
from chain.aa.webauthn import base64url_decode
from chain.clients.escrow import beneficiary_ref
from chain.eip712 import recover_typed_data_signer, typed_data_digest

# Gas the forwarder passes to handOver: ~60k per item (signature check, pickup slot, aggregates).
HANDOVER_GAS_PER_ITEM = 60_000
HANDOVER_BASE_GAS = 80_000


class LastMileActions(BuilderBase):
    """Pickup handovers and cash orders."""

    # ---------------------------------------------------------------- buyers

    def handover_code(self, p: HandoverCodeParams) -> PreparedAction:
        escrow = self.clients.escrow
        order = escrow.order(p.deal_id, p.sender)
        if order.quantity == 0:
            raise ApiError(409, "no_order", f"{p.sender} has no order in deal {p.deal_id}")
        if escrow.pickup(p.deal_id, p.sender).at:
            raise ApiError(409, "already_picked_up", f"deal {p.deal_id}: already handed over")
        quantity = order.quantity if p.quantity is None else p.quantity
        if quantity > order.quantity:
            raise ApiError(
                400, "invalid_request", f"the order has {order.quantity} units, not {quantity}"
            )
        expiry = self.chain.w3.eth.get_block("latest")["timestamp"] + p.ttl_seconds
        typed = escrow.handover_typed_data(p.deal_id, p.sender, order.leader, quantity, expiry)
        return PreparedAction(
            "handover_code",
            p.sender,
            {"handover": typed},
            {
                "deal_id": p.deal_id,
                "buyer": p.sender,
                "leader": order.leader,
                "quantity": quantity,
                "expiry": expiry,
            },
        )

    # ---------------------------------------------------------------- leaders

    def handover(self, p: HandoverParams) -> PreparedAction:
        escrow = self.clients.escrow
        now = self.chain.w3.eth.get_block("latest")["timestamp"]
        skipped: list[dict[str, Any]] = []
        for item in p.items:
            if item.webauthn is not None:
                item.signature = self._full_signature(p.deal_id, p.sender, item)
            reason = self._item_refusal(p.deal_id, p.sender, item, now)
            if reason:
                skipped.append({"buyer": item.buyer, "reason": reason})
        if len(skipped) == len(p.items):
            raise ApiError(409, "nothing_to_hand_over", "no code can be recorded", skipped=skipped)
        items = [(i.buyer, i.quantity, i.expiry, bytes.fromhex(i.signature[2:])) for i in p.items]
        request = self._request(
            p.sender,
            escrow.address,
            escrow.calldata("handOver", p.deal_id, items),
            gas=HANDOVER_BASE_GAS + HANDOVER_GAS_PER_ITEM * len(items),
        )
        return PreparedAction(
            "handover",
            p.sender,
            {"request": request},
            {
                "deal_id": p.deal_id,
                "buyers": [i.buyer for i in p.items],
                "quantities": [i.quantity for i in p.items],
                "skipped": skipped,
            },
        )

    def _full_signature(self, deal_id: int, leader: str, item: Any) -> str:
        """A compact passkey code's whole ERC-1271 signature (:mod:`chain.aa.compact`), rebuilt
        for the handover the leader records; ``0x`` (refused as ``bad_signature``) when the
        bytes do not make one."""
        escrow = self.clients.escrow
        typed = escrow.handover_typed_data(deal_id, item.buyer, leader, item.quantity, item.expiry)
        passkeys = self.chain.passkeys
        try:
            data = base64url_decode(item.webauthn)
            signature = compact.expand(
                data,
                typed_data=typed,
                account=item.buyer,
                chain_id=passkeys.chain_id,
                signers=passkeys.signers(item.buyer),
            )
        except (InvalidAssertion, ValueError):
            return "0x"
        return "0x" + signature.hex()

    def _item_refusal(self, deal_id: int, leader: str, item: Any, now: int) -> str | None:
        """Why the escrow would skip this code (its HandoverSkip names), as far as a view tells;
        the quantity's fit in a short group is left to the escrow."""
        escrow = self.clients.escrow
        if now >= item.expiry:
            return "expired"
        order = escrow.order(deal_id, item.buyer)
        if order.quantity == 0:
            return "no_order"
        if to_checksum_address(order.leader) != leader:
            return "wrong_leader"
        if escrow.pickup(deal_id, item.buyer).at:
            return "already_picked_up"
        if item.quantity > order.quantity:
            return "invalid_quantity"
        typed = escrow.handover_typed_data(deal_id, item.buyer, leader, item.quantity, item.expiry)
        if self.chain.w3.eth.get_code(item.buyer):
            # A contract account (a passkey account): what the escrow's SignatureChecker asks it.
            digest = typed_data_digest(typed)
            signature = bytes.fromhex(item.signature[2:])
            if not self.chain.passkeys.is_valid_signature(item.buyer, digest, signature):
                return "bad_signature"
            return None
        try:
            signer = to_checksum_address(recover_typed_data_signer(typed, item.signature))
        except chain_errors.InvalidSignature:
            return "bad_signature"
        if signer != item.buyer:
            return "bad_signature"
        return None

    def book_cash_order(self, p: CashOrderParams) -> PreparedAction:
        escrow = self.clients.escrow
        if (p.beneficiary_ref is None) == (p.beneficiary is None):
            raise ApiError(
                400, "invalid_request", "give exactly one of beneficiary, beneficiary_ref"
            )
        details: dict[str, Any] = {"deal_id": p.deal_id, "quantity": p.quantity}
        if p.beneficiary is not None:
            salt = secrets.token_bytes(16)
            ref = beneficiary_ref(salt, p.beneficiary)
            # Returned once: the leader keeps the salt (and the name) to say whom a refund is for.
            details["salt"] = "0x" + salt.hex()
        else:
            ref = bytes.fromhex(str(p.beneficiary_ref)[2:])
        details["beneficiary_ref"] = "0x" + ref.hex()
        params = escrow.deal_params(p.deal_id)  # DealNotFound (404)
        amount = p.quantity * max(t.unit_price for t in params.price_tiers)
        data = escrow.calldata("bookCashOrder", p.deal_id, p.quantity, ref)
        typed = self._paid_escrow(p.sender, data, amount, "the cash order")
        details["amount"] = amount
        return PreparedAction("book_cash_order", p.sender, typed, details)

    def hand_over_cash(self, p: CashHandoverParams) -> PreparedAction:
        ref = bytes.fromhex(p.beneficiary_ref[2:])
        request = self._escrow(p, "handOverCash", p.deal_id, ref, p.quantity)
        return PreparedAction(
            "hand_over_cash",
            p.sender,
            {"request": request},
            {"deal_id": p.deal_id, "beneficiary_ref": p.beneficiary_ref, "quantity": p.quantity},
        )
