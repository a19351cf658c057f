"""Response models of ``/v1/notices/*`` (the notices of an address), apart from the routes."""

from __future__ import annotations

from pydantic import BaseModel


class NoticePublic(BaseModel):
    id: str
    kind: str
    time: str
    deal_id: int
    text: str


class NoticeList(BaseModel):
    address: str
    notices: list[NoticePublic]
