"""Tables of webhook delivery and consented contacts (none rebuildable from the chain: carried
over by every migration, kept when the chain changes). Times are unix seconds."""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, BigInteger, Float, Integer, LargeBinary, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from api.db.models import Address, Base


class DeliveryStatus(StrEnum):
    PENDING = "pending"  # due at next_attempt_at (a first attempt, or a retry after a failure)
    DELIVERED = "delivered"  # the endpoint answered 2xx once (it may have been sent more often)
    DEAD = "dead"  # failed max_attempts times: waits for an operator's retry


class WebhookEndpoint(Base):
    """A gateway an operator registered. Its secret is sealed with the document key."""

    __tablename__ = "webhook_endpoints"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    url: Mapped[str] = mapped_column(String(500))
    description: Mapped[str] = mapped_column(String(200), default="")
    secret_sealed: Mapped[bytes] = mapped_column(LargeBinary)
    key_id: Mapped[str] = mapped_column(String(16))
    created_by: Mapped[str] = mapped_column(Address)
    created_at: Mapped[int] = mapped_column(BigInteger)
    # Notices at or after this chain time are delivered (not the whole history at registration).
    since: Mapped[int] = mapped_column(BigInteger)
    disabled_at: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    # The outbox's cursor (api.webhooks.outbox): notices were queued for this endpoint from every
    # indexed row up to block ``scanned_block`` and every deadline up to chain time
    # ``scanned_time``; a pass looks only past them. Null: never scanned (or the index was
    # rebuilt for another chain): the next pass looks at everything.
    scanned_block: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    scanned_time: Mapped[int | None] = mapped_column(BigInteger, nullable=True)


class WebhookDelivery(Base):
    """One notice for one endpoint: the outbox row. ``message_id`` is the ``webhook-id``: the
    same for every attempt, derived from the recipient and the notice's stable id."""

    __tablename__ = "webhook_deliveries"
    __table_args__ = (UniqueConstraint("endpoint_id", "message_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    endpoint_id: Mapped[int] = mapped_column(Integer, index=True)
    message_id: Mapped[str] = mapped_column(String(64))
    notice_id: Mapped[str] = mapped_column(String(200))
    recipient: Mapped[str] = mapped_column(Address, index=True)
    kind: Mapped[str] = mapped_column(String(32))
    payload: Mapped[dict[str, Any]] = mapped_column(JSON)  # the notice, without any contact
    status: Mapped[str] = mapped_column(String(16), index=True, default=DeliveryStatus.PENDING)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[float] = mapped_column(Float)
    last_error: Mapped[str | None] = mapped_column(String(500), nullable=True)
    last_status: Mapped[int | None] = mapped_column(Integer, nullable=True)
    created_at: Mapped[int] = mapped_column(BigInteger)
    delivered_at: Mapped[int | None] = mapped_column(BigInteger, nullable=True)


class NoticeContact(Base):
    """Where an address wants its notices: a phone number and/or a WeChat openid, given with its
    consent (a Sign-In with Ethereum session of that address) and deleted when it withdraws it.
    Personal data: sealed at rest, in this database only, never on chain or IPFS."""

    __tablename__ = "notice_contacts"

    address: Mapped[str] = mapped_column(Address, primary_key=True)
    sealed: Mapped[bytes] = mapped_column(LargeBinary)  # JSON {"phone", "wechat_openid"}
    key_id: Mapped[str] = mapped_column(String(16))
    consented_at: Mapped[int] = mapped_column(BigInteger)
