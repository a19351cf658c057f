"""What a supplier's workspace page shows, read from the index and named (``/supplier/{address}``).

The supplier's review state (its latest party action), its products (the latest product master
data per GTIN, from its batches' lot master data), its batches with their state, trail length
and authorized writers (carriers, inspectors), and its deals with the money, all from the index:
the supplier's share once settled (``DealSettled``), what it has been paid (``Withdrawn``), and
what is owed (the share less the payments; the escrow's ``owed`` agrees, tests check it).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from api import queries
from api.db import models as m
from api.disputes import claims
from api.names import Directory, Person
from api.photos import photo_path
from api.queries.common import _batch_statuses, chain_now, company_prefixes
from api.review import decision_reason
from api.services import Services
from api.shop import product_of


@dataclass
class BatchCard:
    gtin: str
    lot: str
    batch_id: str
    status: str  # active | recalled | non_compliant
    product: dict[str, Any] | None
    events: int
    breaches: int
    writers: list[Person] = field(default_factory=list)
    deals: list[int] = field(default_factory=list)
    # Its lot master data not read from the store yet (the indexer reads it just after the
    # batch's block): the page fills the product in when it arrives (supplier.js).
    details_pending: bool = False


def _writers(session: Session, batch_ids: list[str]) -> dict[str, list[str]]:
    """Accounts allowed to write each batch's events now (the latest word per writer wins)."""
    rows = session.scalars(
        select(m.BatchWriter)
        .where(m.BatchWriter.batch_id.in_(batch_ids))
        .order_by(m.BatchWriter.block_number, m.BatchWriter.log_index)
    ).all()
    allowed: dict[str, dict[str, bool]] = {}
    for row in rows:
        allowed.setdefault(row.batch_id, {})[row.writer] = row.allowed
    return {b: [w for w, ok in ws.items() if ok] for b, ws in allowed.items()}


def _products(rows: list[m.Batch]) -> list[dict[str, Any]]:
    """The latest master data per GTIN (rows come newest first)."""
    found: dict[str, dict[str, Any]] = {}
    for b in rows:
        meta = b.metadata_json or {}
        if b.gtin in found or not meta.get("product"):
            continue
        image = meta.get("image")
        found[b.gtin] = {
            "gtin": b.gtin,
            "name": meta.get("product"),
            "image": photo_path(image),
            "image_cid": image.removeprefix("ipfs://") if isinstance(image, str) else "",
            "specification": meta.get("specification") or "",
            "unit": meta.get("unit") or "",
            "origin": meta.get("origin") or {},
            "master_cid": str(meta.get("product_master") or "").removeprefix("ipfs://"),
        }
    return list(found.values())


def supplier_view(session: Session, services: Services, supplier: str) -> dict[str, Any]:
    directory = Directory(session, services.store)
    party = queries.party_status(session, "supplier", supplier)
    rows = session.scalars(
        select(m.Batch)
        .where(m.Batch.supplier == supplier)
        .order_by(m.Batch.block_number.desc(), m.Batch.log_index.desc())
    ).all()
    ids = [b.batch_id for b in rows]
    statuses = _batch_statuses(session, ids)
    counts = dict(
        session.execute(
            select(m.AnchoredEvent.batch_id, func.count())
            .where(m.AnchoredEvent.batch_id.in_(ids))
            .group_by(m.AnchoredEvent.batch_id)
        ).all()
    )
    deals_of: dict[str, list[int]] = {}
    for link in session.scalars(select(m.DealBatch).where(m.DealBatch.batch_id.in_(ids))):
        deals_of.setdefault(link.batch_id, []).append(link.deal_id)
    writers = _writers(session, ids)
    directory.load({supplier, *(w for ws in writers.values() for w in ws)})
    batches = [
        BatchCard(
            gtin=b.gtin,
            lot=b.lot,
            batch_id=b.batch_id,
            status=statuses[b.batch_id].status if b.batch_id in statuses else "active",
            product=(b.metadata_json or {}).get("product"),
            events=int(counts.get(b.batch_id, 0)),
            breaches=b.breach_count,
            writers=[directory.get(w) for w in writers.get(b.batch_id, [])],
            deals=sorted(deals_of.get(b.batch_id, [])),
            details_pending=b.metadata_status in ("pending", "missing"),
        )
        for b in rows
    ]
    return {
        "supplier": supplier,
        "me": directory.get(supplier),
        "party": party,
        "status": party["status"],
        "batches": batches,
        "products": _products(list(rows)),
        "deals": payouts(session, supplier),
        "claims_waiting": claims_waiting(session, directory, services, supplier),
        "reason": decision_reason(services.store, party.get("reason_cid")),
        # Its GS1 Company Prefixes: the GTINs whose batches it may register.
        "prefixes": company_prefixes(session, supplier).get(supplier, []),
    }


def payouts(session: Session, supplier: str) -> list[dict[str, Any]]:
    """Per deal, from the index: its state, the supplier's share once settled, paid, owed."""
    deals = queries.list_deals(session, supplier=supplier, limit=200)["items"]
    ids = [d["deal_id"] for d in deals]
    settled = {
        o.deal_id: o
        for o in session.scalars(
            select(m.DealOutcome).where(
                m.DealOutcome.deal_id.in_(ids), m.DealOutcome.kind == "settled"
            )
        )
    }
    paid: dict[int, int] = {}
    for p in session.scalars(
        select(m.Payout).where(
            m.Payout.deal_id.in_(ids), m.Payout.account == supplier, m.Payout.kind == "withdrawn"
        )
    ):
        paid[p.deal_id] = paid.get(p.deal_id, 0) + int(p.amount)
    out = []
    for d in deals:
        outcome = settled.get(d["deal_id"])
        share = int(outcome.supplier_amount or 0) if outcome else None
        out.append(
            {
                "deal_id": d["deal_id"],
                "status": d["status"],
                "product": product_of(session, d["batch_ids"]),
                "sold": d["sold"],
                "share": share,
                "paid": paid.get(d["deal_id"], 0),
                # Settlement fixes the supplier's amount (no claim may be open then): what is
                # owed is that amount less what was paid out; tests check it against owed().
                "owed": max(0, share - paid.get(d["deal_id"], 0)) if share is not None else 0,
            }
        )
    return out


def claims_waiting(
    session: Session, directory: Directory, services: Services, supplier: str
) -> int:
    """Claims the supplier can still answer (filed, before the answer deadline)."""
    now = chain_now(session)
    found, _ = claims(session, directory, services.store, supplier=supplier)  # the newest
    return sum(1 for c in found if c.status == "filed" and (c.answer_deadline or 0) > now)
