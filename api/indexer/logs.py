"""Read the contracts' logs for a block range: one ``eth_getLogs`` for both contracts, decoded.

Logs are decoded with the compiled ABIs (the typed clients' contracts), by topic 0. Block
headers (hash, timestamp) of the blocks that carry logs are fetched too: the hash for re-org
detection, the time for every row.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from eth_utils import event_abi_to_log_topic
from web3 import Web3
from web3.contract import Contract
from web3.exceptions import BlockNotFound
from web3.types import LogReceipt

from chain.clients import Clients


@dataclass(frozen=True)
class DecodedLog:
    """One log with its event name, decoded arguments and position on chain."""

    contract: str  # "registry" | "escrow"
    address: str
    event: str
    args: dict[str, Any]
    block_number: int
    block_hash: str
    tx_hash: str
    log_index: int


@dataclass(frozen=True)
class BlockHeader:
    number: int
    hash: str
    time: datetime


def hex0x(value: bytes | str) -> str:
    """Lowercase ``0x`` hex of bytes (or of an already-hex string)."""
    if isinstance(value, str):
        return "0x" + value.removeprefix("0x").lower()
    return "0x" + bytes(value).hex()


def _json_default(value: Any) -> Any:
    """What ``json`` cannot encode alone: bytes as 0x-hex, web3's AttributeDicts as dicts."""
    if isinstance(value, bytes | bytearray):
        return "0x" + bytes(value).hex()
    if isinstance(value, Mapping):
        return dict(Mapping.items(value))  # an argument named ``keys`` would hide the method
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


def args_json(args: dict[str, Any]) -> str:
    """A log's decoded arguments as stored (exact integers, bytes as 0x-hex): the same text as
    ``json_safe`` then ``json.dumps``, but the encoder calls back only for bytes and mappings
    (walking every value in Python first was 40 % of the indexer's time, issue 15)."""
    return json.dumps(args, sort_keys=True, separators=(",", ":"), default=_json_default)


class LogSource:
    """eth_getLogs over the registry and the escrow of one deployment."""

    def __init__(self, w3: Web3, clients: Clients) -> None:
        self.w3 = w3
        self._contracts: dict[str, tuple[str, Contract]] = {
            clients.registry.address: ("registry", clients.registry.contract),
            clients.escrow.address: ("escrow", clients.escrow.contract),
        }
        self._by_topic: dict[tuple[str, bytes], Any] = {}
        for address, (_, contract) in self._contracts.items():
            for abi in contract.abi:
                if abi.get("type") == "event":
                    event = getattr(contract.events, abi["name"])()
                    self._by_topic[(address, event_abi_to_log_topic(abi))] = event

    def head(self) -> int:
        return int(self.w3.eth.block_number)

    def header(self, number: int) -> BlockHeader | None:
        """The block at ``number`` on the node's current chain (None if it has none)."""
        try:
            block = self.w3.eth.get_block(number)
        except BlockNotFound:
            return None  # the chain is shorter now (a re-org or a reset node)
        if block is None:
            return None
        return BlockHeader(
            number=number,
            hash=hex0x(bytes(block["hash"])),
            time=datetime.fromtimestamp(int(block["timestamp"]), UTC),
        )

    def headers(self, numbers: list[int]) -> dict[int, BlockHeader]:
        """Headers of several blocks, in one JSON-RPC batch when the provider allows it."""
        out: dict[int, BlockHeader] = {}
        if not numbers:
            return out
        try:
            with self.w3.batch_requests() as batch:
                for n in numbers:
                    batch.add(self.w3.eth.get_block(n))
                blocks = batch.execute()
            for n, block in zip(numbers, blocks, strict=True):
                out[n] = BlockHeader(
                    n, hex0x(bytes(block["hash"])), datetime.fromtimestamp(block["timestamp"], UTC)
                )
        except Exception:  # noqa: BLE001 - a provider without batching: one call each
            for n in numbers:
                header = self.header(n)
                if header is not None:
                    out[n] = header
        return out

    def logs(self, from_block: int, to_block: int) -> list[DecodedLog]:
        """Decoded logs of both contracts in ``[from_block, to_block]``, in chain order."""
        raw: list[LogReceipt] = self.w3.eth.get_logs(
            {
                "fromBlock": from_block,
                "toBlock": to_block,
                "address": list(self._contracts),
            }
        )
        decoded = []
        for log in raw:
            address = Web3.to_checksum_address(log["address"])
            if not log["topics"]:
                continue
            event = self._by_topic.get((address, bytes(log["topics"][0])))
            if event is None:
                continue  # an event this ABI does not know (e.g. from a newer contract)
            data = event.process_log(log)
            decoded.append(
                DecodedLog(
                    contract=self._contracts[address][0],
                    address=address,
                    event=data["event"],
                    args=dict(data["args"]),
                    block_number=int(log["blockNumber"]),
                    block_hash=hex0x(bytes(log["blockHash"])),
                    tx_hash=hex0x(bytes(log["transactionHash"])),
                    log_index=int(log["logIndex"]),
                )
            )
        decoded.sort(key=lambda d: (d.block_number, d.log_index))
        return decoded
