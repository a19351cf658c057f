"""Read the contracts' logs for a block range: one ``eth_getLogs`` for both contracts, decoded.

Logs are decoded with the compiled ABIs (the typed clients' contracts), by topic 0. Block
headers (hash, timestamp) of the blocks that carry logs are fetched too: the hash for re-org
detection, the time for every row.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from eth_utils import event_abi_to_log_topic
from hexbytes import HexBytes
from web3 import Web3
from web3.contract import Contract
from web3.exceptions import BlockNotFound

from chain.abi_codec import decode as abi_decode
from chain.address import checksum_address
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
        self._flat: dict[tuple[str, bytes], _FlatEvent] = {}
        for address, (_, contract) in self._contracts.items():
            for abi in contract.abi:
                if abi.get("type") == "event":
                    event = getattr(contract.events, abi["name"])()
                    topic = event_abi_to_log_topic(abi)
                    self._by_topic[(address, topic)] = event
                    flat = _FlatEvent.of(abi)
                    if flat is not None:
                        self._flat[(address, topic)] = flat
        # The hot reads (logs, headers) as raw JSON-RPC through the chain's sender.
        self._sender = clients.registry.sender

    def head(self) -> int:
        return int(self._sender.rpc("eth_blockNumber", []), 16)

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
            blocks = self._sender.rpc_batch(
                [("eth_getBlockByNumber", [hex(n), False]) for n in numbers]
            )
            for n, block in zip(numbers, blocks, strict=True):
                if not isinstance(block, dict):
                    raise TypeError(f"no block {n}: {block}")
                out[n] = BlockHeader(
                    n,
                    hex0x(block["hash"]),
                    datetime.fromtimestamp(int(block["timestamp"], 16), UTC),
                )
        except Exception:  # noqa: BLE001 - a provider without batching: one call each
            for n in numbers:
                header = self.header(n)
                if header is not None:
                    out[n] = header
        return out

    def logs(self, from_block: int, to_block: int) -> list[DecodedLog]:
        """Decoded logs of both contracts in ``[from_block, to_block]``, in chain order.

        Read as the node's JSON and decoded with eth-abi by the event's ABI (:class:`_FlatEvent`,
        the same values web3 gives: checksummed addresses, bytes, ints); an event with a struct
        argument (``DealCreated``) goes through web3's ``process_log``. Profiled under the relay
        rush (issue 15), web3's log formatters and ``process_log`` were most of the indexer's
        CPU, a sixth of the whole service's."""
        raw = self._sender.rpc(
            "eth_getLogs",
            [
                {
                    "fromBlock": hex(from_block),
                    "toBlock": hex(to_block),
                    "address": list(self._contracts),
                }
            ],
        )
        decoded = []
        for log in raw or ():
            topics = log.get("topics") or []
            if not topics:
                continue
            address = checksum_address(log["address"])
            key = (address, bytes.fromhex(topics[0][2:]))
            flat = self._flat.get(key)
            if flat is not None:
                name, args = flat.name, flat.decode(topics, log["data"])
            else:
                event = self._by_topic.get(key)
                if event is None:
                    continue  # an event this ABI does not know (e.g. from a newer contract)
                data = event.process_log(_web3_log(log, address))
                name, args = data["event"], dict(data["args"])
            decoded.append(
                DecodedLog(
                    contract=self._contracts[address][0],
                    address=address,
                    event=name,
                    args=args,
                    block_number=int(log["blockNumber"], 16),
                    block_hash=hex0x(log["blockHash"]),
                    tx_hash=hex0x(log["transactionHash"]),
                    log_index=int(log["logIndex"], 16),
                )
            )
        decoded.sort(key=lambda d: (d.block_number, d.log_index))
        return decoded


def _web3_log(log: dict[str, Any], address: str) -> dict[str, Any]:
    """The node's JSON log as web3's formatters give it to ``process_log``."""
    return {
        "address": address,
        "topics": [HexBytes(t) for t in log["topics"]],
        "data": HexBytes(log["data"]),
        "blockNumber": int(log["blockNumber"], 16),
        "blockHash": HexBytes(log["blockHash"]),
        "transactionHash": HexBytes(log["transactionHash"]),
        "transactionIndex": int(log["transactionIndex"], 16),
        "logIndex": int(log["logIndex"], 16),
    }


_ELEMENTARY = re.compile(r"^(address|bool|string|bytes([1-9]|[12][0-9]|3[0-2])?|u?int[0-9]*)$")
_DYNAMIC = ("string", "bytes")


@dataclass(frozen=True)
class _FlatEvent:
    """An event whose arguments are all elementary (no struct, no array), decoded by eth-abi:
    indexed ones from the topics, the others from the data; addresses checksummed, as web3's
    ``get_event_data`` returns them (a test holds the two to the same values)."""

    name: str
    indexed: tuple[tuple[str, str], ...]  # (name, type)
    data_names: tuple[str, ...]
    data_types: tuple[str, ...]
    addresses: frozenset[str]  # the arguments to checksum

    @classmethod
    def of(cls, abi: dict[str, Any]) -> _FlatEvent | None:
        inputs = abi.get("inputs", [])
        if abi.get("anonymous") or any(not _ELEMENTARY.match(i["type"]) for i in inputs):
            return None
        if any(i.get("indexed") and i["type"] in _DYNAMIC for i in inputs):
            return None  # web3 gives the topic (a hash) for these: not copied here
        if not all(i.get("name") for i in inputs):
            return None
        indexed = tuple((i["name"], i["type"]) for i in inputs if i.get("indexed"))
        data = [i for i in inputs if not i.get("indexed")]
        return cls(
            abi["name"],
            indexed,
            tuple(i["name"] for i in data),
            tuple(i["type"] for i in data),
            frozenset(i["name"] for i in inputs if i["type"] == "address"),
        )

    def decode(self, topics: list[str], data: str) -> dict[str, Any]:
        if len(topics) != len(self.indexed) + 1:
            raise ValueError(f"{self.name}: {len(topics) - 1} indexed topics")
        args: dict[str, Any] = {}
        # (chain.abi_codec.decode: eth-abi's values, static words read directly — eth-abi's
        # ~10 µs a call had been most of the indexer's CPU under the rush, issue 15)
        for (name, kind), topic in zip(self.indexed, topics[1:], strict=True):
            (args[name],) = abi_decode((kind,), bytes.fromhex(topic[2:]))
        values = abi_decode(self.data_types, bytes.fromhex(data[2:]))
        args.update(zip(self.data_names, values, strict=True))
        for name in self.addresses:
            args[name] = checksum_address(args[name])
        return args
