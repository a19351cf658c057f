"""The platform's escrow settings as gasless actions: list a deal (``create_deal``), allow a
payment token (``set_token_allowed``) and set the fee recipient (``set_fee_recipient``).

Each is a forward request the platform's account signs, relayed like every action (the escrow
trusts the forwarder, so ``onlyRole`` sees the signer). ``create_deal`` runs
:mod:`chain.deal_checks` before building anything: a listing the contract would refuse is refused
here, with the contract's error name (409), before anyone signs it; :func:`check_listing` gives
the deal-listing page every refusal at once and each tier's economics.
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from eth_utils import is_address, to_checksum_address
from pydantic import BaseModel, ConfigDict, Field, field_validator

from api.relayer.action_params import ActionParams
from api.relayer.prepare.builder import BuilderBase, PreparedAction
from chain import deal_checks, deal_economics
from chain.clients import CommissionTier, DealParams, PriceTier
from chain.context import Chain
from chain.jsonable import json_safe

# Longer lists than the contract's bound (8) are refused by the checks with its error; beyond
# this, the body is not worth reading.
MAX_LIST = 64


def _checksum(value: str) -> str:
    if not isinstance(value, str) or not is_address(value):
        raise ValueError(f"not an address: {value!r}")
    return to_checksum_address(value)


class PriceTierIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    min_quantity: int = Field(description="from this many units sold in all (0 for the first)")
    unit_price: int = Field(description="price of every unit, in the token's smallest unit")


class CommissionTierIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    min_volume: int = Field(description="a leader's group of at least this many units")
    commission_bps: int = Field(description="earns this rate (basis points)")


class CreateDealParams(ActionParams):
    """``DealParams`` as the contract takes them (integers in the token's unit, unix seconds,
    basis points). Ranges are not checked here: :mod:`chain.deal_checks` refuses what the
    contract or its ABI would, naming the field."""

    supplier: str
    token: str | None = Field(default=None, description="default: the deployment's stablecoin")
    price_tiers: list[PriceTierIn] = Field(max_length=MAX_LIST)
    min_total_quantity: int = Field(description="成团: units needed by the join deadline")
    max_total_quantity: int = Field(description="stock")
    per_buyer_limit: int = Field(description="限购")
    join_deadline: int = Field(description="截单 (unix seconds)")
    delivery_deadline: int
    dispute_window: int = Field(description="seconds after a receipt to file claims")
    answer_window: int = Field(description="seconds the supplier has to answer a claim")
    commission_bps: int
    commission_tiers: list[CommissionTierIn] = Field(default_factory=list, max_length=MAX_LIST)
    platform_fee_bps: int = 0
    batch_ids: list[str] = Field(max_length=MAX_LIST, description="0x-hex batch ids")
    pickup_deadline: int | None = Field(
        default=None,
        description="提货截止 (≥ the delivery deadline; default: the delivery deadline)",
    )
    cash_cap_per_leader: int = Field(
        default=0, description="units each leader may book for cash-paying neighbours (0: none)"
    )

    @field_validator("supplier", "token")
    @classmethod
    def _address(cls, v: str | None) -> str | None:
        return None if v is None else _checksum(v)

    @field_validator("batch_ids")
    @classmethod
    def _batch_ids(cls, v: list[str]) -> list[str]:
        for batch_id in v:
            if not (batch_id.startswith("0x") and len(batch_id) == 66):
                raise ValueError(f"not a batch id (0x and 64 hex digits): {batch_id!r}")
            bytes.fromhex(batch_id[2:])
        return v

    def deal_params(self, default_token: str) -> DealParams:
        return DealParams(
            supplier=self.supplier,
            token=self.token or default_token,
            price_tiers=[PriceTier(t.min_quantity, t.unit_price) for t in self.price_tiers],
            min_total_quantity=self.min_total_quantity,
            max_total_quantity=self.max_total_quantity,
            per_buyer_limit=self.per_buyer_limit,
            join_deadline=self.join_deadline,
            delivery_deadline=self.delivery_deadline,
            dispute_window=self.dispute_window,
            answer_window=self.answer_window,
            commission_bps=self.commission_bps,
            commission_tiers=[
                CommissionTier(t.min_volume, t.commission_bps) for t in self.commission_tiers
            ],
            platform_fee_bps=self.platform_fee_bps,
            batch_ids=[bytes.fromhex(b[2:]) for b in self.batch_ids],
            pickup_deadline=self.pickup_deadline,
            cash_cap_per_leader=self.cash_cap_per_leader,
        )


class TokenAllowedParams(ActionParams):
    token: str
    allowed: bool = True

    @field_validator("token")
    @classmethod
    def _token(cls, v: str) -> str:
        return _checksum(v)


class FeeRecipientParams(ActionParams):
    fee_recipient: str

    @field_validator("fee_recipient")
    @classmethod
    def _recipient(cls, v: str) -> str:
        return _checksum(v)


def _refusal_json(refusal: deal_checks.Refusal) -> dict[str, Any]:
    return {"error": refusal.error, "field": refusal.field, "args": json_safe(refusal.args)}


def check_listing(chain: Chain, p: CreateDealParams) -> dict[str, Any]:
    """Every refusal (the first is the contract's revert) and, when the tiers are sound, what
    each tier pays whom: what the deal-listing page shows as the form changes."""
    clients = chain.clients
    params = p.deal_params(clients.token.address)
    now = chain.sender.chain_time()
    found = deal_checks.refusals(
        params, deal_checks.listing_facts(clients, params, sender=p.sender, now=now)
    )
    broken = {"price_tiers", "commission_tiers", "commission_bps"}
    sound = not any(r.field.split("[")[0] in broken for r in found)
    tiers, leaders = deal_economics.economics(params) if sound and params.price_tiers else ([], [])
    return {
        "ok": not found,
        "now": now,
        "refusals": [_refusal_json(r) for r in found],
        "economics": {
            "tiers": [asdict(t) for t in tiers],
            "leader_tiers": [asdict(t) for t in leaders],
        },
    }


def create_deal(builder: BuilderBase, p: CreateDealParams) -> PreparedAction:
    clients = builder.clients
    params = p.deal_params(clients.token.address)
    now = builder.chain.sender.chain_time()
    refusal = deal_checks.verdict(
        params, deal_checks.listing_facts(clients, params, sender=p.sender, now=now)
    )
    if refusal is not None:
        raise refusal.to_revert()
    request = builder._escrow(p, "createDeal", params.to_abi())
    return PreparedAction(
        "create_deal",
        p.sender,
        {"request": request},
        {
            "supplier": params.supplier,
            "token": params.token,
            "batch_ids": p.batch_ids,
            # Not signed: the id the deal gets if no other listing is mined before it.
            "expected_deal_id": clients.escrow.deal_count() + 1,
        },
    )


def set_token_allowed(builder: BuilderBase, p: TokenAllowedParams) -> PreparedAction:
    request = builder._escrow(p, "setTokenAllowed", p.token, p.allowed)
    return PreparedAction(
        "set_token_allowed",
        p.sender,
        {"request": request},
        {"token": p.token, "allowed": p.allowed},
    )


def set_fee_recipient(builder: BuilderBase, p: FeeRecipientParams) -> PreparedAction:
    request = builder._escrow(p, "setFeeRecipient", p.fee_recipient)
    return PreparedAction(
        "set_fee_recipient",
        p.sender,
        {"request": request},
        {"fee_recipient": p.fee_recipient},
    )
