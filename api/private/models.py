"""Tables of the private document store (not rebuildable from the chain: rows are carried over by
every migration). Times are unix seconds."""

from __future__ import annotations

from sqlalchemy import BigInteger, Boolean, Integer, LargeBinary, String, UniqueConstraint, true
from sqlalchemy.orm import Mapped, mapped_column

from api.db.models import Address, Base


class PrivateDocument(Base):
    """One sealed upload. The same bytes may be uploaded by several owners or for several
    purposes (one row each); their SHA-256 is how the chain names them."""

    __tablename__ = "private_documents"
    __table_args__ = (UniqueConstraint("owner", "sha256", "purpose", "deal_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    sha256: Mapped[str] = mapped_column(String(64), index=True)
    owner: Mapped[str] = mapped_column(Address, index=True)
    purpose: Mapped[str] = mapped_column(String(32))  # credential | contact | claim_evidence
    deal_id: Mapped[int] = mapped_column(BigInteger, default=0)  # 0: not about a deal
    content_type: Mapped[str] = mapped_column(String(100))
    size: Mapped[int] = mapped_column(BigInteger)
    key_id: Mapped[str] = mapped_column(String(16))
    sealed: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[int] = mapped_column(BigInteger)
    # False: kept by an address with no role on chain, in the pool all such addresses share
    # (api.private.store: counted in private_pool).
    vouched: Mapped[bool] = mapped_column(Boolean, server_default=true())


class PrivateDocumentRead(Base):
    """Who opened which document, when, and by which right (PIPL asks for access records)."""

    __tablename__ = "private_document_reads"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    sha256: Mapped[str] = mapped_column(String(64), index=True)
    reader: Mapped[str] = mapped_column(Address, index=True)
    right: Mapped[str] = mapped_column(String(32))  # owner | platform | deal_supplier
    read_at: Mapped[int] = mapped_column(BigInteger)


class PrivatePool(Base):
    """What the rows of a shared pool hold together (one row, ``unvouched``: the sizes of the
    private documents whose ``vouched`` is false), kept in step in the same transactions."""

    __tablename__ = "private_pool"

    name: Mapped[str] = mapped_column(String(16), primary_key=True)
    used: Mapped[int] = mapped_column(BigInteger)
