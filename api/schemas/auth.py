"""Request and response models of ``/v1/auth/*`` (Sign-In with Ethereum), apart from the routes."""

from __future__ import annotations

from eth_utils import to_checksum_address
from pydantic import BaseModel, Field, field_validator


class NonceRequest(BaseModel):
    address: str = Field(description="the account that will sign in", examples=["0x" + "ab" * 20])

    @field_validator("address")
    @classmethod
    def _checksummed(cls, value: str) -> str:
        try:
            return to_checksum_address(value)
        except ValueError:
            raise ValueError(f"not an address: {value!r}") from None


class Challenge(BaseModel):
    nonce: str
    message: str = Field(description="the EIP-4361 text to sign with personal_sign, unchanged")
    expires_at: int = Field(description="unix seconds: sign in before then")


class VerifyRequest(BaseModel):
    message: str = Field(max_length=4096)
    signature: str = Field(
        max_length=4000,
        description="0x-hex personal_sign of message (a contract account's: ERC-1271, longer)",
    )


class SessionPublic(BaseModel):
    address: str
    token: str | None = Field(
        default=None, description="send as `Authorization: Bearer <token>` (only returned once)"
    )
    expires_at: int
    roles: list[str] = Field(description="platform, supplier, leader: what the chain says now")
