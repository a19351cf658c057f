"""Quality claims and batch recalls as the operators' and suppliers' pages show them, from the index.

A claim is one buyer's in one deal: filed (the supplier answers before ``answer_deadline``:
accept, which refunds, or reject), rejected (the platform arbitrates: uphold or deny), then
upheld or denied. A denied claim is closed on chain, so the buyer may file again; each filing
starts a new entry. The evidence is the buyer's claim-evidence document (photos and a note).
Claims filed from the pages keep it in the private store (personal data: the parties to the claim
and the arbiters read it, after signing in; the page opens it in the browser, see
``static/evidence.js``); older ones and the demo's are public documents, read here so the page
shows the photos.

A batch is active, recalled or non-compliant; a closed batch carries its reason document and the
deals its closing froze (the same transaction's ``DealFrozen`` logs, as the read API reports).
"""

from __future__ import annotations

import json
import logging
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import ColumnElement, func, select, union
from sqlalchemy.orm import Session

from api.db import models as m
from api.names import Directory, Person
from api.queries.batches import _recall_effects
from api.queries.common import _batch_statuses
from api.shop import product_of, products_of
from chain.address import checksum_address
from traceability.ipfs import DocumentStore
from traceability.ipfs.cid import digest_of_raw_cid

logger = logging.getLogger(__name__)

OPEN_CLAIM_STATES = ("filed", "rejected")
# Claims or batches one page shows (newest first; ``?before=`` the next page): a busy platform's
# history is never read whole in one request.
OPS_PAGE = 50


@dataclass
class Claim:
    deal_id: int
    buyer: Person
    leader: Person | None
    supplier: Person
    product: dict[str, Any]
    quantity: int
    status: str
    filed_at: datetime | None
    answer_deadline: int | None  # chain time (seconds) by which the supplier must answer
    evidence_cid: str | None
    evidence_private: str | None = None  # SHA-256 hex of a private evidence document
    photos: list[str] = field(default_factory=list)  # /ipfs/{cid} paths
    note: str | dict[str, str] = ""  # a {"zh", "en"} text, or the buyer's words
    by_default: bool = False
    filing: int = 0  # the index row of its filing: the pages' cursor

    @property
    def open(self) -> bool:
        return self.status in OPEN_CLAIM_STATES

    @property
    def key(self) -> str:
        return f"{self.deal_id}-{self.buyer.address}"

    def answerable(self, now: int) -> bool:
        """Waiting for the supplier's answer at chain time ``now`` (filed, its window open)."""
        return (
            self.status == "filed"
            and self.answer_deadline is not None
            and self.answer_deadline > now
        )


def private_evidence(store: DocumentStore, cid: str | None) -> str | None:
    """The SHA-256 (hex) of evidence kept in the private store, None for public evidence."""
    if not cid:
        return None
    digest = digest_of_raw_cid(cid)
    if digest is None or store.has(cid):
        return None
    return digest.hex()


def _evidence(store: DocumentStore, cid: str | None) -> tuple[list[str], str | dict[str, str]]:
    """The photos and note of a claim-evidence document (nothing if it cannot be read)."""
    if not cid:
        return [], ""
    try:
        doc = json.loads(store.get(cid))
    except Exception as exc:  # noqa: BLE001 - the page shows the link without the photos
        logger.warning("evidence %s unreadable: %s", cid, exc)
        return [], ""
    if not isinstance(doc, dict):
        return [], ""
    photos = [
        "/ipfs/" + p.removeprefix("ipfs://")
        for p in doc.get("photos") or []
        if isinstance(p, str) and p.startswith("ipfs://")
    ]
    # The pages' evidence has a note; the demo's, a text in both languages.
    note = doc.get("note") or doc.get("text") or ""
    return photos, note if isinstance(note, dict) else str(note)


def claims(
    session: Session,
    directory: Directory,
    store: DocumentStore,
    *,
    supplier: str | None = None,
    limit: int = OPS_PAGE,
    before: int | None = None,
) -> tuple[list[Claim], int | None]:
    """The ``limit`` newest claims (a supplier's only, if given; filed before the filing
    ``before`` names, a :attr:`Claim.filing`), open ones first, oldest first, then closed ones
    newest first; and the next page's cursor (None on the last page)."""
    filings = select(m.ClaimEvent.id).where(m.ClaimEvent.status == "filed")
    if supplier is not None:
        filings = filings.join(m.Deal, m.Deal.deal_id == m.ClaimEvent.deal_id).where(
            m.Deal.supplier == supplier
        )
    if before is not None:
        filings = filings.where(m.ClaimEvent.id < before)
    ids = list(session.scalars(filings.order_by(m.ClaimEvent.id.desc()).limit(limit + 1)))
    page, next_before = set(ids[:limit]), (ids[limit - 1] if len(ids) > limit else None)
    filed = session.scalars(select(m.ClaimEvent).where(m.ClaimEvent.id.in_(page))).all()
    keys = {(r.deal_id, r.buyer) for r in filed}
    deal_ids = sorted({d for d, _ in keys})
    # Every event of these claims (a later filing by the same buyer closes an earlier one).
    rows = [
        r
        for r in session.scalars(
            select(m.ClaimEvent)
            .where(
                m.ClaimEvent.deal_id.in_(deal_ids),
                m.ClaimEvent.buyer.in_(sorted({b for _, b in keys})),
            )
            .order_by(m.ClaimEvent.block_number, m.ClaimEvent.log_index)
        )
        if (r.deal_id, r.buyer) in keys
    ]
    deals = {
        d.deal_id: d for d in session.scalars(select(m.Deal).where(m.Deal.deal_id.in_(deal_ids)))
    }
    batches: dict[int, list[str]] = {}
    for link in session.scalars(select(m.DealBatch).where(m.DealBatch.deal_id.in_(deal_ids))):
        batches.setdefault(link.deal_id, []).append(link.batch_id)
    directory.load(
        {r.buyer for r in rows}
        | {r.leader for r in rows if r.leader}
        | {deals[r.deal_id].supplier for r in rows if r.deal_id in deals}
    )
    current: dict[tuple[int, str], Claim] = {}
    done: list[Claim] = []
    for row in rows:
        deal = deals.get(row.deal_id)
        if deal is None:
            continue
        key = (row.deal_id, row.buyer)
        if row.status == "filed":
            if key in current:
                done.append(current.pop(key))
            if row.id not in page:  # a filing of another page: only closes the one before
                continue
            private = private_evidence(directory.store, row.evidence_cid)
            photos, note = ([], "") if private else _evidence(directory.store, row.evidence_cid)
            filed_at = row.block_time
            current[key] = Claim(
                deal_id=row.deal_id,
                buyer=directory.get(row.buyer),
                leader=directory.get(row.leader) if row.leader else None,
                supplier=directory.get(deal.supplier),
                product=product_of(session, batches.get(row.deal_id, [])),
                quantity=row.quantity,
                status="filed",
                filed_at=filed_at,
                answer_deadline=(
                    int(filed_at.replace(tzinfo=filed_at.tzinfo or UTC).timestamp())
                    + deal.answer_window
                    if filed_at
                    else None
                ),
                evidence_cid=row.evidence_cid,
                evidence_private=private,
                photos=photos,
                note=note,
                filing=row.id,
            )
        elif key in current:
            claim = current[key]
            claim.status, claim.by_default = row.status, row.by_default
            if row.status in ("upheld", "denied"):
                done.append(current.pop(key))
    open_ = sorted(current.values(), key=lambda c: c.filed_at or datetime.min)
    done.sort(key=lambda c: c.filed_at or datetime.min, reverse=True)
    return open_ + done, next_before


def waiting_claims(session: Session, *, supplier: str | None = None, now: int = 0) -> int:
    """How many claims wait, over every page (the pages show 50 at a time): for the platform,
    the ones a supplier rejected (to arbitrate); for ``supplier``, its filed ones still within
    their answer window at chain time ``now``. A claim's state is its latest event's, as
    :func:`claims` reads it (a filing after a denial is a new claim, open again)."""
    events = select(
        m.ClaimEvent.deal_id,
        m.ClaimEvent.status,
        m.ClaimEvent.block_time,
        func.row_number()
        .over(
            partition_by=(m.ClaimEvent.deal_id, m.ClaimEvent.buyer),
            order_by=(m.ClaimEvent.block_number.desc(), m.ClaimEvent.log_index.desc()),
        )
        .label("newest"),
    )
    if supplier is not None:
        events = events.join(m.Deal, m.Deal.deal_id == m.ClaimEvent.deal_id).where(
            m.Deal.supplier == supplier
        )
    latest = events.subquery()
    current = select(latest.c.deal_id, latest.c.block_time).where(latest.c.newest == 1)
    if supplier is None:
        return (
            session.scalar(
                select(func.count()).select_from(
                    current.where(latest.c.status == "rejected").subquery()
                )
            )
            or 0
        )
    # Filed and unanswered: open claims only (few), their deadlines computed as claims() does.
    filed = session.execute(current.where(latest.c.status == "filed")).all()
    windows = {
        deal_id: window
        for deal_id, window in session.execute(
            select(m.Deal.deal_id, m.Deal.answer_window).where(
                m.Deal.deal_id.in_(sorted({row.deal_id for row in filed}))
            )
        )
    }
    return sum(
        1
        for row in filed
        if row.block_time is not None
        and int(row.block_time.replace(tzinfo=row.block_time.tzinfo or UTC).timestamp())
        + windows.get(row.deal_id, 0)
        > now
    )


_BATCH_ID = re.compile(r"0x[0-9a-fA-F]{64}")
_ADDRESS = re.compile(r"0x[0-9a-fA-F]{40}")


# A GTIN is stored as 14 digits; a package prints it as GTIN-13, -12 or -8 (the same number
# without its leading zeros), so a typed start of one is looked up with each of those paddings.
_GTIN_PADDINGS = ("", "0", "00", "000000")
# Product names live in the batches' master data (JSON, not indexed): a name is looked for among
# the newest this many batches only (a bounded read of the primary key), numbers in the index.
NAME_SCAN = 2000


def _starts_with(column: ColumnElement[str], prefix: str) -> ColumnElement[bool]:
    """``column`` starts with ``prefix``, as a range of the column's index: [prefix, the next
    string after every one that starts with it) in code-point order (SQLite's BINARY, PostgreSQL's
    C and C.UTF-8 collations, migration 0016), and its start compared to be exact in any order. A
    LIKE could not use SQLite's index (its LIKE folds case, and lower(lot) is no column)."""
    exact = func.substr(column, 1, len(prefix)) == prefix
    last = prefix.rstrip(chr(0x10FFFF))
    if not last:  # only the highest code point: everything from it on
        return (column >= prefix) & exact
    after = last[:-1] + chr(ord(last[-1]) + 1)
    return (column >= prefix) & (column < after) & exact


def batch_search(text: str, name_floor: int | None = None) -> ColumnElement[bool]:
    """Batches an operator's typed words name: a batch id (0x, 32 bytes), a supplier's address,
    the start of a GTIN (as printed: GTIN-8 to -14) or of a lot (case aside), all read through an
    index (migration 0016) — or a part of a product's name among the batches from row
    ``name_floor`` on (the newest :data:`NAME_SCAN`, :func:`batches`)."""
    text = text.strip()
    if _BATCH_ID.fullmatch(text):
        return m.Batch.batch_id == text.lower()
    if _ADDRESS.fullmatch(text):
        # Stored checksummed (the indexer's addresses): compared as stored, on its index,
        # whatever case the operator typed or pasted.
        return m.Batch.supplier == checksum_address(text.lower())
    found = [_starts_with(func.lower(m.Batch.lot), text.lower())]
    if text.isascii() and text.isdigit() and len(text) <= 14:
        found += [
            _starts_with(m.Batch.gtin, pad + text)
            for pad in _GTIN_PADDINGS
            if len(pad + text) <= 14
        ]
    if name_floor is not None:
        name = func.lower(m.Batch.metadata_json["product"].as_string())
        found.append((m.Batch.id >= name_floor) & name.contains(text.lower(), autoescape=True))
    # One SELECT a term, united: each is planned on its own index (an OR of them may be planned
    # as a scan of every batch in the primary key's order, for the ORDER BY … LIMIT).
    return m.Batch.id.in_(union(*(select(m.Batch.id).where(term) for term in found)))


@dataclass
class BatchRow:
    gtin: str
    lot: str
    batch_id: str
    supplier: Person
    product: Any
    status: str  # active | recalled | non_compliant
    since: datetime | None = None
    reason_cid: str | None = None
    frozen_deals: list[int] = field(default_factory=list)
    deals: list[int] = field(default_factory=list)
    row: int = 0  # the index row: the pages' cursor
    # Each deal above's product (its first batch's, as every page names a deal; a bare "#5"
    # told an operator nothing): deal id -> product_of
    products: dict[int, dict[str, Any]] = field(default_factory=dict)


def batches(
    session: Session,
    directory: Directory,
    *,
    limit: int = OPS_PAGE,
    before: int | None = None,
    search: str | None = None,
) -> tuple[list[BatchRow], int | None]:
    """The ``limit`` newest batches (registered before the one ``before`` names, a
    :attr:`BatchRow.row`; matching ``search``, :func:`batch_search`, if given) with their state
    and, once closed, their reason and frozen deals; and the next page's cursor (None on the last
    page)."""
    query = select(m.Batch).order_by(m.Batch.id.desc()).limit(limit + 1)
    if before is not None:
        query = query.where(m.Batch.id < before)
    if search and search.strip():
        # The row from which the newest NAME_SCAN batches start (None: fewer than that).
        floor = session.scalar(
            select(m.Batch.id).order_by(m.Batch.id.desc()).offset(NAME_SCAN - 1).limit(1)
        )
        query = query.where(batch_search(search, name_floor=floor or 0))
    found = session.scalars(query).all()
    rows, next_before = found[:limit], (found[limit - 1].id if len(found) > limit else None)
    ids = [b.batch_id for b in rows]
    statuses = _batch_statuses(session, ids)
    deals: dict[str, list[int]] = {}
    links = select(m.DealBatch).where(m.DealBatch.batch_id.in_(ids))
    for link in session.scalars(links.order_by(m.DealBatch.deal_id)):
        deals.setdefault(link.batch_id, []).append(link.deal_id)
    directory.load({b.supplier for b in rows})
    out = []
    for b in rows:
        closed = statuses.get(b.batch_id)
        row = BatchRow(
            gtin=b.gtin,
            lot=b.lot,
            batch_id=b.batch_id,
            supplier=directory.get(b.supplier),
            product=(b.metadata_json or {}).get("product"),
            status=closed.status if closed else "active",
            deals=deals.get(b.batch_id, []),
            row=b.id,
        )
        if closed is not None:
            row.since, row.reason_cid = closed.block_time, closed.reason_cid
            row.frozen_deals = _recall_effects(session, closed.tx_hash)["frozen_deals"]
        out.append(row)
    named = sorted({d for row in out for d in (*row.deals, *row.frozen_deals)})
    products = dict(zip(named, products_of(session, _deal_batches(session, named)), strict=True))
    for row in out:
        row.products = {d: products[d] for d in (*row.deals, *row.frozen_deals)}
    return out, next_before


def _deal_batches(session: Session, deal_ids: list[int]) -> list[list[str]]:
    """Each deal's batch ids, in ``deal_ids``' order (one query)."""
    found: dict[int, list[str]] = {}
    if deal_ids:
        links = select(m.DealBatch).where(m.DealBatch.deal_id.in_(deal_ids))
        for link in session.scalars(links.order_by(m.DealBatch.id)):
            found.setdefault(link.deal_id, []).append(link.batch_id)
    return [found.get(d, []) for d in deal_ids]
