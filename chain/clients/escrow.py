"""The GroupBuyEscrow client."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from eth_account.signers.local import LocalAccount
from eth_utils import keccak
from web3 import Web3
from web3.types import TxReceipt

from chain.clients.base import ContractClient
from chain.clients.views import (
    CashOrderView,
    ClaimStatus,
    ClaimView,
    DealParams,
    DealTotals,
    LeaderView,
    OrderView,
    PickupView,
    Shortfall,
)
from chain.deal_rules import DealStatus
from chain.eip712 import Signature, handover_typed_data


def beneficiary_ref(salt: bytes, beneficiary: str) -> bytes:
    """A cash order's beneficiary reference: keccak256(salt ‖ the neighbour's name or phone, UTF-8).
    The salt stays off chain with the leader, so the reference names nobody."""
    return keccak(salt + beneficiary.strip().encode())


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
        received_quantity: int | None = None,
        signer: LocalAccount,
    ) -> TxReceipt:
        """``received_quantity``: units the group received, as the receiving event states them
        (less than ordered: a short delivery, refunded to the group's buyers at settlement);
        default: every unit the signer's group ordered."""
        if received_quantity is None:
            received_quantity = self.leader_info(deal_id, signer.address).quantity
        return self._send(
            signer,
            "confirmReceipt",
            deal_id,
            batch_id,
            event_hash,
            document_digest,
            received_quantity,
        )

    # pickup (核销) and cash orders
    def handover_typed_data(
        self, deal_id: int, buyer: str, leader: str, quantity: int, expiry: int
    ) -> dict:
        """What the buyer signs at pickup (the QR code's payload), for this escrow and chain."""
        return handover_typed_data(
            escrow=self.address,
            chain_id=self.w3.eth.chain_id,
            deal_id=deal_id,
            buyer=buyer,
            leader=leader,
            quantity=quantity,
            expiry=expiry,
        )

    def hand_over(
        self, deal_id: int, items: list[tuple[str, int, int, bytes]], *, signer: LocalAccount
    ) -> TxReceipt:
        """``items``: (buyer, quantity, expiry, signature); invalid ones are skipped on chain."""
        return self._send(signer, "handOver", deal_id, items)

    def close_out(self, deal_id: int, leader: str, *, signer: LocalAccount) -> TxReceipt:
        return self._send(signer, "closeOut", deal_id, leader)

    def book_cash_order(
        self, deal_id: int, quantity: int, beneficiary_ref: bytes, *, signer: LocalAccount
    ) -> TxReceipt:
        return self._send(signer, "bookCashOrder", deal_id, quantity, beneficiary_ref)

    def hand_over_cash(
        self, deal_id: int, beneficiary_ref: bytes, quantity: int, *, signer: LocalAccount
    ) -> TxReceipt:
        return self._send(signer, "handOverCash", deal_id, beneficiary_ref, quantity)

    def pay_cash_refunds(
        self, deal_id: int, leader: str, refs: list[bytes], *, signer: LocalAccount
    ) -> TxReceipt:
        return self._send(signer, "payCashRefunds", deal_id, leader, refs)

    def pickup(self, deal_id: int, buyer: str) -> PickupView:
        return PickupView(*self._call("pickup", deal_id, buyer))

    def cash_order(self, deal_id: int, leader: str, beneficiary_ref: bytes) -> CashOrderView:
        return CashOrderView(*self._call("cashOrder", deal_id, leader, beneficiary_ref))

    def cash_owed(self, deal_id: int, leader: str, beneficiary_ref: bytes) -> int:
        return int(self._call("cashOwed", deal_id, leader, beneficiary_ref))

    def cash_totals(self, deal_id: int, leader: str) -> tuple[int, int]:
        """(units booked in cash, cash refunds paid back so far) of the leader in the deal."""
        quantity, refunded = self._call("cashTotals", deal_id, leader)
        return int(quantity), int(refunded)

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

    def deal_params_call(self, deal_id: int) -> tuple[str, list[Any]]:
        """The ``eth_call`` of :meth:`deal_params`, for :meth:`TxSender.rpc_batch`."""
        return self.view_call("dealParams", deal_id)

    def deal_params_from(self, result: Any) -> DealParams:
        """:meth:`deal_params` from the answer to :meth:`deal_params_call`.

        The decoding of an answer is remembered by its bytes: every join of a deal gets the
        same answer, whose ABI decoding (a struct with arrays) was ~0.6 ms of each relayed
        join's accept (issue 15). Same bytes, same terms: nothing is cached but a pure decode."""
        key = str(result)
        cached = _DEAL_PARAMS_DECODED.get(key)
        if cached is None:
            cached = self._deal_params_decoded(result)
            if len(_DEAL_PARAMS_DECODED) >= _DEAL_PARAMS_KEPT:
                _DEAL_PARAMS_DECODED.clear()  # bounded; a miss only decodes again
            _DEAL_PARAMS_DECODED[key] = cached
        return cached

    def _deal_params_decoded(self, result: Any) -> DealParams:
        (value,) = self.decode_result("dealParams", result)
        params = DealParams.from_abi(value)
        return replace(
            params,
            supplier=Web3.to_checksum_address(params.supplier),
            token=Web3.to_checksum_address(params.token),
        )

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

    def shortfall(self, deal_id: int, leader: str) -> Shortfall:
        """The leader's group's short delivery (``short`` False if it received every unit)."""
        is_short, delivered, per_unit = self._call("shortfall", deal_id, leader)
        return Shortfall(bool(is_short), int(delivered), int(per_unit))

    def live_deals(self, batch_id: bytes) -> list[int]:
        """Deals a recall of ``batch_id`` would freeze (plus finished ones not yet pruned)."""
        return [int(d) for d in self._call("liveDeals", batch_id)]

    def deal_count(self) -> int:
        return int(self._call("dealCount"))


# Decoded ``dealParams`` answers by their hex text (EscrowClient.deal_params_from).
_DEAL_PARAMS_DECODED: dict[str, DealParams] = {}
_DEAL_PARAMS_KEPT = 512
