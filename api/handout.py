"""The leader's page for one deal (``/leader/{address}/handout/{deal_id}``): the pick list and the
handout (核销) of pickup codes, the cash orders booked for neighbours with the cash owed back,
and the commission. Read from the index (:func:`api.queries.deal_detail`: the group's orders and
pickups, its cash orders); names through :mod:`api.names`; whom a cash order stands for is not
here at all: the leader's phone keeps it (``static/cashbook.js``).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from api import queries
from api.names import Directory
from api.services import Services
from api.shop import deal_card, group_closed, group_commission, group_order_state, paid_out


def handout_view(session: Session, services: Services, leader: str, deal_id: int) -> dict[str, Any]:
    """Everything the page shows and allows for ``leader`` in deal ``deal_id`` (NotInIndex: 404)."""
    directory = Directory(session, services.store)
    detail = queries.deal_detail(session, deal_id)
    now = queries.chain_now(session)
    group = next((g for g in detail["leaders"] if g["leader"] == leader), None) or {}
    orders = group.get("orders", [])
    directory.load({o["buyer"] for o in orders} | {leader})
    closed = group_closed(
        status=detail["status"],
        received=group.get("receipt") is not None,
        now=now,
        delivery_deadline=detail["delivery_deadline"],
    )
    paid_back = paid_out(detail)
    rows = [
        {
            **o,
            "person": directory.get(o["buyer"]),
            "state": group_order_state(o, lost=closed is not None, paid_back=paid_back),
        }
        for o in sorted(
            orders, key=lambda o: (o["pickup"]["status"] != "awaiting_pickup", o["buyer"])
        )
        if o["quantity"] > 0
    ]
    receipt = group.get("receipt")
    open_for_pickup = (
        detail["status"] == "succeeded" and receipt is not None and now < detail["pickup_deadline"]
    )
    status = queries.party_status(session, "leader", leader)["status"]
    cap = detail.get("cash_cap_per_leader") or 0
    cash_units = group.get("cash_quantity", 0)
    price = detail["unit_price"]
    bps = group.get("commission_bps", detail["commission_bps"])
    commission, estimated = group_commission(
        {**group, "commission_bps": bps},
        status=detail["status"],
        price=price,
        now=now,
        delivery_deadline=detail["delivery_deadline"],
    )
    return {
        "leader": leader,
        # Failed, recalled or undelivered: nothing to hand out, ever (said, not "after receipt").
        "closed": closed,
        "me": directory.get(leader),
        "deal": deal_card(session, detail),
        "detail": detail,
        "orders": rows,
        "to_pick_up": [o for o in rows if o["pickup"]["status"] == "awaiting_pickup"],
        "picked_up": [o for o in rows if o["pickup"]["status"] == "picked_up"],
        "pickup": group.get("pickup"),
        "receipt": receipt,
        "pickup_deadline": detail["pickup_deadline"],
        "can_hand_out": open_for_pickup,
        # Past the pickup deadline what was not taken is 逾期未提, no longer 待提货.
        "pickup_over": receipt is not None and now >= detail["pickup_deadline"],
        "cash_orders": group.get("cash_orders", []),
        "cash_owed_back": group.get("cash_owed_back", 0),
        "cash_refunded": group.get("cash_refunded", 0),
        "cash_units": cash_units,
        "cash_cap": cap,
        "can_book_cash": detail["status"] == "open" and status == "approved" and cash_units < cap,
        "units": group.get("quantity", 0),
        "commission_bps": bps,
        "commission": commission,
        "commission_estimated": estimated,
    }
