"""Deals from the index: summaries with live totals, status, tier and price (by
:mod:`chain.deal_rules`), one deal's leaders and orders, a buyer's orders, pages of deals
filtered in SQL.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import cache, partial
from typing import Any

from sqlalchemy import case, exists, func, select
from sqlalchemy.orm import Session

from api.db import models as m
from api.index_errors import DealNotFound
from api.indexer.enrich import hash_id_of
from api.queries.common import amount_sum, amount_sum_name, chain_now, index_state
from api.queries.pickups import LastMileFacts, cash_orders, group_pickups, pickup_view
from api.timefmt import iso_utc
from chain import deal_rules
from chain.deal_rules import DealStatus


class _DealFacts:
    """Everything about a set of deals, loaded in a few queries."""

    def __init__(self, session: Session, deals: Sequence[m.Deal]) -> None:
        ids = [d.deal_id for d in deals]
        self.orders: dict[int, list[m.OrderEvent]] = defaultdict(list)
        self.outcomes: dict[int, list[m.DealOutcome]] = defaultdict(list)
        self.receipts: dict[int, list[m.Receipt]] = defaultdict(list)
        self.claims: dict[int, list[m.ClaimEvent]] = defaultdict(list)
        self.batches: dict[int, list[str]] = defaultdict(list)
        self.payouts: dict[int, list[m.Payout]] = defaultdict(list)
        self.last = LastMileFacts(session, ids)  # pickups and cash orders (issue 11)
        if not ids:
            return
        for table, target in (
            (m.OrderEvent, self.orders),
            (m.DealOutcome, self.outcomes),
            (m.Receipt, self.receipts),
            (m.ClaimEvent, self.claims),
            (m.Payout, self.payouts),
        ):
            rows = session.scalars(
                select(table)
                .where(table.deal_id.in_(ids))  # type: ignore[attr-defined]
                .order_by(table.block_number, table.log_index)  # type: ignore[attr-defined]
            ).all()
            for row in rows:
                target[row.deal_id].append(row)  # type: ignore[attr-defined]
        for deal_id, batch_id in session.execute(
            select(m.DealBatch.deal_id, m.DealBatch.batch_id)
            .where(m.DealBatch.deal_id.in_(ids))
            .order_by(m.DealBatch.id)  # as list_deals: each deal's batches in the order indexed
        ):
            self.batches[deal_id].append(batch_id)

    def sold(self, deal_id: int) -> int:
        """Units sold: joins minus cancels, plus cash orders booked by leaders (they count toward
        成团 and the tiers)."""
        joined = sum(o.quantity if o.kind == "join" else -o.quantity for o in self.orders[deal_id])
        return joined + self.last.cash_sold(deal_id)

    def group_units(self, deal_id: int, leader: str) -> int:
        """A leader's group's units: its buyers' joins minus cancels, plus its cash orders (what
        a receipt is compared with: fewer received is a short delivery)."""
        joined = sum(
            o.quantity if o.kind == "join" else -o.quantity
            for o in self.orders[deal_id]
            if o.leader == leader
        )
        return joined + self.last.cash_by_leader(deal_id).get(leader, 0)


@dataclass(frozen=True)
class _Totals:
    """A deal's running totals: what :func:`deal_summary` needs of its orders, cash orders and
    receipts (from the rows in :class:`_DealFacts`, or aggregated in SQL by :func:`list_deals`)."""

    joined: int = 0  # units joined
    cancelled: int = 0  # units cancelled
    paid: int = 0  # paid in on joining
    refunded: int = 0  # refunded on cancelling
    buyers: int = 0  # distinct buyers who joined
    receipts: int = 0
    cash_sold: int = 0  # units of cash orders booked by leaders


def _facts_totals(facts: _DealFacts, deal_id: int) -> _Totals:
    orders = facts.orders[deal_id]
    return _Totals(
        joined=sum(o.quantity for o in orders if o.kind == "join"),
        cancelled=sum(o.quantity for o in orders if o.kind != "join"),
        paid=sum(int(o.amount) for o in orders if o.kind == "join"),
        refunded=sum(int(o.amount) for o in orders if o.kind == "cancel"),
        buyers=len({o.buyer for o in orders if o.kind == "join"}),
        receipts=len(facts.receipts[deal_id]),
        cash_sold=facts.last.cash_sold(deal_id),
    )


def deal_summary(deal: m.Deal, facts: _DealFacts, now: int) -> dict[str, Any]:
    """A deal with live totals, phase, current tier and price, and time left."""
    return _summary(
        deal,
        _facts_totals(facts, deal.deal_id),
        {o.kind: o for o in facts.outcomes[deal.deal_id]},
        facts.batches[deal.deal_id],
        now,
    )


def _summary(
    deal: Any, totals: _Totals, outcomes: dict[str, Any], batch_ids: list[str], now: int
) -> dict[str, Any]:
    """:func:`deal_summary` from a deal (ORM object or row), its totals, its outcomes by kind
    (the latest of each) and its batch ids."""
    sold = totals.joined - totals.cancelled + totals.cash_sold
    status = deal_rules.deal_status(
        now=now,
        join_deadline=deal.join_deadline,
        total_quantity=sold,
        min_total_quantity=deal.min_quantity,
        frozen="frozen" in outcomes,
        settled="settled" in outcomes,
    ).label
    pairs = deal_rules.price_pairs(deal.price_tiers)  # parsed once for the three rules below
    tier = deal_rules.tier_index(pairs, sold)
    price = deal_rules.unit_price_at(pairs, sold)
    settled = outcomes.get("settled")
    return {
        "deal_id": deal.deal_id,
        "status": status,
        "supplier": deal.supplier,
        "token": deal.token,
        "batch_ids": batch_ids,
        "price_tiers": [{"min_quantity": q, "unit_price": p} for q, p in pairs],
        "current_tier": tier,
        "unit_price": int(settled.final_unit_price) if settled else price,
        "top_price": deal_rules.top_price(pairs),
        "sold": sold,
        "min_quantity": deal.min_quantity,
        "max_quantity": deal.max_quantity,
        "per_buyer_limit": deal.per_buyer_limit,
        "buyers": totals.buyers,
        "paid_in": totals.paid - totals.refunded,
        "join_deadline": deal.join_deadline,
        "delivery_deadline": deal.delivery_deadline,
        "pickup_deadline": deal.pickup_deadline
        if deal.pickup_deadline is not None
        else deal.delivery_deadline,
        "cash_cap_per_leader": deal.cash_cap_per_leader or 0,
        "cash_sold": totals.cash_sold,
        "seconds_left": max(0, deal.join_deadline - now) if status == "open" else 0,
        "commission_bps": deal.commission_bps,
        "platform_fee_bps": deal.platform_fee_bps,
        "receipts": totals.receipts,
        "created": {
            "block": deal.block_number,
            "tx": deal.tx_hash,
            "time": iso_utc(deal.block_time),
        },
        "settlement": None
        if settled is None
        else {
            "final_unit_price": int(settled.final_unit_price or 0),
            "revenue": int(settled.revenue or 0),
            "supplier_amount": int(settled.supplier_amount or 0),
            "platform_fee": int(settled.platform_fee or 0),
            "commission_total": int(settled.commission_total or 0),
            "block": settled.block_number,
            "tx": settled.tx_hash,
        },
    }


def _deal_status_sql(now: int) -> Any:
    """:func:`chain.deal_rules.deal_status` as a SQL expression over the index (so ``/v1/deals``
    filters and pages in the database): frozen, else settled, else open before the join
    deadline, else succeeded when the units sold (joins minus cancels) reach the minimum."""
    outcome = m.DealOutcome
    sold = (
        select(
            func.coalesce(
                func.sum(
                    case((m.OrderEvent.kind == "join", m.OrderEvent.quantity), else_=0)
                    - case((m.OrderEvent.kind == "cancel", m.OrderEvent.quantity), else_=0)
                ),
                0,
            )
        )
        .where(m.OrderEvent.deal_id == m.Deal.deal_id)
        .scalar_subquery()
    )
    cash = (
        select(func.coalesce(func.sum(m.CashOrderEvent.quantity), 0))
        .where(m.CashOrderEvent.deal_id == m.Deal.deal_id, m.CashOrderEvent.kind == "booked")
        .scalar_subquery()
    )

    def has(kind: str) -> Any:
        return exists().where(outcome.deal_id == m.Deal.deal_id, outcome.kind == kind)

    return case(
        (has("frozen"), DealStatus.FROZEN.label),
        (has("settled"), DealStatus.SETTLED.label),
        (m.Deal.join_deadline > now, DealStatus.OPEN.label),
        (sold + cash >= m.Deal.min_quantity, DealStatus.SUCCEEDED.label),
        else_=DealStatus.FAILED.label,
    )


@cache
def _page_totals(total: str = "sum") -> tuple[Any, ...]:
    """Correlated aggregates of one deal row (``m.Deal.deal_id``), labelled as the fields of
    :class:`_Totals`: each one an index lookup by ``deal_id``, so a page of deals and their
    totals is one statement (not every order row of the page loaded and summed in Python).
    ``total``: the amounts' sum function (:func:`api.queries.common.amount_sum_name`)."""
    o, c, r = m.OrderEvent, m.CashOrderEvent, m.Receipt

    def orders(expression: Any, kind: str, sum_: Any = func.sum) -> Any:
        return (
            select(func.coalesce(sum_(expression), 0))
            .where(o.deal_id == m.Deal.deal_id, o.kind == kind)
            .scalar_subquery()
        )

    # A kind other than join counts as a cancel for units (``sold``), as in _facts_totals.
    cancelled = (
        select(func.coalesce(func.sum(o.quantity), 0))
        .where(o.deal_id == m.Deal.deal_id, o.kind != "join")
        .scalar_subquery()
    )
    buyers = (
        select(func.count(func.distinct(o.buyer)))
        .where(o.deal_id == m.Deal.deal_id, o.kind == "join")
        .scalar_subquery()
    )
    receipts = select(func.count()).where(r.deal_id == m.Deal.deal_id).scalar_subquery()
    cash = (
        select(func.coalesce(func.sum(c.quantity), 0))
        .where(c.deal_id == m.Deal.deal_id, c.kind == "booked")
        .scalar_subquery()
    )
    return (
        orders(o.quantity, "join").label("t_joined"),
        cancelled.label("t_cancelled"),
        orders(o.amount, "join", partial(amount_sum, total)).label("t_paid"),
        orders(o.amount, "cancel", partial(amount_sum, total)).label("t_refunded"),
        buyers.label("t_buyers"),
        receipts.label("t_receipts"),
        cash.label("t_cash_sold"),
    )


_TOTALS = [f"t_{name}" for name in _Totals.__dataclass_fields__]


def _status_filter(now: int, status: str) -> Any:
    """``status`` as a WHERE clause: :func:`_deal_status_sql` ``== status``, written so that
    open, frozen and settled need no per-deal sums (open is a range of ``join_deadline``)."""
    outcome = m.DealOutcome

    def has(kind: str) -> Any:
        return exists().where(outcome.deal_id == m.Deal.deal_id, outcome.kind == kind)

    if status == DealStatus.FROZEN.label:
        return has("frozen")
    if status == DealStatus.SETTLED.label:
        return has("settled") & ~has("frozen")
    if status == DealStatus.OPEN.label:
        return (m.Deal.join_deadline > now) & ~has("frozen") & ~has("settled")
    return (m.Deal.join_deadline <= now) & (_deal_status_sql(now) == status)


class _TotalsSeen:
    """Counts of deals per filter, for one state of the index: the ``total`` of a page.

    Counting is a scan of every matching deal (PostgreSQL counts visible rows one by one: 25 ms
    of a 30 ms first page at 100,000 deals, issue 15), and the answer only changes when the
    indexer commits: every commit that adds or removes rows bumps the index ``version`` and a
    range's commit sets ``updated_at`` (a rebuild restarts the version, not the clock). So a
    count is kept under the database, that version, ``updated_at`` and ``last_block``, and the
    chain time for status filters (a deadline passing changes a status without new rows)."""

    def __init__(self, max_items: int = 1024) -> None:
        self.max_items = max_items
        self._items: dict[tuple[Any, ...], int] = {}

    @staticmethod
    def _state_key(session: Session) -> tuple[Any, ...] | None:
        state = index_state(session)  # in the session already (chain_now read it)
        if state is None:
            return None
        bind = session.get_bind()
        return (str(bind.url), state.version, state.updated_at, state.last_block)

    def get(self, session: Session, filters: tuple[Any, ...]) -> int | None:
        state = self._state_key(session)
        return None if state is None else self._items.get((*state, *filters))

    def put(self, session: Session, filters: tuple[Any, ...], total: int) -> None:
        state = self._state_key(session)
        if state is None:
            return
        if len(self._items) >= self.max_items:
            self._items.clear()
        self._items[(*state, *filters)] = total


_TOTALS_SEEN = _TotalsSeen()


def list_deals(
    session: Session,
    *,
    status: str | None = None,
    supplier: str | None = None,
    batch_id: str | None = None,
    limit: int = 50,
    offset: int = 0,
    before: int | None = None,
) -> dict[str, Any]:
    """One page of deals, newest first; filters, count and page run in SQL: the page's deals
    with their totals in one statement, then their outcomes and batch ids (issue 15: at 100,000
    deals a page had loaded every order, receipt, claim, payout and pickup row of its deals).

    ``before``: a keyset cursor, only deals with a smaller id (the last ``deal_id`` of the
    previous page): a deep page without an offset scan. ``total`` counts the filters' deals,
    whatever the cursor."""
    now = chain_now(session)
    conditions: list[Any] = []
    if supplier:
        conditions.append(m.Deal.supplier == supplier)
    if batch_id:
        conditions.append(
            m.Deal.deal_id.in_(select(m.DealBatch.deal_id).where(m.DealBatch.batch_id == batch_id))
        )
    if status:
        conditions.append(_status_filter(now, status))
    total = _TOTALS_SEEN.get(session, (status, supplier, batch_id, now if status else None))
    if total is None:
        total = session.scalar(select(func.count()).select_from(m.Deal).where(*conditions)) or 0
        _TOTALS_SEEN.put(session, (status, supplier, batch_id, now if status else None), total)
    # The page's rows first, then their totals: PostgreSQL computes a select list before OFFSET
    # drops rows, so totals beside an offset were summed for every skipped deal too.
    page = (
        select(m.Deal.id)
        .where(*conditions, *([m.Deal.deal_id < before] if before is not None else []))
        .order_by(m.Deal.deal_id.desc())
        .limit(limit)
        .offset(offset)
        .subquery()
    )
    rows = session.execute(
        select(*m.Deal.__table__.columns, *_page_totals(amount_sum_name(session)))
        .join(page, page.c.id == m.Deal.id)
        .order_by(m.Deal.deal_id.desc())
    ).all()
    return {"total": total, "items": _summaries(session, rows, now)}


def summaries_of(session: Session, deal_ids: Iterable[int]) -> dict[int, dict[str, Any]]:
    """:func:`deal_summary` of some deals, their totals summed in SQL (as :func:`list_deals`)."""
    ids = sorted(set(deal_ids))
    if not ids:
        return {}
    rows = session.execute(
        select(*m.Deal.__table__.columns, *_page_totals(amount_sum_name(session))).where(
            m.Deal.deal_id.in_(ids)
        )
    ).all()
    return {item["deal_id"]: item for item in _summaries(session, rows, chain_now(session))}


def _summaries(session: Session, rows: Sequence[Any], now: int) -> list[dict[str, Any]]:
    """Deal rows with their :func:`_page_totals` columns as summaries, with their outcomes and
    batch ids (two statements)."""
    ids = [row.deal_id for row in rows]
    outcomes: dict[int, dict[str, Any]] = defaultdict(dict)
    batches: dict[int, list[str]] = defaultdict(list)
    if ids:
        for outcome in session.execute(
            select(m.DealOutcome.__table__)
            .where(m.DealOutcome.deal_id.in_(ids))
            .order_by(m.DealOutcome.block_number, m.DealOutcome.log_index)
        ):
            outcomes[outcome.deal_id][outcome.kind] = outcome  # the latest of each kind wins
        for deal_id, batch in session.execute(
            select(m.DealBatch.deal_id, m.DealBatch.batch_id)
            .where(m.DealBatch.deal_id.in_(ids))
            .order_by(m.DealBatch.id)
        ):
            batches[deal_id].append(batch)
    items = []
    for row in rows:
        totals = _Totals(*(int(getattr(row, name)) for name in _TOTALS))
        items.append(_summary(row, totals, outcomes[row.deal_id], batches[row.deal_id], now))
    return items


def deal_detail(session: Session, deal_id: int) -> dict[str, Any]:
    deal = session.scalar(select(m.Deal).where(m.Deal.deal_id == deal_id))
    if deal is None:
        raise DealNotFound(f"no deal {deal_id} in the index")
    return detail_of(deal, _DealFacts(session, [deal]), chain_now(session))


def deal_details(session: Session, deal_ids: Iterable[int]) -> dict[int, dict[str, Any]]:
    """:func:`deal_detail` of several deals, their facts loaded once: the same few statements
    for all of them, not a few per deal (the leader's and the buyer's pages, a leader's cash
    orders: issue 15). ``DealNotFound`` if one of them is not in the index."""
    ids = sorted(set(deal_ids))
    if not ids:
        return {}
    deals = session.scalars(
        select(m.Deal).where(m.Deal.deal_id.in_(ids)).order_by(m.Deal.deal_id)
    ).all()
    missing = set(ids) - {d.deal_id for d in deals}
    if missing:
        raise DealNotFound(f"no deal {min(missing)} in the index")
    facts, now = _DealFacts(session, deals), chain_now(session)
    return {d.deal_id: detail_of(d, facts, now) for d in deals}


def detail_of(deal: m.Deal, facts: _DealFacts, now: int) -> dict[str, Any]:
    """:func:`deal_detail` from facts already loaded (for many deals at once: the dashboard)."""
    deal_id = deal.deal_id
    summary = deal_summary(deal, facts, now)
    orders: dict[str, dict[str, Any]] = {}
    for o in facts.orders[deal_id]:
        order = orders.setdefault(
            o.buyer,
            {
                "buyer": o.buyer,
                "leader": o.leader,
                "quantity": 0,
                "paid": 0,
                "refunded": 0,
                "cancelled": False,
                "claim": None,
            },
        )
        if o.kind == "join":
            order["quantity"] += o.quantity
            order["paid"] += int(o.amount)
            order["cancelled"] = False
        else:
            order["quantity"] -= o.quantity
            order["refunded"] += int(o.amount)
            order["cancelled"] = True
    upheld: dict[str, int] = defaultdict(int)
    for c in facts.claims[deal_id]:
        if c.buyer in orders:
            claim = orders[c.buyer]["claim"] or {
                "quantity": 0,
                "status": None,
                "evidence_cid": None,
            }
            claim["status"] = c.status
            if c.status == "filed":
                claim["quantity"], claim["evidence_cid"] = c.quantity, c.evidence_cid
            orders[c.buyer]["claim"] = claim
        if c.status == "upheld":
            upheld[c.leader or (orders.get(c.buyer) or {}).get("leader", "")] += c.quantity
    receipts = {r.leader: r for r in facts.receipts[deal_id]}
    price = summary["unit_price"]
    leaders: dict[str, dict[str, Any]] = {}

    def group(address: str) -> dict[str, Any]:
        return leaders.setdefault(
            address,
            {
                "leader": address,
                "quantity": 0,
                "orders": [],
                "receipt": None,
                "commission_bps": deal.commission_bps,
                "commission": 0,
                "cash_quantity": 0,
            },
        )

    for order in orders.values():
        leader = group(order["leader"])
        leader["quantity"] += order["quantity"]
        leader["orders"].append(order)
        order["pickup"] = pickup_view(
            facts.last.handover_of(deal_id, order["buyer"]),
            received=order["leader"] in receipts,
            now=now,
            pickup_deadline=summary["pickup_deadline"],
        )
    for address, units in facts.last.cash_by_leader(deal_id).items():
        group(address)["quantity"] += units  # cash orders are the leader's group's units too
        leaders[address]["cash_quantity"] = units
    for address, leader in leaders.items():
        leader["commission_bps"] = deal_rules.commission_bps_at(
            deal.commission_tiers, deal.commission_bps, leader["quantity"]
        )
        receipt = receipts.get(address)
        if receipt is not None:
            # GroupBuyEscrow.confirmReceipt: more than ordered counts as ordered; the shortfall is
            # refunded to the group's buyers (in proportion to their units) at settlement.
            delivered = deal_rules.delivered(leader["quantity"], receipt.quantity)
            short = leader["quantity"] - delivered
            leader["receipt"] = {
                "batch_id": receipt.batch_id,
                "event_hash_id": hash_id_of(receipt.event_hash),
                "quantity": receipt.quantity,
                "delivered": delivered,
                "short": short,
                "short_refund": short * price,
                "block": receipt.block_number,
                "tx": receipt.tx_hash,
                "time": iso_utc(receipt.block_time),
            }
            # Tier and commission on delivered units: (delivered − upheld) × price × bps.
            leader["commission_bps"] = deal_rules.commission_bps_at(
                deal.commission_tiers, deal.commission_bps, delivered
            )
            net = delivered - upheld.get(address, 0)
            leader["commission"] = deal_rules.commission(net, price, leader["commission_bps"])
        _last_mile(leader, deal, facts, summary, now=now, price=price)
    summary["leaders"] = sorted(leaders.values(), key=lambda x: x["leader"])
    summary["payouts"] = [
        {
            "account": p.account,
            "kind": p.kind,
            "amount": int(p.amount),
            "block": p.block_number,
            "tx": p.tx_hash,
        }
        for p in facts.payouts[deal_id]
    ]
    return summary


def _last_mile(
    leader: dict[str, Any],
    deal: m.Deal,
    facts: _DealFacts,
    summary: dict[str, Any],
    *,
    now: int,
    price: int,
) -> None:
    """A group's pickups (its pick list) and its leader's cash orders with the cash owed back."""
    receipt = leader["receipt"]
    group = None
    if receipt is not None:
        group = group_pickups(
            facts.last.pickups[deal.deal_id],
            leader["leader"],
            buyers={o["buyer"] for o in leader["orders"]},
            ordered=leader["quantity"],
            delivered=receipt["delivered"],
            price=price,
        )
        # Before handovers the whole group shares the shortage; after, what is left of it.
        receipt["short_refund"] = receipt["short"] * price
    leader["pickup"] = group
    leader["cash_orders"] = cash_orders(
        facts.last,
        deal,
        leader["leader"],
        status=summary["status"],
        now=now,
        price=price,
        received=receipt is not None,
        group=group,
    )
    leader["cash_owed_back"] = sum(c["owed_back"] for c in leader["cash_orders"])
    leader["cash_refunded"] = sum(c["refunded"] for c in leader["cash_orders"])


def buyer_orders(session: Session, buyer: str) -> dict[str, Any]:
    rows = session.scalars(
        select(m.OrderEvent)
        .where(m.OrderEvent.buyer == buyer)
        .order_by(m.OrderEvent.block_number, m.OrderEvent.log_index)
    ).all()
    deal_ids = sorted({r.deal_id for r in rows})
    deals = session.scalars(select(m.Deal).where(m.Deal.deal_id.in_(deal_ids))).all()
    facts = _DealFacts(session, deals)
    now = chain_now(session)
    items = []
    for deal in sorted(deals, key=lambda d: d.deal_id, reverse=True):
        mine = [r for r in facts.orders[deal.deal_id] if r.buyer == buyer]
        quantity = sum(r.quantity if r.kind == "join" else -r.quantity for r in mine)
        claims = [c for c in facts.claims[deal.deal_id] if c.buyer == buyer]
        items.append(
            {
                "deal": deal_summary(deal, facts, now),
                "leader": mine[-1].leader,
                "quantity": quantity,
                "paid": sum(int(r.amount) for r in mine if r.kind == "join"),
                "refunded": sum(int(r.amount) for r in mine if r.kind == "cancel"),
                "cancelled": mine[-1].kind == "cancel",
                "claim_status": claims[-1].status if claims else None,
                "pickup": pickup_view(
                    facts.last.handover_of(deal.deal_id, buyer),
                    received=any(r.leader == mine[-1].leader for r in facts.receipts[deal.deal_id]),
                    now=now,
                    pickup_deadline=deal.pickup_deadline
                    if deal.pickup_deadline is not None
                    else deal.delivery_deadline,
                ),
                "withdrawn": sum(
                    int(p.amount)
                    for p in facts.payouts[deal.deal_id]
                    if p.account == buyer and p.kind == "withdrawn"
                ),
            }
        )
    return {"buyer": buyer, "orders": items}
