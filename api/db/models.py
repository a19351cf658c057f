"""The index's SQL tables (SQLAlchemy 2): chain logs turned into rows the read API queries.

Design, so that a re-org can be undone by deleting rows:
- Every row that comes from a log carries ``block_number``, ``tx_hash`` and ``log_index`` (unique
  per table with the leaf index where one log makes many rows), so replaying a block range is
  idempotent (``INSERT`` only what is missing) and rolling back to a fork point is
  ``DELETE ... WHERE block_number > fork`` on every table.
- Tables hold *events* (append-only); current state (a party's approval, a batch's recall, a deal's
  phase) is derived at query time from the latest event, so nothing needs "un-updating".
- The only mutable columns are the enrichment of anchored EPCIS events (document, parsed fields,
  verification status), recomputable at any time from the document store.
Addresses are checksummed ``0x`` strings; hashes and ids are lowercase ``0x`` hex strings.
"""

from __future__ import annotations

import importlib
import logging
from datetime import datetime

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    Index,
    Integer,
    Numeric,
    String,
    Text,
    UniqueConstraint,
    func,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

# Token amounts and uint256 values do not fit in BIGINT: store them as exact decimals.
Uint256 = Numeric(78, 0)
Hex32 = String(66)
Address = String(42)

logger = logging.getLogger(__name__)

# Modules that declare more tables on the same Base (owned by other parts of the service).
_EXTRA_MODEL_MODULES = (
    "api.relayer.models",
    "api.bundler.models",
    "api.binding",
    "api.auth.models",
    "api.private.models",
    "api.webhooks.models",
    "api.db.rate_limits",
)


class Base(DeclarativeBase):
    """Every table of the service (the relayer's outbox included) lives on this metadata."""


def load_all_models() -> None:
    """Import every module that declares tables on :class:`Base`, so its metadata is complete
    (the migrations compare it with the database)."""
    for name in _EXTRA_MODEL_MODULES:
        try:
            importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name is None or not name.startswith(exc.name):
                raise
            logger.debug("no %s yet; its tables are not created", name)


class LogRow:
    """Where a row came from: the log's block, transaction and index (its identity on chain)."""

    block_number: Mapped[int] = mapped_column(BigInteger, index=True)
    tx_hash: Mapped[str] = mapped_column(Hex32)
    log_index: Mapped[int] = mapped_column(Integer)
    block_time: Mapped[datetime] = mapped_column(DateTime(timezone=True))


# ---------------------------------------------------------------------- indexer bookkeeping


class IndexerState(Base):
    """One row per indexer (``name``): the last block whose logs are in the tables."""

    __tablename__ = "indexer_state"
    name: Mapped[str] = mapped_column(String(32), primary_key=True)
    chain_id: Mapped[int] = mapped_column(BigInteger)
    start_block: Mapped[int] = mapped_column(BigInteger)
    last_block: Mapped[int] = mapped_column(BigInteger)
    head_block: Mapped[int] = mapped_column(BigInteger, default=0)
    # head - confirmations at the last pass: rows above it are provisional (may still re-org).
    final_block: Mapped[int] = mapped_column(BigInteger, default=0)
    # Bumped on every commit that changes indexed rows: readers' caches compare it.
    version: Mapped[int] = mapped_column(BigInteger, default=0)
    head_time: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    updated_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)


class IndexedBlock(Base):
    """Hash of an indexed block (blocks with logs and each range's last block): re-org detection."""

    __tablename__ = "indexed_blocks"
    number: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    hash: Mapped[str] = mapped_column(Hex32)


# ---------------------------------------------------------------------- registry


class PartyEvent(Base, LogRow):
    """A supplier or leader applied, was approved, rejected or revoked, or updated its profile
    (PartyApplied / Approved / Rejected / Revoked / ProfileUpdated)."""

    __tablename__ = "party_events"
    __table_args__ = (UniqueConstraint("tx_hash", "log_index"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    kind: Mapped[str] = mapped_column(String(16), index=True)  # supplier | leader
    account: Mapped[str] = mapped_column(Address, index=True)
    # applied | approved | rejected | revoked | profile_updated
    action: Mapped[str] = mapped_column(String(16))
    profile_cid: Mapped[str | None] = mapped_column(String(128), nullable=True)
    # SHA-256 of the private credentials (api.private holds them), 0x-hex; on "applied" only.
    credentials_digest: Mapped[str | None] = mapped_column(Hex32, nullable=True)
    reason_cid: Mapped[str | None] = mapped_column(String(128), nullable=True)
    by: Mapped[str | None] = mapped_column(Address, nullable=True)


class PartyStatus(Base):
    """Each party's standing now, from its latest decision (applied, approved, rejected, revoked;
    a profile update keeps it): derived from ``party_events`` by the indexer as it stores them
    (:mod:`api.db.party_statuses`), so the approved list is an index range, not every event.
    ``block_number`` is the deciding event's: a rollback past it recomputes the row."""

    __tablename__ = "party_statuses"
    __table_args__ = (Index("ix_party_statuses_kind_status_account", "kind", "status", "account"),)
    kind: Mapped[str] = mapped_column(String(16), primary_key=True)  # supplier | leader
    account: Mapped[str] = mapped_column(Address, primary_key=True)
    status: Mapped[str] = mapped_column(String(16))  # pending | approved | rejected | revoked
    block_number: Mapped[int] = mapped_column(BigInteger, index=True)
    log_index: Mapped[int] = mapped_column(Integer)


class CompanyPrefixEvent(Base, LogRow):
    """The platform assigned a GS1 Company Prefix to a supplier, or revoked it
    (CompanyPrefixAssigned / Revoked): only a prefix's holder registers batches of its GTINs."""

    __tablename__ = "company_prefix_events"
    __table_args__ = (UniqueConstraint("tx_hash", "log_index"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    prefix: Mapped[str] = mapped_column(String(12), index=True)
    supplier: Mapped[str] = mapped_column(Address, index=True)
    action: Mapped[str] = mapped_column(String(16))  # assigned | revoked
    by: Mapped[str] = mapped_column(Address)


class Batch(Base, LogRow):
    """A registered batch (BatchRegistered)."""

    __tablename__ = "batches"
    __table_args__ = (
        UniqueConstraint("tx_hash", "log_index"),
        Index("ix_batches_gtin_lot", "gtin", "lot", unique=True),
        # The operators' batch search (api.disputes.batch_search) reads the start of a lot, case
        # aside, as a range of this index (a GTIN's start: of gtin's own index). Migration 0016.
        Index("ix_batches_lot_lower", func.lower(text("lot"))),
    )
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    batch_id: Mapped[str] = mapped_column(Hex32, unique=True)
    gtin: Mapped[str] = mapped_column(String(14), index=True)
    lot: Mapped[str] = mapped_column(String(64))
    supplier: Mapped[str] = mapped_column(Address, index=True)
    metadata_cid: Mapped[str | None] = mapped_column(String(128), nullable=True)
    # Enrichment: the lot master data document (product, origin, producer, cold-chain range).
    metadata_json: Mapped[dict | None] = mapped_column(JSON, nullable=True)
    metadata_status: Mapped[str] = mapped_column(String(16), default="pending")
    # Cold chain summary, recomputed by the enricher when the batch's events change.
    breach_count: Mapped[int] = mapped_column(Integer, default=0, index=True)
    cold_chain: Mapped[dict | None] = mapped_column(JSON, nullable=True)


class BatchStatusEvent(Base, LogRow):
    """A batch recalled or marked non-compliant (BatchRecalled / BatchMarkedNonCompliant)."""

    __tablename__ = "batch_status_events"
    __table_args__ = (UniqueConstraint("tx_hash", "log_index"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    batch_id: Mapped[str] = mapped_column(Hex32, index=True)
    status: Mapped[str] = mapped_column(String(16), index=True)  # recalled | non_compliant
    actor: Mapped[str] = mapped_column(Address)
    reason_cid: Mapped[str | None] = mapped_column(String(128), nullable=True)


class BatchWriter(Base, LogRow):
    """The supplier authorized (or deauthorized) a carrier/inspector for a batch."""

    __tablename__ = "batch_writers"
    __table_args__ = (UniqueConstraint("tx_hash", "log_index"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    batch_id: Mapped[str] = mapped_column(Hex32, index=True)
    writer: Mapped[str] = mapped_column(Address)
    allowed: Mapped[bool] = mapped_column(Boolean)


class MerkleRoot(Base, LogRow):
    """A Merkle root of many events (RootAnchored); its manifest ties leaves to batches."""

    __tablename__ = "merkle_roots"
    # A root is unique per anchorer, as on chain: two suppliers anchoring one root are two rows.
    __table_args__ = (
        UniqueConstraint("tx_hash", "log_index"),
        UniqueConstraint("anchorer", "root", name="uq_merkle_roots_anchorer_root"),
    )
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    root: Mapped[str] = mapped_column(Hex32)
    leaf_count: Mapped[int] = mapped_column(Integer)
    anchorer: Mapped[str] = mapped_column(Address)
    manifest_cid: Mapped[str | None] = mapped_column(String(128), nullable=True)
    # pending (not read yet) | loaded | missing (store miss, retried) | invalid (bad manifest)
    manifest_status: Mapped[str] = mapped_column(String(16), default="pending", index=True)


class AnchoredEvent(Base, LogRow):
    """One EPCIS event anchored on chain: singly, as a Merkle leaf, or as a leader's receipt.

    ``(tx_hash, log_index, leaf_index)`` identifies it (leaf_index is -1 unless Merkle).
    """

    __tablename__ = "anchored_events"
    __table_args__ = (
        UniqueConstraint("tx_hash", "log_index", "leaf_index"),
        Index("ix_anchored_events_batch_time", "batch_id", "event_time"),
    )
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    leaf_index: Mapped[int] = mapped_column(Integer, default=-1)
    batch_id: Mapped[str] = mapped_column(Hex32, index=True)
    kind: Mapped[str] = mapped_column(String(16))  # single | merkle | receipt
    event_hash: Mapped[str] = mapped_column(Hex32, index=True)
    document_cid: Mapped[str | None] = mapped_column(String(128), nullable=True)
    document_digest: Mapped[str | None] = mapped_column(Hex32, nullable=True)
    actor: Mapped[str] = mapped_column(Address)
    root: Mapped[str | None] = mapped_column(Hex32, nullable=True)
    proof: Mapped[list | None] = mapped_column(JSON, nullable=True)
    # Enrichment from the document store.
    verification: Mapped[str] = mapped_column(String(16), default="pending", index=True)
    event_type: Mapped[str | None] = mapped_column(String(32), nullable=True)
    biz_step: Mapped[str | None] = mapped_column(String(128), nullable=True)
    event_time: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    read_point: Mapped[str | None] = mapped_column(String(256), nullable=True)
    document: Mapped[dict | None] = mapped_column(JSON, nullable=True)
    attempts: Mapped[int] = mapped_column(Integer, default=0)


# ---------------------------------------------------------------------- escrow


class Deal(Base, LogRow):
    """A listed deal (DealCreated) with its parameters flattened for queries."""

    __tablename__ = "deals"
    __table_args__ = (UniqueConstraint("tx_hash", "log_index"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    deal_id: Mapped[int] = mapped_column(BigInteger, unique=True)
    supplier: Mapped[str] = mapped_column(Address, index=True)
    token: Mapped[str] = mapped_column(Address)
    fee_recipient: Mapped[str] = mapped_column(Address)
    price_tiers: Mapped[list] = mapped_column(JSON)  # [[min_quantity, unit_price], ...]
    commission_tiers: Mapped[list] = mapped_column(JSON)  # [[min_volume, bps], ...]
    min_quantity: Mapped[int] = mapped_column(BigInteger)
    max_quantity: Mapped[int] = mapped_column(BigInteger)
    per_buyer_limit: Mapped[int] = mapped_column(BigInteger)
    join_deadline: Mapped[int] = mapped_column(BigInteger)
    delivery_deadline: Mapped[int] = mapped_column(BigInteger)
    dispute_window: Mapped[int] = mapped_column(BigInteger)
    answer_window: Mapped[int] = mapped_column(BigInteger)
    commission_bps: Mapped[int] = mapped_column(Integer)
    platform_fee_bps: Mapped[int] = mapped_column(Integer)
    # 提货截止 and the per-leader cap on cash orders (issue 11; null on rows of older deployments)
    pickup_deadline: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    cash_cap_per_leader: Mapped[int | None] = mapped_column(BigInteger, nullable=True)


class DealBatch(Base, LogRow):
    """A batch a deal sells (one row per batch id of DealCreated)."""

    __tablename__ = "deal_batches"
    __table_args__ = (UniqueConstraint("deal_id", "batch_id"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    deal_id: Mapped[int] = mapped_column(BigInteger, index=True)
    batch_id: Mapped[str] = mapped_column(Hex32, index=True)


class OrderEvent(Base, LogRow):
    """A buyer joined (paid) or cancelled (refunded in full) under a leader."""

    __tablename__ = "order_events"
    __table_args__ = (
        UniqueConstraint("tx_hash", "log_index"),
        Index("ix_order_events_deal_buyer", "deal_id", "buyer"),
    )
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    deal_id: Mapped[int] = mapped_column(BigInteger, index=True)
    buyer: Mapped[str] = mapped_column(Address, index=True)
    leader: Mapped[str] = mapped_column(Address, index=True)
    kind: Mapped[str] = mapped_column(String(16))  # join | cancel
    quantity: Mapped[int] = mapped_column(BigInteger)
    amount: Mapped[int] = mapped_column(Uint256)  # paid (join) or refunded (cancel)


class Receipt(Base, LogRow):
    """A leader confirmed receipt of a deal's goods (ReceiptConfirmed)."""

    __tablename__ = "receipts"
    __table_args__ = (UniqueConstraint("tx_hash", "log_index"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    deal_id: Mapped[int] = mapped_column(BigInteger, index=True)
    leader: Mapped[str] = mapped_column(Address, index=True)
    batch_id: Mapped[str] = mapped_column(Hex32, index=True)
    event_hash: Mapped[str] = mapped_column(Hex32)
    document_digest: Mapped[str] = mapped_column(Hex32)
    quantity: Mapped[int] = mapped_column(BigInteger)


class ClaimEvent(Base, LogRow):
    """A quality claim filed, rejected by the supplier, upheld or denied."""

    __tablename__ = "claim_events"
    __table_args__ = (UniqueConstraint("tx_hash", "log_index"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    deal_id: Mapped[int] = mapped_column(BigInteger, index=True)
    buyer: Mapped[str] = mapped_column(Address, index=True)
    leader: Mapped[str | None] = mapped_column(Address, nullable=True)
    status: Mapped[str] = mapped_column(String(16), index=True)  # filed|rejected|upheld|denied
    quantity: Mapped[int] = mapped_column(BigInteger, default=0)
    evidence_cid: Mapped[str | None] = mapped_column(String(128), nullable=True)
    by_default: Mapped[bool] = mapped_column(Boolean, default=False)


class DealOutcome(Base, LogRow):
    """A deal frozen by a recalled batch, or settled (with the settlement's amounts)."""

    __tablename__ = "deal_outcomes"
    __table_args__ = (UniqueConstraint("tx_hash", "log_index"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    deal_id: Mapped[int] = mapped_column(BigInteger, index=True)
    kind: Mapped[str] = mapped_column(String(16), index=True)  # frozen | settled
    batch_id: Mapped[str | None] = mapped_column(Hex32, nullable=True)
    final_unit_price: Mapped[int | None] = mapped_column(Uint256, nullable=True)
    revenue: Mapped[int | None] = mapped_column(Uint256, nullable=True)
    supplier_amount: Mapped[int | None] = mapped_column(Uint256, nullable=True)
    platform_fee: Mapped[int | None] = mapped_column(Uint256, nullable=True)
    commission_total: Mapped[int | None] = mapped_column(Uint256, nullable=True)


class Payout(Base, LogRow):
    """Money leaving the escrow to an account (Withdrawn: pulled or pushed) or a skipped push."""

    __tablename__ = "payouts"
    __table_args__ = (UniqueConstraint("tx_hash", "log_index"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    deal_id: Mapped[int] = mapped_column(BigInteger, index=True)
    account: Mapped[str] = mapped_column(Address, index=True)
    kind: Mapped[str] = mapped_column(String(16))  # withdrawn | skipped
    amount: Mapped[int] = mapped_column(Uint256, default=0)


class PickupEvent(Base, LogRow):
    """The last mile (issue 11): an order handed over (HandedOver, signed by the buyer), a cash
    order handed over by its leader (CashHandedOver), a scanned code the escrow skipped
    (HandoverSkipped, with its reason), or a group's no-shows closed out (NoShowsClosed)."""

    __tablename__ = "pickup_events"
    __table_args__ = (
        UniqueConstraint("tx_hash", "log_index"),
        Index("ix_pickup_events_deal_buyer", "deal_id", "buyer"),
    )
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    deal_id: Mapped[int] = mapped_column(BigInteger, index=True)
    kind: Mapped[str] = mapped_column(String(16), index=True)  # handed_over|cash|skipped|no_shows
    leader: Mapped[str | None] = mapped_column(Address, nullable=True, index=True)
    buyer: Mapped[str | None] = mapped_column(Address, nullable=True)
    beneficiary_ref: Mapped[str | None] = mapped_column(Hex32, nullable=True)
    quantity: Mapped[int] = mapped_column(BigInteger, default=0)  # taken (no_shows: units)
    short_quantity: Mapped[int] = mapped_column(BigInteger, default=0)
    reason: Mapped[str | None] = mapped_column(String(32), nullable=True)  # skipped: why
    refund_per_unit: Mapped[int | None] = mapped_column(Uint256, nullable=True)  # no_shows


class CashOrderEvent(Base, LogRow):
    """A cash order booked by a leader for a neighbour (CashOrderBooked: paid by the leader), or
    a cash order's refund paid back to that leader (CashRefunded), apart from their own orders."""

    __tablename__ = "cash_order_events"
    __table_args__ = (UniqueConstraint("tx_hash", "log_index"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    deal_id: Mapped[int] = mapped_column(BigInteger, index=True)
    leader: Mapped[str] = mapped_column(Address, index=True)
    beneficiary_ref: Mapped[str] = mapped_column(Hex32)
    kind: Mapped[str] = mapped_column(String(16))  # booked | refunded
    quantity: Mapped[int] = mapped_column(BigInteger, default=0)
    amount: Mapped[int] = mapped_column(Uint256, default=0)  # paid in (booked) or back (refunded)


class RawLog(Base, LogRow):
    """Every decoded log, as received: the audit trail, and what ``--from-scratch`` compares."""

    __tablename__ = "raw_logs"
    __table_args__ = (UniqueConstraint("tx_hash", "log_index"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    address: Mapped[str] = mapped_column(Address)
    event: Mapped[str] = mapped_column(String(32), index=True)
    args: Mapped[str] = mapped_column(Text)  # JSON, bytes as 0x-hex


# Tables filled from logs, in the order a rollback/rebuild clears them.
LOG_TABLES: tuple[type[Base], ...] = (
    RawLog,
    PartyEvent,
    PartyStatus,
    CompanyPrefixEvent,
    Batch,
    BatchStatusEvent,
    BatchWriter,
    MerkleRoot,
    AnchoredEvent,
    Deal,
    DealBatch,
    OrderEvent,
    Receipt,
    ClaimEvent,
    DealOutcome,
    Payout,
    PickupEvent,
    CashOrderEvent,
)
