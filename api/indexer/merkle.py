"""Merkle batches as the registry anchors them: OpenZeppelin StandardMerkleTree, leaf ``["bytes32"]``.

The indexer reads a root's manifest (JSON in the document store, written by
``traceability.merkle``) and needs, per leaf, its event hash, document CID, batch and inclusion
proof. The tree is rebuilt here from the manifest's event hashes exactly as OpenZeppelin's
``StandardMerkleTree.of(values, ["bytes32"])`` does (leaves sorted by hash), so the proof it
gives verifies with the registry's ``verifyEventInRoot``; a manifest whose leaves do not give
the anchored root is rejected (:class:`ManifestMismatch`).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from eth_utils import keccak

from traceability.epcis import digest_from_hash_id


class ManifestError(ValueError):
    """A manifest that cannot be read as a list of leaves."""


class ManifestMismatch(ManifestError):
    """The manifest's leaves do not hash to the root anchored on chain."""


@dataclass(frozen=True)
class ManifestLeaf:
    event_hash: bytes
    document_cid: str | None
    batch_id: str | None  # 0x-hex
    gtin14: str | None
    lot: str | None


def leaf_hash(event_hash: bytes) -> bytes:
    """``keccak256(bytes.concat(keccak256(abi.encode(eventHash))))`` (abi.encode(bytes32) = itself)."""
    return keccak(keccak(event_hash))


def _hash_pair(a: bytes, b: bytes) -> bytes:
    return keccak(a + b) if a < b else keccak(b + a)


class StandardMerkleTree:
    """The tree of OpenZeppelin's merkle-tree library for single ``bytes32`` values."""

    def __init__(self, event_hashes: Sequence[bytes]) -> None:
        if not event_hashes:
            raise ManifestError("a Merkle tree needs at least one leaf")
        leaves = sorted(leaf_hash(h) for h in event_hashes)
        size = 2 * len(leaves) - 1
        tree: list[bytes] = [b""] * size
        for i, leaf in enumerate(leaves):
            tree[size - 1 - i] = leaf
        for i in range(size - 1 - len(leaves), -1, -1):
            tree[i] = _hash_pair(tree[2 * i + 1], tree[2 * i + 2])
        self._tree = tree
        self._position = {leaf: size - 1 - i for i, leaf in enumerate(leaves)}

    @property
    def root(self) -> bytes:
        return self._tree[0]

    def proof(self, event_hash: bytes) -> list[bytes]:
        index = self._position[leaf_hash(event_hash)]
        proof = []
        while index > 0:
            proof.append(self._tree[index + 1 if index % 2 else index - 1])
            index = (index - 1) // 2
        return proof


def verify_proof(root: bytes, event_hash: bytes, proof: Sequence[bytes]) -> bool:
    """OpenZeppelin ``MerkleProof.verify`` (sorted pairs) for one event hash."""
    node = leaf_hash(event_hash)
    for sibling in proof:
        node = _hash_pair(node, sibling)
    return node == root


def _pick(entry: Mapping[str, Any], *names: str) -> Any:
    for name in names:
        if entry.get(name) not in (None, ""):
            return entry[name]
    return None


def _event_hash(value: Any) -> bytes:
    if isinstance(value, str) and value.startswith("ni:"):
        return digest_from_hash_id(value)
    if isinstance(value, str):
        raw = bytes.fromhex(value.removeprefix("0x"))
        if len(raw) == 32:
            return raw
    raise ManifestError(f"not an event hash: {value!r}")


def parse_manifest(data: bytes | str | Mapping[str, Any]) -> list[ManifestLeaf]:
    """The leaves of a batch manifest (tolerant of camelCase / snake_case field names)."""
    try:
        obj = json.loads(data) if isinstance(data, bytes | str) else data
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ManifestError(f"manifest is not JSON: {exc}") from exc
    entries = obj.get("leaves") if isinstance(obj, Mapping) else obj
    if entries is None and isinstance(obj, Mapping):
        entries = obj.get("entries") or obj.get("events")
    if not isinstance(entries, list) or not entries:
        raise ManifestError("manifest has no leaves")
    leaves = []
    for entry in entries:
        if not isinstance(entry, Mapping):
            raise ManifestError(f"manifest leaf is not an object: {entry!r}")
        batch = entry.get("batch") if isinstance(entry.get("batch"), Mapping) else {}
        merged = {**batch, **entry}
        raw_hash = _pick(merged, "event_hash", "eventHash", "event_hash_id", "eventHashId", "hash")
        batch_id = _pick(merged, "batch_id", "batchId")
        leaves.append(
            ManifestLeaf(
                event_hash=_event_hash(raw_hash),
                document_cid=_pick(merged, "document_cid", "documentCid", "cid"),
                batch_id=str(batch_id).lower() if batch_id else None,
                gtin14=_pick(merged, "gtin14", "gtin"),
                lot=_pick(merged, "lot"),
            )
        )
    return leaves
