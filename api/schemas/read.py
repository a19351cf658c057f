"""Response models of the read API (``/v1/batches``, ``/v1/deals``, ``/v1/dashboard``, ...):
the shapes :mod:`api.queries` returns, documented for OpenAPI, apart from the routes."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from chain.deal_rules import DealStatusLabel


class _Open(BaseModel):
    model_config = ConfigDict(extra="allow")


# ---------------------------------------------------------------------- response models


class BlockRef(_Open):
    block: int
    tx: str
    time: str | None


class SupplierPublic(_Open):
    address: str
    status: Literal["approved", "pending", "rejected", "revoked", "none"]
    profile_cid: str | None = Field(description="the public profile document (IPFS)")
    credentials_digest: str | None = Field(
        description="SHA-256 of the private credentials (not public; reviewers read them)"
    )
    reason_cid: str | None = Field(description="why the platform rejected or revoked it")


class BatchPublic(_Open):
    gtin: str
    lot: str
    batch_id: str
    status: Literal["active", "recalled", "non_compliant"]
    metadata_cid: str | None
    metadata: dict[str, Any] | None
    registered: BlockRef
    supplier: SupplierPublic


class AnchorPublic(_Open):
    kind: Literal["single", "merkle", "receipt"]
    block: int
    tx: str
    log_index: int
    time: str | None
    actor: str
    root: str | None
    proof: list[str] | None
    provisional: bool = False  # newer than head - confirmations: a re-org may still drop it


Verification = Literal["verified", "mismatch", "missing", "pending"]


class EventPublic(_Open):
    event_hash_id: str
    type: str | None
    biz_step: str | None
    event_time: str | None
    read_point: str | None
    document_cid: str | None
    document: dict[str, Any] | None
    anchor: AnchorPublic
    verification: Verification


class BreachPublic(_Open):
    time: str
    value: float
    limit: float
    bound: Literal["min", "max"]
    uom: str


class ReadingPublic(_Open):
    time: str
    value: float


class ColdChainPublic(_Open):
    compliant: bool
    breaches: list[BreachPublic]
    readings: list[ReadingPublic]


class CertificatePublic(_Open):
    event_hash_id: str
    certification: dict[str, Any]
    document_cid: str | None


class RecallPublic(_Open):
    reason_cid: str | None
    block: int
    tx: str
    time: str | None
    frozen_deals: list[int] = Field(
        default_factory=list,
        description="deals the recall's own transaction froze (their orders are refundable)",
    )
    notification_failures: list[str] = Field(
        default_factory=list,
        description="escrows whose recall notification failed; the keeper freezes their deals",
    )


class DealRef(_Open):
    deal_id: int
    status: str
    unit_price: int
    sold: int
    min_quantity: int


class VerificationSummary(_Open):
    status: Verification
    verified: int
    total: int


class ProvenancePublic(_Open):
    batch: BatchPublic
    events: list[EventPublic]
    cold_chain: ColdChainPublic
    certificates: list[CertificatePublic]
    recall: RecallPublic | None
    deals: list[DealRef]
    verification: VerificationSummary


class BatchSummary(_Open):
    gtin: str
    lot: str
    batch_id: str
    supplier: str
    status: str
    breaches: int
    registered: BlockRef


class BatchPage(_Open):
    total: int
    limit: int
    offset: int
    items: list[BatchSummary]


class DealSummary(_Open):
    deal_id: int
    status: DealStatusLabel
    supplier: str
    current_tier: int
    unit_price: int
    sold: int
    min_quantity: int
    max_quantity: int
    seconds_left: int
    batch_ids: list[str]


class DealPage(_Open):
    total: int
    items: list[DealSummary]


class PickupPublic(_Open):
    """An order's pickup (核销): ``awaiting_delivery``, ``awaiting_pickup`` (待提货),
    ``picked_up`` (已提货, with ``time``) or ``no_show`` (the pickup deadline passed)."""

    status: Literal["awaiting_delivery", "awaiting_pickup", "picked_up", "no_show"]
    quantity: int
    short_quantity: int
    time: str | None


class CashOrderPublic(_Open):
    """A cash order a leader booked (线下支付 / 代下单), by its beneficiary reference."""

    beneficiary_ref: str
    quantity: int
    paid: int
    refunded: int
    owed_back: int = Field(description="what the escrow owes the leader back for it now")
    pickup: PickupPublic


class LeaderCashDeal(_Open):
    deal_id: int
    status: DealStatusLabel
    cash_orders: list[CashOrderPublic]
    cash_owed_back: int
    cash_refunded: int


class LeaderCashOrders(_Open):
    leader: str
    deals: list[LeaderCashDeal]
    cash_owed_back: int


class LeaderPublic(_Open):
    leader: str
    quantity: int
    orders: list[dict[str, Any]]
    receipt: dict[str, Any] | None
    commission_bps: int
    commission: int
    cash_quantity: int = 0
    pickup: dict[str, Any] | None = Field(
        default=None,
        description="after the receipt: units handed over, short assigned, still to pick up, "
        "each no-show unit's refund, skipped codes",
    )
    cash_orders: list[CashOrderPublic] = Field(default_factory=list)
    cash_owed_back: int = 0
    cash_refunded: int = 0


class DealDetail(DealSummary):
    leaders: list[LeaderPublic]
    payouts: list[dict[str, Any]]


class BuyerOrder(_Open):
    deal: DealSummary
    leader: str
    quantity: int
    paid: int
    refunded: int
    cancelled: bool
    claim_status: str | None
    pickup: PickupPublic | None = None


class BuyerOrders(_Open):
    buyer: str
    orders: list[BuyerOrder]


class Dashboard(_Open):
    gmv: int = Field(
        description="settled deals' revenue: (units delivered − upheld claims) × the settled "
        "price; for a leader, their groups' part"
    )
    paid_in: int = Field(
        default=0,
        description="what buyers paid into escrow on joining (at the top price), before any "
        "refund, rebate or settlement",
    )
    rebates: int = Field(
        default=0,
        description="tier rebates: in settled deals, each received group's units × (top price "
        "− settled price), given back to buyers (not a refund)",
    )
    in_escrow: int = Field(
        default=0,
        description="still in escrow: paid into deals open or succeeded and not settled, less "
        "cancels and what their undelivered groups are owed back; paid_in + cash_booked = "
        "refunds + rebates + gmv + in_escrow",
    )
    cash_booked: int = Field(
        default=0, description="cash orders leaders booked (paid at the top price for neighbours)"
    )
    orders: int
    leaders: list[dict[str, Any]] = Field(
        default_factory=list,
        description="per leader: orders (joins) and commission (settled deals); on the "
        "platform's view every approved leader, with zeros before a first order; a page of "
        "at most 200 by address (the next: ?leaders_after=leaders_more)",
    )
    leaders_total: int = Field(default=0, description="how many leaders the list has in all")
    leaders_more: str | None = Field(
        default=None, description="the next page's cursor (?leaders_after=), or null"
    )
    refunds: dict[str, dict[str, int]]
    commissions: list[dict[str, Any]]
    deals_by_state: dict[str, int]
    by_day: list[dict[str, Any]] = Field(
        default_factory=list, description="per UTC day: orders, paid, cancelled (refunded)"
    )
    flagged_batches: list[BatchSummary]
    to_settle: list[dict[str, Any]] = Field(
        default_factory=list,
        description="succeeded deals due to settle (a receipt confirmed, or past their settle "
        "time): deal_id, receipts, settleable_at, ready (that time has passed)",
    )


# ---------------------------------------------------------------------- dependencies
