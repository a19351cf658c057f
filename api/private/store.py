"""Put and read private documents; who may read what.

Purposes and their readers (besides the owner, who may always read what they uploaded):
- ``credential`` (ID cards, licences, pickup-point deeds) and ``contact``: the platform's reviewers
  (accounts holding the registry's ``PLATFORM_ROLE`` on chain);
- ``claim_evidence`` (photos of a quality claim in deal ``deal_id``, and the evidence document
  listing them with the buyer's note): the platform's arbiters (the escrow's ``ARBITER_ROLE``),
  who decide, and the deal's supplier, who answers. Only a buyer of that deal may upload one.
  The chain names the evidence document by the CIDv1 ``raw`` of its SHA-256
  (:func:`holds_claim_evidence` is what the prepare endpoints check before a claim is signed).
Roles are read from the chain at the moment of the read, so a revoked reviewer loses access at once.
Every read is logged in ``private_document_reads``.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from enum import StrEnum

from sqlalchemy import Engine, func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from api.auth.errors import AccessDenied
from api.db import ensure_db, session_factory
from api.private import crypto
from api.private.models import PrivateDocument, PrivateDocumentRead, PrivatePool
from api.services import Services
from traceability.ipfs import DocumentStore
from traceability.ipfs.cid import digest_of_raw_cid

MAX_DOCUMENTS_PER_OWNER = 200
# Any address may sign in and keep documents here (an applicant has no role yet): what one keeps
# is bounded in bytes too, not only in documents (200 of the largest upload were 2 GB each).
MAX_BYTES_PER_OWNER = 100 * 1024 * 1024
# Fresh addresses cost nothing, so a bound per address bounds nothing: what all addresses without
# a role on chain (platform, approved supplier or leader; a claim's buyer has an order) keep
# together is bounded too (``TUANCHAIN_PRIVATE_POOL_MAX_BYTES``, 2 GiB by default). Their rows are
# ``vouched`` once their owner uploads with a role, or is found holding one when the pool is full
# (the owners of its oldest rows are asked again, a few per refused upload).
#
# What the pool holds is a counter (``private_pool``), changed in the transaction that adds or
# vouches the rows it counts: an upload reserves its bytes with one conditional UPDATE
# (``used + size <= cap``), atomic on either database, so concurrent uploads — threads or
# processes — cannot pass the cap together, as a sum read first and a row inserted after could.
RECHECKED_OWNERS = 8
POOL = "unvouched"


class Purpose(StrEnum):
    CREDENTIAL = "credential"
    CONTACT = "contact"
    CLAIM_EVIDENCE = "claim_evidence"


class PrivateDocumentError(Exception):
    """A private upload or read that cannot be done; ``code`` is stable."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


class PrivateStoreFull(PrivateDocumentError):
    """The shared space of addresses without a role is full (HTTP 429: later, or with a role)."""

    def __init__(self, kept: int, size: int, cap: int) -> None:
        super().__init__(
            "private_store_full",
            f"addresses without a role on chain keep {kept} bytes of private documents here; "
            f"with these {size} they would pass {cap}",
        )


class PrivateDocumentNotFound(PrivateDocumentError):
    def __init__(self, sha256_hex: str) -> None:
        super().__init__("document_not_found", f"no private document with SHA-256 {sha256_hex}")


@dataclass(frozen=True)
class StoredPrivate:
    sha256: str
    owner: str
    purpose: Purpose
    deal_id: int
    content_type: str
    size: int


@dataclass(frozen=True)
class OpenedPrivate:
    data: bytes
    content_type: str
    right: str


def _key(services: Services) -> bytes:
    return bytes.fromhex(services.settings.document_key.get_secret_value())


def _has_role(services: Services, account: str) -> bool:
    registry = services.chain.clients.registry
    return (
        registry.is_platform(account)
        or registry.is_approved_supplier(account)
        or registry.is_approved_leader(account)
    )


def pool_used(session: Session) -> int:
    """The bytes addresses without a role keep (the counter of their rows' sizes)."""
    return int(session.scalar(select(PrivatePool.used).where(PrivatePool.name == POOL)) or 0)


def _vouch(session: Session, owner: str) -> None:
    """``owner``'s rows leave the pool (the rows this statement changed: another transaction
    vouching the same owner at once changes none of them again, and frees nothing twice)."""
    freed = session.scalars(
        update(PrivateDocument)
        .where(PrivateDocument.owner == owner, PrivateDocument.vouched.is_(False))
        .values(vouched=True)
        .returning(PrivateDocument.size)
    ).all()
    if freed:
        session.execute(
            update(PrivatePool)
            .where(PrivatePool.name == POOL)
            .values(used=PrivatePool.used - sum(freed))
        )


def _reserve(session: Session, size: int, cap: int) -> bool:
    """Add ``size`` to the pool if it stays within ``cap`` (the row is locked until the
    transaction ends: a concurrent reservation waits, then sees this one)."""
    reserved = session.execute(
        update(PrivatePool)
        .where(PrivatePool.name == POOL, PrivatePool.used + size <= cap)
        .values(used=PrivatePool.used + size)
    )
    return reserved.rowcount == 1  # type: ignore[attr-defined]


def _take_from_pool(services: Services, session: Session, size: int) -> None:
    """Reserve ``size`` bytes of the pool, or :class:`PrivateStoreFull` (after asking the chain
    again about the owners of the pool's oldest rows)."""
    cap = services.settings.private_pool_max_bytes
    if _reserve(session, size, cap):
        return
    oldest = session.scalars(
        select(PrivateDocument.owner)
        .where(PrivateDocument.vouched.is_(False))
        .group_by(PrivateDocument.owner)
        .order_by(func.min(PrivateDocument.id))
        .limit(RECHECKED_OWNERS)
    ).all()
    for owner in oldest:
        if _has_role(services, owner):
            _vouch(session, owner)
    if not _reserve(session, size, cap):
        kept = pool_used(session)
        session.commit()  # keep what was learnt
        raise PrivateStoreFull(kept, size, cap)


def put(
    services: Services,
    *,
    owner: str,
    data: bytes,
    content_type: str,
    purpose: Purpose,
    deal_id: int,
    now: int,
) -> StoredPrivate:
    """Seal and keep ``data`` for ``owner`` (idempotent: the same upload again is the same row)."""
    if purpose is Purpose.CLAIM_EVIDENCE:
        escrow = services.chain.clients.escrow
        if not 1 <= deal_id <= escrow.deal_count():
            raise PrivateDocumentError("unknown_deal", f"no deal {deal_id}")
        if escrow.order(deal_id, owner).quantity == 0:
            raise AccessDenied(
                f"{owner} has no order in deal {deal_id}: only its buyers upload claim evidence",
                deal_id=deal_id,
            )
    elif deal_id != 0:
        raise PrivateDocumentError("unexpected_deal", f"a {purpose} document names no deal")
    sha256_hex = hashlib.sha256(data).hexdigest()
    stored = StoredPrivate(sha256_hex, owner, purpose, deal_id, content_type, len(data))
    ensure_db(services.engine)
    key = _key(services)
    # A claim's buyer has an order (checked above): vouched by the chain like a role.
    vouched = purpose is Purpose.CLAIM_EVIDENCE or _has_role(services, owner)
    with session_factory(services.engine)() as session:
        existing = session.scalar(
            select(PrivateDocument.id).where(
                PrivateDocument.owner == owner,
                PrivateDocument.sha256 == sha256_hex,
                PrivateDocument.purpose == purpose.value,
                PrivateDocument.deal_id == deal_id,
            )
        )
        if existing is not None:
            return stored
        count, kept = session.execute(
            select(func.count(), func.coalesce(func.sum(PrivateDocument.size), 0)).where(
                PrivateDocument.owner == owner
            )
        ).one()
        if count >= MAX_DOCUMENTS_PER_OWNER:
            raise PrivateDocumentError(
                "quota_exceeded", f"{owner} already keeps {count} private documents here"
            )
        if kept + len(data) > MAX_BYTES_PER_OWNER:
            raise PrivateDocumentError(
                "quota_exceeded",
                f"{owner} already keeps {kept} bytes of private documents here; with these "
                f"{len(data)} it would pass {MAX_BYTES_PER_OWNER}",
            )
        # Sealed before the pool's row is locked: the lock is held for the insert alone.
        row = PrivateDocument(
            sha256=sha256_hex,
            owner=owner,
            purpose=purpose.value,
            deal_id=deal_id,
            content_type=content_type,
            size=len(data),
            key_id=crypto.key_id(key),
            sealed=crypto.seal(key, data, sha256_hex),
            created_at=now,
            vouched=vouched,
        )
        if vouched:
            _vouch(session, owner)  # what it kept before it had a role leaves the shared pool
        else:
            _take_from_pool(services, session, len(data))
        session.add(row)
        try:
            session.commit()
        except IntegrityError:  # the same upload, concurrently: one row (and reservation) is enough
            session.rollback()
    return stored


def _right(services: Services, reader: str, rows: list[PrivateDocument]) -> str | None:
    if any(row.owner == reader for row in rows):
        return "owner"
    chain = services.chain
    escrow = chain.clients.escrow
    for row in rows:
        if row.purpose == Purpose.CLAIM_EVIDENCE and row.deal_id:
            # The parties to the claim and its judges only, not every reviewer of the platform.
            if escrow.deal_params(row.deal_id).supplier == reader:
                return "deal_supplier"
            if escrow.has_role("ARBITER_ROLE", reader):
                return "arbiter"
        elif chain.clients.registry.is_platform(reader):
            return "platform"
    return None


def holds_claim_evidence(engine: Engine, *, cid: str, owner: str, deal_id: int) -> bool:
    """Whether ``owner`` uploaded claim evidence for ``deal_id`` whose digest ``cid`` names."""
    raw = digest_of_raw_cid(cid)
    if raw is None:
        return False
    digest = raw.hex()
    ensure_db(engine)
    with session_factory(engine)() as session:
        return (
            session.scalar(
                select(PrivateDocument.id).where(
                    PrivateDocument.sha256 == digest,
                    PrivateDocument.owner == owner,
                    PrivateDocument.purpose == Purpose.CLAIM_EVIDENCE.value,
                    PrivateDocument.deal_id == deal_id,
                )
            )
            is not None
        )


def evidence_stored(
    store: DocumentStore | None, engine: Engine | None, *, cid: str, owner: str, deal_id: int
) -> bool:
    """Claim evidence is kept: privately by its buyer (the pages' claims), or in the public
    document store (claims filed before photos were private, the demo's)."""
    if engine is not None and holds_claim_evidence(engine, cid=cid, owner=owner, deal_id=deal_id):
        return True
    return store is not None and store.has(cid)


def read(services: Services, *, reader: str, sha256_hex: str, now: int) -> OpenedPrivate:
    """The plaintext of the document with this SHA-256, if ``reader`` has a right to it."""
    ensure_db(services.engine)
    with session_factory(services.engine)() as session:
        rows = list(
            session.scalars(
                select(PrivateDocument)
                .where(PrivateDocument.sha256 == sha256_hex)
                .order_by(PrivateDocument.id)
            )
        )
        if not rows:
            raise PrivateDocumentNotFound(sha256_hex)
        right = _right(services, reader, rows)
        if right is None:
            raise AccessDenied(
                f"{reader} may not read this document: only its owner, the platform's reviewers "
                "and, for claim evidence, the deal's supplier and the platform's arbiters may",
                sha256=sha256_hex,
            )
        session.add(PrivateDocumentRead(sha256=sha256_hex, reader=reader, right=right, read_at=now))
        session.commit()
    row = rows[0]
    data = crypto.open_sealed(_key(services), row.sealed, sha256_hex)
    return OpenedPrivate(data=data, content_type=row.content_type, right=right)
