"""Typed clients of tuanchain's contracts: one thin class per contract, one method per function.

Views return Python values (dataclasses and IntEnums for structs and enums); writes take the
signing account as ``signer=`` and return the receipt (or the id they create). Every revert is
raised as its named exception (:mod:`chain.errors`). For gasless use, ``calldata(...)`` gives
the bytes a forward request carries and :class:`ForwarderClient` prepares, verifies and
executes the signed requests.

Modules, one job each (import from ``chain.clients``, which re-exports them all):
- :mod:`chain.clients.views` — enums and dataclasses of what the contracts return or take;
- :mod:`chain.clients.base` — :class:`ContractClient`, what every client shares;
- :mod:`chain.clients.registry`, :mod:`~chain.clients.token`, :mod:`~chain.clients.forwarder`,
  :mod:`~chain.clients.escrow` — one client per contract;
- here: :class:`Clients`, every client of one deployment.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from web3 import Web3

from chain.artifacts import Artifact
from chain.clients.base import ContractClient
from chain.clients.escrow import EscrowClient
from chain.clients.forwarder import ForwarderClient
from chain.clients.permits import PermitBatcherClient
from chain.clients.registry import RegistryClient
from chain.clients.token import TokenClient
from chain.clients.views import (
    AnchorInfo,
    BatchInfo,
    BatchStatus,
    ClaimStatus,
    ClaimView,
    CommissionTier,
    DealParams,
    DealTotals,
    LeaderView,
    OrderView,
    Party,
    PartyKind,
    PartyStatus,
    PriceTier,
    RootInfo,
    Shortfall,
)
from chain.deal_rules import DealStatus  # the deal rules' enum, re-exported with the views
from chain.manifest import Deployment
from chain.tx import TxSender

__all__ = [
    "AnchorInfo",
    "BatchInfo",
    "BatchStatus",
    "ClaimStatus",
    "ClaimView",
    "Clients",
    "CommissionTier",
    "ContractClient",
    "DealParams",
    "DealStatus",
    "DealTotals",
    "EscrowClient",
    "ForwarderClient",
    "LeaderView",
    "OrderView",
    "Party",
    "PartyKind",
    "PartyStatus",
    "PermitBatcherClient",
    "PriceTier",
    "RegistryClient",
    "RootInfo",
    "Shortfall",
    "TokenClient",
]


@dataclass
class Clients:
    """Every client of one deployment."""

    registry: RegistryClient
    escrow: EscrowClient
    token: TokenClient
    forwarder: ForwarderClient
    # None on a deployment made before it existed (the relayer then sends permits one by one).
    permit_batcher: PermitBatcherClient | None = None

    @classmethod
    def connect(
        cls,
        w3: Web3,
        deployment: Deployment,
        sender: TxSender,
        *,
        artifacts: dict[str, Artifact] | None = None,
    ) -> Clients:
        def make(client_cls: type[Any]) -> Any:
            artifact = (artifacts or {}).get(client_cls.artifact_name)
            return client_cls(
                w3, deployment.address(client_cls.artifact_name), sender, artifact=artifact
            )

        return cls(
            registry=make(RegistryClient),
            escrow=make(EscrowClient),
            token=make(TokenClient),
            forwarder=make(ForwarderClient),
            permit_batcher=make(PermitBatcherClient)
            if PermitBatcherClient.artifact_name in deployment.contracts
            else None,
        )
