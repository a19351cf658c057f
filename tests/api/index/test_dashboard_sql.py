"""The dashboard summed in SQL (:func:`api.queries.dashboard`) against the walk over every
deal's rows it replaced (kept here as the reference, issue 15): the same figures, with their
keys in the same order, for the whole platform, each supplier and each leader."""

from __future__ import annotations

import itertools
from collections import defaultdict
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from api import queries
from api.db import models as m
from api.db import session_factory
from api.db.party_statuses import refresh_party_statuses
from api.queries.common import chain_now
from api.queries.deals import _DealFacts, deal_summary, detail_of
from api.services import Services
from api.timefmt import iso_utc
from chain import deal_rules

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
        if s["status"] in ("succeeded", "settled") and now >= deal.delivery_deadline:
            received = {r.leader for r in facts.receipts[deal.deal_id]}
            net = _net_paid([o for o in facts.orders[deal.deal_id] if o.leader not in received])
            paid = [amount for amount in net.values() if amount > 0]
            if paid:  # an undelivered group's buyers get back all they paid
                refunds["undelivered"]["count"] += len(paid)
                refunds["undelivered"]["amount"] += sum(paid)
        if s["settlement"] and not leader:
            gmv += s["settlement"]["revenue"]
    commissions: dict[str, int] = defaultdict(int)
    for deal in deals:
        if not facts.receipts[deal.deal_id]:
            continue
        if summaries[deal.deal_id]["status"] != "settled":
            continue  # the escrow pays a commission at settlement only
        upheld = sum(c.quantity for c in facts.claims[deal.deal_id] if c.status == "upheld")
        for group in groups[deal.deal_id]:
            if leader and group["leader"] != leader:
                continue
            commissions[group["leader"]] += group["commission"]
            receipt = group["receipt"]
            if receipt and receipt["short"]:
                refunds["short_delivery"]["count"] += 1  # one short group
                refunds["short_delivery"]["amount"] += receipt["short_refund"]
            if leader and receipt and summaries[deal.deal_id]["settlement"]:
                price = summaries[deal.deal_id]["settlement"]["final_unit_price"]
                gmv += (group["quantity"] - receipt["short"] - upheld) * price
    return {
        "to_settle": _to_settle_walked(deals, summaries, facts, now),
        "gmv": gmv,
        "orders": orders,
        "refunds": dict(refunds),
        "commissions": [
            {"leader": who, "amount": amount} for who, amount in sorted(commissions.items())
        ],
        "deals_by_state": dict(by_state),
        "by_day": [{"day": day, **figures} for day, figures in sorted(days.items())],
    }


def _to_settle_walked(
    deals: Any, summaries: dict[int, dict[str, Any]], facts: _DealFacts, now: int
) -> list[dict[str, Any]]:
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
    net: dict[str, int] = defaultdict(int)
    for o in orders:
        net[o.buyer] += int(o.amount) if o.kind == "join" else -int(o.amount)
    return net


class _Rows:
    """Index rows as the indexer writes them, each at a log position of its own."""

    def __init__(self) -> None:
        self._log = itertools.count(1)

    def row(self, model: Any, minutes: int = 0, **values: Any) -> Any:
        n = next(self._log)
        when = T + timedelta(minutes=minutes)
        return model(
            block_number=n, tx_hash="0x" + f"{n:064x}", log_index=0, block_time=when, **values
        )


def _deal_row(
    row: Callable[..., Any],
    deal_id: int,
    supplier: str,
    *,
    minimum: int,
    price_tiers: list[list[int]],
    join_deadline: int,
    delivery_deadline: int,
) -> Any:
    """A ``DealCreated`` row with the terms the dashboard reads; the rest fixed."""
    return row(
        m.Deal,
        deal_id=deal_id,
        supplier=supplier,
        token="0x" + "70" * 20,
        fee_recipient="0x" + "fe" * 20,
        price_tiers=price_tiers,
        commission_tiers=[],
        min_quantity=minimum,
        max_quantity=100,
        per_buyer_limit=10,
        join_deadline=join_deadline,
        delivery_deadline=delivery_deadline,
        dispute_window=600,
        answer_window=600,
        commission_bps=1000,
        platform_fee_bps=200,
    )


def _receipt(row: Callable[..., Any], deal_id: int, leader: str, quantity: int) -> Any:
    """A ``ReceiptConfirmed`` row: ``quantity`` units received by ``leader``'s group."""
    return row(
        m.Receipt,
        deal_id=deal_id,
        leader=leader,
        batch_id="0x" + "ba" * 32,
        event_hash="0x" + "e0" * 32,
        document_digest="0x" + "d0" * 32,
        quantity=quantity,
    )


def _seed(engine: Engine, rows: list[Any], now: int) -> None:
    """An index holding ``rows``, its head at chain time ``now``."""
    with session_factory(engine).begin() as session:
        session.add(
            m.IndexerState(
                name="main",
                chain_id=31337,
                start_block=0,
                last_block=10_000,
                version=1,
                head_time=datetime.fromtimestamp(now, UTC),
            )
        )
        session.add_all(rows)
        session.flush()
        refresh_party_statuses(session)  # as the indexer keeps it with the events it stores


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


T = datetime(2026, 11, 30, 22, 0, tzinfo=UTC)  # orders on two UTC days: before and after 0:00
S1, S2 = "0x" + "51" * 20, "0x" + "52" * 20
L1, L2 = "0x" + "a1" * 20, "0x" + "a2" * 20
B = ["0x" + f"b{i}" * 20 for i in range(1, 5)]


def test_the_sql_dashboard_is_the_walk_on_every_reason(
    fresh_engine: Callable[[], Engine],
) -> None:
    """Rows made to give every state and refund reason (an upheld claim priced by the tier or
    the settlement, a short group, a failed deal without buyers, a leader's net per buyer),
    with a reason's first deal not the first deal: the SQL figures are the walk's."""
    engine = fresh_engine()
    now = int(T.timestamp()) + 86_400
    row = _Rows().row

    def deal(
        deal_id: int, supplier: str, *, open_: bool = False, minimum: int = 3, late: bool = False
    ) -> Any:
        return _deal_row(
            row,
            deal_id,
            supplier,
            minimum=minimum,
            price_tiers=[[0, 10_000_000], [5, 8_000_000]],
            join_deadline=now + 3600 if open_ else now - 3600,
            delivery_deadline=now - 60 if late else now + 7200,
        )

    def order(deal_id: int, buyer: str, leader: str, kind: str, quantity: int, minutes: int) -> Any:
        return row(
            m.OrderEvent,
            minutes,
            deal_id=deal_id,
            buyer=buyer,
            leader=leader,
            kind=kind,
            quantity=quantity,
            amount=quantity * 10_000_000,
        )

    def receipt(deal_id: int, leader: str, quantity: int) -> Any:
        return _receipt(row, deal_id, leader, quantity)

    def claim(deal_id: int, buyer: str, leader: str, quantity: int) -> Any:
        return row(
            m.ClaimEvent,
            deal_id=deal_id,
            buyer=buyer,
            leader=leader,
            status="upheld",
            quantity=quantity,
        )

    rows = [
        # Row order = the walk's deal order: a failed deal with a cancel first, then a recall.
        deal(2, S2),
        order(2, B[2], L1, "join", 1, 10),
        order(2, B[3], L2, "join", 1, 20),
        order(2, B[3], L2, "cancel", 1, 130),
        deal(3, S1, minimum=1),
        order(3, B[0], L2, "join", 2, 30),
        row(m.DealOutcome, deal_id=3, kind="frozen", batch_id="0x" + "ba" * 32),
        # Settled, a short group (2 of 3 received), an upheld claim at the settled price.
        deal(1, S1),
        order(1, B[0], L1, "join", 3, 40),
        order(1, B[1], L2, "join", 2, 50),
        order(1, B[1], L2, "cancel", 1, 140),
        receipt(1, L1, 2),
        receipt(1, L2, 1),
        claim(1, B[0], L1, 1),
        row(
            m.DealOutcome,
            deal_id=1,
            kind="settled",
            final_unit_price=10_000_000,
            revenue=30_000_000,
            supplier_amount=25_000_000,
            platform_fee=600_000,
            commission_total=2_000_000,
        ),
        # Succeeded (not settled): an upheld claim at the tier's price.
        deal(5, S1),
        order(5, B[2], L1, "join", 5, 150),
        receipt(5, L1, 5),
        claim(5, B[2], L1, 2),
        deal(4, S2, open_=True),
        order(4, B[1], L1, "join", 1, 160),
        deal(6, S1),  # failed with no buyer at all
        # Past its delivery deadline: L1's group received, L2's never (its buyers paid back).
        deal(7, S2, late=True),
        order(7, B[0], L1, "join", 3, 170),
        order(7, B[1], L2, "join", 2, 180),
        order(7, B[1], L2, "cancel", 1, 190),
        order(7, B[2], L2, "join", 1, 200),
        receipt(7, L1, 3),
    ]
    _seed(engine, rows, now)
    with session_factory(engine)() as session:
        for scope in (
            {"supplier": None, "leader": None},
            {"supplier": S1, "leader": None},
            {"supplier": S2, "leader": None},
            {"supplier": None, "leader": L1},
            {"supplier": None, "leader": L2},
        ):
            summed = queries.dashboard(session, **scope)
            walked = _walked(session, **scope)
            assert {k: summed[k] for k in walked} == walked, scope
            assert list(summed["refunds"]) == list(walked["refunds"]), scope
            assert list(summed["deals_by_state"]) == list(walked["deals_by_state"]), scope
        everything = queries.dashboard(session)
    assert list(everything["refunds"]) == [
        "cancelled",
        "deal_failed",
        "recall",
        "quality_claim",
        "undelivered",
        "short_delivery",
    ]
    assert everything["refunds"]["undelivered"] == {"count": 2, "amount": 20_000_000}
    assert list(everything["deals_by_state"]) == [
        "failed",
        "frozen",
        "settled",
        "succeeded",
        "open",
    ]
    assert len(everything["by_day"]) == 2
    # Succeeded and received: 7 past its settle time (ready) first, then 5.
    assert [d["deal_id"] for d in everything["to_settle"]] == [7, 5]


def test_sums_of_18_decimal_amounts_past_int64_are_exact(
    fresh_engine: Callable[[], Engine],
) -> None:
    """A deal's token may have 18 decimals (DAI; USDT on BNB Chain): 4 tokens are 4e18, a
    day's orders or two deals' revenue pass 2**63. SQLite's sum() of integers raises "integer
    overflow" there (PostgreSQL's numeric does not): the dashboard and the deals page must still
    answer, with the exact figures the walk gives."""
    engine = fresh_engine()
    now = int(T.timestamp()) + 86_400
    token = 10**18
    row = _Rows().row

    def deal(deal_id: int, minimum: int) -> Any:
        return _deal_row(
            row,
            deal_id,
            S1,
            minimum=minimum,
            price_tiers=[[0, 4 * token]],
            join_deadline=now - 3600,
            delivery_deadline=now + 7200,
        )

    def join(deal_id: int, buyer: str, quantity: int) -> Any:
        return row(
            m.OrderEvent,
            deal_id=deal_id,
            buyer=buyer,
            leader=L1,
            kind="join",
            quantity=quantity,
            amount=quantity * 4 * token,
        )

    def settled(deal_id: int) -> Any:
        return row(
            m.DealOutcome,
            deal_id=deal_id,
            kind="settled",
            final_unit_price=4 * token,
            revenue=8 * token,
            supplier_amount=7 * token,
            platform_fee=0,
            commission_total=0,
        )

    rows = [
        deal(1, 10),  # failed: its buyers' money is a refund
        join(1, B[0], 2),
        join(1, B[1], 2),
        join(1, B[2], 1),
        deal(2, 1),
        join(2, B[3], 2),
        settled(2),
        deal(3, 1),
        join(3, B[3], 2),
        settled(3),
    ]
    _seed(engine, rows, now)
    with session_factory(engine)() as session:
        for scope in ({"supplier": None, "leader": None}, {"supplier": None, "leader": L1}):
            summed = queries.dashboard(session, **scope)
            walked = _walked(session, **scope)
            assert {k: summed[k] for k in walked} == walked, scope
        everything = queries.dashboard(session)
        page = queries.list_deals(session)
    assert everything["gmv"] == 16 * token
    assert everything["by_day"] == [
        {"day": "2026-11-30", "orders": 5, "paid": 36 * token, "cancelled": 0}
    ]
    assert everything["refunds"]["deal_failed"] == {"count": 3, "amount": 20 * token}
    assert {d["deal_id"]: d["paid_in"] for d in page["items"]} == {
        1: 20 * token,
        2: 8 * token,
        3: 8 * token,
    }
