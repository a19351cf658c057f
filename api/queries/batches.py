"""Batches from the index: pages of batches, and a batch's whole provenance (events, cold chain,
certificates, recall, deals).
"""

from __future__ import annotations

import json
from collections import defaultdict
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from api.db import models as m
from api.index_errors import BatchNotFound
from api.indexer.enrich import hash_id_of
from api.queries.common import (
    _aware,
    _batch_statuses,
    chain_now,
    check_batch_key,
    index_state,
    party_status,
)
from api.queries.deals import _DealFacts, deal_summary
from api.timefmt import iso_utc


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
        "registered": {"block": b.block_number, "tx": b.tx_hash, "time": iso_utc(b.block_time)},
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
        raise BatchNotFound(f"no batch with GTIN {gtin} and lot {lot!r}")
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
                "event_time": iso_utc(e.event_time),
                "read_point": e.read_point,
                "document_cid": e.document_cid,
                "document": e.document,
                "anchor": {
                    "kind": e.kind,
                    "block": e.block_number,
                    "tx": e.tx_hash,
                    "log_index": e.log_index,
                    "time": iso_utc(e.block_time),
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
                "time": iso_utc(batch.block_time),
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
            "time": iso_utc(status_row.block_time),
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
