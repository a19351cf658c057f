"""The parameters of each gasless action (the bodies of ``POST /v1/actions/{action}/prepare``):
addresses checksummed, CIDs and GS1 keys as text, nothing else accepted."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from eth_utils import is_address, to_checksum_address
from pydantic import BaseModel, ConfigDict, Field, field_validator


def _checksum(value: str) -> str:
    if not isinstance(value, str) or not is_address(value):
        raise ValueError(f"not an address: {value!r}")
    return to_checksum_address(value)


class ActionParams(BaseModel):
    """Fields every action takes: the signer (``from``)."""

    model_config = ConfigDict(populate_by_name=True, extra="forbid")

    sender: str = Field(alias="from", description="the account that will sign")

    @field_validator("sender")
    @classmethod
    def _sender(cls, v: str) -> str:
        return _checksum(v)


class DealParamsIn(ActionParams):
    deal_id: int = Field(ge=1)


class JoinParams(DealParamsIn):
    quantity: int = Field(ge=1, le=2**24)
    leader: str

    @field_validator("leader")
    @classmethod
    def _leader(cls, v: str) -> str:
        return _checksum(v)


class ConfirmReceiptParams(DealParamsIn):
    gtin14: str = Field(pattern=r"^\d{14}$")
    lot: str = Field(min_length=1, max_length=20)
    pickup_point: str = Field(min_length=1, description="GLN (13 digits) or a location URI")
    quantity: float | None = Field(default=None, gt=0, description="default: the leader's units")
    uom: str = "EA"
    event_time: datetime | None = None
    photos: list[str] = Field(
        default_factory=list,
        max_length=8,
        description="CIDs of photos of the goods received (uploaded first through "
        "POST /v1/documents); the receiving event names them as tuan:photo",
    )


class FileClaimParams(DealParamsIn):
    quantity: int = Field(ge=1)
    evidence_cid: str


class ClaimAnswerParams(DealParamsIn):
    buyer: str

    @field_validator("buyer")
    @classmethod
    def _buyer(cls, v: str) -> str:
        return _checksum(v)


class ArbitrateParams(ClaimAnswerParams):
    uphold: bool


class RegisterBatchParams(ActionParams):
    gtin14: str = Field(pattern=r"^\d{14}$")
    lot: str = Field(min_length=1, max_length=20)
    metadata: dict[str, Any] | None = Field(
        default=None, description="lot master data, stored as a JSON document"
    )
    metadata_cid: str | None = None


class RecallBatchParams(ActionParams):
    gtin14: str = Field(pattern=r"^\d{14}$")
    lot: str = Field(min_length=1, max_length=20)
    reason: dict[str, Any] | None = Field(
        default=None, description="the recall notice, stored as a JSON document"
    )
    reason_cid: str | None = None


class AnchorEventParams(ActionParams):
    gtin14: str = Field(pattern=r"^\d{14}$")
    lot: str = Field(min_length=1, max_length=20)
    event: dict[str, Any] = Field(
        description="one EPCIS 2.0 event (JSON-LD; without @context, tuanchain's is assumed)"
    )
