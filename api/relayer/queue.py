"""A signer's queue in the outbox: the nonces its pending requests already hold.

A signer may have several requests waiting (a consumer joining two deals quickly): each signs
the *next* forwarder nonce after its queued ones (contiguous nonces), and each join's permit the
next token nonce after its queued permits. ``prepare`` fills these nonces in, ``accept`` insists
on them, and the worker sends a signer's requests in nonce order.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, bindparam, select
from sqlalchemy.orm import Session

from api.relayer.models import PENDING_VALUES, RelayRequest
from api.relayer.prepare import NextNonces
from chain.context import Chain

# The requests one signer may have waiting in the outbox (a consumer joining several deals back
# to back needs a few; a key filling the outbox is refused: 429 ``too_many_pending``).
MAX_PENDING_PER_SIGNER = 16


@dataclass(frozen=True)
class SignerQueue:
    """On-chain nonces of a signer and those its pending outbox requests hold."""

    forwarder_nonce: int
    token_nonce: int
    pending: tuple[Any, ...]  # rows with ``id``, ``nonce``, ``permit`` (pending_requests)

    @property
    def next_nonce(self) -> int:
        """The forwarder nonce the signer's next request must carry."""
        held = [r.nonce for r in self.pending]
        return max([self.forwarder_nonce, *(n + 1 for n in held)])

    @property
    def next_permit_nonce(self) -> int:
        """The token nonce the signer's next permit must carry (queued joins' permits first)."""
        held = [int(r.permit["message"]["nonce"]) for r in self.pending if r.permit is not None]
        return max([self.token_nonce, *(n + 1 for n in held)])

    def holder_of(self, nonce: int) -> Any | None:
        """The pending request holding forwarder ``nonce``, if any."""
        return next((r for r in self.pending if r.nonce == nonce), None)

    def next_nonces(self) -> NextNonces:
        return NextNonces(request=self.next_nonce, permit=self.next_permit_nonce)


def pending_requests(db: Session | Connection, signer: str) -> tuple[Any, ...]:
    """The signer's queued / sending / sent requests, in nonce order: their ``id``, ``nonce``
    and ``permit`` (rows of these columns through a session's connection — or accept's own
    connection — not ORM objects through the session: the ORM's layers cost several times the
    query, issue 15)."""
    connection = db.connection() if isinstance(db, Session) else db
    return tuple(connection.execute(_PENDING, {"signer": signer}).all())


# Built once (see api.relayer.accept: a statement's construction cost more than its run).
_PENDING = (
    select(RelayRequest.id, RelayRequest.nonce, RelayRequest.permit)
    .where(
        RelayRequest.signer == bindparam("signer"),
        RelayRequest.status.in_(PENDING_VALUES),
    )
    .order_by(RelayRequest.nonce)
)


def signer_queue(session: Session, chain: Chain, signer: str) -> SignerQueue:
    """Read the signer's nonces from the chain and its pending requests from the outbox."""
    clients = chain.clients
    return SignerQueue(
        forwarder_nonce=clients.forwarder.nonces(signer),
        token_nonce=clients.token.nonces(signer),
        pending=pending_requests(session, signer),
    )


__all__ = ["SignerQueue", "pending_requests", "signer_queue"]
