"""Response model of ``/v1/documents``, apart from the route."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field


class DocumentStored(BaseModel):
    """A stored upload: its CID, and who uploaded it in which role."""

    cid: str
    size: int
    sha256: str
    content_type: str
    uploader: str
    role: Literal["platform", "supplier", "leader", "buyer"]
    url: str = Field(description="the document on this service's IPFS gateway")
