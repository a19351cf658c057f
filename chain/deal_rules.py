"""The escrow's deal math in Python: one mirror of ``GroupBuyEscrow`` for every reader.

What a deal's status is, which price tier and unit price its volume reached, a leader's
commission rate and commission, when it can be settled, how settlement splits the revenue, and
what the escrow owes each account — computed exactly as ``contracts/libraries/GroupBuyMath.sol``,
``GroupBuyDeals.sol`` and ``GroupBuyEscrow.sol`` compute them (integer arithmetic, same
rounding). The read API, the pages and the keeper take these rules from here and nowhere else;
``tests/chain/test_deal_rules.py`` checks them against the contract on anvil
(``dealStatus``, ``finalUnitPrice``, ``owed``) over generated deals and order sequences.

Pure Python, no I/O: tiers are ``(threshold, value)`` pairs, objects with the Solidity struct's
field names (``chain.clients.PriceTier`` / ``CommissionTier``) or mappings with the read API's
snake-case names, so index rows (JSON lists), decoded views and API bodies all work.
:class:`chain.deal_book.DealBook` folds a deal's actions into the escrow's aggregates with these
rules (short deliveries, handovers, cash orders and recalls included).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from enum import IntEnum
from typing import Any, Literal, TypeVar, get_args

BPS = 10_000
T = TypeVar("T")


class DealStatus(IntEnum):
    """``IGroupBuyEscrow.DealStatus`` (same order: the ABI returns the index)."""

    NONE = 0
    OPEN = 1
    FAILED = 2
    SUCCEEDED = 3
    SETTLED = 4
    FROZEN = 5

    @property
    def label(self) -> str:
        """The word the read API and the pages use (``open``, ``settled``, ...)."""
        return self.name.lower()


# What the read API reports for an existing deal (``none`` is "no such deal": a 404).
DealStatusLabel = Literal["open", "succeeded", "failed", "frozen", "settled"]
DEAL_STATUS_LABELS: tuple[str, ...] = get_args(DealStatusLabel)

# Why the escrow skips a handover (IGroupBuyEscrow.HandoverSkip, from index 1; 0 is never
# emitted), in the escrow's order of checks.
HandoverSkip = Literal[
    "expired", "bad_signature", "no_order", "wrong_leader", "already_picked_up", "invalid_quantity"
]
HANDOVER_SKIPS: tuple[str, ...] = ("none", *get_args(HandoverSkip))  # by the event's index


def _pairs(tiers: Iterable[Any], first: str, second: str) -> list[tuple[int, int]]:
    pairs = []
    for tier in tiers:
        if type(tier) is tuple:  # pairs already (a rule given another's parse): the common case
            threshold, value = tier
            pairs.append((int(threshold), int(value)))
        elif isinstance(tier, Mapping):  # the read API's {"min_quantity": ..., "unit_price": ...}
            pairs.append((int(tier[first]), int(tier[second])))
        elif hasattr(tier, first):
            pairs.append((int(getattr(tier, first)), int(getattr(tier, second))))
        else:
            threshold, value = tier
            pairs.append((int(threshold), int(value)))
    return pairs


def price_pairs(price_tiers: Iterable[Any]) -> list[tuple[int, int]]:
    """``[(min_quantity, unit_price), ...]`` in the contract's order (ascending thresholds)."""
    return _pairs(price_tiers, "min_quantity", "unit_price")


def commission_pairs(commission_tiers: Iterable[Any]) -> list[tuple[int, int]]:
    """``[(min_volume, commission_bps), ...]`` in the contract's order."""
    return _pairs(commission_tiers, "min_volume", "commission_bps")


# ------------------------------------------------------------------ GroupBuyMath


def tier_index(price_tiers: Iterable[Any], total_quantity: int) -> int:
    """Index of the highest tier whose threshold ``total_quantity`` reaches (``unitPriceAt``:
    the loop stops at the first tier above; tier 0's threshold is 0, so one always applies)."""
    index = 0
    for i, (min_quantity, _) in enumerate(price_pairs(price_tiers)):
        if min_quantity > total_quantity:
            break
        index = i
    return index


def unit_price_at(price_tiers: Iterable[Any], total_quantity: int) -> int:
    """``GroupBuyMath.unitPriceAt``: the unit price every buyer pays at this volume."""
    pairs = price_pairs(price_tiers)
    return pairs[tier_index(pairs, total_quantity)][1]


def top_price(price_tiers: Iterable[Any]) -> int:
    """What a buyer pays when joining (tier 0's price; later tiers are refunded as a rebate)."""
    return price_pairs(price_tiers)[0][1]


def next_tier(price_tiers: Sequence[T], total_quantity: int) -> T | None:
    """The tier after the one ``total_quantity`` reached (an item of ``price_tiers`` as given),
    or None at the last tier."""
    following = tier_index(price_tiers, total_quantity) + 1
    return price_tiers[following] if following < len(price_tiers) else None


def commission_bps_at(commission_tiers: Iterable[Any], base_bps: int, volume: int) -> int:
    """``GroupBuyMath.commissionBpsAt``: the base rate, raised by the highest volume tier reached."""
    bps = int(base_bps)
    for min_volume, tier_bps in commission_pairs(commission_tiers):
        if min_volume > volume:
            break
        bps = tier_bps
    return bps


def commission(net_quantity: int, unit_price: int, bps: int) -> int:
    """``GroupBuyMath.commission``: rounded down (the supplier keeps the dust)."""
    return net_quantity * unit_price * bps // BPS


def delivered(ordered: int, received: int) -> int:
    """``confirmReceipt``: units that count as delivered (more than ordered counts as ordered)."""
    return min(received, ordered)


def pending_units(
    ordered: int, delivered_units: int, handed_over: int, short_assigned: int
) -> tuple[int, int]:
    """``GroupBuyLastMile._pending``: (units not handed over, short units not yet assigned) of a
    received group."""
    return ordered - handed_over - short_assigned, (ordered - delivered_units) - short_assigned


def handover_fits(
    *, ordered: int, taken: int, claimed: int, no_shows: int, unassigned: int
) -> bool:
    """``GroupBuyLastMile._fits``: ``taken`` of an order's ``ordered`` units can be handed over —
    no more than ordered, no fewer than claimed, no more than the group's delivered units still at
    the pickup point, and the rest short only if the group's unassigned short units cover it."""
    if taken > ordered or taken < claimed:
        return False
    return taken <= no_shows - unassigned and ordered - taken <= unassigned


def no_show_refund(no_shows: int, unassigned: int, unit_price: int) -> tuple[int, int]:
    """(refund per no-show unit, the supplier's rounding remainder): the short units nobody took
    at handover, shared by the units never handed over — ⌊unassigned × price / no-shows⌋ each."""
    if no_shows == 0:
        return 0, 0
    value = unassigned * unit_price
    return value // no_shows, value % no_shows


def shortfall(ordered: int, delivered_units: int, unit_price: int) -> tuple[int, int]:
    """``GroupBuyEscrow._recordShortfall``: (refund per ordered unit, the supplier's rounding
    remainder) of a group delivered short: each unit gets back ⌊shortage × price / ordered⌋."""
    short_value = (ordered - delivered_units) * unit_price
    per_unit = short_value // ordered
    return per_unit, short_value - per_unit * ordered


# ------------------------------------------------------------------ GroupBuyDeals


def deal_status(
    *,
    now: int,
    join_deadline: int,
    total_quantity: int,
    min_total_quantity: int,
    frozen: bool = False,
    settled: bool = False,
    exists: bool = True,
) -> DealStatus:
    """``GroupBuyDeals.status``: a deal closes for joins at its join deadline (block time)."""
    if not exists:
        return DealStatus.NONE
    if frozen:
        return DealStatus.FROZEN
    if settled:
        return DealStatus.SETTLED
    if now < join_deadline:
        return DealStatus.OPEN
    return DealStatus.SUCCEEDED if total_quantity >= min_total_quantity else DealStatus.FAILED


def settleable_at(
    *,
    delivery_deadline: int,
    dispute_window: int,
    last_receipt_at: int,
    pickup_deadline: int | None = None,
    last_pickup_at: int = 0,
) -> int:
    """``GroupBuyDeals.settleableTime``: the pickup deadline (the delivery deadline when none),
    or the end of the last receipt's or the last handover's dispute window when later (0 =
    none)."""
    at = delivery_deadline if pickup_deadline is None else pickup_deadline
    for last in (last_receipt_at, last_pickup_at):
        if last and last + dispute_window > at:
            at = last + dispute_window
    return at


@dataclass(frozen=True)
class Settlement:
    """``GroupBuyDeals.settle``'s split (``DealSettled``'s fields)."""

    unit_price: int
    revenue: int
    platform_fee: int
    supplier_amount: int
    commission_total: int


def settlement(
    *,
    price_tiers: Iterable[Any],
    total_quantity: int,
    received_quantity: int,
    refunded_quantity: int,
    commission_total: int,
    platform_fee_bps: int,
    short_dust: int = 0,
) -> Settlement:
    """Revenue of the delivered, unrefunded units at the final price; the fee rounded down; the
    supplier takes the remainder after commissions, plus short deliveries' rounding dust."""
    price = unit_price_at(price_tiers, total_quantity)
    revenue = (received_quantity - refunded_quantity) * price
    fee = revenue * platform_fee_bps // BPS
    supplier_amount = revenue - fee - commission_total + short_dust
    return Settlement(price, revenue, fee, supplier_amount, commission_total)


def buyer_owed(
    *,
    status: DealStatus,
    now: int,
    delivery_deadline: int,
    top_price: int,
    unit_price: int,
    quantity: int,
    upheld_quantity: int = 0,
    paid_out: bool = False,
    leader_received: bool,
    short_refund_per_unit: int = 0,
    short_refund: int | None = None,
) -> int:
    """``GroupBuyEscrow._buyerOwed``: what one order is owed now (paid once, when final).

    Failed or frozen: everything back. Leader never confirmed receipt and the delivery deadline
    passed: everything back. Received and settled: the rebate to the final price, plus the final
    price of each unit a claim upheld, plus its share of a short delivery's refund."""
    if quantity == 0 or paid_out:
        return 0
    full = quantity * top_price
    if status in (DealStatus.FAILED, DealStatus.FROZEN):
        return full
    if status not in (DealStatus.SUCCEEDED, DealStatus.SETTLED):
        return 0
    if not leader_received:
        return full if now >= delivery_deadline else 0
    if status != DealStatus.SETTLED:
        return 0
    if short_refund is None:  # before handovers: the group's pro-rata share per unit
        short_refund = quantity * short_refund_per_unit
    return quantity * (top_price - unit_price) + upheld_quantity * unit_price + short_refund


def status_label(status: DealStatus | int) -> str:
    """The read API's word for a status (the contract's enum index accepted too)."""
    return DealStatus(int(status)).label
