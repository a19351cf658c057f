"""Merkle batches: byte-identical to OpenZeppelin's StandardMerkleTree, verified on chain.

``fixtures/oz_merkle_vectors.json`` was generated with the JS library itself
(``@openzeppelin/merkle-tree`` 1.0.8, ``StandardMerkleTree.of(values, ["bytes32"])`` and
``getProof(i)`` for every i, sizes 1-33 and a set with duplicates and extreme values).
"""

from __future__ import annotations

import json
import math
import random
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from chain.clients import Clients
from traceability.ipfs import parse_cid
from traceability.merkle import (
    InvalidManifest,
    MerkleError,
    StandardMerkleTree,
    build_manifest,
    leaf_hash,
    parse_bytes32,
    parse_manifest,
    to_hex,
    verify,
)

VECTORS = json.loads((Path(__file__).parent / "fixtures" / "oz_merkle_vectors.json").read_text())
hashes32 = st.binary(min_size=32, max_size=32)


@pytest.mark.parametrize("case", VECTORS["cases"], ids=lambda c: c["name"])
def test_root_and_every_proof_match_openzeppelin_js(case: dict) -> None:
    tree = StandardMerkleTree(case["values"])
    assert to_hex(tree.root) == case["root"]
    for index, expected in enumerate(case["proofs"]):
        assert [to_hex(p) for p in tree.proof(index)] == expected
        assert verify(tree.root, case["values"][index], expected)


def test_leaf_encoding_is_the_double_keccak_of_the_abi_encoding() -> None:
    from eth_abi import encode
    from eth_hash.auto import keccak

    value = bytes(range(32))
    assert leaf_hash(value) == keccak(keccak(encode(["bytes32"], [value])))


@settings(max_examples=200, deadline=None)
@given(values=st.lists(hashes32, min_size=1, max_size=70), seed=st.integers())
def test_random_leaf_sets_prove_every_leaf_and_nothing_else(values: list[bytes], seed: int) -> None:
    tree = StandardMerkleTree(values)
    depth_bound = math.ceil(math.log2(len(values))) + 1 if len(values) > 1 else 0
    for index, value in enumerate(values):
        proof = tree.proof(index)
        assert len(proof) <= depth_bound
        assert verify(tree.root, value, proof)
    outsider = bytes(b ^ 0xFF for b in values[0])
    if outsider not in values:
        assert not verify(tree.root, outsider, tree.proof(0))
    # sortLeaves: the root does not depend on the order the events were listed in
    shuffled = values[:]
    random.Random(seed).shuffle(shuffled)
    assert StandardMerkleTree(shuffled).root == tree.root


@settings(max_examples=100, deadline=None)
@given(values=st.lists(hashes32, min_size=2, max_size=40), data=st.data())
def test_a_tampered_proof_never_verifies(values: list[bytes], data: st.DataObject) -> None:
    tree = StandardMerkleTree(values)
    index = data.draw(st.integers(0, len(values) - 1))
    proof = tree.proof(index)
    position = data.draw(st.integers(0, len(proof) - 1))
    bit = data.draw(st.integers(0, 255))
    forged = proof[:]
    forged[position] = bytearray(forged[position])  # type: ignore[call-overload]
    forged[position][bit // 8] ^= 1 << (bit % 8)  # type: ignore[index]
    assert not verify(tree.root, values[index], [bytes(p) for p in forged])


@pytest.mark.parametrize("bad", ["0x12", "zz" * 32, "0x" + "0" * 63, "", 5, b"\x00" * 31])
def test_malformed_values_are_merkle_errors(bad: object) -> None:
    with pytest.raises(MerkleError):
        StandardMerkleTree([bad])  # type: ignore[list-item]


def test_empty_trees_and_bad_indexes_are_refused() -> None:
    with pytest.raises(MerkleError):
        StandardMerkleTree([])
    tree = StandardMerkleTree(["0x" + "11" * 32, "0x" + "22" * 32])
    for index in (-1, 2):
        with pytest.raises(MerkleError):
            tree.proof(index)
    assert tree.index_of("22" * 32) == 1
    with pytest.raises(MerkleError):
        tree.index_of("33" * 32)


def test_bytes32_accepts_upper_case_and_no_prefix() -> None:
    assert parse_bytes32("AB" * 32) == parse_bytes32("0xab" + "ab" * 31) == b"\xab" * 32


# ---------------------------------------------------------------------- manifest


def _hash_id(i: int) -> str:
    return f"ni:///sha-256;{i:064x}?ver=CBV2.0"


def test_manifest_round_trip_and_canonical_bytes() -> None:
    entries = [(_hash_id(i + 1), f"bafkrei{'a' * 52}", "09506000134352", f"L{i}") for i in range(5)]
    manifest = build_manifest(entries)
    again = parse_manifest(manifest.dumps())
    assert again == manifest
    assert again.dumps() == manifest.dumps()
    assert manifest.tree().root == manifest.root
    for i, leaf in enumerate(manifest.leaves):
        assert leaf.event_hash == (i + 1).to_bytes(32, "big")
        assert verify(manifest.root, leaf.event_hash, leaf.proof)
    doc = json.loads(manifest.dumps())
    assert doc["format"] == "tuanchain-merkle-batch-v1"
    assert doc["leafEncoding"] == ["bytes32"] and doc["leafCount"] == 5


@pytest.mark.parametrize(
    "doc",
    [
        b"not json",
        b"[]",
        b'{"format": "other"}',
        b'{"format": "tuanchain-merkle-batch-v1", "root": "0x12", "leaves": []}',
        b'{"format": "tuanchain-merkle-batch-v1", "root": "0x' + b"1" * 64 + b'", "leaves": []}',
        b'{"format": "tuanchain-merkle-batch-v1", "root": "0x' + b"1" * 64 + b'", "leaves": [{}]}',
        b'{"format": "tuanchain-merkle-batch-v1", "root": "0x'
        + b"1" * 64
        + b'", "leafCount": 2, "leaves": [{"eventHashId": "x", "eventHash": "0x'
        + b"2" * 64
        + b'", "documentCid": "c", "batch": {"gtin": "1", "lot": "2"}}]}',
    ],
)
def test_malformed_manifests_are_invalid_manifest(doc: bytes) -> None:
    with pytest.raises(InvalidManifest):
        parse_manifest(doc)


# ---------------------------------------------------------------------- on chain


def _anchor(clients: Clients, supplier: object, tree: StandardMerkleTree, store: object) -> None:
    manifest_cid = parse_cid(store.put(b"manifest of " + tree.root))  # type: ignore[attr-defined]
    if clients.registry.root_info(supplier.address, tree.root).anchored_at_block == 0:  # type: ignore[attr-defined]
        clients.registry.anchor_root(tree.root, len(tree), manifest_cid, signer=supplier)  # type: ignore[arg-type]


@pytest.mark.parametrize("size", [1, 2, 3, 7, 16])
def test_proofs_verify_on_chain_through_the_registry(trail, size: int) -> None:  # type: ignore[no-untyped-def]
    registry = trail.clients.registry
    values = [bytes([size, i]) * 16 for i in range(size)]
    tree = StandardMerkleTree(values)
    assert not registry.verify_event_in_root(
        trail.supplier.address, tree.root, values[0], tree.proof(0)
    )  # not anchored
    _anchor(trail.clients, trail.supplier, tree, trail.store)
    assert registry.root_info(trail.supplier.address, tree.root).leaf_count == size
    for index, value in enumerate(values):
        proof = tree.proof(index)
        assert registry.verify_event_in_root(trail.supplier.address, tree.root, value, proof)
        if proof:
            forged = [bytes(32)] + proof[1:]
            assert not registry.verify_event_in_root(
                trail.supplier.address, tree.root, value, forged
            )
        assert not registry.verify_event_in_root(
            trail.supplier.address, tree.root, b"\xee" * 32, proof
        )


@settings(
    max_examples=8,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(values=st.lists(hashes32, min_size=1, max_size=50, unique=True))
def test_random_leaf_sets_verify_on_chain(trail, values: list[bytes]) -> None:  # type: ignore[no-untyped-def]
    tree = StandardMerkleTree(values)
    _anchor(trail.clients, trail.supplier, tree, trail.store)
    for index, value in enumerate(values):
        assert trail.clients.registry.verify_event_in_root(
            trail.supplier.address, tree.root, value, tree.proof(index)
        )


def test_the_vectors_verify_on_chain(trail) -> None:  # type: ignore[no-untyped-def]
    for case in VECTORS["cases"][:6]:
        tree = StandardMerkleTree(case["values"])
        _anchor(trail.clients, trail.supplier, tree, trail.store)
        for value, proof in zip(case["values"], case["proofs"], strict=True):
            assert trail.clients.registry.verify_event_in_root(
                trail.supplier.address,
                parse_bytes32(case["root"]),
                parse_bytes32(value),
                [parse_bytes32(p) for p in proof],
            )
