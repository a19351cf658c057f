"""The last mile in the read API (issue 11): pickups (核销) per order, no-shows, and cash orders
booked by leaders with the cash owed back to them — from the index's ``pickup_events`` and
``cash_order_events``, with the money rules of :mod:`chain.deal_rules`.

Words, not Chinese: ``pickup.status`` is ``awaiting_delivery`` (the leader has not received the
goods), ``awaiting_pickup`` (待提货), ``picked_up`` (已提货, with the time) or ``no_show`` (the
pickup deadline passed); the pages translate them.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from api.db import models as m
from api.timefmt import iso_utc
from chain import deal_rules
from chain.deal_rules import DealStatus


class LastMileFacts:
    """Pickup and cash-order events of a set of deals, loaded in two queries."""

    def __init__(self, session: Session, deal_ids: Sequence[int]) -> None:
        self.pickups: dict[int, list[m.PickupEvent]] = defaultdict(list)
        self.cash: dict[int, list[m.CashOrderEvent]] = defaultdict(list)
        if not deal_ids:
            return
        for table, target in ((m.PickupEvent, self.pickups), (m.CashOrderEvent, self.cash)):
            rows = session.scalars(
                select(table)
                .where(table.deal_id.in_(deal_ids))  # type: ignore[attr-defined]
                .order_by(table.block_number, table.log_index)  # type: ignore[attr-defined]
            ).all()
            for row in rows:
                target[row.deal_id].append(row)  # type: ignore[attr-defined]

    def cash_sold(self, deal_id: int) -> int:
        return sum(c.quantity for c in self.cash[deal_id] if c.kind == "booked")

    def cash_by_leader(self, deal_id: int) -> dict[str, int]:
        units: dict[str, int] = defaultdict(int)
        for c in self.cash[deal_id]:
            if c.kind == "booked":
                units[c.leader] += c.quantity
        return units

    def handover_of(self, deal_id: int, buyer: str) -> m.PickupEvent | None:
        for p in self.pickups[deal_id]:
            if p.kind == "handed_over" and p.buyer == buyer:
                return p
        return None


def pickup_view(
    event: m.PickupEvent | None, *, received: bool, now: int, pickup_deadline: int | None
) -> dict[str, Any]:
    """An order's (or a cash order's) pickup: status word, units taken and short, when."""
    if event is not None:
        return {
            "status": "picked_up",
            "quantity": event.quantity,
            "short_quantity": event.short_quantity,
            "time": iso_utc(event.block_time),
            "block": event.block_number,
            "tx": event.tx_hash,
        }
    if not received:
        status = "awaiting_delivery"
    elif pickup_deadline is not None and now >= pickup_deadline:
        status = "no_show"
    else:
        status = "awaiting_pickup"
    return {"status": status, "quantity": 0, "short_quantity": 0, "time": None}


def group_pickups(
    events: Sequence[m.PickupEvent],
    leader: str,
    *,
    buyers: set[str],
    ordered: int,
    delivered: int,
    price: int,
) -> dict[str, Any]:
    """A received group's handovers so far and what its no-shows get (the leader's pick list).
    A skipped code names only the buyer: it is the group's when the buyer's order is."""
    mine = [e for e in events if e.leader == leader or (e.kind == "skipped" and e.buyer in buyers)]
    taken = [e for e in mine if e.kind in ("handed_over", "cash")]
    handed = sum(e.quantity for e in taken)
    assigned = sum(e.short_quantity for e in taken)
    no_shows, unassigned = deal_rules.pending_units(ordered, delivered, handed, assigned)
    per_unit = (
        deal_rules.no_show_refund(no_shows, unassigned, price)[0] if delivered < ordered else 0
    )
    closed = next((e for e in mine if e.kind == "no_shows"), None)
    return {
        "handed_over": handed,
        "short_assigned": assigned,
        "to_pick_up": no_shows,
        "no_show_refund_per_unit": per_unit,
        "closed_out": closed is not None,
        "skipped": [
            {"buyer": e.buyer, "reason": e.reason, "tx": e.tx_hash}
            for e in mine
            if e.kind == "skipped"
        ],
    }


def cash_orders(
    facts: LastMileFacts,
    deal: m.Deal,
    leader: str,
    *,
    status: str,
    now: int,
    price: int,
    received: bool,
    group: dict[str, Any] | None,
) -> list[dict[str, Any]]:
    """A leader's cash orders in one deal: units, paid in, pickup, refunded and still owed back
    (``cashOwed``'s rules: the buyer's, with no claims)."""
    top = deal_rules.top_price(deal.price_tiers)
    orders: dict[str, dict[str, Any]] = {}
    for c in facts.cash[deal.deal_id]:
        if c.leader != leader:
            continue
        order = orders.setdefault(
            c.beneficiary_ref,
            {"beneficiary_ref": c.beneficiary_ref, "quantity": 0, "paid": 0, "refunded": 0},
        )
        if c.kind == "booked":
            order["quantity"] += c.quantity
            order["paid"] += int(c.amount)
        else:
            order["refunded"] += int(c.amount)
    handovers = {
        e.beneficiary_ref: e
        for e in facts.pickups[deal.deal_id]
        if e.kind == "cash" and e.leader == leader
    }
    for ref, order in orders.items():
        event = handovers.get(ref)
        order["pickup"] = pickup_view(
            event, received=received, now=now, pickup_deadline=deal.pickup_deadline
        )
        short = 0
        if received:
            if event is not None:
                short = event.short_quantity * price
            elif group is not None:
                short = order["quantity"] * group["no_show_refund_per_unit"]
        order["owed_back"] = deal_rules.buyer_owed(
            status=DealStatus[status.upper()],
            now=now,
            delivery_deadline=deal.delivery_deadline,
            top_price=top,
            unit_price=price,
            quantity=order["quantity"],
            paid_out=order["refunded"] > 0,
            leader_received=received,
            short_refund=short,
        )
    return sorted(orders.values(), key=lambda o: o["beneficiary_ref"])
