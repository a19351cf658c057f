"""The platform dashboard: GMV, orders, refunds by reason, commissions per leader, deals by state,
flagged batches.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from api.db import models as m
from api.queries.batches import _batch_row_summary
from api.queries.common import _batch_statuses, chain_now
from api.queries.deals import _DealFacts, deal_detail, deal_summary


def dashboard(session: Session) -> dict[str, Any]:
    """Platform totals: GMV, orders, refunds by reason, commissions per leader, deals by state."""
    deals = session.scalars(select(m.Deal)).all()
    facts = _DealFacts(session, deals)
    now = chain_now(session)
    summaries = {d.deal_id: deal_summary(d, facts, now) for d in deals}
    by_state: dict[str, int] = defaultdict(int)
    for s in summaries.values():
        by_state[s["status"]] += 1
    gmv = 0
    orders = 0
    refunds: dict[str, dict[str, int]] = defaultdict(lambda: {"count": 0, "amount": 0})
    for deal in deals:
        s = summaries[deal.deal_id]
        for o in facts.orders[deal.deal_id]:
            if o.kind == "join":
                orders += 1
            else:
                refunds["cancelled"]["count"] += 1
                refunds["cancelled"]["amount"] += int(o.amount)
        for c in facts.claims[deal.deal_id]:
            if c.status == "upheld":
                refunds["quality_claim"]["count"] += 1
                refunds["quality_claim"]["amount"] += c.quantity * s["unit_price"]
        if s["status"] in ("failed", "frozen"):
            reason = "deal_failed" if s["status"] == "failed" else "recall"
            refunds[reason]["count"] += s["buyers"]
            refunds[reason]["amount"] += s["paid_in"]
        if s["settlement"]:
            gmv += s["settlement"]["revenue"]
    commissions: dict[str, int] = defaultdict(int)
    for deal in deals:
        if not facts.receipts[deal.deal_id]:
            continue
        for leader in deal_detail(session, deal.deal_id)["leaders"]:
            commissions[leader["leader"]] += leader["commission"]
            receipt = leader["receipt"]
            if receipt and receipt["short"] and summaries[deal.deal_id]["status"] == "settled":
                refunds["short_delivery"]["count"] += 1  # one short group
                refunds["short_delivery"]["amount"] += receipt["short_refund"]
    statuses = _batch_statuses(session, session.scalars(select(m.BatchStatusEvent.batch_id)).all())
    flagged = session.scalars(
        select(m.Batch).where(
            (m.Batch.breach_count > 0) | m.Batch.batch_id.in_(list(statuses) or [""])
        )
    ).all()
    return {
        "gmv": gmv,
        "orders": orders,
        "refunds": dict(refunds),
        "commissions": [
            {"leader": leader, "amount": amount} for leader, amount in sorted(commissions.items())
        ],
        "deals_by_state": dict(by_state),
        "flagged_batches": [_batch_row_summary(b, statuses.get(b.batch_id)) for b in flagged],
    }
