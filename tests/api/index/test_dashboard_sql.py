"""The dashboard summed in SQL (:func:`api.queries.dashboard`) against the walk over every
deal's rows it replaced (kept here as the reference, issue 15): the same figures, with their
keys in the same order, for the whole platform, each supplier and each leader."""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from api import queries
from api.db import models as m
from api.db import session_factory
from api.queries.common import chain_now
from api.queries.deals import _DealFacts, deal_summary, detail_of
from api.services import Services

from .conftest import make_indexer
from .world import World


def _walked(session: Session, *, supplier: str | None, leader: str | None) -> dict[str, Any]:
    """The figures as the dashboard computed them before: every deal's rows in Python."""
    query = select(m.Deal)
    if supplier:
        query = query.where(m.Deal.supplier == supplier)
    if leader:
        query = query.where(
            m.Deal.deal_id.in_(select(m.OrderEvent.deal_id).where(m.OrderEvent.leader == leader))
        )
    deals = session.scalars(query.order_by(m.Deal.id)).all()  # the row order
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
    return {
        "gmv": gmv,
        "orders": orders,
        "refunds": dict(refunds),
        "commissions": [
            {"leader": who, "amount": amount} for who, amount in sorted(commissions.items())
        ],
        "deals_by_state": dict(by_state),
        "by_day": [{"day": day, **figures} for day, figures in sorted(days.items())],
    }


def _net_paid(orders: list[m.OrderEvent]) -> dict[str, int]:
    net: dict[str, int] = defaultdict(int)
    for o in orders:
        net[o.buyer] += int(o.amount) if o.kind == "join" else -int(o.amount)
    return net


def test_the_sql_dashboard_is_the_walk_over_every_deal(world: World, services: Services) -> None:
    make_indexer(services.engine, services).sync()
    with session_factory(services.engine)() as session:
        suppliers = sorted(set(session.scalars(select(m.Deal.supplier))))
        leaders = sorted(set(session.scalars(select(m.OrderEvent.leader))))
        scopes = [
            {"supplier": None, "leader": None},
            *({"supplier": s, "leader": None} for s in suppliers),
            *({"supplier": None, "leader": x} for x in leaders),
        ]
        assert world.leader.address in leaders and world.supplier.address in suppliers
        for scope in scopes:
            summed = queries.dashboard(session, **scope)
            walked = _walked(session, **scope)
            assert {k: summed[k] for k in walked} == walked, scope
            # The JSON's bytes: keys in the same order.
            assert list(summed["refunds"]) == list(walked["refunds"]), scope
            assert list(summed["deals_by_state"]) == list(walked["deals_by_state"]), scope
