"""Response models of the gasless path (``/v1/actions/*/prepare``, ``/v1/relay``), apart from the routes."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field


class PreparedPublic(BaseModel):
    """What ``prepare`` returns: the payloads to sign, and what they do in words."""

    model_config = ConfigDict(populate_by_name=True)

    action: str
    sender: str = Field(alias="from", description="the account that signs")
    payloads: dict[str, dict[str, Any]] = Field(
        description="EIP-712 typed data by name (request, and permit for joins), exactly as "
        "eth_signTypedData_v4 takes it"
    )
    details: dict[str, Any]


class RelayErrorPublic(BaseModel):
    code: str
    message: str | None
    args: dict[str, Any] | None


class RelayRequestPublic(BaseModel):
    """A request in the relayer's outbox (``RelayRequest.public()``)."""

    model_config = ConfigDict(extra="allow")

    id: str
    action: str
    signer: str
    target: str
    nonce: int
    status: Literal["queued", "sending", "sent", "mined", "failed"]
    tx_hash: str | None
    permit_tx_hash: str | None
    block_number: int | None
    attempts: int
    error: RelayErrorPublic | None
    details: dict[str, Any] | None
    created_at: str | None
    updated_at: str | None
