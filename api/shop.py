"""What the consumer and leader pages show, in words and names: deal cards, orders, a leader's group.

Read from the index (:mod:`api.queries`), named through :mod:`api.names`, plus the few live chain
reads an index cannot give (what the escrow owes an account now). Templates only lay this out.

An order's state is one word a consumer understands (:data:`ORDER_STATES`, ``order_<state>`` in
``i18n.json``), derived from the deal's phase, the leader's receipt and the money still owed:

    joining (拼团中) → formed (已成团) → ready (待提货, the leader confirmed receipt)
      → picked_up (已提货, the buyer's signed pickup code handed over) → done (已完成, settled)
    ready past the pickup deadline, not handed over → no_show (逾期未提), settled or not
    failed / frozen deal, or an upheld claim → refunding (退款中, money owed) → refunded (已退款)
    all paid back (an undelivered group) → refunded, in any phase of the deal
"""

from __future__ import annotations

import logging
from typing import Any

import segno
from sqlalchemy import select
from sqlalchemy.orm import Session

from api import queries
from api.db import models as m
from api.names import Directory
from api.photos import photo_path
from api.queries.common import approved
from api.render import batch_path
from api.review import decision_reason
from api.services import Services
from chain import deal_rules

logger = logging.getLogger(__name__)

ORDER_STATES = (
    "joining",
    "formed",
    "ready",
    "picked_up",
    "no_show",
    "done",
    "refunding",
    "refunded",
)

# Demo products have no photograph in their lot master data: a picture per GTIN stands in.
# Lot master data with an ``image`` (an ipfs:// document stored here: photo_path) is shown as a
# photo instead.
_PICTURES = {"06901234500011": "🍚", "06901234500028": "🥩", "06901234500035": "🍊"}


def product_of(session: Session, batch_ids: list[str]) -> dict[str, Any]:
    """Name, origin, picture and Digital Link path of the deal's (first) batch."""
    return products_of(session, [batch_ids])[0]


def products_of(session: Session, batch_lists: list[list[str]]) -> list[dict[str, Any]]:
    """:func:`product_of` for many deals' batch ids, their batches loaded in one query."""
    firsts = {ids[0] for ids in batch_lists if ids}
    batches = (
        {
            b.batch_id: b
            for b in session.scalars(select(m.Batch).where(m.Batch.batch_id.in_(firsts)))
        }
        if firsts
        else {}
    )
    return [_product(batches.get(ids[0]) if ids else None) for ids in batch_lists]


def _product(batch: m.Batch | None) -> dict[str, Any]:
    if batch is None:
        return {"name": None, "origin": None, "image": None, "picture": "🛒", "gtin": None}
    meta = batch.metadata_json or {}
    image = photo_path(meta.get("image"))  # never another host's (CSP img-src 'self')
    return {
        "name": meta.get("product"),
        "origin": (meta.get("origin") or None),
        "image": image,
        "picture": _PICTURES.get(batch.gtin, "🛒"),
        "gtin": batch.gtin,
        "lot": batch.lot,
        # What the chain holds, unvalidated: a batch an earlier registry accepted (one with the
        # all-zeros GTIN the rule now refuses) still lists, rather than failing the page.
        "link": batch_path(batch.gtin, batch.lot),
    }


def deal_card(session: Session, deal: dict[str, Any]) -> dict[str, Any]:
    """A deal summary with its product, current and next price, and progress to 成团."""
    return deal_cards(session, [deal])[0]


def deal_cards(session: Session, deals: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """:func:`deal_card` of many deals, their products loaded in one query."""
    products = products_of(session, [d["batch_ids"] for d in deals])
    return [_card(deal, product) for deal, product in zip(deals, products, strict=True)]


def _card(deal: dict[str, Any], product: dict[str, Any]) -> dict[str, Any]:
    following = deal_rules.next_tier(deal["price_tiers"], deal["sold"])
    return {
        **deal,
        "product": product,
        "next_tier": following,
        "to_next": following["min_quantity"] - deal["sold"] if following else None,
        "progress": min(100, round(100 * deal["sold"] / max(deal["min_quantity"], 1))),
        "formed": deal["sold"] >= deal["min_quantity"],
    }


def pickup_points(session: Session, directory: Directory) -> list[Any]:
    """Approved leaders (their pickup points), named, the longest-approved first."""
    leaders = approved(session, "leader", in_order_approved=True)
    directory.load(leaders)
    return [directory.get(a) for a in leaders]


def shop(session: Session, services: Services) -> dict[str, Any]:
    """The home page: today's (open) deals first, then the others, and every pickup point."""
    directory = Directory(session, services.store)
    deals = deal_cards(session, queries.list_deals(session, limit=200)["items"])
    return {
        "open": [d for d in deals if d["status"] == "open"],
        "closed": [d for d in deals if d["status"] != "open"],
        "points": pickup_points(session, directory),
        "directory": directory,
    }


def _owed(services: Services, deal_id: int, account: str) -> int | None:
    """What the escrow owes ``account`` in a deal now (None while the node is unreachable)."""
    try:
        return services.chain.clients.escrow.owed(deal_id, account)
    except Exception as exc:  # noqa: BLE001 - the page renders without the live figure
        logger.warning("owed(%s, %s) unavailable: %s", deal_id, account, exc)
        return None


def order_state(deal: dict[str, Any], order: dict[str, Any], owed: int | None) -> str:
    """One of :data:`ORDER_STATES` (see the module doc)."""
    status = deal["status"]
    if order["quantity"] <= 0:  # cancelled in full: refunded in the same transaction
        return "refunded"
    if status == "open":
        return "joining"
    if status in ("failed", "frozen"):
        if owed is None:  # the node unreachable: every payment of such a deal comes back in full
            due = order.get("paid", 0) - order.get("refunded", 0) - order.get("withdrawn", 0)
            return "refunding" if due > 0 else "refunded"
        return "refunding" if owed else "refunded"
    if order.get("claim") == "upheld" and owed:
        return "refunding"
    if 0 < order.get("paid", 0) <= order.get("refunded", 0) + order.get("withdrawn", 0):
        # Everything paid came back, refunded or paid out (an undelivered group after the
        # delivery deadline): the order is refunded, whatever phase the rest of the deal is in.
        return "refunded"
    if not order.get("received") and owed:
        # Undelivered: the leader did not confirm receipt by the delivery deadline, so the escrow
        # owes the order in full (before that it owes nothing): 退款中, not 已成团 or 已完成.
        return "refunding"
    pickup = (order.get("pickup") or {}).get("status")
    if status == "settled":
        # Settlement comes after the pickup deadline: an order never handed over by then was not
        # taken, and 已完成 would tell its buyer otherwise.
        return "no_show" if pickup == "no_show" else "done"
    if pickup in ("picked_up", "no_show"):
        return str(pickup)
    return "ready" if order.get("received") else "formed"


def buyer_view(session: Session, services: Services, buyer: str) -> dict[str, Any]:
    """My orders: each with its state in words, money paid/refunded/owed, and what can be done."""
    directory = Directory(session, services.store)
    now = queries.chain_now(session)
    rows = queries.buyer_orders(session, buyer)["orders"]
    deal_rows = {
        d.deal_id: d
        for d in session.scalars(
            select(m.Deal).where(m.Deal.deal_id.in_([r["deal"]["deal_id"] for r in rows]))
        )
    }
    directory.load({r["leader"] for r in rows})
    details = queries.deal_details(session, [r["deal"]["deal_id"] for r in rows])
    cards = deal_cards(session, [r["deal"] for r in rows])
    orders = []
    live = True  # the node answered (one unanswered read is enough: the page does not wait again)
    for row, deal in zip(rows, cards, strict=True):
        deal_id = deal["deal_id"]
        detail = details[deal_id]
        leader = next((x for x in detail["leaders"] if x["leader"] == row["leader"]), None)
        mine = next((o for o in (leader or {}).get("orders", []) if o["buyer"] == buyer), None)
        receipt = (leader or {}).get("receipt")
        claim = (mine or {}).get("claim")
        owed = _owed(services, deal_id, buyer) if live else None
        live = live and owed is not None
        order = {
            "quantity": row["quantity"],
            "paid": row["paid"],
            "refunded": row["refunded"],
            "withdrawn": row.get("withdrawn", 0),
            "owed": owed,
            "received": receipt is not None,
            "receipt": receipt,
            "claim": row["claim_status"],
            "pickup": row.get("pickup") or {},
        }
        short = _short_delivery(deal, leader, order)
        params = deal_rows[deal_id]
        claim_until = (
            _timestamp(receipt["time"]) + params.dispute_window
            if receipt and receipt["time"]
            else 0
        )
        orders.append(
            {
                **order,
                "deal": deal,
                "leader": directory.get(row["leader"]),
                "state": order_state(deal, order, owed),
                "claim_detail": claim,
                "can_cancel": deal["status"] == "open" and row["quantity"] > 0,
                "can_withdraw": bool(owed),
                "can_claim": (
                    deal["status"] == "succeeded"
                    and receipt is not None
                    and claim is None
                    and row["quantity"] > 0
                    and now < claim_until
                ),
                "claim_until": claim_until or None,
                # 未到货: no receipt at the point by the delivery deadline (owed in full).
                "undelivered": (
                    deal["status"] in ("succeeded", "settled")
                    and receipt is None
                    and row["quantity"] > 0
                    and now >= deal["delivery_deadline"]
                ),
                # 待提货: the pickup code the leader scans (units: the whole order by default).
                "can_show_code": (
                    deal["status"] == "succeeded"
                    and order["pickup"].get("status") == "awaiting_pickup"
                    and row["quantity"] > 0
                ),
                "pickup_deadline": row["deal"].get("pickup_deadline"),
                "short": short,
                # A code for more units than are still at the point would be skipped: the page
                # offers what fits (the rest of the order is then short, refunded).
                "pickup_units": short["can_take"] if short else row["quantity"],
            }
        )
    return {"buyer": buyer, "me": directory.get(buyer), "orders": orders, "live": live}


def _short_delivery(
    deal: dict[str, Any], leader: dict[str, Any] | None, order: dict[str, Any]
) -> dict[str, Any] | None:
    """An order in a group received short: the group's missing units, the units this order can
    still take at the point, and its refund for the shortage at the final price (paid on
    settlement): its own short units once handed over, else its pro-rata share of the short
    units nobody took (``GroupBuyLastMile.shortRefund``, mirrored by the index's pick list)."""
    receipt = (leader or {}).get("receipt")
    group = (leader or {}).get("pickup")
    if not receipt or not receipt["short"] or group is None:
        return None
    price = deal["unit_price"]
    pickup = order["pickup"]
    if pickup.get("status") == "picked_up":
        refund = pickup["short_quantity"] * price
        can_take = 0
    else:
        refund = order["quantity"] * group["no_show_refund_per_unit"]
        unassigned = receipt["short"] - group["short_assigned"]
        can_take = max(0, min(order["quantity"], group["to_pick_up"] - unassigned))
    return {
        "units": receipt["short"],
        "delivered": receipt["delivered"],
        "ordered": receipt["delivered"] + receipt["short"],
        "refund": refund,
        "can_take": can_take,
    }


def _timestamp(iso: str) -> int:
    from datetime import datetime

    return int(datetime.fromisoformat(iso).timestamp())


def share_link(base_url: str, leader: str, deal_id: int) -> str:
    """The link a leader shares: the shop with this deal and their pickup point chosen."""
    return f"{base_url.rstrip('/')}/?leader={leader}#deal-{deal_id}"


def qr_svg(text: str) -> str:
    """An inline SVG QR code (segno; error correction M: screens, not printed labels)."""
    return segno.make(text, error="m").svg_inline(
        border=2, dark="#1f2937", omitsize=True, svgclass="qr-code"
    )


def group_commission(
    group: dict[str, Any], *, status: str, price: int, now: int, delivery_deadline: int
) -> tuple[int, bool]:
    """A leader's commission in one deal and whether it is an estimate, the same on every page:
    earned on delivered units once they confirmed receipt (the escrow's rule, in
    :func:`api.queries.deal_detail`); before that, what the group's units would earn while the
    deal can still deliver (open, or formed before the delivery deadline); nothing when it
    cannot (failed, recalled, not delivered in time)."""
    if group.get("receipt"):
        return group.get("commission", 0), False
    if status in ("open", "succeeded") and now < delivery_deadline:
        bps = group.get("commission_bps", 0)
        return deal_rules.commission(group.get("quantity", 0), price, bps), True
    return 0, False


def group_closed(*, status: str, received: bool, now: int, delivery_deadline: int) -> str | None:
    """Why a leader's group gets no goods to hand out, if it does not: the deal ``failed`` (未成团),
    was ``frozen`` (a recall), or its goods were ``undelivered`` to this pickup point by the delivery
    deadline (the escrow takes no receipt after it). Its orders are then money going back."""
    if status in ("failed", "frozen"):
        return status
    if status == "succeeded" and not received and now >= delivery_deadline:
        return "undelivered"
    return None


def paid_out(detail: dict[str, Any]) -> set[str]:
    """The accounts a deal has paid money out to (pushed or collected: indexed ``Withdrawn``)."""
    return {p["account"] for p in detail["payouts"] if p["kind"] == "withdrawn"}


def group_order_state(order: dict[str, Any], *, lost: bool, paid_back: set[str]) -> str | None:
    """A row of a leader's group in one word (``order_<state>``), when there is one to say:
    cancelled and refunded, a claim's stage, or a lost deal's refund due or paid."""
    if order["cancelled"] and order["quantity"] == 0:
        return "refunded"
    if lost:
        return "refunded" if order["buyer"] in paid_back else "refunding"
    return None


# A leader page's deals: their newest groups, and as many open deals to share.
LEADER_PAGE_DEALS = 100


def leader_view(session: Session, services: Services, leader: str, base_url: str) -> dict[str, Any]:
    """A leader's deals (share link and QR each), their group's orders and totals, receipts due."""
    directory = Directory(session, services.store)
    party = queries.party_status(session, "leader", leader)
    status = party["status"]
    # The leader's own groups (a group of cash orders only too) however old, newest first, and
    # the open deals they may share: not the groups that happen to be among the newest deals of
    # the whole platform (a leader of a year's groups lost the older ones, and their claims).
    led = queries.led_deals(leader)
    newest = led.selected_columns[0].desc()
    mine = list(session.scalars(led.order_by(newest).limit(LEADER_PAGE_DEALS)))
    sharable = (
        [
            s["deal_id"]
            for s in queries.list_deals(session, status="open", limit=LEADER_PAGE_DEALS)["items"]
        ]
        if status == "approved"
        else []
    )
    now = queries.chain_now(session)
    deals = []
    # Every shown deal's detail, card and buyers' names at once (not a few queries per deal).
    details = queries.deal_details(session, sorted(set(mine) | set(sharable), reverse=True))
    shown = [details[deal_id] for deal_id in sorted(details, reverse=True)]
    groups = {
        deal_id: next((x for x in detail["leaders"] if x["leader"] == leader), None)
        for deal_id, detail in details.items()
    }
    directory.load({o["buyer"] for g in groups.values() if g for o in g["orders"]})
    for summary, card in zip(shown, deal_cards(session, shown), strict=True):
        group = groups[summary["deal_id"]]
        orders = (group or {}).get("orders", [])
        cash = (group or {}).get("cash_orders", [])
        detail = details[summary["deal_id"]]
        # A deal that failed, was recalled, or whose goods never reached this pickup point: every
        # order of the group is money going back (the keeper pushes it): each row says whether
        # it is back yet (a pushed or collected refund), not only what was paid in.
        lost = (
            group_closed(
                status=summary["status"],
                received=bool((group or {}).get("receipt")),
                now=now,
                delivery_deadline=summary["delivery_deadline"],
            )
            is not None
        )
        paid_back = paid_out(detail)
        link = share_link(base_url, leader, summary["deal_id"])
        commission, estimated = group_commission(
            {
                **(group or {}),
                "commission_bps": (group or {}).get("commission_bps", summary["commission_bps"]),
            },
            status=summary["status"],
            price=summary["unit_price"],
            now=now,
            delivery_deadline=summary["delivery_deadline"],
        )
        deals.append(
            {
                "deal": card,
                "link": link,
                "qr": qr_svg(link),
                "orders": [
                    {
                        **o,
                        "person": directory.get(o["buyer"]),
                        "state": group_order_state(o, lost=lost, paid_back=paid_back),
                    }
                    for o in orders
                ],
                "cash_state": (
                    ("refunded" if all(c["refunded"] for c in cash) else "refunding")
                    if lost and cash
                    else None
                ),
                "units": (group or {}).get("quantity", 0),
                # Cash orders booked for neighbours are the group's units and money too: the
                # totals add up to the rows above them (the leader paid those in).
                "cash_units": (group or {}).get("cash_quantity", 0),
                "cash_paid": sum(c["paid"] for c in cash),
                "cash_count": len(cash),
                "paid": sum(o["paid"] - o["refunded"] for o in orders)
                + sum(c["paid"] for c in cash),
                "commission": commission,
                "commission_estimated": estimated,
                # After settlement: what reached the leader (pushed or collected), and what the
                # escrow still owes them (a push the keeper skipped): a button to collect it,
                # not a figure with no way to the money.
                "commission_paid": sum(
                    p["amount"]
                    for p in detail["payouts"]
                    if p["account"] == leader and p["kind"] == "withdrawn"
                ),
                "owed": _owed(services, summary["deal_id"], leader)
                if summary["status"] == "settled"
                else None,
                "commission_bps": (group or {}).get("commission_bps", summary["commission_bps"]),
                "receipt": (group or {}).get("receipt"),
                "can_receive": (
                    summary["status"] == "succeeded"
                    and group is not None
                    and group["quantity"] > 0
                    and group["receipt"] is None
                    and now < summary["delivery_deadline"]
                ),
            }
        )
    # What needs the leader first: receipts to confirm, then deals to share, then the rest.
    deals.sort(key=lambda g: (not g["can_receive"], g["deal"]["status"] != "open"))
    return {
        "leader": leader,
        "me": directory.get(leader),
        "status": status,
        "deals": deals,
        # A refusal's reason (rejected, revoked): the page says it above the form to apply again.
        "reason": decision_reason(services.store, party["reason_cid"]),
        "reason_cid": party["reason_cid"],
    }
