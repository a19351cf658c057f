"""What ``createDeal`` refuses, and what a listing pays whom: checked in Python before anyone signs.

The one mirror of the escrow's listing rules — ``GroupBuyEscrow.createDeal`` (the caller's
``PLATFORM_ROLE``, the token allowlist), ``GroupBuyDeals.create`` (an approved supplier, the batches
against the registry, the bound on live deals per batch) and ``GroupBuyMath.validate`` (tiers,
commission, quantities, deadlines, windows, fee, batch count) — in the contract's order, each
refusal named as the contract names its revert, with the same arguments. The deal-listing page
and the ``create_deal`` prepare endpoint take their verdict from here;
``tests/chain/test_deal_checks.py`` compares it with ``createDeal`` on anvil over generated
parameters (same verdict, same error name and arguments).

:func:`refusals` is pure (the chain's state comes in as :class:`ListingFacts`);
:func:`listing_facts` reads those facts from the chain. What the terms pay whom is
:mod:`chain.deal_economics`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from web3 import Web3

from chain import deal_rules
from chain.clients.views import BatchStatus, DealParams
from chain.deal_rules import DealStatus
from chain.errors import ContractRevert, error_class

if TYPE_CHECKING:
    from chain.clients import Clients

# GroupBuyMath's and GroupBuyDeals' constants.
MAX_PRICE_TIERS = 8
MAX_COMMISSION_TIERS = 8
MAX_BATCHES = 8
MIN_COMMISSION_BPS = 500
MAX_COMMISSION_BPS = 2000
MAX_PLATFORM_FEE_BPS = 1000
MAX_PER_BUYER = 2**24 - 1
MAX_LIVE_DEALS_PER_BATCH = 32

# The Solidity width of each numeric field of ``DealParams``: a larger value cannot be encoded,
# so the contract never sees it; the form refuses it as ``ValueOutOfRange`` (not a contract error).
FIELD_BITS: dict[str, int] = {
    "min_total_quantity": 32,
    "max_total_quantity": 32,
    "per_buyer_limit": 32,
    "join_deadline": 40,
    "delivery_deadline": 40,
    "dispute_window": 32,
    "answer_window": 32,
    "commission_bps": 16,
    "platform_fee_bps": 16,
    "pickup_deadline": 40,
    "cash_cap_per_leader": 32,
}
PRICE_TIER_BITS = (32, 96)  # (minQuantity, unitPrice)
COMMISSION_TIER_BITS = (32, 16)  # (minVolume, commissionBps)
OUT_OF_RANGE = "ValueOutOfRange"


@dataclass(frozen=True)
class Refusal:
    """One reason the contract would refuse the listing.

    ``error`` is the contract's error name (or ``ValueOutOfRange`` for a value the ABI cannot
    carry), ``args`` its arguments by ABI name (addresses checksummed, bytes32 as bytes), and
    ``field`` the parameter it is about (``price_tiers[2]``, ``batch_ids[0]``, ``sender``...)."""

    error: str
    args: dict[str, Any]
    field: str

    def to_revert(self) -> ContractRevert:
        """The named error the chain would raise (the API maps it to 409 like a real revert)."""
        cls = error_class(self.error) if self.error != OUT_OF_RANGE else ContractRevert
        shown = ", ".join(
            f"{k}={'0x' + v.hex() if isinstance(v, bytes) else v}" for k, v in self.args.items()
        )
        return cls(
            f"createDeal would revert: {self.error}({shown}) [{self.field}]",
            name=self.error,
            arguments=self.args,
        )


@dataclass(frozen=True)
class BatchFacts:
    status: BatchStatus
    supplier: str
    live_deals: int = 0  # deals selling it that are still open or succeeded (``isLive``)


@dataclass(frozen=True)
class ListingFacts:
    """What the chain says, at the block the listing would run in."""

    now: int
    sender: str
    sender_is_platform: bool
    platform_role: bytes
    token_allowed: bool
    supplier_approved: bool
    batches: Mapping[bytes, BatchFacts] = field(default_factory=dict)


def _out_of_range(p: DealParams) -> list[Refusal]:
    found = []
    for name, bits in FIELD_BITS.items():
        if getattr(p, name) is None:  # the pickup deadline left to default to the delivery's
            continue
        value = int(getattr(p, name))
        if not 0 <= value < 2**bits:
            found.append(Refusal(OUT_OF_RANGE, {"value": value, "bits": bits}, name))
    for list_name, bits, pairs in (
        ("price_tiers", PRICE_TIER_BITS, deal_rules.price_pairs(p.price_tiers)),
        ("commission_tiers", COMMISSION_TIER_BITS, deal_rules.commission_pairs(p.commission_tiers)),
    ):
        for i, pair in enumerate(pairs):
            for value, width in zip(pair, bits, strict=True):
                if not 0 <= value < 2**width:
                    found.append(
                        Refusal(OUT_OF_RANGE, {"value": value, "bits": width}, f"{list_name}[{i}]")
                    )
    return found


def _price_tiers(tiers: Sequence[tuple[int, int]]) -> Refusal | None:
    """``GroupBuyMath._validateTiers``."""
    n = len(tiers)
    if n == 0 or n > MAX_PRICE_TIERS:
        return Refusal("InvalidPriceTiers", {"index": n}, "price_tiers")
    if tiers[0][0] != 0 or tiers[0][1] == 0:
        return Refusal("InvalidPriceTiers", {"index": 0}, "price_tiers[0]")
    for i in range(1, n):
        (q, price), (prev_q, prev_price) = tiers[i], tiers[i - 1]
        if q <= prev_q or price >= prev_price or price == 0:
            return Refusal("InvalidPriceTiers", {"index": i}, f"price_tiers[{i}]")
    return None


def _commission(base_bps: int, tiers: Sequence[tuple[int, int]]) -> Refusal | None:
    """``GroupBuyMath._validateCommission``: a base rate in range, tiers rising in both."""
    if base_bps < MIN_COMMISSION_BPS or base_bps > MAX_COMMISSION_BPS:
        return Refusal("InvalidCommission", {"commissionBps": base_bps}, "commission_bps")
    n = len(tiers)
    if n > MAX_COMMISSION_TIERS:
        return Refusal("InvalidCommissionTiers", {"index": n}, "commission_tiers")
    prev_volume, prev_bps = 0, base_bps
    for i, (volume, bps) in enumerate(tiers):
        if volume <= prev_volume or bps <= prev_bps or bps > MAX_COMMISSION_BPS:
            return Refusal("InvalidCommissionTiers", {"index": i}, f"commission_tiers[{i}]")
        prev_volume, prev_bps = volume, bps
    return None


def _numbers(p: DealParams, now: int) -> list[Refusal]:
    """``GroupBuyMath.validate`` after the tiers: each group's first refusal, in its order."""
    found = []
    lo, hi, per = p.min_total_quantity, p.max_total_quantity, p.per_buyer_limit
    if lo == 0 or lo > hi or per == 0 or per > MAX_PER_BUYER:
        bad = "min_total_quantity" if lo == 0 or lo > hi else "per_buyer_limit"
        found.append(
            Refusal(
                "InvalidQuantities",
                {"minTotalQuantity": lo, "maxTotalQuantity": hi, "perBuyerLimit": per},
                bad,
            )
        )
    if p.join_deadline <= now or p.delivery_deadline <= p.join_deadline:
        found.append(
            Refusal(
                "InvalidDeadlines",
                {"joinDeadline": p.join_deadline, "deliveryDeadline": p.delivery_deadline},
                "join_deadline" if p.join_deadline <= now else "delivery_deadline",
            )
        )
    found += _pickup(p)
    if p.dispute_window == 0 or p.answer_window == 0:
        found.append(
            Refusal(
                "InvalidWindows",
                {"disputeWindow": p.dispute_window, "answerWindow": p.answer_window},
                "dispute_window" if p.dispute_window == 0 else "answer_window",
            )
        )
    if p.platform_fee_bps > MAX_PLATFORM_FEE_BPS:
        found.append(
            Refusal(
                "InvalidPlatformFee", {"platformFeeBps": p.platform_fee_bps}, "platform_fee_bps"
            )
        )
    if len(p.batch_ids) == 0 or len(p.batch_ids) > MAX_BATCHES:
        found.append(Refusal("InvalidBatchCount", {"count": len(p.batch_ids)}, "batch_ids"))
    return found


def _pickup(p: DealParams) -> list[Refusal]:
    """The pickup deadline and the cash cap (``GroupBuyMath.validate``, after the deadlines)."""
    found = []
    pickup = p.delivery_deadline if p.pickup_deadline is None else p.pickup_deadline
    if pickup < p.delivery_deadline:
        found.append(
            Refusal(
                "InvalidPickupDeadline",
                {"pickupDeadline": pickup, "deliveryDeadline": p.delivery_deadline},
                "pickup_deadline",
            )
        )
    if p.cash_cap_per_leader > MAX_PER_BUYER:
        found.append(
            Refusal(
                "InvalidCashCap", {"cashCapPerLeader": p.cash_cap_per_leader}, "cash_cap_per_leader"
            )
        )
    return found


def _batches(p: DealParams, facts: ListingFacts) -> Refusal | None:
    """``GroupBuyDeals._checkBatches`` then ``track``'s bound on live deals per batch."""
    supplier = Web3.to_checksum_address(p.supplier)
    ids = [bytes(b) for b in p.batch_ids]
    for i, batch_id in enumerate(ids):
        batch = facts.batches.get(batch_id, BatchFacts(BatchStatus.UNKNOWN, _ZERO))
        where = f"batch_ids[{i}]"
        if batch.status != BatchStatus.ACTIVE:
            return Refusal("BatchNotActive", {"batchId": batch_id}, where)
        if Web3.to_checksum_address(batch.supplier) != supplier:
            return Refusal(
                "BatchNotOwnedBySupplier", {"batchId": batch_id, "supplier": supplier}, where
            )
        if batch_id in ids[:i]:
            return Refusal("DuplicateBatch", {"batchId": batch_id}, where)
    for i, batch_id in enumerate(ids):
        if facts.batches[batch_id].live_deals >= MAX_LIVE_DEALS_PER_BATCH:
            return Refusal(
                "TooManyLiveDeals",
                {"batchId": batch_id, "max": MAX_LIVE_DEALS_PER_BATCH},
                f"batch_ids[{i}]",
            )
    return None


_ZERO = "0x" + "00" * 20


def refusals(p: DealParams, facts: ListingFacts) -> list[Refusal]:
    """Every reason to refuse ``p``, the one ``createDeal`` would revert with first.

    The contract stops at its first failed check; the form shows them all, so each group of
    checks contributes its first refusal, and the groups keep the contract's order: the
    caller's role, the token, the supplier, the tiers, the commission, the numbers, the
    batches. Values the ABI cannot encode come before everything (nothing reaches the chain)."""
    found = _out_of_range(p)
    if found:
        return found
    if not facts.sender_is_platform:
        found.append(
            Refusal(
                "AccessControlUnauthorizedAccount",
                {
                    "account": Web3.to_checksum_address(facts.sender),
                    "neededRole": facts.platform_role,
                },
                "sender",
            )
        )
    if not facts.token_allowed:
        found.append(
            Refusal("TokenNotAllowed", {"token": Web3.to_checksum_address(p.token)}, "token")
        )
    if not facts.supplier_approved:
        found.append(
            Refusal(
                "SupplierNotApproved",
                {"supplier": Web3.to_checksum_address(p.supplier)},
                "supplier",
            )
        )
    tiers = _price_tiers(deal_rules.price_pairs(p.price_tiers))
    commission = _commission(int(p.commission_bps), deal_rules.commission_pairs(p.commission_tiers))
    found += [r for r in (tiers, commission) if r is not None]
    found += _numbers(p, facts.now)
    # The contract reaches the batches only after validate() passed; each refusal here is
    # independent of the others, so the form can show it along with them.
    if len(p.batch_ids) and len(p.batch_ids) <= MAX_BATCHES:
        batches = _batches(p, facts)
        if batches is not None:
            found.append(batches)
    return found


def verdict(p: DealParams, facts: ListingFacts) -> Refusal | None:
    """The error ``createDeal`` reverts with (None: it lists the deal)."""
    found = refusals(p, facts)
    return found[0] if found else None


def listing_facts(clients: Clients, p: DealParams, *, sender: str, now: int) -> ListingFacts:
    """The chain's side of the checks for ``p`` listed by ``sender`` at chain time ``now``."""
    escrow, registry = clients.escrow, clients.registry
    batches: dict[bytes, BatchFacts] = {}
    for raw in p.batch_ids:
        batch_id = bytes(raw)
        if batch_id in batches:
            continue
        live = sum(
            1
            for d in escrow.live_deals(batch_id)
            if escrow.deal_status(d) in (DealStatus.OPEN, DealStatus.SUCCEEDED)
        )
        batches[batch_id] = BatchFacts(
            registry.batch_status(batch_id), registry.batch_supplier(batch_id), live
        )
    return ListingFacts(
        now=now,
        sender=Web3.to_checksum_address(sender),
        sender_is_platform=escrow.has_role("PLATFORM_ROLE", sender),
        platform_role=escrow.role("PLATFORM_ROLE"),
        token_allowed=escrow.is_token_allowed(p.token),
        supplier_approved=registry.is_approved_supplier(p.supplier),
        batches=batches,
    )


__all__ = [
    "BatchFacts",
    "ListingFacts",
    "Refusal",
    "listing_facts",
    "refusals",
    "verdict",
]
