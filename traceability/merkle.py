"""Merkle batches of EPCIS event hashes, identical to OpenZeppelin's ``StandardMerkleTree``.

The registry verifies inclusion on chain with OpenZeppelin ``MerkleProof`` against leaves
``keccak256(keccak256(abi.encode(bytes32 eventHash)))``, so off-chain trees must be built the
way ``@openzeppelin/merkle-tree`` builds ``StandardMerkleTree.of(values, ["bytes32"])``:

* the leaf of a value is the double keccak of its ABI encoding (a ``bytes32`` encodes as
  itself), which keeps 64-byte inner nodes from ever being accepted as leaves;
* leaf hashes are sorted ascending (a stable sort, so equal values keep their order);
* the tree is a flat array of ``2n - 1`` nodes, leaves stored *backwards* at the end
  (``tree[len - 1 - i]`` is the i-th sorted leaf), node ``i`` having children ``2i+1`` and
  ``2i+2``; an inner node hashes its two children sorted (``commutativeKeccak256``);
* the proof of a value is the list of siblings from its leaf up to the root.

Reference vectors generated with the JS library live in
``tests/traceability/fixtures/oz_merkle_vectors.json``; roots and proofs match byte for byte.

A :class:`BatchManifest` records what each leaf is (event hash ID, document CID, batch) and
its proof; it is stored in IPFS and its CID anchored with the root, so anyone can re-check.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

try:  # safe-pysha3's C keccak is ~5x faster per call than eth-hash's pycryptodome backend
    from sha3 import keccak_256 as _keccak_256

    def keccak(data: bytes) -> bytes:
        return _keccak_256(data).digest()  # type: ignore[no-any-return]

except ImportError:  # pragma: no cover - same function, slower
    from eth_hash.auto import keccak

from traceability.epcis.hashing import digest_from_hash_id
from traceability.errors import TraceabilityError
from traceability.safe_json import loads_bounded

MANIFEST_FORMAT: Final = "tuanchain-merkle-batch-v1"
LEAF_ENCODING: Final = ("bytes32",)

_HEX32 = re.compile(r"^(0x)?[0-9a-fA-F]{64}$")


class MerkleError(TraceabilityError):
    """Bad input to a Merkle operation (malformed hash, empty tree, index out of range)."""


class InvalidManifest(MerkleError):
    """A batch manifest document is not valid JSON of the expected shape, or is inconsistent."""

    def __init__(self, reason: str) -> None:
        super().__init__(f"invalid Merkle batch manifest: {reason}")
        self.reason = reason


def parse_bytes32(value: str | bytes) -> bytes:
    """A 32-byte value from bytes or 64 hex digits (``0x`` optional); ``MerkleError`` else."""
    if isinstance(value, bytes | bytearray):
        if len(value) != 32:
            raise MerkleError(f"expected 32 bytes, got {len(value)}")
        return bytes(value)
    if not isinstance(value, str) or not _HEX32.match(value.strip()):
        raise MerkleError(f"not a 32-byte hex value: {value!r}")
    text = value.strip()
    return bytes.fromhex(text[2:] if text[:2].lower() == "0x" else text)


def to_hex(value: bytes) -> str:
    return "0x" + value.hex()


def leaf_hash(value: bytes) -> bytes:
    """``standardLeafHash(["bytes32"], [value])`` = keccak256(keccak256(abi.encode(value)))."""
    return keccak(keccak(value))  # abi.encode(bytes32) is the 32 bytes themselves


def node_hash(a: bytes, b: bytes) -> bytes:
    """``standardNodeHash``: keccak256 of the two children, smaller first."""
    return keccak(a + b) if a <= b else keccak(b + a)


def process_proof(leaf: bytes, proof: Sequence[bytes]) -> bytes:
    """Fold a proof onto a leaf hash (OpenZeppelin ``MerkleProof.processProof``)."""
    node = leaf
    for sibling in proof:
        node = node_hash(node, sibling)
    return node


def verify(root: bytes | str, value: bytes | str, proof: Sequence[bytes | str]) -> bool:
    """Whether ``proof`` proves ``value`` (an event hash) under ``root``."""
    siblings = [parse_bytes32(p) for p in proof]
    return process_proof(leaf_hash(parse_bytes32(value)), siblings) == parse_bytes32(root)


class StandardMerkleTree:
    """``StandardMerkleTree.of(values, ["bytes32"])`` over event hashes (sortLeaves = true)."""

    def __init__(self, values: Iterable[bytes | str]) -> None:
        self.values: list[bytes] = [parse_bytes32(v) for v in values]
        if not self.values:
            raise MerkleError("a Merkle tree needs at least one leaf")
        hashed = sorted(
            ((leaf_hash(v), i) for i, v in enumerate(self.values)), key=lambda item: item[0]
        )
        n = len(hashed)
        tree: list[bytes] = [b""] * (2 * n - 1)
        # tree_index[value_index]: where the value's leaf sits in the flat array.
        self._tree_index = [0] * n
        for sorted_pos, (digest, value_index) in enumerate(hashed):
            position = len(tree) - 1 - sorted_pos
            tree[position] = digest
            self._tree_index[value_index] = position
        for i in range(len(tree) - 1 - n, -1, -1):
            tree[i] = node_hash(tree[2 * i + 1], tree[2 * i + 2])
        self.tree = tree

    def __len__(self) -> int:
        return len(self.values)

    @property
    def root(self) -> bytes:
        return self.tree[0]

    def proof(self, index: int) -> list[bytes]:
        """Siblings from the leaf of ``values[index]`` up to the root."""
        if not 0 <= index < len(self.values):
            raise MerkleError(f"leaf index {index} out of range 0..{len(self.values) - 1}")
        position = self._tree_index[index]
        proof: list[bytes] = []
        while position > 0:
            sibling = position + 1 if position % 2 == 1 else position - 1
            proof.append(self.tree[sibling])
            position = (position - 1) // 2
        return proof

    def index_of(self, value: bytes | str) -> int:
        """The first index holding ``value``; ``MerkleError`` if it is not a leaf."""
        target = parse_bytes32(value)
        try:
            return self.values.index(target)
        except ValueError:
            raise MerkleError(f"{to_hex(target)} is not a leaf of this tree") from None


# ---------------------------------------------------------------------- batch manifest


@dataclass(frozen=True)
class ManifestLeaf:
    """One leaf of an anchored batch: which event of which batch, where its document is."""

    event_hash_id: str  # ni:///sha-256;<hex>?ver=CBV2.0
    event_hash: bytes  # the 32-byte digest inside the hash ID (the Merkle value)
    document_cid: str
    gtin14: str
    lot: str
    proof: tuple[bytes, ...] = ()

    def to_json(self) -> dict[str, Any]:
        return {
            "eventHashId": self.event_hash_id,
            "eventHash": to_hex(self.event_hash),
            "documentCid": self.document_cid,
            "batch": {"gtin": self.gtin14, "lot": self.lot},
            "proof": [to_hex(p) for p in self.proof],
        }


@dataclass(frozen=True)
class BatchManifest:
    """The document anchored with a Merkle root: the leaves, in value order, with proofs."""

    root: bytes
    leaves: tuple[ManifestLeaf, ...] = field(default_factory=tuple)

    def to_json(self) -> dict[str, Any]:
        return {
            "format": MANIFEST_FORMAT,
            "leafEncoding": list(LEAF_ENCODING),
            "root": to_hex(self.root),
            "leafCount": len(self.leaves),
            "leaves": [leaf.to_json() for leaf in self.leaves],
        }

    def dumps(self) -> bytes:
        """Canonical bytes (sorted keys, no spaces), so the same manifest has one CID."""
        return json.dumps(self.to_json(), sort_keys=True, separators=(",", ":")).encode()

    def tree(self) -> StandardMerkleTree:
        return StandardMerkleTree(leaf.event_hash for leaf in self.leaves)


def build_manifest(
    entries: Sequence[tuple[str, str, str, str]],
) -> BatchManifest:
    """Manifest of ``(event_hash_id, document_cid, gtin14, lot)`` entries, proofs included."""
    hashes = [digest_from_hash_id(hash_id) for hash_id, _, _, _ in entries]
    tree = StandardMerkleTree(hashes)
    leaves = tuple(
        ManifestLeaf(hash_id, digest, cid, gtin, lot, tuple(tree.proof(i)))
        for i, ((hash_id, cid, gtin, lot), digest) in enumerate(zip(entries, hashes, strict=True))
    )
    return BatchManifest(tree.root, leaves)


def parse_manifest(data: bytes | str | dict[str, Any]) -> BatchManifest:
    """Parse a manifest document; ``InvalidManifest`` on any malformed field.

    The stated proofs are kept as they are (they are what a consumer is handed); whether
    they hold is for the verifier to check, on chain.
    """
    try:
        doc = loads_bounded(data) if isinstance(data, bytes | str) else data
    except ValueError as exc:  # not JSON, not UTF-8, or nested absurdly deep
        raise InvalidManifest(f"not JSON: {exc}") from exc
    if not isinstance(doc, dict) or doc.get("format") != MANIFEST_FORMAT:
        raise InvalidManifest(f"format must be {MANIFEST_FORMAT!r}")
    try:
        leaves = []
        for item in doc["leaves"]:
            leaves.append(
                ManifestLeaf(
                    event_hash_id=str(item["eventHashId"]),
                    event_hash=parse_bytes32(item["eventHash"]),
                    document_cid=str(item["documentCid"]),
                    gtin14=str(item["batch"]["gtin"]),
                    lot=str(item["batch"]["lot"]),
                    proof=tuple(parse_bytes32(p) for p in item.get("proof", [])),
                )
            )
        root = parse_bytes32(doc["root"])
    except (KeyError, TypeError, MerkleError) as exc:
        raise InvalidManifest(f"missing or malformed field: {exc}") from exc
    if not leaves:
        raise InvalidManifest("no leaves")
    if doc.get("leafCount", len(leaves)) != len(leaves):
        raise InvalidManifest(f"leafCount {doc.get('leafCount')} but {len(leaves)} leaves")
    return BatchManifest(root, tuple(leaves))
