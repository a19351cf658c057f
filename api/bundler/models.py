"""The bundler's outbox: user operations accepted at ``/v1/bundler``, kept until bundled.

Like ``relay_requests`` (:mod:`api.relayer.models`), the chain cannot rebuild these rows (a user
operation is a signed request): a schema change is a migration carrying them over, and a chain
change fails the pending ones with ``chain_changed`` (:mod:`api.binding`). An operation moves
``queued → sending → sent → mined | failed``; the ``handleOps`` transaction is signed and its hash
and raw bytes committed (``sending``) before it is broadcast, so a restarted worker can tell
"bundled" from "never left" without bundling twice (the EntryPoint's nonce would refuse a second
execution anyway: ``AA25``).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, Boolean, DateTime, Float, Index, Integer, String, Text
from sqlalchemy import text as sql_text
from sqlalchemy.orm import Mapped, mapped_column

from api.db.models import Base
from api.relayer.models import PENDING_SQL, PENDING_STATUSES, RelayStatus, utcnow

# The same life cycle as a relay request (queued / sending / sent / mined / failed).
OpStatus = RelayStatus
PENDING_OP_STATUSES = PENDING_STATUSES
# The PostgreSQL channel an accepted operation notifies: bundler workers in other processes
# wake up (api.db.wakeups).
QUEUED_CHANNEL = "tuanchain_userop_queued"


class UserOperationRow(Base):
    """One accepted ERC-4337 user operation (EntryPoint v0.8)."""

    __tablename__ = "user_operations"
    __table_args__ = (
        # One pending operation per sender and nonce: two API processes accepting the same nonce
        # cannot both commit (the EntryPoint would run only one of them anyway).
        Index(
            "uq_user_operations_pending_nonce",
            "sender",
            "nonce",
            unique=True,
            sqlite_where=sql_text(PENDING_SQL),
            postgresql_where=sql_text(PENDING_SQL),
        ),
    )

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    user_op_hash: Mapped[str] = mapped_column(String(66), index=True)
    entry_point: Mapped[str] = mapped_column(String(42))
    sender: Mapped[str] = mapped_column(String(42), index=True)
    # The full 256-bit nonce as decimal text (192-bit key, 64-bit sequence); the sequence apart
    # for ordering a sender's operations.
    nonce: Mapped[str] = mapped_column(String(80))
    nonce_key: Mapped[str] = mapped_column(String(80))
    nonce_seq: Mapped[int] = mapped_column(BigInteger)
    # The operation as eth_sendUserOperation took it (ERC-7769 JSON: hex quantities and data).
    user_operation: Mapped[dict[str, Any]] = mapped_column(JSON)
    # ChainIdentity.key of the chain it was accepted for (api.binding): bundled there only.
    chain_key: Mapped[str] = mapped_column(String(66), index=True)
    accepted_block: Mapped[int] = mapped_column(BigInteger)

    status: Mapped[str] = mapped_column(String(16), index=True, default=OpStatus.QUEUED)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[float] = mapped_column(Float, default=0.0)
    last_attempt_error: Mapped[str | None] = mapped_column(Text, nullable=True)

    # The handleOps transaction: signed raw bytes kept until mined, for identical rebroadcast.
    bundler_nonce: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    tx_hash: Mapped[str | None] = mapped_column(String(66), nullable=True, index=True)
    raw_tx: Mapped[str | None] = mapped_column(Text, nullable=True)
    # Fee replacements (migration 0015, api.bundler.worker): the earlier transactions signed with
    # the same bundler nonce (any of them may be the one mined; JSON list of hashes, oldest
    # first), when the current one was signed (latest block, worker's clock), and when it was
    # found stuck with no replacement left (its operation's fees spent, at the fee ceiling).
    earlier_tx_hashes: Mapped[list[str] | None] = mapped_column(JSON, nullable=True)
    sent_block: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    sent_at: Mapped[float | None] = mapped_column(Float, nullable=True)
    at_ceiling_since: Mapped[float | None] = mapped_column(Float, nullable=True)
    block_number: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    block_hash: Mapped[str | None] = mapped_column(String(66), nullable=True)

    # UserOperationEvent of a mined operation: success (its calls did not revert) and cost.
    success: Mapped[bool | None] = mapped_column(Boolean, nullable=True)
    actual_gas_cost: Mapped[str | None] = mapped_column(String(80), nullable=True)
    actual_gas_used: Mapped[str | None] = mapped_column(String(80), nullable=True)
    revert_reason: Mapped[str | None] = mapped_column(Text, nullable=True)

    error_code: Mapped[str | None] = mapped_column(String(80), nullable=True)
    error_message: Mapped[str | None] = mapped_column(Text, nullable=True)
    error_args: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)

    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), default=utcnow, onupdate=utcnow
    )

    @property
    def pending(self) -> bool:
        return self.status in {s.value for s in PENDING_OP_STATUSES}

    def public(self) -> dict[str, Any]:
        """Status of the operation beyond the standard methods (``GET /v1/bundler/ops/{hash}``)."""
        return {
            "userOpHash": self.user_op_hash,
            "sender": self.sender,
            "nonce": hex(int(self.nonce)),
            "status": self.status,
            "transactionHash": self.tx_hash,
            "blockNumber": self.block_number,
            "success": self.success,
            "reason": self.revert_reason or None,
            "error": None
            if not self.error_code
            else {"code": self.error_code, "message": self.error_message, "args": self.error_args},
        }
