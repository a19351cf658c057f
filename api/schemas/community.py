"""Response models of ``/v1/notices/*`` (the notices of an address), apart from the routes."""

from __future__ import annotations

from pydantic import BaseModel


class NoticePublic(BaseModel):
    id: str
    kind: str
    time: str
    deal_id: int | None  # None: not about a deal (party_approved|rejected|revoked)
    text: str
    # The deadline the text names ({until}: pickup_due, undelivered), ISO 8601 UTC, for a client to show in
    # the reader's zone (the text prints it in UTC); None when the text names none.
    until: str | None = None


class NoticeList(BaseModel):
    address: str
    notices: list[NoticePublic]
    # The cursor of the next page (``before=``): the oldest deal this page covers; None: no more.
    next_before: int | None = None
