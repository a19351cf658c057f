"""Request and response models of the supplier page's builders (``/v1/supplier/…``,
:mod:`api.routes.supplier_trail`)."""

from __future__ import annotations

from datetime import date
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from api.supplier.inputs import EVENT_KINDS


class MasterDataIn(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    gtin14: str = Field(description="GTIN-14 with its check digit")
    lot: str
    name_zh: str = ""
    name_en: str = ""
    image_cid: str | None = Field(default=None, description="the photo (POST /v1/documents)")
    specification: str = ""
    unit: str = ""
    origin_country: str = ""
    origin_zh: str = ""
    origin_en: str = ""
    producer_zh: str = ""
    producer_en: str = ""
    site_gln: str = Field(default="", description="the supplier's site, to name its events")
    site_zh: str = ""
    site_en: str = ""
    quantity: float | None = None
    uom: str = "KGM"
    harvest_date: date | None = None
    min_c: float | None = None
    max_c: float | None = None


class MasterDataOut(BaseModel):
    product: dict[str, Any]
    product_json: str = Field(description="the product document's exact text (upload it as is)")
    product_cid: str = Field(description="the CID the store gives those bytes")
    metadata: dict[str, Any] = Field(description="the lot master data naming the product's CID")


class EventIn(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    gtin14: str
    lot: str
    kind: str = Field(description=", ".join(EVENT_KINDS))
    location: str = Field(min_length=1, description="GLN or URI where it happened")
    time: str | None = Field(default=None, description="ISO 8601 with offset (default: now)")
    quantity: float | None = None
    uom: str = "KGM"
    origin_country: str | None = None
    harvest_date: date | None = None
    passed: bool = True
    certificates: list[str] = Field(default_factory=list, max_length=8)


class EventsOut(BaseModel):
    events: list[dict[str, Any]]
    breaches: int = Field(description="readings outside the allowed range (ALARM_CONDITION)")
    readings: int = 0


class ClaimOut(BaseModel):
    """A buyer's quality claim on one of the supplier's deals (as ``/supplier/{address}/claims``
    shows it)."""

    deal_id: int
    buyer: str
    leader: str | None = Field(description="the buyer's pickup point (its group leader)")
    product: dict[str, Any] = Field(description="the product's name {zh, en}, if known")
    quantity: int
    status: str = Field(description="filed, rejected (the platform decides), upheld or denied")
    waiting: bool = Field(description="filed and still answerable: accept or reject before ...")
    answer_deadline: str | None = Field(description="... this time (ISO 8601, UTC)")
    filed_at: str | None
    by_default: bool = Field(description="decided because the supplier did not answer in time")
    evidence_cid: str | None
    evidence_private: bool = Field(description="the evidence is in the private store")


class SupplierClaims(BaseModel):
    supplier: str
    waiting: int = Field(description="claims waiting for the supplier's answer, over every page")
    claims: list[ClaimOut] = Field(description="open claims first (oldest first), then closed")
    next_before: int | None = Field(description="the next page's ``before`` (None: last page)")
