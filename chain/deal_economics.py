"""What a listing's terms pay whom, before it is listed: the deal-listing page's economics.

For each price tier, the buyer's unit price (and the rebate from the top price paid at join), and
what the leader, the supplier and the platform receive when that tier's units are all delivered
through one leader's group; for each leader volume tier (阶梯奖励), what it earns. Computed with
:mod:`chain.deal_rules` (the escrow's mirror: same integer arithmetic, same rounding as
settlement), nothing of its own.
"""

from __future__ import annotations

from dataclasses import dataclass

from chain import deal_rules
from chain.clients.views import DealParams


@dataclass(frozen=True)
class TierEconomics:
    """A price tier reached at ``quantity`` units in all, every unit delivered, through one
    leader's group (so the leader's volume tier is the one ``quantity`` reaches)."""

    min_quantity: int
    quantity: int
    unit_price: int
    rebate_per_unit: int  # paid at join (the top price), refunded at settlement
    revenue: int
    leader_bps: int
    leader: int
    platform: int
    supplier: int


@dataclass(frozen=True)
class CommissionEconomics:
    """A leader volume tier (阶梯奖励): a group of ``min_volume`` units earns ``bps`` of its
    units' final price (the price tier that volume alone would reach)."""

    min_volume: int
    bps: int
    unit_price: int
    leader: int


def _tier_economics(p: DealParams, min_quantity: int) -> TierEconomics:
    quantity = max(min_quantity, int(p.min_total_quantity), 1)
    price = deal_rules.unit_price_at(p.price_tiers, quantity)
    bps = deal_rules.commission_bps_at(p.commission_tiers, p.commission_bps, quantity)
    leader = deal_rules.commission(quantity, price, bps)
    split = deal_rules.settlement(
        price_tiers=p.price_tiers,
        total_quantity=quantity,
        received_quantity=quantity,
        refunded_quantity=0,
        commission_total=leader,
        platform_fee_bps=p.platform_fee_bps,
    )
    return TierEconomics(
        min_quantity=min_quantity,
        quantity=quantity,
        unit_price=price,
        rebate_per_unit=deal_rules.top_price(p.price_tiers) - price,
        revenue=split.revenue,
        leader_bps=bps,
        leader=leader,
        platform=split.platform_fee,
        supplier=split.supplier_amount,
    )


def economics(p: DealParams) -> tuple[list[TierEconomics], list[CommissionEconomics]]:
    """What each price tier pays whom, and what each leader tier earns (for parameters whose
    tiers pass the checks; others have no meaningful economics)."""
    tiers = [_tier_economics(p, q) for q, _ in deal_rules.price_pairs(p.price_tiers)]
    leaders = []
    for volume, bps in [
        (0, int(p.commission_bps)),
        *deal_rules.commission_pairs(p.commission_tiers),
    ]:
        units = max(volume, 1)
        price = deal_rules.unit_price_at(p.price_tiers, max(units, int(p.min_total_quantity)))
        leaders.append(
            CommissionEconomics(volume, bps, price, deal_rules.commission(units, price, bps))
        )
    return tiers, leaders


__all__ = ["CommissionEconomics", "TierEconomics", "economics"]
