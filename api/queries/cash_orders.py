"""A leader's cash orders across deals (GET /v1/leaders/{address}/cash-orders).

Apart from :mod:`api.queries.pickups` because it reads whole deals through
:func:`api.queries.deals.deal_detail`, which itself builds on the pickups module.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Select, select, union
from sqlalchemy.orm import Session

from api.db import models as m
from api.queries.deals import deal_details


def led_deals(leader: str) -> Select[tuple[int]]:
    """The deals ``leader`` has a group in (a query of deal ids): a buyer's order under them, or a
    cash order they booked for a neighbour. A group of cash orders only is a group too: it is
    delivered to, received, handed out and paid commission like any other."""
    joined = select(m.OrderEvent.deal_id.label("deal_id")).where(m.OrderEvent.leader == leader)
    ids = union(joined, booked_deals(leader)).subquery()
    return select(ids.c.deal_id)


def booked_deals(leader: str) -> Select[tuple[int]]:
    """The deals ``leader`` booked a cash order in (a query of deal ids, repeats possible)."""
    return select(m.CashOrderEvent.deal_id.label("deal_id")).where(
        m.CashOrderEvent.leader == leader, m.CashOrderEvent.kind == "booked"
    )


def leader_cash_orders(session: Session, leader: str) -> dict[str, Any]:
    """Every deal's cash orders of one leader, with the cash owed back (GET
    /v1/leaders/{address}/cash-orders). Whom each reference stands for stays with the leader
    (the salt never reaches the chain or this service)."""
    deal_ids = sorted(
        set(
            session.scalars(
                select(m.CashOrderEvent.deal_id).where(m.CashOrderEvent.leader == leader)
            )
        ),
        reverse=True,
    )
    details = deal_details(session, deal_ids)  # their facts at once, not per deal
    deals = []
    for deal_id in deal_ids:
        detail = details[deal_id]
        group = next((g for g in detail["leaders"] if g["leader"] == leader), None)
        if group is None:
            continue
        deals.append(
            {
                "deal_id": deal_id,
                "status": detail["status"],
                "cash_orders": group["cash_orders"],
                "cash_owed_back": group["cash_owed_back"],
                "cash_refunded": group["cash_refunded"],
            }
        )
    return {
        "leader": leader,
        "deals": deals,
        "cash_owed_back": sum(d["cash_owed_back"] for d in deals),
    }
