"""Read queries over the index: what the read API, the resolver and the pages show.

Functions take a SQLAlchemy ``Session`` and return JSON-ready dicts (shapes documented by the
pydantic models in :mod:`api.routes.read`). Current state is derived from event rows here
(latest party action, recall rows, deal phase from chain time), so the tables stay append-only.

Hot provenance responses are cached per ``(gtin, lot)`` and keyed by the index ``version``
(bumped by every indexer commit); the indexer also clears the cache directly when it runs in
this process (:func:`api.indexer.on_index_change`).
"""

from __future__ import annotations

import json
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from api.db import ensure_db
from api.db import models as m
from api.errors import ApiError
from api.indexer.enrich import hash_id_of
from traceability.epcis.identifiers import validate_gtin14, validate_lot

MAX_PAGE = 200


# ---------------------------------------------------------------------- helpers


def iso(value: datetime | None) -> str | None:
    """ISO 8601 in UTC (SQLite returns naive datetimes: they were stored as UTC)."""
    if value is None:
        return None
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _aware(value: datetime | None) -> datetime | None:
    if value is None:
        return None
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def check_batch_key(gtin: str, lot: str) -> None:
    """400 with the reason for a GTIN that is not a valid GTIN-14, or a lot outside AI 10."""
    try:
        validate_gtin14(gtin)
    except Exception as exc:
        raise ApiError(400, "invalid_gtin", str(exc), gtin=gtin) from exc
    try:
        validate_lot(lot)
    except Exception as exc:
        raise ApiError(400, "invalid_lot", str(exc), lot=lot) from exc


def index_state(session: Session) -> m.IndexerState | None:
    return session.get(m.IndexerState, "main")


def chain_now(session: Session) -> int:
    """The chain's time as last seen by the indexer (deadlines compare with block time)."""
    state = index_state(session)
    head_time = _aware(state.head_time) if state else None
    return int(head_time.timestamp()) if head_time else int(time.time())


def _batch_statuses(session: Session, batch_ids: Iterable[str]) -> dict[str, m.BatchStatusEvent]:
    ids = list(batch_ids)
    if not ids:
        return {}
    rows = session.scalars(
        select(m.BatchStatusEvent)
        .where(m.BatchStatusEvent.batch_id.in_(ids))
        .order_by(m.BatchStatusEvent.block_number, m.BatchStatusEvent.log_index)
    ).all()
    return {row.batch_id: row for row in rows}  # the latest wins


def party_status(session: Session, kind: str, account: str) -> dict[str, Any]:
    """``approved | pending | rejected | revoked | none`` from the party's latest action, its
    public profile, the digest of its private credentials, and the reason of a refusal."""
    rows = session.scalars(
        select(m.PartyEvent)
        .where(m.PartyEvent.kind == kind, m.PartyEvent.account == account)
        .order_by(m.PartyEvent.block_number, m.PartyEvent.log_index)
    ).all()
    status = "none"
    profile = credentials = reason = None
    statuses = {
        "applied": "pending",
        "approved": "approved",
        "rejected": "rejected",
        "revoked": "revoked",
    }
    for row in rows:
        status = statuses.get(row.action, status)  # a profile update keeps the status
        if row.profile_cid:
            profile = row.profile_cid
        if row.action == "applied":
            credentials, reason = row.credentials_digest, None
        if row.action in ("rejected", "revoked"):
            reason = row.reason_cid
    return {
        "address": account,
        "status": status,
        "profile_cid": profile,
        "credentials_digest": credentials,
        "reason_cid": reason,
    }


# ---------------------------------------------------------------------- deals


def _price_at(tiers: Sequence[Sequence[int]], quantity: int) -> tuple[int, int]:
    """(tier index, unit price) reached by ``quantity`` units sold."""
    index = 0
    for i, (min_quantity, _) in enumerate(tiers):
        if quantity >= min_quantity:
            index = i
    return index, int(tiers[index][1])


def _commission_bps(deal: m.Deal, volume: int) -> int:
    bps = deal.commission_bps
    for min_volume, tier_bps in deal.commission_tiers:
        if volume >= min_volume:
            bps = max(bps, int(tier_bps))
    return bps


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
            select(m.DealBatch.deal_id, m.DealBatch.batch_id).where(m.DealBatch.deal_id.in_(ids))
        ):
            self.batches[deal_id].append(batch_id)

    def sold(self, deal_id: int) -> int:
        return sum(o.quantity if o.kind == "join" else -o.quantity for o in self.orders[deal_id])


def deal_summary(deal: m.Deal, facts: _DealFacts, now: int) -> dict[str, Any]:
    """A deal with live totals, phase, current tier and price, and time left."""
    sold = facts.sold(deal.deal_id)
    outcomes = {o.kind: o for o in facts.outcomes[deal.deal_id]}
    if "settled" in outcomes:
        status = "settled"
    elif "frozen" in outcomes:
        status = "frozen"
    elif now < deal.join_deadline:
        status = "open"
    elif sold >= deal.min_quantity:
        status = "succeeded"
    else:
        status = "failed"
    tier, price = _price_at(deal.price_tiers, sold)
    settled = outcomes.get("settled")
    paid = sum(int(o.amount) for o in facts.orders[deal.deal_id] if o.kind == "join")
    refunded = sum(int(o.amount) for o in facts.orders[deal.deal_id] if o.kind == "cancel")
    return {
        "deal_id": deal.deal_id,
        "status": status,
        "supplier": deal.supplier,
        "token": deal.token,
        "batch_ids": facts.batches[deal.deal_id],
        "price_tiers": [{"min_quantity": q, "unit_price": p} for q, p in deal.price_tiers],
        "current_tier": tier,
        "unit_price": int(settled.final_unit_price) if settled else price,
        "top_price": int(deal.price_tiers[0][1]),
        "sold": sold,
        "min_quantity": deal.min_quantity,
        "max_quantity": deal.max_quantity,
        "per_buyer_limit": deal.per_buyer_limit,
        "buyers": len({o.buyer for o in facts.orders[deal.deal_id] if o.kind == "join"}),
        "paid_in": paid - refunded,
        "join_deadline": deal.join_deadline,
        "delivery_deadline": deal.delivery_deadline,
        "seconds_left": max(0, deal.join_deadline - now) if status == "open" else 0,
        "commission_bps": deal.commission_bps,
        "platform_fee_bps": deal.platform_fee_bps,
        "receipts": len(facts.receipts[deal.deal_id]),
        "created": {"block": deal.block_number, "tx": deal.tx_hash, "time": iso(deal.block_time)},
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


def list_deals(
    session: Session,
    *,
    status: str | None = None,
    supplier: str | None = None,
    batch_id: str | None = None,
    limit: int = 50,
    offset: int = 0,
) -> dict[str, Any]:
    query = select(m.Deal).order_by(m.Deal.deal_id.desc())
    if supplier:
        query = query.where(m.Deal.supplier == supplier)
    if batch_id:
        query = query.where(
            m.Deal.deal_id.in_(select(m.DealBatch.deal_id).where(m.DealBatch.batch_id == batch_id))
        )
    deals = session.scalars(query).all()
    facts = _DealFacts(session, deals)
    now = chain_now(session)
    items = [deal_summary(d, facts, now) for d in deals]
    if status:
        items = [d for d in items if d["status"] == status]
    return {"total": len(items), "items": items[offset : offset + limit]}


def deal_detail(session: Session, deal_id: int) -> dict[str, Any]:
    deal = session.scalar(select(m.Deal).where(m.Deal.deal_id == deal_id))
    if deal is None:
        raise ApiError(404, "deal_not_found", f"no deal {deal_id} in the index")
    facts = _DealFacts(session, [deal])
    summary = deal_summary(deal, facts, chain_now(session))
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
    for order in orders.values():
        leader = leaders.setdefault(
            order["leader"],
            {
                "leader": order["leader"],
                "quantity": 0,
                "orders": [],
                "receipt": None,
                "commission_bps": deal.commission_bps,
                "commission": 0,
            },
        )
        leader["quantity"] += order["quantity"]
        leader["orders"].append(order)
    for address, leader in leaders.items():
        leader["commission_bps"] = _commission_bps(deal, leader["quantity"])
        receipt = receipts.get(address)
        if receipt is not None:
            # GroupBuyEscrow.confirmReceipt: more than ordered counts as ordered; the shortfall is
            # refunded to the group's buyers (in proportion to their units) at settlement.
            delivered = min(receipt.quantity, leader["quantity"])
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
                "time": iso(receipt.block_time),
            }
            # GroupBuyEscrow: tier and commission on delivered units:
            # (delivered − upheld) × final price × bps, rounded down.
            leader["commission_bps"] = _commission_bps(deal, delivered)
            net = delivered - upheld.get(address, 0)
            leader["commission"] = net * price * leader["commission_bps"] // 10_000
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
                "withdrawn": sum(
                    int(p.amount)
                    for p in facts.payouts[deal.deal_id]
                    if p.account == buyer and p.kind == "withdrawn"
                ),
            }
        )
    return {"buyer": buyer, "orders": items}


# ---------------------------------------------------------------------- batches


def _batch_row_summary(b: m.Batch, status: m.BatchStatusEvent | None) -> dict[str, Any]:
    return {
        "gtin": b.gtin,
        "lot": b.lot,
        "batch_id": b.batch_id,
        "supplier": b.supplier,
        "status": status.status if status else "active",
        "breaches": b.breach_count,
        "metadata_cid": b.metadata_cid,
        "product": (b.metadata_json or {}).get("product"),
        "registered": {"block": b.block_number, "tx": b.tx_hash, "time": iso(b.block_time)},
    }


def list_batches(
    session: Session,
    *,
    supplier: str | None = None,
    gtin: str | None = None,
    status: str | None = None,
    breach: bool | None = None,
    limit: int = 50,
    offset: int = 0,
) -> dict[str, Any]:
    query = select(m.Batch)
    if supplier:
        query = query.where(m.Batch.supplier == supplier)
    if gtin:
        query = query.where(m.Batch.gtin == gtin)
    if breach is not None:
        query = query.where(m.Batch.breach_count > 0 if breach else m.Batch.breach_count == 0)
    latest = select(m.BatchStatusEvent.batch_id).group_by(m.BatchStatusEvent.batch_id)
    if status in ("recalled", "non_compliant"):
        query = query.where(m.Batch.batch_id.in_(latest.where(m.BatchStatusEvent.status == status)))
    elif status == "active":
        query = query.where(m.Batch.batch_id.not_in(latest))
    total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
    rows = session.scalars(
        query.order_by(m.Batch.block_number.desc(), m.Batch.log_index.desc())
        .limit(limit)
        .offset(offset)
    ).all()
    statuses = _batch_statuses(session, [b.batch_id for b in rows])
    return {
        "total": total,
        "limit": limit,
        "offset": offset,
        "items": [_batch_row_summary(b, statuses.get(b.batch_id)) for b in rows],
    }


def _recall_effects(session: Session, tx_hash: str) -> dict[str, Any]:
    """What the recall's own transaction did to deals: the deals it froze at once (the registry
    notifies each registered escrow), and the escrows whose notification failed (their deals
    are then frozen by the keeper's next pass, through the permissionless ``freeze``)."""
    frozen = session.scalars(
        select(m.DealOutcome.deal_id)
        .where(m.DealOutcome.tx_hash == tx_hash, m.DealOutcome.kind == "frozen")
        .order_by(m.DealOutcome.deal_id)
    ).all()
    failures = session.scalars(
        select(m.RawLog.args)
        .where(m.RawLog.tx_hash == tx_hash, m.RawLog.event == "EscrowNotificationFailed")
        .order_by(m.RawLog.log_index)
    ).all()
    return {
        "frozen_deals": [int(d) for d in frozen],
        "notification_failures": [str(json.loads(a)["escrow"]) for a in failures],
    }


def _event_sort_key(e: m.AnchoredEvent) -> tuple[Any, ...]:
    when = _aware(e.event_time) or _aware(e.block_time)
    return (when is None, when, e.block_number, e.log_index, e.leaf_index)


def _certificates(event: dict[str, Any]) -> Any:
    info = event.get("certificationInfo")
    ilmd = event.get("ilmd") or {}
    extra = [v for k, v in ilmd.items() if k.endswith(":certification")]
    if info is None and not extra:
        return None
    cert: dict[str, Any] = {
        "bizStep": event.get("bizStep"),
        "disposition": event.get("disposition"),
    }
    if info is not None:
        cert["certificationInfo"] = info
    if extra:
        cert["certifications"] = extra[0]
    return cert


def provenance(session: Session, gtin: str, lot: str) -> dict[str, Any]:
    """The whole provenance of a batch (see the Provenance JSON shape in the service docs)."""
    check_batch_key(gtin, lot)
    batch = session.scalar(select(m.Batch).where(m.Batch.gtin == gtin, m.Batch.lot == lot))
    if batch is None:
        raise ApiError(404, "batch_not_found", f"no batch with GTIN {gtin} and lot {lot!r}")
    status_row = _batch_statuses(session, [batch.batch_id]).get(batch.batch_id)
    state = index_state(session)
    final_block = state.final_block if state else 0
    events = sorted(
        session.scalars(
            select(m.AnchoredEvent).where(m.AnchoredEvent.batch_id == batch.batch_id)
        ).all(),
        key=_event_sort_key,
    )
    out_events = []
    certificates = []
    for e in events:
        hash_id = hash_id_of(e.event_hash)
        out_events.append(
            {
                "event_hash_id": hash_id,
                "type": e.event_type,
                "biz_step": e.biz_step,
                "event_time": iso(e.event_time),
                "read_point": e.read_point,
                "document_cid": e.document_cid,
                "document": e.document,
                "anchor": {
                    "kind": e.kind,
                    "block": e.block_number,
                    "tx": e.tx_hash,
                    "log_index": e.log_index,
                    "time": iso(e.block_time),
                    "actor": e.actor,
                    "root": e.root,
                    "proof": e.proof,
                    "provisional": e.block_number > final_block,
                },
                "verification": e.verification,
            }
        )
        cert = _certificates(e.document) if e.document else None
        if cert:
            certificates.append(
                {"event_hash_id": hash_id, "certification": cert, "document_cid": e.document_cid}
            )
    counts = defaultdict(int)
    for e in events:
        counts[e.verification] += 1
    if counts["mismatch"]:
        overall = "mismatch"
    elif counts["missing"]:
        overall = "missing"
    elif counts["pending"] or not events:
        overall = "pending"
    else:
        overall = "verified"
    deal_ids = select(m.DealBatch.deal_id).where(m.DealBatch.batch_id == batch.batch_id)
    deals = session.scalars(select(m.Deal).where(m.Deal.deal_id.in_(deal_ids))).all()
    facts = _DealFacts(session, deals)
    now = chain_now(session)
    return {
        "batch": {
            "gtin": batch.gtin,
            "lot": batch.lot,
            "batch_id": batch.batch_id,
            "status": status_row.status if status_row else "active",
            "metadata_cid": batch.metadata_cid,
            "metadata": batch.metadata_json,
            "registered": {
                "block": batch.block_number,
                "tx": batch.tx_hash,
                "time": iso(batch.block_time),
            },
            "supplier": party_status(session, "supplier", batch.supplier),
        },
        "events": out_events,
        "cold_chain": batch.cold_chain or {"compliant": True, "breaches": [], "readings": []},
        "certificates": certificates,
        "recall": None
        if status_row is None
        else {
            "status": status_row.status,
            "reason_cid": status_row.reason_cid,
            "actor": status_row.actor,
            "block": status_row.block_number,
            "tx": status_row.tx_hash,
            "time": iso(status_row.block_time),
            **_recall_effects(session, status_row.tx_hash),
        },
        "deals": [
            {
                k: s[k]
                for k in (
                    "deal_id",
                    "status",
                    "unit_price",
                    "sold",
                    "min_quantity",
                    "max_quantity",
                    "seconds_left",
                    "top_price",
                )
            }
            for s in (deal_summary(d, facts, now) for d in sorted(deals, key=lambda d: d.deal_id))
        ],
        "verification": {
            "status": overall,
            "verified": counts["verified"],
            "total": len(events),
        },
    }


# ---------------------------------------------------------------------- dashboard


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


# ---------------------------------------------------------------------- provenance cache


class ProvenanceCache:
    """Serialized provenance responses per batch, valid for one index ``version``.

    The version is re-read from the database at most every ``check_seconds`` (the indexer in
    another process); an indexer in this process clears the cache at once.
    """

    def __init__(
        self,
        engine: Engine,
        *,
        check_seconds: float = 0.25,
        max_items: int = 50_000,
        clock: Callable[[], float] = time.monotonic,
    ):
        self.engine = engine
        self.check_seconds = check_seconds
        self.max_items = max_items
        self._clock = clock
        self._items: dict[tuple[str, str], bytes] = {}
        self._version: int | None = None
        # When the version was last read, on ``clock``; None: never (or cleared), so a check is
        # due whatever the clock reads. Not 0.0: time.monotonic() counts from boot, so on a
        # machine up for less than ``check_seconds`` a 0.0 looked like a recent check and the
        # version was never read at all.
        self._checked: float | None = None
        self._checking = False  # a version check is running (single flight, see lookup)
        self._lock = threading.Lock()

    def clear(self) -> None:
        with self._lock:
            self._items.clear()
            self._checked = None

    def _due(self, now: float) -> bool:
        """A version check is due: never made, or made ``check_seconds`` or longer ago."""
        return self._checked is None or now - self._checked >= self.check_seconds

    def _current_version(self) -> int:
        ensure_db(self.engine)
        with Session(self.engine) as session:
            state = index_state(session)
            return state.version if state else -1

    def lookup(self, key: tuple[str, str]) -> tuple[bool, bytes | None]:
        """Without I/O, for the event loop: ``(True, body or None)`` while the version was
        checked within ``check_seconds``; ``(False, None)`` when a check is due — then call
        :meth:`get` in a worker thread (it queries the database, which may be slow or down).

        Single flight: only the first caller after the interval gets ``False``; the others keep
        being served from the cache while that one check runs (otherwise every concurrent
        request would query the version at once, every ``check_seconds``)."""
        if self._due(self._clock()):
            with self._lock:
                if not self._checking:
                    self._checking = True
                    return False, None
        return True, self._items.get(key)

    def get(self, key: tuple[str, str]) -> bytes | None:
        """The cached body, after re-reading the index version if the last check is old
        (blocking SQL; ``OperationalError`` when the database is down)."""
        now = self._clock()
        try:
            if self._due(now):
                version = self._current_version()
                with self._lock:
                    if version != self._version:
                        self._items.clear()
                        self._version = version
                    self._checked = now
        finally:
            with self._lock:
                self._checking = False
        return self._items.get(key)

    @property
    def version(self) -> int | None:
        """The index version the cached bodies belong to (pass it back to :meth:`put`)."""
        return self._version

    def put(self, key: tuple[str, str], body: bytes, version: int | None = None) -> None:
        """Cache ``body``, built while the cache was at ``version`` (:attr:`version` read before
        building); a body built under an older version than the current one is dropped."""
        with self._lock:
            if version is not None and version != self._version:
                return
            if len(self._items) >= self.max_items:
                self._items.clear()
            self._items[key] = body
