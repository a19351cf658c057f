"""Notices per address, derived from the indexed chain events (nothing stored: the index is the
outbox's source, so a re-org that drops an event drops its notice too).

A consumer hears about their orders (joined, cancelled, 成团 or not, frozen by a recall, goods
arrived at their pickup point (到货通知; ``arrived_short`` with the missing units when the
receipt was short), the pickup deadline near while the goods wait there (``pickup_due``, from
:data:`PICKUP_DUE_SECONDS` before it), not delivered by the delivery deadline (``undelivered``:
refundable in full), handed over (已提货), a claim answered, money paid out);
a leader about their group (a neighbour joined, a deal formed so the goods are coming or did not
form (``group_failed``), its batch recalled (``group_frozen``: hand nothing out), the goods
not delivered to their pickup point by the delivery deadline (``group_undelivered``: no receipt can
be signed any more, the group's buyers are refunded in full), a claim filed on their group).

Each notice has a stable ``id`` (``kind:tx:log`` for a log, ``kind:deal`` for a deadline passing)
so a delivery channel (webhooks, issue 12) can deduplicate; ``params`` fill the ``notice_<kind>``
sentence of ``i18n.json`` (``{deal}``, ``{product}``, ``{place}``, ``{amount}``, ``{who}``, ``{n}``,
``{until}``).
"""

from __future__ import annotations

from collections.abc import Collection
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import and_, or_, select, union
from sqlalchemy.orm import Session

from api import queries
from api.db import models as m
from api.names import Directory
from api.render import fill, format_timestamp, messages, money, pick
from api.shop import product_of
from api.timefmt import iso_utc
from chain import deal_rules

KINDS = (
    "joined",
    "cancelled",
    "formed",
    "failed",
    "frozen",
    "arrived",
    "arrived_short",
    "claim_filed",
    "claim_rejected",
    "claim_upheld",
    "claim_denied",
    "paid",
    "settled",
    "pickup_due",
    "undelivered",
    "picked_up",
    "group_joined",
    "group_formed",
    "group_undelivered",
    "group_failed",
    "group_frozen",
    "group_claim",
    "party_approved",
    "party_rejected",
    "party_revoked",
)

# The registry's decisions on an application (PartyEvent actions) the applicant hears about.
PARTY_DECISIONS = ("approved", "rejected", "revoked")


# The most deals one notice pass reads for an address (its newest: the largest deal ids): the
# notices of an address that bought in thousands of deals are paged (``before``), never built
# all at once in one request.
NOTICE_DEALS = 50


def address_deals(
    session: Session, address: str, *, limit: int = NOTICE_DEALS, before: int | None = None
) -> tuple[list[int], int | None]:
    """The ``limit`` newest deals (largest ids, below ``before`` if given) ``address`` bought in
    or leads a group of, and the cursor of the next page (the last id; None on the last page)."""
    bought = select(m.OrderEvent.deal_id.label("deal_id")).where(m.OrderEvent.buyer == address)
    found = union(bought, queries.led_deals(address)).subquery()  # (a group of cash orders too)
    query = select(found.c.deal_id)
    if before is not None:
        query = query.where(found.c.deal_id < before)
    ids = list(session.scalars(query.order_by(found.c.deal_id.desc()).limit(limit + 1)))
    return ids[:limit], (ids[limit - 1] if len(ids) > limit else None)


# The pickup deadline is "near" this long before it (one day: time to come by after work).
PICKUP_DUE_SECONDS = 24 * 3600


def _at(value: datetime | int) -> datetime:
    if isinstance(value, int):
        return datetime.fromtimestamp(value, UTC)
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def notices(
    session: Session,
    directory: Directory,
    address: str,
    *,
    deals: Collection[int] | None = None,
    parties: bool = True,
) -> list[dict[str, Any]]:
    """The notices for ``address`` about ``deals`` (default: its :data:`NOTICE_DEALS` newest deals,
    :func:`address_deals`; the webhook outbox's incremental pass gives the changed ones), newest
    first (``time`` ISO 8601, ``kind``, ``deal_id``), with the registry's decisions on its
    applications (:func:`party_notices`; ``parties`` False: a later page of deals, without)."""
    party = party_notices(session, address) if parties else []
    if deals is None:
        deals = address_deals(session, address)[0]
    out = _deal_notices(session, directory, address, deals) + party
    out.sort(key=lambda n: (n["time"], n["id"]), reverse=True)
    return out


def party_notices(session: Session, address: str) -> list[dict[str, Any]]:
    """The registry's decisions on ``address``'s applications as a supplier or a leader
    (approved, rejected, revoked): ``party_<action>``, ``deal_id`` None, ``role`` the kind."""
    rows = session.scalars(
        select(m.PartyEvent)
        .where(m.PartyEvent.account == address, m.PartyEvent.action.in_(PARTY_DECISIONS))
        .order_by(m.PartyEvent.block_number, m.PartyEvent.log_index)
    )
    return [
        {
            "id": f"party_{p.action}:{p.tx_hash}:{p.log_index}",
            "kind": f"party_{p.action}",
            "time": _at(p.block_time),
            "deal_id": None,
            "role": p.kind,
        }
        for p in rows
    ]


def _deal_notices(
    session: Session, directory: Directory, address: str, deals: Collection[int]
) -> list[dict[str, Any]]:
    if not deals:
        return []
    out: list[dict[str, Any]] = []

    def add(kind: str, ident: str, when: datetime | int, deal_id: int, **params: Any) -> None:
        out.append(
            {"id": f"{kind}:{ident}", "kind": kind, "time": _at(when), "deal_id": deal_id, **params}
        )

    wanted = set(deals)
    query = select(m.OrderEvent).where(
        or_(m.OrderEvent.buyer == address, m.OrderEvent.leader == address)
    )
    if len(wanted) <= 500:  # a bounded IN list (a large change set is filtered below)
        query = query.where(m.OrderEvent.deal_id.in_(sorted(wanted)))
    ordered = query.order_by(m.OrderEvent.block_number, m.OrderEvent.log_index)
    # Every notice below is about a deal of these orders.
    orders = [o for o in session.scalars(ordered) if o.deal_id in wanted]
    bought: dict[int, str] = {}  # deal -> the buyer's leader (buyer's own orders)
    led: set[int] = set()
    for o in orders:
        ident = f"{o.tx_hash}:{o.log_index}"
        if o.buyer == address:
            bought[o.deal_id] = o.leader
            if o.kind == "join":
                add("joined", ident, o.block_time, o.deal_id, n=o.quantity, amount=int(o.amount))
            else:
                add("cancelled", ident, o.block_time, o.deal_id, amount=int(o.amount))
        if o.leader == address and o.kind == "join":
            led.add(o.deal_id)
            add("group_joined", ident, o.block_time, o.deal_id, who=o.buyer, n=o.quantity)
    # A group of cash orders only (booked by the leader for neighbours) is their group too.
    booked = queries.booked_deals(address)
    if len(wanted) <= 500:
        booked = booked.where(m.CashOrderEvent.deal_id.in_(sorted(wanted)))
    led.update(d for d in session.scalars(booked.distinct()) if d in wanted)
    deal_ids = sorted(set(bought) | led)
    if not deal_ids:
        return []
    rows = session.scalars(select(m.Deal).where(m.Deal.deal_id.in_(deal_ids))).all()
    now = queries.chain_now(session)
    facts = queries._DealFacts(session, rows)  # the one loader of deal facts (queries)
    for deal in rows:
        d = deal.deal_id
        formed = False
        mine = [o for o in facts.orders[d] if o.buyer == address]
        holds = sum(o.quantity if o.kind == "join" else -o.quantity for o in mine) > 0
        if now >= deal.join_deadline:
            formed = (
                deal_rules.deal_status(
                    now=now,
                    join_deadline=deal.join_deadline,
                    total_quantity=facts.sold(d),
                    min_total_quantity=deal.min_quantity,
                )
                == deal_rules.DealStatus.SUCCEEDED
            )
            if d in bought and holds:
                add("formed" if formed else "failed", str(d), deal.join_deadline, d)
            if d in led and formed:
                add("group_formed", str(d), deal.join_deadline, d)
            elif d in led and facts.group_units(d, address) > 0:
                # 未成团: the leader tells the neighbours (their money comes back by itself, and
                # the cash orders' to the leader, who hands the cash back: said only when the
                # group has some, ``cash``).
                n = facts.group_units(d, address)
                cash = facts.last.cash_by_leader(d).get(address, 0)
                add(
                    "group_failed",
                    str(d),
                    deal.join_deadline,
                    d,
                    n=n,
                    **({"cash": cash} if cash else {}),
                )
        for outcome in facts.outcomes[d]:
            ident = f"{outcome.tx_hash}:{outcome.log_index}"
            if d in bought and holds:
                add(outcome.kind, ident, outcome.block_time, d)  # frozen | settled
            if outcome.kind == "frozen" and d in led and facts.group_units(d, address) > 0:
                # A recall: the goods must not be handed out; the group is refunded in full.
                n = facts.group_units(d, address)
                add("group_frozen", ident, outcome.block_time, d, n=n)
        received = False
        led_received = any(r.leader == address for r in facts.receipts[d])
        for r in facts.receipts[d]:
            if d in bought and holds and r.leader == bought[d]:
                received = True
                ident = f"{r.tx_hash}:{r.log_index}"
                # A short receipt says so at once: the group's missing units are refunded.
                short = facts.group_units(d, r.leader) - r.quantity
                if short > 0:
                    add("arrived_short", ident, r.block_time, d, place=r.leader, n=short)
                else:
                    add("arrived", ident, r.block_time, d, place=r.leader)
        # 未到货: the deal formed, but the buyer's pickup point never signed a receipt by the
        # delivery deadline: the whole payment is theirs again (the order page's 退款中). Derived
        # from chain time when read, like 成团 (no timer to miss it). Its leader hears the same
        # of their group (the escrow takes no receipt after the deadline).
        undelivered = (
            formed
            and all(o.kind != "frozen" for o in facts.outcomes[d])  # (frozen: its own notice)
            and now >= deal.delivery_deadline
        )
        if undelivered and d in bought and holds and not received:
            add("undelivered", str(d), deal.delivery_deadline, d, until=deal.delivery_deadline)
        if undelivered and d in led and not led_received and facts.group_units(d, address) > 0:
            add(
                "group_undelivered",
                str(d),
                deal.delivery_deadline,
                d,
                until=deal.delivery_deadline,
                n=facts.group_units(d, address),
            )
        handover = facts.last.handover_of(d, address) if d in bought else None
        if handover is not None:
            ident = f"{handover.tx_hash}:{handover.log_index}"
            add("picked_up", ident, handover.block_time, d, n=handover.quantity)
        elif received and deal.pickup_deadline:
            due = deal.pickup_deadline - PICKUP_DUE_SECONDS
            if due <= now < deal.pickup_deadline:  # (after it: a no-show, said by the order)
                add("pickup_due", str(d), due, d, place=bought[d], until=deal.pickup_deadline)
        for c in facts.claims[d]:
            ident = f"{c.tx_hash}:{c.log_index}"
            if c.buyer == address:
                add(f"claim_{c.status}", ident, c.block_time, d, n=c.quantity)
            if c.status == "filed" and d in led and (c.leader or bought.get(d)) == address:
                add("group_claim", ident, c.block_time, d, who=c.buyer, n=c.quantity)
        for p in facts.payouts[d]:
            if p.account == address and p.kind == "withdrawn" and int(p.amount):
                add("paid", f"{p.tx_hash}:{p.log_index}", p.block_time, d, amount=int(p.amount))
    products = {d.deal_id: product_of(session, facts.batches[d.deal_id]) for d in rows}
    directory.load(
        {n["who"] for n in out if "who" in n} | {n["place"] for n in out if "place" in n}
    )
    for n in out:
        n["product"] = products[n["deal_id"]]["name"]
    return out


# Indexed rows a notice comes from (each names its deal): a new row may bring a new notice to the
# deal's buyers and leaders. In step with :func:`notices` (tests/api/web/test_pickup_notices.py
# records the tables a notice pass reads and compares).
NOTICE_SOURCES: tuple[Any, ...] = (
    m.OrderEvent,
    m.DealOutcome,
    m.Receipt,
    m.PickupEvent,
    m.ClaimEvent,
    m.Payout,
)


def changed_deals(session: Session, *, after_block: int, after_time: int, now: int) -> set[int]:
    """The deals that may have notices :func:`notices` did not give when the index ended at block
    ``after_block`` and chain time was ``after_time``: a row indexed since, or a moment a notice
    waits for (the join deadline: 成团 or not; the delivery deadline: 未到货; the pickup
    deadline's last day) passed since."""
    found: set[int] = set()
    for table in NOTICE_SOURCES:
        found.update(
            session.scalars(
                select(table.deal_id).where(table.block_number > after_block).distinct()
            )
        )
    if now > after_time:
        due = m.Deal.pickup_deadline - PICKUP_DUE_SECONDS
        found.update(
            session.scalars(
                select(m.Deal.deal_id).where(
                    or_(
                        m.Deal.join_deadline.between(after_time + 1, now),
                        m.Deal.delivery_deadline.between(after_time + 1, now),
                        and_(m.Deal.pickup_deadline.is_not(None), due.between(after_time + 1, now)),
                    )
                )
            )
        )
    return found


def decided_parties(session: Session, *, after_block: int | None = None) -> set[str]:
    """The applicants with a registry decision (:func:`party_notices`) indexed after
    ``after_block`` (None: ever): the webhook outbox's recipients of those notices."""
    query = select(m.PartyEvent.account).where(m.PartyEvent.action.in_(PARTY_DECISIONS))
    if after_block is not None:
        query = query.where(m.PartyEvent.block_number > after_block)
    return set(session.scalars(query.distinct()))


def recipients_of(session: Session, deals: Collection[int]) -> set[str]:
    """The addresses with notices about ``deals``: their buyers, the buyers' leaders and the
    leaders who booked cash orders in them."""
    out: set[str] = set()
    ids = sorted(deals)
    for i in range(0, len(ids), 500):  # bounded IN lists
        chunk = ids[i : i + 500]
        rows = session.execute(
            select(m.OrderEvent.buyer, m.OrderEvent.leader)
            .where(m.OrderEvent.deal_id.in_(chunk))
            .distinct()
        )
        for buyer, leader in rows:
            out.update(a for a in (buyer, leader) if a)
        out.update(  # a leader whose group is cash orders only
            session.scalars(
                select(m.CashOrderEvent.leader)
                .where(m.CashOrderEvent.deal_id.in_(chunk))
                .distinct()
            )
        )
    return out


def sentence(notice: dict[str, Any], directory: Directory, lang: str) -> str:
    """The notice in words, in ``lang`` (names for people and places, prices in tUSD)."""
    # A notice with cash orders in it has its own words (notice_<kind>_cash: who gets their refund).
    key = f"notice_{notice['kind']}" + ("_cash" if notice.get("cash") else "")
    template = messages().get(key, {}).get(lang, notice["kind"])
    values = {
        "deal": f"#{notice['deal_id']}",
        "product": pick(notice.get("product"), lang) or f"#{notice['deal_id']}",
        "n": str(notice.get("n", "")),
        "amount": money(notice.get("amount")) if "amount" in notice else "",
        "who": directory.get(notice["who"]).label(lang) if "who" in notice else "",
        "place": directory.get(notice["place"]).place_label(lang) if "place" in notice else "",
        "until": _until(notice.get("until")),
        "role": messages().get(f"role_{notice['role']}", {}).get(lang, notice["role"])
        if "role" in notice
        else "",
    }
    return fill(template, values, lang)


def _until(seconds: int | None) -> str:
    """A deadline as the pages print one (UTC, to the minute)."""
    return format_timestamp(seconds)


def public(notice: dict[str, Any], directory: Directory, lang: str) -> dict[str, Any]:
    """A notice as JSON (``GET /v1/notices/{address}``)."""
    return {
        "id": notice["id"],
        "kind": notice["kind"],
        "time": iso_utc(notice["time"]),
        "deal_id": notice["deal_id"],
        "text": sentence(notice, directory, lang),
        "until": iso_utc(notice.get("until")),
    }
