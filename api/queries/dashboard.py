"""The platform dashboard: GMV, orders, refunds by reason, commissions per leader, deals by state,
flagged batches.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from api.db import models as m
from api.queries.batches import _batch_row_summary
from api.queries.common import _batch_statuses, chain_now
from api.queries.deals import _DealFacts, deal_summary, detail_of
from api.timefmt import iso_utc
from chain import deal_rules


def dashboard(
    session: Session, *, supplier: str | None = None, leader: str | None = None
) -> dict[str, Any]:
    """Platform totals: GMV, orders, refunds by reason, commissions per leader, deals by state.

    ``supplier``: only that supplier's deals and batches. ``leader``: only the deals with orders
    in that leader's group, and of those only the group's orders, claims, refunds and commission;
    the group's GMV is its delivered units at the settled price.
    """
    query = select(m.Deal)
    if supplier:
        query = query.where(m.Deal.supplier == supplier)
    if leader:
        query = query.where(
            m.Deal.deal_id.in_(select(m.OrderEvent.deal_id).where(m.OrderEvent.leader == leader))
        )
    deals = session.scalars(query).all()
    facts = _DealFacts(session, deals)
    now = chain_now(session)
    # Deal states from every order (a deal forms on all groups' units), then the group's part.
    summaries = {d.deal_id: deal_summary(d, facts, now) for d in deals}
    # Leaders and receipts of the deals with receipts, from the same facts (once a query per
    # deal: issue 15), before the rows are narrowed to one leader's group below.
    groups = {
        d.deal_id: detail_of(d, facts, now)["leaders"] for d in deals if facts.receipts[d.deal_id]
    }
    if leader:
        for table in (facts.orders, facts.claims):
            for deal_id, rows in table.items():
                table[deal_id] = [r for r in rows if r.leader == leader]
    by_state: dict[str, int] = defaultdict(int)
    for s in summaries.values():
        by_state[s["status"]] += 1
    gmv = 0
    orders = 0
    # Trends by day (UTC, by block time): orders placed, money paid in, money refunded on cancel.
    days: dict[str, dict[str, int]] = defaultdict(lambda: {"orders": 0, "paid": 0, "cancelled": 0})
    refunds: dict[str, dict[str, int]] = defaultdict(lambda: {"count": 0, "amount": 0})
    for deal in deals:
        s = summaries[deal.deal_id]
        for o in facts.orders[deal.deal_id]:
            when = o.block_time if o.block_time.tzinfo else o.block_time.replace(tzinfo=UTC)
            day = days[when.astimezone(UTC).date().isoformat()]
            if o.kind == "join":
                orders += 1
                day["orders"] += 1
                day["paid"] += int(o.amount)
            else:
                day["cancelled"] += int(o.amount)
                refunds["cancelled"]["count"] += 1
                refunds["cancelled"]["amount"] += int(o.amount)
        for c in facts.claims[deal.deal_id]:
            if c.status == "upheld":
                refunds["quality_claim"]["count"] += 1
                refunds["quality_claim"]["amount"] += c.quantity * s["unit_price"]
        if s["status"] in ("failed", "frozen"):
            reason = "deal_failed" if s["status"] == "failed" else "recall"
            if leader:
                net = _net_paid(facts.orders[deal.deal_id])
                refunds[reason]["count"] += sum(1 for amount in net.values() if amount > 0)
                refunds[reason]["amount"] += sum(net.values())
            else:
                refunds[reason]["count"] += s["buyers"]
                refunds[reason]["amount"] += s["paid_in"]
        if s["settlement"] and not leader:
            gmv += s["settlement"]["revenue"]
    commissions: dict[str, int] = defaultdict(int)
    for deal in deals:
        if not facts.receipts[deal.deal_id]:
            continue
        settled = summaries[deal.deal_id]["status"] == "settled"
        for group in groups[deal.deal_id]:
            if leader and group["leader"] != leader:
                continue
            commissions[group["leader"]] += group["commission"]
            receipt = group["receipt"]
            if receipt and receipt["short"] and settled:
                refunds["short_delivery"]["count"] += 1  # one short group
                refunds["short_delivery"]["amount"] += receipt["short_refund"]
            if leader and receipt and settled and summaries[deal.deal_id]["settlement"]:
                price = summaries[deal.deal_id]["settlement"]["final_unit_price"]
                gmv += (group["quantity"] - receipt["short"]) * price
    batch_ids = (
        None if not (supplier or leader) else {b for d in deals for b in facts.batches[d.deal_id]}
    )
    if supplier:
        batch_ids = set(
            session.scalars(select(m.Batch.batch_id).where(m.Batch.supplier == supplier))
        )
    statuses = _batch_statuses(session, session.scalars(select(m.BatchStatusEvent.batch_id)).all())
    flagged = [
        b
        for b in session.scalars(
            select(m.Batch).where(
                (m.Batch.breach_count > 0) | m.Batch.batch_id.in_(list(statuses) or [""])
            )
        ).all()
        if batch_ids is None or b.batch_id in batch_ids
    ]
    return {
        "to_settle": _to_settle(deals, summaries, facts, now),
        "gmv": gmv,
        "orders": orders,
        "refunds": dict(refunds),
        "commissions": [
            {"leader": who, "amount": amount} for who, amount in sorted(commissions.items())
        ],
        "deals_by_state": dict(by_state),
        "by_day": [{"day": day, **figures} for day, figures in sorted(days.items())],
        "flagged_batches": [_batch_row_summary(b, statuses.get(b.batch_id)) for b in flagged],
    }


def _to_settle(
    deals: Any, summaries: dict[int, dict[str, Any]], facts: _DealFacts, now: int
) -> list[dict[str, Any]]:
    """Succeeded deals that are due to settle: a leader confirmed receipt, or the deal's settle
    time (``GroupBuyDeals.settleableTime``) has passed. ``ready`` when that time has passed; the
    escrow still has the last word (an open claim or a blocked batch: the deal page asks it)."""
    due = []
    for deal in deals:
        if summaries[deal.deal_id]["status"] != "succeeded":
            continue
        receipts = facts.receipts[deal.deal_id]
        last = max((_unix(r.block_time) for r in receipts), default=0)
        at = deal_rules.settleable_at(
            delivery_deadline=deal.delivery_deadline,
            dispute_window=deal.dispute_window,
            last_receipt_at=last,
            pickup_deadline=deal.pickup_deadline,
        )
        if receipts or now >= at:
            due.append(
                {
                    "deal_id": deal.deal_id,
                    "receipts": len(receipts),
                    "settleable_at": iso_utc(at),
                    "ready": now >= at,
                }
            )
    return sorted(due, key=lambda d: (not d["ready"], d["settleable_at"], d["deal_id"]))


def _unix(moment: datetime) -> int:
    return int((moment if moment.tzinfo else moment.replace(tzinfo=UTC)).timestamp())


def _net_paid(orders: list[m.OrderEvent]) -> dict[str, int]:
    """What each buyer still has in a deal: paid on joining less refunded on cancelling."""
    net: dict[str, int] = defaultdict(int)
    for o in orders:
        net[o.buyer] += int(o.amount) if o.kind == "join" else -int(o.amount)
    return net
