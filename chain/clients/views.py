"""What the contracts' views return, as Python values: IntEnums for Solidity enums, frozen
dataclasses for structs (field order = the Solidity struct's)."""

from __future__ import annotations

from dataclasses import astuple, dataclass, field
from enum import IntEnum
from typing import Any

from web3 import Web3


class BatchStatus(IntEnum):
    UNKNOWN = 0
    ACTIVE = 1
    RECALLED = 2
    NON_COMPLIANT = 3


class PartyKind(IntEnum):
    SUPPLIER = 0
    LEADER = 1


class PartyStatus(IntEnum):
    NONE = 0
    PENDING = 1
    APPROVED = 2
    REVOKED = 3
    REJECTED = 4


class ClaimStatus(IntEnum):
    NONE = 0
    FILED = 1
    REJECTED = 2


@dataclass(frozen=True)
class Party:
    status: PartyStatus
    updated_at_block: int
    profile_digest: bytes
    credentials_digest: bytes


@dataclass(frozen=True)
class BatchInfo:
    supplier: str
    status: BatchStatus
    registered_at_block: int
    metadata_digest: bytes
    status_reason_digest: bytes
    gtin14: str
    lot: str


@dataclass(frozen=True)
class AnchorInfo:
    batch_id: bytes
    document_digest: bytes
    actor: str
    anchored_at_block: int
    is_receipt: bool


@dataclass(frozen=True)
class RootInfo:
    anchorer: str
    anchored_at_block: int
    leaf_count: int


@dataclass(frozen=True)
class PriceTier:
    min_quantity: int
    unit_price: int


@dataclass(frozen=True)
class CommissionTier:
    min_volume: int
    commission_bps: int


@dataclass(frozen=True)
class DealParams:
    """What the platform states when it lists a deal (field order = the Solidity struct)."""

    supplier: str
    token: str
    price_tiers: list[PriceTier]
    min_total_quantity: int
    max_total_quantity: int
    per_buyer_limit: int
    join_deadline: int
    delivery_deadline: int
    dispute_window: int
    answer_window: int
    commission_bps: int
    commission_tiers: list[CommissionTier] = field(default_factory=list)
    platform_fee_bps: int = 0
    batch_ids: list[bytes] = field(default_factory=list)
    # 提货截止 (≥ delivery_deadline); None: the delivery deadline (no pickup period after it)
    pickup_deadline: int | None = None
    # units each leader may book for cash-paying neighbours (0: no cash orders)
    cash_cap_per_leader: int = 0

    def to_abi(self) -> tuple[Any, ...]:
        return (
            Web3.to_checksum_address(self.supplier),
            Web3.to_checksum_address(self.token),
            [astuple(t) for t in self.price_tiers],
            self.min_total_quantity,
            self.max_total_quantity,
            self.per_buyer_limit,
            self.join_deadline,
            self.delivery_deadline,
            self.dispute_window,
            self.answer_window,
            self.commission_bps,
            [astuple(t) for t in self.commission_tiers],
            self.platform_fee_bps,
            [bytes(b) for b in self.batch_ids],
            self.delivery_deadline if self.pickup_deadline is None else self.pickup_deadline,
            self.cash_cap_per_leader,
        )

    @classmethod
    def from_abi(cls, value: Any) -> DealParams:
        v = list(value)
        return cls(
            v[0],
            v[1],
            [PriceTier(*t) for t in v[2]],
            *v[3:11],
            [CommissionTier(*t) for t in v[11]],
            v[12],
            [bytes(b) for b in v[13]],
            v[14],
            v[15],
        )


@dataclass(frozen=True)
class OrderView:
    leader: str
    quantity: int
    claimed_quantity: int
    upheld_quantity: int
    paid_out: bool
    claim_open: bool


@dataclass(frozen=True)
class LeaderView:
    quantity: int
    refunded_quantity: int
    received_at: int
    commission_bps: int
    commission: int
    paid_out: bool


@dataclass(frozen=True)
class DealTotals:
    total_quantity: int
    received_quantity: int
    refunded_quantity: int
    commission_total: int
    open_claims: int
    last_receipt_at: int
    supplier_amount: int
    platform_fee: int


@dataclass(frozen=True)
class ClaimView:
    status: ClaimStatus
    quantity: int
    filed_at: int


@dataclass(frozen=True)
class PickupView:
    """An order's handover (核销): ``at`` 0 while not handed over."""

    quantity: int
    short_quantity: int
    at: int


@dataclass(frozen=True)
class CashOrderView:
    """A cash order a leader booked for a neighbour (线下支付 / 代下单)."""

    quantity: int
    picked_up: int
    short_quantity: int
    picked_up_at: int
    paid_out: bool


@dataclass(frozen=True)
class Shortfall:
    """A leader's group delivered short: ``delivered`` units count, and each of the group's units
    gets ``refund_per_unit`` back at settlement (GroupBuyEscrow.confirmReceipt)."""

    short: bool
    delivered: int
    refund_per_unit: int
