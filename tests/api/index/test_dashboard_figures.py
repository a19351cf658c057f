"""What each dashboard figure means (:func:`api.queries.dashboard`), checked on index rows made
for it — a settled deal with an upheld claim, an open deal with a cancelled order, a deal received
but not settled, a recalled deal, a group never received — against the escrow's money identity
(GroupBuyEscrow): buyers pay the top price on joining; a settled deal's revenue is (delivered −
upheld) × the final price; commissions are paid at settlement only; an undelivered group's buyers
get back all they paid. And the leaders it lists: every approved leader, zeros before a first
order."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlalchemy import Engine

from api import queries
from api.db import models as m
from api.db import session_factory
from api.queries.common import approved

from .test_dashboard_sql import T, _deal_row, _receipt, _Rows, _seed

USD = 10**6
TOP, LOW = 10 * USD, 8 * USD  # 10 tUSD a unit; 8 from 5 units
S = "0x" + "51" * 20
L1, L2, L3, L4 = ("0x" + f"a{i}" * 20 for i in range(1, 5))
B = ["0x" + f"b{i}" * 20 for i in range(1, 6)]


def _world(engine: Engine) -> None:
    now = int(T.timestamp()) + 86_400
    row = _Rows().row

    def deal(deal_id: int, *, open_: bool = False, late: bool = False) -> Any:
        return _deal_row(
            row,
            deal_id,
            S,
            minimum=3,
            price_tiers=[[0, TOP], [5, LOW]],
            join_deadline=now + 3600 if open_ else now - 3600,
            delivery_deadline=now - 60 if late else now + 7200,
        )

    def order(deal_id: int, buyer: str, leader: str, quantity: int, kind: str = "join") -> Any:
        return row(
            m.OrderEvent,
            deal_id=deal_id,
            buyer=buyer,
            leader=leader,
            kind=kind,
            quantity=quantity,
            amount=quantity * TOP,  # buyers pay the top price on joining
        )

    def receipt(deal_id: int, leader: str, quantity: int) -> Any:
        return _receipt(row, deal_id, leader, quantity)

    def party(account: str, action: str) -> Any:
        return row(m.PartyEvent, kind="leader", account=account, action=action)

    rows = [
        *(party(x, a) for x in (L1, L2, L3, L4) for a in ("applied", "approved")),
        party(L3, "profile_updated"),  # still approved, no order yet
        party(L4, "revoked"),
        # 1: settled at 8 (5 units), both groups received in full, one upheld claim in L1's.
        deal(1),
        order(1, B[0], L1, 3),
        order(1, B[1], L2, 2),
        receipt(1, L1, 3),
        receipt(1, L2, 2),
        row(m.ClaimEvent, deal_id=1, buyer=B[0], leader=L1, status="upheld", quantity=1),
        row(
            m.DealOutcome,
            deal_id=1,
            kind="settled",
            final_unit_price=LOW,
            revenue=(5 - 1) * LOW,
            supplier_amount=(5 - 1) * LOW - 3_200_000 - 640_000,
            platform_fee=640_000,
            commission_total=3_200_000,
        ),
        # 2: open; one buyer cancelled (refunded in full), one still in.
        deal(2, open_=True),
        order(2, B[2], L1, 1),
        order(2, B[3], L1, 1),
        order(2, B[3], L1, 1, "cancel"),
        # 3: succeeded, received, not settled: its money is still in escrow, no commission yet.
        deal(3),
        order(3, B[4], L2, 5),
        receipt(3, L2, 5),
        # 4: received, then a recall froze it: buyers get the top price back, no commission.
        deal(4),
        order(4, B[0], L1, 3),
        receipt(4, L1, 3),
        row(m.DealOutcome, deal_id=4, kind="frozen", batch_id="0x" + "ba" * 32),
        # 5: succeeded, past its delivery deadline, never received: paid back in full.
        deal(5, late=True),
        order(5, B[1], L2, 3),
    ]
    _seed(engine, rows, now)


def test_each_figure_is_its_definition(fresh_engine: Callable[[], Engine]) -> None:
    engine = fresh_engine()
    _world(engine)
    with session_factory(engine)() as session:
        whole = queries.dashboard(session)
        parts = {x: queries.dashboard(session, leader=x) for x in (L1, L2)}
    # Paid in: every join at the top price, before any refund (the days' column sums to it).
    assert whole["paid_in"] == (3 + 2 + 1 + 1 + 5 + 3 + 3) * TOP
    assert whole["paid_in"] == sum(d["paid"] for d in whole["by_day"])
    assert whole["orders"] == 7
    # GMV: the settled deal's revenue alone, (delivered − upheld) × final price; a leader's part
    # leaves out their group's upheld units too, and the parts add up to it.
    assert whole["gmv"] == 4 * LOW
    assert parts[L1]["gmv"] == (3 - 1) * LOW and parts[L2]["gmv"] == 2 * LOW
    assert sum(p["gmv"] for p in parts.values()) == whole["gmv"]
    # Refunds: the cancel in full, the recall and the undelivered group at the top price, the
    # claim at the final price.
    assert whole["refunds"] == {
        "cancelled": {"count": 1, "amount": TOP},
        "quality_claim": {"count": 1, "amount": LOW},
        "recall": {"count": 1, "amount": 3 * TOP},
        "undelivered": {"count": 1, "amount": 3 * TOP},
    }
    # The money identity the page explains: paid in = refunds + tier rebates + GMV + escrow.
    refunded = sum(r["amount"] for r in whole["refunds"].values())
    assert whole["rebates"] == 5 * (TOP - LOW)  # the settled deal's units, paid 10, settled at 8
    assert whole["in_escrow"] == 1 * TOP + 5 * TOP  # the open deal's order left, the unsettled one
    assert whole["paid_in"] == refunded + whole["rebates"] + whole["gmv"] + whole["in_escrow"]
    # And a leader's part: their groups' money only, and the parts add up to the whole.
    for part in parts.values():
        refunded = sum(r["amount"] for r in part["refunds"].values())
        assert part["paid_in"] == refunded + part["rebates"] + part["gmv"] + part["in_escrow"]
    assert sum(p["rebates"] for p in parts.values()) == whole["rebates"]
    assert sum(p["in_escrow"] for p in parts.values()) == whole["in_escrow"]
    # Commission: the settled deal's only, (delivered − upheld) × price × 10 %.
    commission = {x["leader"]: x["amount"] for x in whole["commissions"]}
    assert commission == {L1: 2 * LOW // 10, L2: 2 * LOW // 10}
    assert parts[L1]["commissions"] == [{"leader": L1, "amount": 2 * LOW // 10}]


def test_every_approved_leader_is_listed_with_zeros_before_a_first_order(
    fresh_engine: Callable[[], Engine],
) -> None:
    engine = fresh_engine()
    _world(engine)
    with session_factory(engine)() as session:
        whole = queries.dashboard(session)
        supplier = queries.dashboard(session, supplier=S)
        newcomer = queries.dashboard(session, leader=L3)
        leaders = approved(session, "leader")
    assert leaders == [L1, L2, L3]  # L3 updated a profile since (still approved); L4 revoked
    assert whole["leaders_total"] == 3 and whole["leaders_more"] is None
    assert whole["leaders"] == [
        {"leader": L1, "orders": 4, "commission": 2 * LOW // 10},
        {"leader": L2, "orders": 3, "commission": 2 * LOW // 10},
        {"leader": L3, "orders": 0, "commission": 0},
    ]
    assert [x["leader"] for x in supplier["leaders"]] == [L1, L2]  # sold its deals
    assert newcomer["leaders"] == [{"leader": L3, "orders": 0, "commission": 0}]
    assert newcomer["orders"] == 0 and newcomer["gmv"] == 0
