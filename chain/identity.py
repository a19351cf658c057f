"""Which chain, exactly: chain id, genesis hash, and our contracts' addresses and code hashes.

A chain id alone does not name a chain: every local anvil is 31337, a testnet that was reset keeps
its id, and a redeployment by the same account on a fresh chain lands at the same addresses — so
a request signed for the old chain (EIP-712 domain = chain id + contract address) is valid on the
new one. The genesis hash tells two chains apart, the code hashes two deployments apart (anvil's
genesis header carries no chain id: two nodes started in the same second with different ids can
share a genesis hash, hence both).

:class:`ChainIdentity` is computed from the node when connecting (``chain.context.connect``);
its :attr:`~ChainIdentity.key` tags what the service stores for one chain (the outbox's requests,
the index's binding), and ``Chain.check_node()`` tells, cheaply, whether the node still serves it.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from functools import cached_property
from typing import Any

from eth_utils import keccak
from web3 import Web3

from chain.errors import ChainError


class ChainChanged(ChainError):
    """The node no longer serves the chain this process is bound to (reset, or another chain)."""

    def __init__(
        self,
        bound: ChainIdentity,
        chain_id: int,
        genesis_hash: str,
        rpc_url: str,
        *,
        missing_code: str | None = None,
    ):
        what = (
            f"serves {bound.describe()} but without the code of {missing_code} it was bound to"
            if missing_code
            else f"now serves chain {chain_id} with genesis {genesis_hash}, not {bound.describe()}"
        )
        super().__init__(
            f"the node at {rpc_url} {what} (the chain was reset, or the RPC URL points at "
            "another chain)"
        )
        self.bound = bound
        self.chain_id = chain_id
        self.genesis_hash = genesis_hash


@dataclass(frozen=True)
class ChainIdentity:
    chain_id: int
    genesis_hash: str
    # (contract name, checksummed address, keccak of its runtime code), sorted by name.
    contracts: tuple[tuple[str, str, str], ...]

    @cached_property
    def key(self) -> str:
        """A digest of everything above: equal keys, same chain and same contracts (computed
        once: accept and the worker compare it on every request, issue 15)."""
        canonical = json.dumps(self.to_json(), sort_keys=True, separators=(",", ":"))
        return "0x" + hashlib.sha256(canonical.encode()).hexdigest()

    def describe(self) -> str:
        return f"chain {self.chain_id} with genesis {self.genesis_hash}"

    def to_json(self) -> dict[str, Any]:
        return {
            "chainId": self.chain_id,
            "genesisHash": self.genesis_hash,
            "contracts": {
                name: {"address": address, "codeHash": code_hash}
                for name, address, code_hash in self.contracts
            },
        }


def genesis_hash(w3: Web3) -> str:
    return w3.eth.get_block(0)["hash"].to_0x_hex()  # type: ignore[union-attr]


def code_hash(w3: Web3, address: str) -> str:
    return "0x" + keccak(bytes(w3.eth.get_code(Web3.to_checksum_address(address)))).hex()


def read_identity(w3: Web3, *, chain_id: int, addresses: dict[str, str]) -> ChainIdentity:
    """The identity of the chain ``w3`` serves, for the contracts at ``addresses`` (by name)."""
    return ChainIdentity(
        chain_id=chain_id,
        genesis_hash=genesis_hash(w3),
        contracts=tuple(
            (name, Web3.to_checksum_address(address), code_hash(w3, address))
            for name, address in sorted(addresses.items())
        ),
    )


__all__ = ["ChainChanged", "ChainIdentity", "code_hash", "genesis_hash", "read_identity"]
