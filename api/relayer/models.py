"""The relayer's tables, on the index's declarative ``Base`` (one schema, one ``init_db``).

The chain cannot rebuild these rows: a change to these tables is a migration that carries them over
(api/db/migrations, tested on a database with rows in it).

``relay_requests`` is the outbox: a signed request the API accepted is committed here *before*
anything is sent, and the worker moves it ``queued → sending → sent → mined | failed``. The
relayer's own transaction is signed and its hash stored (``sending``) before it is broadcast, so a
restarted worker can always tell "sent and mined" from "never left" without sending twice.

``document_uploads`` remembers every signed upload (uploader and message), so a captured upload
cannot be replayed.

``relay_locks`` holds one row per name a worker must own exclusively on PostgreSQL (a signer's
queue, the relayer account's nonce): see :mod:`api.relayer.claims`.
"""

from __future__ import annotations

from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, BigInteger, DateTime, Float, Index, Integer, String, Text, text
from sqlalchemy.orm import Mapped, mapped_column

from api.db.models import Base
from api.timefmt import iso_utc


def utcnow() -> datetime:
    return datetime.now(UTC)


class RelayStatus(StrEnum):
    QUEUED = "queued"  # accepted and committed; nothing sent yet
    SENDING = (
        "sending"  # relayer tx signed and its hash stored; broadcast may or may not have happened
    )
    SENT = "sent"  # broadcast; waiting for the receipt
    MINED = "mined"  # executed on chain (by us, or by anyone: the forwarder nonce is spent)
    FAILED = "failed"  # will never execute; ``error_*`` says why


PENDING_STATUSES = (RelayStatus.QUEUED, RelayStatus.SENDING, RelayStatus.SENT)
PENDING_VALUES = tuple(s.value for s in PENDING_STATUSES)  # as the status column stores them

# SQL for "the request is pending" (a partial index's condition: literal values, no parameters).
PENDING_SQL = "status IN (" + ", ".join(f"'{s.value}'" for s in PENDING_STATUSES) + ")"

# The PostgreSQL channel an accept notifies: relay workers in other processes wake up
# (api.db.wakeups).
QUEUED_CHANNEL = "tuanchain_relay_queued"


class RelayRequest(Base):
    """One signed gasless request (an ERC-2771 forward request, plus a permit for joins)."""

    __tablename__ = "relay_requests"
    __table_args__ = (
        # One pending request per signer and forwarder nonce, enforced by the database: two API
        # processes checking the same nonce at once cannot both commit (the loser gets 409
        # ``nonce_taken``). Mined and failed requests keep their nonce without holding it.
        Index(
            "uq_relay_requests_pending_nonce",
            "signer",
            "nonce",
            unique=True,
            sqlite_where=text(PENDING_SQL),
            postgresql_where=text(PENDING_SQL),
        ),
    )

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    action: Mapped[str] = mapped_column(String(40))
    signer: Mapped[str] = mapped_column(String(42), index=True)
    target: Mapped[str] = mapped_column(String(42))
    nonce: Mapped[int] = mapped_column(BigInteger)
    deadline: Mapped[int] = mapped_column(BigInteger)
    # EIP-712 digest of the forward request: identical re-submissions map to one row.
    request_digest: Mapped[str] = mapped_column(String(66), index=True)
    typed_data: Mapped[dict[str, Any]] = mapped_column(JSON)
    signature: Mapped[str] = mapped_column(String(200))
    permit: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    permit_signature: Mapped[str | None] = mapped_column(String(200), nullable=True)
    # Decoded from the signed payloads (api.relayer.describe), never the client's word; NULL for
    # requests accepted before that rule (migration 0002 dropped their unsigned claims).
    details: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    # ChainIdentity.key of the chain it was accepted for (api.binding): it is sent to that chain
    # only; NULL only in rows written before keys existed.
    chain_key: Mapped[str | None] = mapped_column(String(66), nullable=True, index=True)

    status: Mapped[str] = mapped_column(String(16), index=True, default=RelayStatus.QUEUED)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[float] = mapped_column(Float, default=0.0)
    last_attempt_error: Mapped[str | None] = mapped_column(Text, nullable=True)

    # The relayer's transaction(s): its hash here; its signed raw bytes, kept until the batch
    # settles for an identical rebroadcast, once per batch in ``relay_batches`` (RelayBatch).
    permit_tx_hash: Mapped[str | None] = mapped_column(String(66), nullable=True)
    relayer_nonce: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    tx_hash: Mapped[str | None] = mapped_column(String(66), nullable=True, index=True)
    # Unused since migration 0010 (which moved the pending rows' bytes to ``relay_batches``):
    # every row of a batch carried the whole batch transaction, rewritten with each move.
    raw_tx: Mapped[str | None] = mapped_column(Text, nullable=True)
    block_number: Mapped[int | None] = mapped_column(BigInteger, nullable=True)

    error_code: Mapped[str | None] = mapped_column(String(80), nullable=True)
    error_message: Mapped[str | None] = mapped_column(Text, nullable=True)
    error_args: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)

    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), default=utcnow, onupdate=utcnow
    )

    def public(self) -> dict[str, Any]:
        """What ``GET /v1/relay/{id}`` shows."""
        return public_view({name: getattr(self, name) for name in _PUBLIC_COLUMNS})


# The columns :func:`public_view` reads.
_PUBLIC_COLUMNS = (
    "id",
    "action",
    "signer",
    "target",
    "nonce",
    "status",
    "tx_hash",
    "permit_tx_hash",
    "block_number",
    "attempts",
    "error_code",
    "error_message",
    "error_args",
    "details",
    "created_at",
    "updated_at",
)


def public_view(values: dict[str, Any]) -> dict[str, Any]:
    """What ``GET /v1/relay/{id}`` shows of a request, from its column values (a column missing
    from ``values`` is NULL): :meth:`RelayRequest.public` of a row, or the answer to the accept
    that inserted ``values``, without building an ORM object for it (issue 15)."""
    error = None
    if values.get("error_code"):
        error = {
            "code": values["error_code"],
            "message": values.get("error_message"),
            "args": values.get("error_args"),
        }
    return {
        "id": values["id"],
        "action": values["action"],
        "signer": values["signer"],
        "target": values["target"],
        "nonce": values["nonce"],
        "status": values["status"],
        "tx_hash": values.get("tx_hash"),
        "permit_tx_hash": values.get("permit_tx_hash"),
        "block_number": values.get("block_number"),
        "attempts": values["attempts"],
        "error": error,
        "details": values.get("details"),
        "created_at": iso_utc(values["created_at"]),
        "updated_at": iso_utc(values["updated_at"]),
    }


class RelayBatch(Base):
    """A relayer transaction signed for a batch of ``relay_requests`` (their ``tx_hash``): its
    raw bytes, stored once (not on each of its rows) in the same commit that moves the rows to
    ``sending``, read to broadcast the same bytes again after a restart, and deleted once the
    batch is settled (issue 15: ~2 KB of calldata per join, so ~40 KB per 20-join batch, had
    been written on each row and rewritten with each status move)."""

    __tablename__ = "relay_batches"

    tx_hash: Mapped[str] = mapped_column(String(66), primary_key=True)
    raw_tx: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    # Replacements (fee bumps, :mod:`api.relayer.replace`): every transaction signed with the
    # batch's relayer nonce is kept, any of them may be the one mined. ``series``: the hash of
    # the first one (None: this is the first); ``max_fee_per_gas``: this one's fee cap (None on
    # rows stored before migration 0012: read from ``raw_tx``); ``permits_raw``: the raw permit
    # transactions sent right before it (JSON list, nonces below the batch's), signed again
    # with it so a replacement never waits behind a permit priced out of the pool.
    series: Mapped[str | None] = mapped_column(String(66), nullable=True, index=True)
    max_fee_per_gas: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    permits_raw: Mapped[list[str] | None] = mapped_column(JSON, nullable=True)
    # When it was signed (migration 0015): the latest block then and the worker's clock, so an
    # unmined one is replaced once outbid for TUANCHAIN_RELAYER_REPLACE_AFTER_BLOCKS / _SECONDS
    # (None on rows stored before: counted from the first poll that finds them).
    sent_block: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    sent_at: Mapped[float | None] = mapped_column(Float, nullable=True)
    # Set (the worker's clock) when it is due for a replacement but its fees cannot be raised
    # under TUANCHAIN_RELAYER_MAX_FEE_PER_GAS: logged once, shown on the dashboard, for a person.
    at_ceiling_since: Mapped[float | None] = mapped_column(Float, nullable=True)


class DocumentUpload(Base):
    """A signed upload. ``signature_digest`` is keccak256(uploader ‖ the signed message's EIP-191
    hash), unique, so the same upload cannot be replayed (with any encoding of its signature)."""

    __tablename__ = "document_uploads"

    signature_digest: Mapped[str] = mapped_column(String(66), primary_key=True)
    uploader: Mapped[str] = mapped_column(String(42), index=True)
    cid: Mapped[str] = mapped_column(String(100))
    sha256: Mapped[str] = mapped_column(String(64))
    content_type: Mapped[str] = mapped_column(String(100))
    size: Mapped[int] = mapped_column(BigInteger)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class RelayLock(Base):
    """A lockable name (``signer:0x..`` / ``relayer:0x..``); rows exist only to be locked.

    Why a separate table rather than locking ``relay_requests`` rows: a worker commits progress
    on the request row (``sending`` before the broadcast) while it works, and a commit releases
    every row lock its transaction held; an update from another connection would block on it.
    """

    __tablename__ = "relay_locks"

    name: Mapped[str] = mapped_column(String(80), primary_key=True)
