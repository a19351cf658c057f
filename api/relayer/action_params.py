"""The parameters of each gasless action (the bodies of ``POST /v1/actions/{action}/prepare``):
addresses checksummed, CIDs and GS1 keys as text, nothing else accepted."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from eth_utils import is_address, to_checksum_address
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from api.photos import photo_path

# Events under one prepared Merkle root (one request body; the contract takes any count).
MAX_ROOT_EVENTS = 512


def _gs1_key(validator: str, value: str) -> str:
    """``traceability.epcis.identifiers.<validator>(value)``; its refusal (a wrong check digit,
    a prefix the registry refuses) a ValueError: a 422 naming the field, before signing."""
    from traceability.epcis import identifiers
    from traceability.epcis.errors import InvalidIdentifier

    try:
        return str(getattr(identifiers, validator)(value))
    except InvalidIdentifier as exc:
        raise ValueError(str(exc)) from None


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
    quantity: float | None = Field(
        default=None,
        ge=0,
        description="quantity received (default: the leader's units); in deal units (uom EA) less"
        " than ordered is a short delivery, 0 nothing arrived: the missing units are refunded",
    )
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


class ApplyLeaderParams(ActionParams):
    """A leader's public pickup-point profile (what neighbours see; no personal data: contact
    details and credentials go to the private store, never to IPFS)."""

    name: str = Field(
        min_length=1, max_length=60, description="the leader's name as neighbours know it"
    )
    place: str = Field(min_length=1, max_length=120, description="the pickup point's name")
    street_address: str = Field(min_length=1, max_length=200)
    opening_hours: str = Field(default="", max_length=100)
    gln: str | None = Field(
        default=None, pattern=r"^\d{13}$", description="the point's GLN, if any"
    )
    credentials_digest: str = Field(
        pattern=r"^0x[0-9a-fA-F]{64}$",
        description="SHA-256 of the private credentials (POST /v1/documents/private first)",
    )

    @field_validator("gln")
    @classmethod
    def _gln(cls, v: str | None) -> str | None:
        return None if v is None else _gs1_key("validate_gln", v)


class RegisterBatchParams(ActionParams):
    gtin14: str = Field(pattern=r"^\d{14}$")
    lot: str = Field(min_length=1, max_length=20)
    metadata: dict[str, Any] | None = Field(
        default=None, description="lot master data, stored as a JSON document"
    )
    metadata_cid: str | None = None

    @field_validator("gtin14")
    @classmethod
    def _gtin(cls, v: str) -> str:
        # The registry refuses a wrong check digit too: said here, before signing.
        return _gs1_key("validate_gtin14", v)

    @field_validator("metadata")
    @classmethod
    def _photo(cls, v: dict[str, Any] | None) -> dict[str, Any] | None:
        # The pages show a lot's photo from this service only (api.photos): said here, before
        # the document is stored and signed for, not left for the shop to drop silently.
        image = (v or {}).get("image")
        if image not in (None, "") and photo_path(image) is None:
            raise ValueError(
                f"image must be an ipfs:// document stored here (POST /v1/documents), not {image!r}"
            )
        return v


class RecallBatchParams(ActionParams):
    gtin14: str = Field(pattern=r"^\d{14}$")
    lot: str = Field(min_length=1, max_length=20)
    reason: dict[str, Any] | str | None = Field(
        default=None,
        description="the notice, stored as a JSON document (a text: the reason, in a notice)",
    )
    reason_cid: str | None = None

    @field_validator("reason")
    @classmethod
    def _reason(cls, v: dict[str, Any] | str | None) -> dict[str, Any] | str | None:
        if isinstance(v, str) and not v.strip():
            raise ValueError("say why")
        return v.strip() if isinstance(v, str) else v


class AnchorEventParams(ActionParams):
    gtin14: str = Field(pattern=r"^\d{14}$")
    lot: str = Field(min_length=1, max_length=20)
    event: dict[str, Any] = Field(
        description="one EPCIS 2.0 event (JSON-LD; without @context, tuanchain's is assumed)"
    )


class ApplyParams(ActionParams):
    kind: Literal["supplier", "leader"]
    profile: dict[str, Any] = Field(
        description="the public profile (name, place, products), stored as a JSON document"
    )
    credentials_digest: str = Field(
        pattern=r"^0x[0-9a-fA-F]{64}$",
        description="SHA-256 of the private credentials (POST /v1/documents/private first)",
    )


class ReviewParams(ActionParams):
    kind: Literal["supplier", "leader"]
    account: str = Field(description="the applicant or party")
    decision: Literal["approve", "reject", "revoke"]
    reason: str | None = Field(
        default=None,
        max_length=2000,
        description="why (required to reject or revoke): published as the reason document",
    )

    @field_validator("account")
    @classmethod
    def _account(cls, v: str) -> str:
        return _checksum(v)


class CompanyPrefixParams(ActionParams):
    """The platform assigns a GS1 Company Prefix to a supplier, or revokes it."""

    prefix: str = Field(description="the GS1 Company Prefix: 6 to 12 digits")
    supplier: str = Field(description="the supplier holding it (any, to revoke)")
    decision: Literal["assign", "revoke"]

    @field_validator("prefix")
    @classmethod
    def _prefix(cls, v: str) -> str:
        # The registry refuses these too; said here, before signing, in words.
        return _gs1_key("validate_company_prefix", v)

    @field_validator("supplier")
    @classmethod
    def _supplier(cls, v: str) -> str:
        return _checksum(v)


class BatchWriterParams(ActionParams):
    gtin14: str = Field(pattern=r"^\d{14}$")
    lot: str = Field(min_length=1, max_length=20)
    writer: str = Field(description="the carrier or inspector")
    allowed: bool = True

    @field_validator("writer")
    @classmethod
    def _writer(cls, v: str) -> str:
        return _checksum(v)


class BatchEvent(BaseModel):
    model_config = ConfigDict(extra="forbid")

    gtin14: str = Field(pattern=r"^\d{14}$")
    lot: str = Field(min_length=1, max_length=20)
    event: dict[str, Any]


class AnchorRootParams(ActionParams):
    events: list[BatchEvent] = Field(
        min_length=1,
        max_length=MAX_ROOT_EVENTS,
        description="EPCIS 2.0 events, each with its batch: stored one document each, "
        "anchored under one Merkle root whose manifest lists them",
    )


# ------------------------------------------------------------------ pickup (核销) and cash orders

# Items in one handover request (GroupBuyLastMile.MAX_HANDOVERS).
MAX_HANDOVER_ITEMS = 64
_HEX32 = r"^0x[0-9a-fA-F]{64}$"


class HandoverCodeParams(DealParamsIn):
    """The buyer's pickup code: the ``Handover`` typed data their wallet signs for the QR code."""

    quantity: int | None = Field(
        default=None,
        ge=0,
        description="units taken (default: the whole order; fewer only when the group was short)",
    )
    ttl_seconds: int = Field(
        default=900, ge=60, le=86_400, description="how long the code stays valid (chain time)"
    )


class HandoverItemIn(BaseModel):
    """One scanned code: what the buyer signed, and the signature: ``signature`` (0x-hex, a
    wallet's or a passkey account's whole ERC-1271 signature) or ``webauthn`` (base64url, a
    passkey's compact assertion, :mod:`chain.aa.compact`: the service rebuilds the rest)."""

    model_config = ConfigDict(extra="forbid")

    buyer: str
    quantity: int = Field(ge=0, le=2**24 - 1)
    expiry: int = Field(ge=0)
    signature: str | None = Field(default=None, pattern=r"^0x([0-9a-fA-F]{2})+$")
    webauthn: str | None = Field(
        default=None, min_length=100, max_length=1200, pattern=r"^[A-Za-z0-9_-]+$"
    )

    @field_validator("buyer")
    @classmethod
    def _buyer(cls, v: str) -> str:
        return _checksum(v)

    @model_validator(mode="after")
    def _one_signature(self) -> HandoverItemIn:
        if (self.signature is None) == (self.webauthn is None):
            raise ValueError("give exactly one of signature, webauthn")
        return self


class HandoverParams(DealParamsIn):
    """The leader records one scanned code or a pickup queue's worth (批量核销)."""

    items: list[HandoverItemIn] = Field(min_length=1, max_length=MAX_HANDOVER_ITEMS)


class CashOrderParams(DealParamsIn):
    """A cash order booked by the leader (线下支付 / 代下单): give ``beneficiary_ref`` (keccak256 of a
    salt and the neighbour's name or phone), or ``beneficiary`` and the server derives it with a
    fresh random salt, returned once in ``details`` (kept by the leader, never stored here)."""

    quantity: int = Field(ge=1, le=2**24 - 1)
    beneficiary_ref: str | None = Field(default=None, pattern=_HEX32)
    beneficiary: str | None = Field(default=None, min_length=1, max_length=100)


class CashHandoverParams(DealParamsIn):
    beneficiary_ref: str = Field(pattern=_HEX32)
    quantity: int = Field(ge=0, le=2**24 - 1)
