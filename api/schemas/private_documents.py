"""Response models of ``/v1/documents/private``, apart from the routes."""

from __future__ import annotations

from pydantic import BaseModel, Field

from api.private import store


class PrivateDocumentStored(BaseModel):
    sha256: str
    digest: str = Field(description="0x-prefixed SHA-256: the bytes32 to anchor on chain")
    cid: str = Field(description="CIDv1 raw of the same digest, for contract calls taking a CID")
    size: int
    content_type: str
    owner: str
    purpose: store.Purpose
    deal_id: int
    url: str = Field(description="where readers with a session fetch it")
