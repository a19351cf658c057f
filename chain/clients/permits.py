"""The PermitBatcher client: many EIP-2612 permits in one transaction (the relayer's batches)."""

from __future__ import annotations

from typing import Any

from chain.address import checksum_address
from chain.clients.base import ContractClient
from chain.eip712 import Signature


class PermitBatcherClient(ContractClient):
    """PermitBatcher: ``permitAll`` applies each permit it can and skips the others."""

    artifact_name = "PermitBatcher"

    def permit_all_calldata(self, permits: list[tuple[str, dict[str, Any], str]]) -> bytes:
        """``permitAll`` of ``(token, permit message, signature)`` triples (typed-data messages
        as ``prepare`` builds them)."""
        rows = []
        for token, message, signature in permits:
            parts = Signature.from_bytes(signature)
            rows.append(
                (
                    checksum_address(token),
                    checksum_address(message["owner"]),
                    checksum_address(message["spender"]),
                    int(message["value"]),
                    int(message["deadline"]),
                    parts.v,
                    parts.r,
                    parts.s,
                )
            )
        return self.calldata("permitAll", rows)
