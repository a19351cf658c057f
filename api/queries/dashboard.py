"""The platform dashboard: GMV, orders, refunds by reason, commissions per leader, deals by state,
flagged batches.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import case, exists, func, select, union
from sqlalchemy.orm import Session

from api.db import models as m
from api.queries.batches import _batch_row_summary
from api.queries.common import (
    MAX_PAGE,
    _batch_statuses,
    amount_sum,
    amount_sum_name,
    chain_now,
)
from api.queries.deals import _deal_status_sql, _DealFacts, _status_filter, detail_of, summaries_of
from api.timefmt import iso_utc
from chain import deal_rules


def _utc_day(session: Session, column: Any) -> Any:
    """A timestamp column's UTC day, ``YYYY-MM-DD`` (SQLite keeps the UTC time as text)."""
    if session.get_bind().dialect.name == "postgresql":
        return func.to_char(func.timezone("UTC", column), "YYYY-MM-DD")
    return func.substr(column, 1, 10)


def dashboard(
    session: Session,
    *,
    supplier: str | None = None,
    leader: str | None = None,
    leaders_after: str | None = None,
) -> dict[str, Any]:
    """Platform totals: GMV, orders, refunds by reason, commissions per leader, deals by state.

    ``supplier``: only that supplier's deals and batches. ``leader``: only the deals with orders
    in that leader's group, and of those only the group's orders, claims, refunds and commission;
    the group's GMV is its delivered units at the settled price. ``leaders_after``: the leader
    list's page after that address (``leaders_total``: how many; ``leaders_more``: the next
    page's cursor).

    Summed in SQL (issue 15: at 100,000 deals the dashboard loaded every deal's rows): deals by
    state, orders and refunds by day and reason; only the deals with receipts (commissions,
    short deliveries) and with upheld claims are loaded as rows. Keys appear in the order the
    deals (by row id) first gave them, as when every deal was walked in Python.
    """
    now = chain_now(session)
    total = amount_sum_name(session)  # token amounts pass int64 (18 decimals): summed exactly
    o = m.OrderEvent
    conditions: list[Any] = []
    if supplier:
        conditions.append(m.Deal.supplier == supplier)
    if leader:
        conditions.append(m.Deal.deal_id.in_(select(o.deal_id).where(o.leader == leader)))
    scope = select(m.Deal.deal_id).where(*conditions)
    mine = [o.leader == leader] if leader else []  # the group's orders only
    # Deal states from every order (a deal forms on all groups' units), the first deal of each.
    per_deal = (
        select(
            m.Deal.id.label("row"),
            m.Deal.deal_id.label("deal_id"),
            _deal_status_sql(now).label("status"),
            m.Deal.delivery_deadline.label("delivery_deadline"),
        )
        .where(*conditions)
        .subquery()
    )
    states = session.execute(
        select(per_deal.c.status, func.count(), func.min(per_deal.c.row)).group_by(
            per_deal.c.status
        )
    ).all()
    by_state = {status: int(n) for status, n, _ in sorted(states, key=lambda r: r[2])}
    first = {status: row for status, _, row in states}
    # Orders and cancels by UTC day (block time).
    day = _utc_day(session, o.block_time)
    days: dict[str, dict[str, int]] = defaultdict(lambda: {"orders": 0, "paid": 0, "cancelled": 0})
    orders = cancels = cancelled = paid_in = 0
    rows = (
        select(day.label("day"), (o.kind == "join").label("is_join"), o.amount)
        .where(o.deal_id.in_(scope), *mine)
        .subquery()
    )
    for when, is_join, n, amount in session.execute(
        select(
            rows.c.day,
            rows.c.is_join,
            func.count(),
            func.coalesce(amount_sum(total, rows.c.amount), 0),
        ).group_by(rows.c.day, rows.c.is_join)
    ):
        figures = days[str(when)]
        if is_join:
            orders += n
            figures["orders"] += n
            figures["paid"] += int(amount)
            paid_in += int(amount)
        else:
            figures["cancelled"] += int(amount)
            cancels += n
            cancelled += int(amount)
    # Cash orders a leader booked for neighbours paying in cash (the top price, in the escrow like
    # a buyer's): by the deal's state, for the identity (their units count in tiers and GMV).
    cash = m.CashOrderEvent
    cash_by_state = {
        status: int(amount)
        for status, amount in session.execute(
            select(per_deal.c.status, func.coalesce(amount_sum(total, cash.amount), 0))
            .join(per_deal, per_deal.c.deal_id == cash.deal_id)
            .where(cash.kind == "booked", *([cash.leader == leader] if leader else []))
            .group_by(per_deal.c.status)
        )
    }
    # Refunds by reason; a reason's key is where the first deal giving it put it (by row id;
    # within a deal: cancels, then upheld claims, then the deal's failure or recall).
    firsts: list[tuple[int, int, str]] = []
    refunds: dict[str, dict[str, int]] = {}
    if cancels:
        row = session.scalar(
            select(func.min(m.Deal.id))
            .join(o, o.deal_id == m.Deal.deal_id)
            .where(*conditions, o.kind != "join", *mine)
        )
        firsts.append((row, 0, "cancelled"))
        refunds["cancelled"] = {"count": cancels, "amount": cancelled}
    c = m.ClaimEvent
    upheld = session.execute(
        select(m.Deal.id, c.deal_id, c.quantity)
        .select_from(c)
        .join(m.Deal, m.Deal.deal_id == c.deal_id)
        .where(*conditions, c.status == "upheld", *([c.leader == leader] if leader else []))
    ).all()
    upheld_units: dict[int, int] = defaultdict(int)  # per deal (the group's, for a leader)
    if upheld:
        prices = {
            d: s["unit_price"] for d, s in summaries_of(session, {u[1] for u in upheld}).items()
        }
        for _, deal_id, quantity in upheld:
            upheld_units[deal_id] += quantity
        firsts.append((min(u[0] for u in upheld), 1, "quality_claim"))
        refunds["quality_claim"] = {
            "count": len(upheld),
            "amount": sum(quantity * prices[deal_id] for _, deal_id, quantity in upheld),
        }
    for status, reason in (("failed", "deal_failed"), ("frozen", "recall")):
        if status not in first:
            continue
        firsts.append((first[status], 2, reason))
        held = select(per_deal.c.deal_id).where(per_deal.c.status == status)
        if leader:
            net = (
                select(
                    amount_sum(total, case((o.kind == "join", o.amount), else_=-o.amount)).label(
                        "net"
                    )
                )
                .where(o.deal_id.in_(held), *mine)
                .group_by(o.deal_id, o.buyer)
                .subquery()
            )
            count, amount = session.execute(
                select(
                    func.count(case((net.c.net > 0, 1))),
                    func.coalesce(amount_sum(total, net.c.net), 0),
                )
            ).one()
        else:
            buyers = (
                select(o.deal_id, o.buyer)
                .where(o.deal_id.in_(held), o.kind == "join")
                .distinct()
                .subquery()
            )
            count = session.scalar(select(func.count()).select_from(buyers))
            # Paid less refunded, subtracted in Python (either may be past int64: text on SQLite).
            paid, refunded = session.execute(
                select(
                    func.coalesce(amount_sum(total, case((o.kind == "join", o.amount))), 0),
                    func.coalesce(amount_sum(total, case((o.kind == "cancel", o.amount))), 0),
                ).where(o.deal_id.in_(held))
            ).one()
            amount = int(paid) - int(refunded)
        # A failed or recalled deal's cash orders are owed back in full too (to their leader).
        amount = int(amount or 0) + cash_by_state.get(status, 0)
        refunds[reason] = {"count": int(count or 0), "amount": amount}
    # Undelivered: a group of a succeeded or settled deal whose leader confirmed no receipt by
    # the delivery deadline; its buyers get back all they paid (GroupBuyEscrow._buyerOwed).
    count, amount, row = _undelivered(session, per_deal, now, total, mine, ("succeeded", "settled"))
    if count:
        firsts.append((row, 2, "undelivered"))
        refunds["undelivered"] = {"count": int(count), "amount": int(amount)}
    # Still in escrow: what buyers paid into deals open or succeeded and not settled, less what
    # cancels gave back and what undelivered groups of those deals are owed (counted above).
    live = select(per_deal.c.deal_id).where(per_deal.c.status.in_(("open", "succeeded")))
    paid_live, cancelled_live = session.execute(
        select(
            func.coalesce(amount_sum(total, case((o.kind == "join", o.amount))), 0),
            func.coalesce(amount_sum(total, case((o.kind == "cancel", o.amount))), 0),
        ).where(o.deal_id.in_(live), *mine)
    ).one()
    _, owed_live, _ = _undelivered(session, per_deal, now, total, mine, ("succeeded",))
    in_escrow = int(paid_live) - int(cancelled_live) - int(owed_live)
    in_escrow += sum(cash_by_state.get(status, 0) for status in ("open", "succeeded"))
    refunds = {reason: refunds[reason] for _, _, reason in sorted(firsts)}
    gmv = 0
    if not leader:
        # The settled deals' revenue (the escrow settles a deal once: one Settled each).
        gmv = int(
            session.scalar(
                select(func.coalesce(amount_sum(total, m.DealOutcome.revenue), 0)).where(
                    m.DealOutcome.kind == "settled", m.DealOutcome.deal_id.in_(scope)
                )
            )
            or 0
        )
    # Commissions and short deliveries: the deals with receipts, their leaders from every order
    # (the group's part is picked below), in row order.
    received = session.scalars(
        select(m.Deal)
        .where(*conditions, exists().where(m.Receipt.deal_id == m.Deal.deal_id))
        .order_by(m.Deal.id)
    ).all()
    facts = _DealFacts(session, received)
    # A commission is the escrow's to pay at settlement only (GroupBuyEscrow._collect): a
    # received group of a deal not settled yet, or frozen by a recall, has earned nothing yet.
    commissions: dict[str, int] = defaultdict(int)
    rebates = 0
    for deal in received:
        detail = detail_of(deal, facts, now)
        if detail["status"] != "settled":
            continue
        rebate = detail["top_price"] - detail["settlement"]["final_unit_price"]
        for group in detail["leaders"]:
            if leader and group["leader"] != leader:
                continue
            commissions[group["leader"]] += group["commission"]
            if group["receipt"]:
                # The buyers' units of a received group were paid at the top price and settle
                # at the final one (an undelivered group's buyers get it all back: a refund).
                # A group's units: its buyers' and its leader's cash orders (their short
                # refund is the group's too).
                rebates += group["quantity"] * rebate
            receipt = group["receipt"]
            if receipt and receipt["short"]:
                short = refunds.setdefault("short_delivery", {"count": 0, "amount": 0})
                short["count"] += 1  # one short group
                short["amount"] += receipt["short_refund"]
            if leader and receipt and detail["settlement"]:
                # The settled revenue's part: (delivered − upheld claims) × the settled price.
                price = detail["settlement"]["final_unit_price"]
                delivered = group["quantity"] - receipt["short"]
                gmv += (delivered - upheld_units[deal.deal_id]) * price
    batch_ids = (
        None
        if not (supplier or leader)
        else set(
            session.scalars(select(m.DealBatch.batch_id).where(m.DealBatch.deal_id.in_(scope)))
        )
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
        "to_settle": _to_settle(session, conditions, now),
        "gmv": gmv,
        "paid_in": paid_in,
        "cash_booked": sum(cash_by_state.values()),
        "rebates": rebates,
        "in_escrow": in_escrow,
        "orders": orders,
        "refunds": refunds,
        "commissions": [
            {"leader": who, "amount": amount} for who, amount in sorted(commissions.items())
        ],
        **_leaders(
            session,
            scope,
            leader,
            commissions,
            every=not (supplier or leader),
            after=leaders_after,
        ),
        "deals_by_state": by_state,
        "by_day": [{"day": day, **figures} for day, figures in sorted(days.items())],
        "flagged_batches": [_batch_row_summary(b, statuses.get(b.batch_id)) for b in flagged],
    }


def _undelivered(
    session: Session,
    per_deal: Any,
    now: int,
    total: Any,
    mine: list[Any],
    statuses: tuple[str, ...],
) -> tuple[int, int, int | None]:
    """The buyers of groups never received by their deal's delivery deadline, in deals of
    ``statuses``: how many, what they are owed back (all they paid), the first deal's row."""
    o, r = m.OrderEvent, m.Receipt
    due = select(per_deal.c.deal_id).where(
        per_deal.c.status.in_(statuses), per_deal.c.delivery_deadline <= now
    )
    net = (
        select(
            o.deal_id.label("deal_id"),
            amount_sum(total, case((o.kind == "join", o.amount), else_=-o.amount)).label("net"),
        )
        .where(
            o.deal_id.in_(due),
            *mine,
            ~exists().where(r.deal_id == o.deal_id, r.leader == o.leader),
        )
        .group_by(o.deal_id, o.buyer)
        .subquery()
    )
    count, amount, row = session.execute(
        select(
            func.count(),
            func.coalesce(amount_sum(total, net.c.net), 0),
            func.min(m.Deal.id),
        )
        .select_from(net)
        .join(m.Deal, m.Deal.deal_id == net.c.deal_id)
        .where(net.c.net > 0)
    ).one()
    return int(count), int(amount), row


def _leaders(
    session: Session,
    scope: Any,
    leader: str | None,
    commissions: dict[str, int],
    *,
    every: bool,
    after: str | None = None,
) -> dict[str, Any]:
    """Each leader's orders (joins) in the scope's deals and commission (settled deals), by
    address; on the platform's view every approved leader too, with zeros before a first order
    (an operator who just approved one finds them here), and the one leader of a leader's view.

    A page of at most :data:`MAX_PAGE`, those after ``after`` (by address): ``leaders``,
    ``leaders_total`` (how many there are in all), ``leaders_more`` (the next page's cursor). A leader
    with a commission has orders in the scope, so the leaders are those with orders and, on the
    platform's view, the approved ones (``party_statuses``), read a page at a time."""
    o = m.OrderEvent
    if leader:
        who: list[str] = [leader] if after is None or leader > after else []
        total = 1
    else:
        # A leader with a commission has orders in the scope: joins, or cash orders booked.
        cash = m.CashOrderEvent
        parts = [
            select(o.leader).where(o.deal_id.in_(scope), o.kind == "join"),
            select(cash.leader).where(cash.deal_id.in_(scope)),
        ]
        if every:
            s = m.PartyStatus
            parts.append(select(s.account).where(s.kind == "leader", s.status == "approved"))
        leaders = union(*parts).subquery()  # UNION: each leader once
        column = leaders.c[0]
        total = int(session.scalar(select(func.count()).select_from(leaders)) or 0)
        page = select(column).order_by(column).limit(MAX_PAGE + 1)
        if after is not None:
            page = page.where(column > after)
        who = list(session.scalars(page))
    more = who[MAX_PAGE - 1] if len(who) > MAX_PAGE else None
    who = who[:MAX_PAGE]
    counts = dict(
        session.execute(
            select(o.leader, func.count())
            .where(o.deal_id.in_(scope), o.kind == "join", o.leader.in_(who or [""]))
            .group_by(o.leader)
        ).all()
    )
    return {
        "leaders": [
            {"leader": x, "orders": int(counts.get(x, 0)), "commission": commissions.get(x, 0)}
            for x in who
        ],
        "leaders_total": total,
        "leaders_more": more,
    }


def _to_settle(session: Session, conditions: list[Any], now: int) -> list[dict[str, Any]]:
    """Succeeded deals that are due to settle: a leader confirmed receipt, or the deal's settle
    time (``GroupBuyDeals.settleableTime``) has passed. ``ready`` when that time has passed; the
    escrow still has the last word (an open claim or a blocked batch: the deal page asks it).

    The succeeded deals in SQL (the status filter of ``/v1/deals``), each with its receipts'
    count and latest time: not every deal's rows (issue 15)."""
    r = m.Receipt
    receipts = select(func.count()).where(r.deal_id == m.Deal.deal_id).scalar_subquery()
    last_time = select(func.max(r.block_time)).where(r.deal_id == m.Deal.deal_id).scalar_subquery()
    due = []
    for deal in session.execute(
        select(
            m.Deal.deal_id,
            m.Deal.delivery_deadline,
            m.Deal.dispute_window,
            m.Deal.pickup_deadline,
            receipts.label("receipts"),
            last_time.label("last_time"),
        ).where(*conditions, _status_filter(now, "succeeded"))
    ):
        last = _unix(deal.last_time) if deal.last_time is not None else 0
        at = deal_rules.settleable_at(
            delivery_deadline=deal.delivery_deadline,
            dispute_window=deal.dispute_window,
            last_receipt_at=last,
            pickup_deadline=deal.pickup_deadline,
        )
        if deal.receipts or now >= at:
            due.append(
                {
                    "deal_id": deal.deal_id,
                    "receipts": int(deal.receipts),
                    "settleable_at": iso_utc(at),
                    "ready": now >= at,
                }
            )
    return sorted(due, key=lambda d: (not d["ready"], d["settleable_at"], d["deal_id"]))


def _unix(moment: datetime | str) -> int:
    if isinstance(moment, str):  # SQLite's max() of the stored text
        moment = datetime.fromisoformat(moment)
    return int((moment if moment.tzinfo else moment.replace(tzinfo=UTC)).timestamp())
