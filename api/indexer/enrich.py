"""Enrichment: read what the chain only points at (documents, manifests, lot master data).

- An anchored event's document is fetched by its CID (the store verifies the bytes), its single
  EPCIS event is re-hashed (CBV 2.0) and compared with the hash anchored on chain:
  ``verified`` / ``mismatch``; a store miss is ``missing`` and retried on later passes — it
  never stops indexing.
- A Merkle root's manifest gives one event row per leaf (with its inclusion proof), once its
  leaves are checked to rebuild the anchored root.
- A batch's cold chain (readings and breaches) is evaluated with
  :func:`traceability.epcis.evaluate_cold_chain` over its events, with the allowed range each
  sensor report carries (``tuan:minAllowedValue`` / ``tuan:maxAllowedValue``), else the lot
  master data's ``cold_chain``, else 0–8 °C.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from api.db import models as m
from api.indexer.merkle import load_manifest
from api.timefmt import iso_utc
from traceability import digital_link
from traceability.epcis import (
    EpcisError,
    evaluate_cold_chain,
    hash_events_in_document,
    parse_event,
)
from traceability.epcis.hashing import hash_id_of_digest
from traceability.ipfs import DocumentStore, IpfsError, StoreUnavailable
from traceability.merkle import MerkleError, to_hex
from traceability.safe_json import loads_bounded

logger = logging.getLogger(__name__)

DEFAULT_COLD_CHAIN_C = (0.0, 8.0)
MAX_ATTEMPTS = 20  # a document still missing after this many passes is left "missing"


def batch_id_of(gtin14: str, lot: str) -> str:
    """``registry.computeBatchId``: keccak256(abi.encode(gtin14, lot))."""
    return "0x" + digital_link.batch_id_of(gtin14, lot).hex()


def hash_id_of(event_hash: str) -> str:
    """The CBV 2.0 event hash ID whose digest is the anchored ``eventHash`` (0x-hex)."""
    return hash_id_of_digest(bytes.fromhex(event_hash.removeprefix("0x")))


@dataclass
class EnrichStats:
    verified: int = 0
    mismatch: int = 0
    missing: int = 0
    leaves: int = 0
    touched_batches: set[str] | None = None


def _fetch(store: DocumentStore, cid: str) -> bytes | None:
    """The document's bytes, or None on a miss (or an unreachable store: retried later)."""
    try:
        return store.get(cid)
    except StoreUnavailable as exc:
        logger.warning("document store unavailable (%s); will retry %s", exc, cid)
        return None
    except IpfsError as exc:
        logger.info("document %s not readable: %s", cid, exc)
        return None


def _single_event(raw: bytes) -> tuple[dict[str, Any], str] | None:
    """The one event of an EPCIS document and its CBV 2.0 hash ID (None if not EPCIS)."""
    try:
        doc = loads_bounded(raw)
        events = doc["epcisBody"]["eventList"]
        if not isinstance(events, list) or len(events) != 1:
            return None
        context = doc.get("@context")
        # Kept with its document's @context: a standalone event that parses on its own.
        event = {"@context": context, **events[0]} if context is not None else dict(events[0])
        # The hash of the stored document itself (the generator reads the whole document).
        return event, hash_events_in_document(doc)[0]
    except (ValueError, KeyError, TypeError, EpcisError):
        return None


def _parse_time(value: Any) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    # Normalised to UTC: SQLite's DateTime keeps the wall time and drops the offset, so an
    # event at 10:00+08:00 would read back as 10:00 UTC (PostgreSQL's timestamptz converts).
    return (parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)).astimezone(UTC)


def apply_document(row: m.AnchoredEvent, raw: bytes | None) -> None:
    """Set a row's verification status and parsed fields from its document bytes."""
    row.attempts = (row.attempts or 0) + 1
    if raw is None:
        row.verification = "missing"
        return
    parsed = _single_event(raw)
    if parsed is None:
        row.verification = "mismatch"
        return
    event, hash_id = parsed
    row.document = event
    row.event_type = str(event.get("type"))[:32] if event.get("type") else None
    biz_step = event.get("bizStep")
    row.biz_step = str(biz_step)[:128] if biz_step else None
    row.event_time = _parse_time(event.get("eventTime"))
    read_point = event.get("readPoint")
    row.read_point = str(read_point.get("id"))[:256] if isinstance(read_point, dict) else None
    row.verification = "verified" if hash_id == hash_id_of(row.event_hash) else "mismatch"


class Enricher:
    """Runs the enrichment passes inside the indexer's session (one commit per pass)."""

    def __init__(self, store: DocumentStore) -> None:
        self.store = store

    def run(self, session: Session) -> EnrichStats:
        stats = EnrichStats(touched_batches=set())
        self._roots(session, stats)
        self._events(session, stats)
        self._metadata(session, stats)
        for batch_id in sorted(stats.touched_batches or ()):
            self.cold_chain(session, batch_id)
        return stats

    # -------------------------------------------------------------- Merkle manifests

    def _roots(self, session: Session, stats: EnrichStats) -> None:
        roots = session.scalars(
            select(m.MerkleRoot)
            .where(m.MerkleRoot.manifest_status.in_(("pending", "missing")))
            .order_by(m.MerkleRoot.block_number, m.MerkleRoot.log_index)
        ).all()
        for root in roots:
            raw = _fetch(self.store, root.manifest_cid) if root.manifest_cid else None
            if raw is None:
                root.manifest_status = "missing"
                continue
            try:
                manifest = load_manifest(raw, root=root.root, leaf_count=root.leaf_count)
            except MerkleError as exc:  # malformed, or does not rebuild the anchored root
                logger.warning("manifest %s of root %s: %s", root.manifest_cid, root.root, exc)
                root.manifest_status = "invalid"
                continue
            may: dict[str, bool] = {}  # batch id -> may the anchorer anchor its events
            for index, leaf in enumerate(manifest.leaves):
                if not (leaf.gtin14 and leaf.lot):
                    continue
                batch_id = batch_id_of(leaf.gtin14, leaf.lot)
                if batch_id not in may:
                    may[batch_id] = _may_anchor(session, batch_id, root)
                if not may[batch_id]:
                    continue
                session.add(
                    m.AnchoredEvent(
                        block_number=root.block_number,
                        tx_hash=root.tx_hash,
                        log_index=root.log_index,
                        block_time=root.block_time,
                        leaf_index=index,
                        batch_id=batch_id,
                        kind="merkle",
                        event_hash=to_hex(leaf.event_hash),
                        document_cid=leaf.document_cid,
                        actor=root.anchorer,
                        root=root.root,
                        proof=[to_hex(p) for p in leaf.proof],
                    )
                )
                stats.leaves += 1
            root.manifest_status = "loaded"
        session.flush()

    # -------------------------------------------------------------- event documents

    def _events(self, session: Session, stats: EnrichStats) -> None:
        rows = session.scalars(
            select(m.AnchoredEvent).where(
                (m.AnchoredEvent.verification == "pending")
                | (
                    (m.AnchoredEvent.verification == "missing")
                    & (m.AnchoredEvent.attempts < MAX_ATTEMPTS)
                )
            )
        ).all()
        for row in rows:
            raw = _fetch(self.store, row.document_cid) if row.document_cid else None
            before = row.verification
            apply_document(row, raw)
            if row.verification != before:
                assert stats.touched_batches is not None
                stats.touched_batches.add(row.batch_id)
            if row.verification == "verified":
                stats.verified += 1
            elif row.verification == "mismatch":
                stats.mismatch += 1
            else:
                stats.missing += 1

    # -------------------------------------------------------------- lot master data

    def _metadata(self, session: Session, stats: EnrichStats) -> None:
        """Each batch's lot master data, once the store has it. A batch whose data arrives is
        touched: its cold chain is evaluated again with the lot's own range, and the index's
        version moves, so no cached page keeps showing it without its product."""
        assert stats.touched_batches is not None
        batches = session.scalars(
            select(m.Batch).where(m.Batch.metadata_status.in_(("pending", "missing")))
        ).all()
        for batch in batches:
            raw = _fetch(self.store, batch.metadata_cid) if batch.metadata_cid else None
            if raw is None:
                batch.metadata_status = "missing"
                continue
            try:
                data = loads_bounded(raw)
            except (ValueError, UnicodeDecodeError):
                batch.metadata_status = "invalid"
                continue
            batch.metadata_json = data if isinstance(data, dict) else {"value": data}
            batch.metadata_status = "loaded"
            stats.touched_batches.add(batch.batch_id)

    # -------------------------------------------------------------- cold chain

    def cold_chain(self, session: Session, batch_id: str) -> None:
        batch = session.scalar(select(m.Batch).where(m.Batch.batch_id == batch_id))
        if batch is None:
            return
        documents = session.scalars(
            select(m.AnchoredEvent.document).where(
                m.AnchoredEvent.batch_id == batch_id,
                m.AnchoredEvent.verification == "verified",
            )
        ).all()
        report = cold_chain_report(documents, batch.metadata_json)
        batch.cold_chain = report
        batch.breach_count = len(report["breaches"])


def _event_model(event: dict[str, Any]) -> Any:
    from traceability.epcis import ObjectEvent, TransformationEvent

    body = {k: v for k, v in event.items() if k != "@context"}
    if body.get("type") == "ObjectEvent":
        return ObjectEvent.model_validate(body)
    if body.get("type") == "TransformationEvent":
        return TransformationEvent.model_validate(body)
    return parse_event(event)


def _limits(element: dict[str, Any], fallback: tuple[float, float]) -> tuple[float, float]:
    meta = element.get("sensorMetadata") or {}
    low = high = None
    for key, value in meta.items():
        if key.endswith("minAllowedValue"):
            low = float(value)
        elif key.endswith("maxAllowedValue"):
            high = float(value)
    return (low if low is not None else fallback[0], high if high is not None else fallback[1])


def cold_chain_report(
    events: list[dict[str, Any] | None], metadata: dict[str, Any] | None
) -> dict[str, Any]:
    """Readings and breaches of a batch's temperature reports, JSON-ready, in time order."""
    fallback = DEFAULT_COLD_CHAIN_C
    if metadata and isinstance(metadata.get("cold_chain"), dict):
        cc = metadata["cold_chain"]
        fallback = (float(cc.get("min_c", fallback[0])), float(cc.get("max_c", fallback[1])))
    readings: list[dict[str, Any]] = []
    breaches: list[dict[str, Any]] = []
    for event in events:
        if not event or not event.get("sensorElementList"):
            continue
        try:
            # The document was verified against its anchored hash already: the pydantic model
            # suffices (no second JSON-schema pass, which would dominate indexing time).
            model = _event_model(event)
        except (EpcisError, ValueError):
            continue
        for element in model.sensorElementList or []:
            raw_element = element.model_dump(mode="json", by_alias=True, exclude_none=True)
            low, high = _limits(raw_element, fallback)
            when = element.sensorMetadata.time if element.sensorMetadata else None
            for rep in element.sensorReport:
                if rep.value is not None and rep.type in ("Temperature", "gs1:Temperature"):
                    readings.append(
                        {
                            "time": iso_utc(rep.time or when or model.eventTime),
                            "value": rep.value,
                            "uom": rep.uom or "CEL",
                        }
                    )
            single = model.model_copy(update={"sensorElementList": [element]})
            for b in evaluate_cold_chain([single], low, high).breaches:
                breaches.append(
                    {
                        "time": iso_utc(b.reading_time),
                        "value": b.value_c,
                        "limit": b.limit_c,
                        "bound": b.bound,
                        "uom": "CEL",
                    }
                )
    readings.sort(key=lambda r: r["time"])
    breaches.sort(key=lambda r: r["time"])
    return {"compliant": not breaches, "breaches": breaches, "readings": readings}


def _may_anchor(session: Session, batch_id: str, root: m.MerkleRoot) -> bool:
    """Whether the root's anchorer could anchor the batch's events when it anchored the root:
    its supplier, or a writer it allowed (as ``anchorEvent`` requires). Any approved supplier
    may anchor a root and its manifest names each leaf's batch itself, so a leaf of anyone
    else is left out of the batch's trail."""
    anchorer = root.anchorer.lower()
    supplier = session.scalar(select(m.Batch.supplier).where(m.Batch.batch_id == batch_id))
    if supplier is not None and supplier.lower() == anchorer:
        return True
    writes = session.scalars(
        select(m.BatchWriter)
        .where(m.BatchWriter.batch_id == batch_id, m.BatchWriter.block_number <= root.block_number)
        .order_by(m.BatchWriter.block_number, m.BatchWriter.log_index)
    ).all()
    allowed = [w.allowed for w in writes if w.writer.lower() == anchorer]
    return bool(allowed) and allowed[-1]
