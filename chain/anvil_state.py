"""anvil's saved state (``--state FILE``), made to come back as the *same* chain.

Two defects of anvil 1.7's state reload, measured here (tests/chain/test_anvil_state.py):

1. **A new genesis on every start.** anvil builds a genesis block stamped with the current time
   before loading the file, and its next dump keeps both (blocks are stored by hash). Which block
   0 a later reload keeps then depends on hash-map order: after a few restarts the chain comes
   back with another genesis hash, though every later block is the same. Everything keyed on the
   genesis (deployment manifests, the index's binding) then takes it for another chain.
   :func:`prepare` therefore drops every block 0 but the real one (the parent of block 1) from
   the file, and returns its timestamp: started with ``--timestamp`` of it, anvil builds a
   genesis identical to the saved one (the headers differ in nothing else), so no second one
   appears.
2. **Time runs backwards.** The offset the demo's ``evm_increaseTime`` jumps put on the clock is
   not saved: the first block after a restart is stamped with the wall clock, hours *before* the
   last block. :func:`resume_clock` mines the first block at ``max(now, last block + 1)``; anvil
   then keeps that offset, so chain time never runs backwards and pauses while the node is
   stopped (deadlines do not pass while nobody can act).
"""

from __future__ import annotations

import json
import logging
import os
import time
from pathlib import Path
from typing import Any

import httpx
import rlp  # type: ignore[import-untyped]
from eth_utils import keccak

from chain.errors import ChainError

logger = logging.getLogger(__name__)

# Header fields that RLP-encode as integers (the others are byte strings), as anvil dumps them.
_INT_FIELDS = frozenset(
    {
        "difficulty",
        "number",
        "gasLimit",
        "gasUsed",
        "timestamp",
        "baseFeePerGas",
        "blobGasUsed",
        "excessBlobGas",
    }
)


class AnvilStateError(ChainError):
    """The saved state cannot be loaded as it is; the message says what to do."""


def header_hash(header: dict[str, Any]) -> str:
    """The block hash of a header as anvil dumps it (keccak of the RLP list of its fields)."""
    fields = [
        int(value, 16) if name in _INT_FIELDS else bytes.fromhex(value[2:])
        for name, value in header.items()
    ]
    return "0x" + keccak(rlp.encode(fields)).hex()


def _number(block: dict[str, Any]) -> int:
    return int(block["header"]["number"], 16)


def _real_genesis(geneses: list[dict[str, Any]], blocks: list[dict[str, Any]]) -> dict[str, Any]:
    """Block 1's parent; without a block 1 (or a header format we cannot hash), the oldest."""
    parents = {b["header"]["parentHash"] for b in blocks if _number(b) == 1}
    for genesis in geneses:
        try:
            if header_hash(genesis["header"]) in parents:
                return genesis
        except (ValueError, TypeError, KeyError):
            break
    return min(geneses, key=lambda b: int(b["header"]["timestamp"], 16))


def prepare(path: Path, *, fresh_hint: str) -> int | None:
    """Make the state at ``path`` load as the chain it was; the genesis timestamp to start with.

    None when there is no saved state (a new chain). ``fresh_hint`` is the command that starts a
    new chain instead, named in the error when the file is unreadable.
    """
    if not path.is_file():
        return None
    try:
        state = json.loads(path.read_bytes())
        blocks: list[dict[str, Any]] = state.get("blocks") or []
        geneses = [b for b in blocks if _number(b) == 0]
        if not geneses:
            return None  # a state without history (older anvil): nothing to keep
        genesis = _real_genesis(geneses, blocks)
        timestamp = int(genesis["header"]["timestamp"], 16)
    except (ValueError, TypeError, KeyError, AttributeError) as exc:
        raise AnvilStateError(
            f"the saved chain {path} is unreadable ({type(exc).__name__}: {exc}); "
            f"move it aside, or start a new chain with `{fresh_hint}`"
        ) from None
    if len(geneses) > 1:
        logger.info("%s: dropping %d stray genesis block(s)", path, len(geneses) - 1)
        state["blocks"] = [b for b in blocks if _number(b) != 0 or b is genesis]
        tmp = path.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_text(json.dumps(state))
        tmp.replace(path)
    return timestamp


def _rpc(url: str, method: str, params: list[Any]) -> Any:
    response = httpx.post(
        url, json={"jsonrpc": "2.0", "id": 1, "method": method, "params": params}, timeout=10
    )
    body = response.json()
    if "error" in body:
        raise ChainError(f"{method}: {body['error']}")
    return body["result"]


def resume_clock(rpc_url: str) -> int:
    """Mine the first block after a reload at ``max(now, last block's time + 1)``; returns it."""
    latest = _rpc(rpc_url, "eth_getBlockByNumber", ["latest", False])
    resume = max(int(time.time()), int(latest["timestamp"], 16) + 1)
    _rpc(rpc_url, "evm_setNextBlockTimestamp", [resume])
    _rpc(rpc_url, "evm_mine", [])
    return resume


__all__ = ["AnvilStateError", "header_hash", "prepare", "resume_clock"]
