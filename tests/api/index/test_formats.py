"""Formats the indexer reads, checked by property: Merkle manifests (the format and tree are
traceability.merkle's, itself checked against OpenZeppelin's vectors; what is tested here is the
indexer's check that a manifest describes the anchored root) and the cold-chain report."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from api.indexer.enrich import cold_chain_report
from api.indexer.merkle import InvalidManifest, ManifestMismatch, load_manifest
from traceability import merkle as reference
from traceability.ipfs import compute_cid

hashes = st.lists(st.binary(min_size=32, max_size=32), min_size=1, max_size=40, unique=True)


def _manifest(values: list[bytes]) -> reference.BatchManifest:
    entries = [
        (
            f"ni:///sha-256;{v.hex()}?ver=CBV2.0",
            compute_cid(b"event %d" % i),
            "09506000134352",
            f"L{i % 3}",
        )
        for i, v in enumerate(values)
    ]
    return reference.build_manifest(entries)


def _doc(manifest: reference.BatchManifest) -> dict[str, Any]:
    return json.loads(manifest.dumps())


@settings(max_examples=40, deadline=None)
@given(hashes)
def test_a_manifest_of_the_anchored_root_loads_with_proofs_that_verify(
    values: list[bytes],
) -> None:
    manifest = _manifest(values)
    loaded = load_manifest(manifest.dumps(), root=manifest.root, leaf_count=len(values))
    assert loaded.root == manifest.root
    assert [leaf.event_hash for leaf in loaded.leaves] == values  # value order kept
    assert [(x.gtin14, x.lot, x.document_cid) for x in loaded.leaves] == [
        (x.gtin14, x.lot, x.document_cid) for x in manifest.leaves
    ]
    for leaf in loaded.leaves:
        assert reference.verify(manifest.root, leaf.event_hash, leaf.proof)


@settings(max_examples=30, deadline=None)
@given(hashes, st.data())
def test_stated_proofs_are_recomputed_not_trusted(values: list[bytes], data: st.DataObject) -> None:
    manifest = _manifest(values)
    doc = _doc(manifest)
    for item in doc["leaves"]:
        item["proof"] = ["0x" + "ab" * 32] * data.draw(st.integers(0, 3))
    loaded = load_manifest(doc, root=manifest.root)
    assert [leaf.proof for leaf in loaded.leaves] == [leaf.proof for leaf in manifest.leaves]


@settings(max_examples=30, deadline=None)
@given(hashes, st.binary(min_size=32, max_size=32), st.data())
def test_a_leaf_swapped_for_another_event_does_not_rebuild_the_root(
    values: list[bytes], other: bytes, data: st.DataObject
) -> None:
    manifest = _manifest(values)
    doc = _doc(manifest)
    i = data.draw(st.integers(0, len(values) - 1))
    if other == values[i]:
        return
    # Consistent within itself (hash ID and hash agree): only the root can tell.
    doc["leaves"][i]["eventHash"] = "0x" + other.hex()
    doc["leaves"][i]["eventHashId"] = f"ni:///sha-256;{other.hex()}?ver=CBV2.0"
    with pytest.raises(ManifestMismatch, match="leaves give root"):
        load_manifest(doc, root=manifest.root)


@settings(max_examples=20, deadline=None)
@given(hashes, st.binary(min_size=32, max_size=32))
def test_a_manifest_of_another_root_is_refused(values: list[bytes], anchored: bytes) -> None:
    manifest = _manifest(values)
    if anchored != manifest.root:
        with pytest.raises(ManifestMismatch):
            load_manifest(manifest.dumps(), root=anchored)


def test_the_anchored_leaf_count_must_match() -> None:
    manifest = _manifest([bytes([i]) * 32 for i in range(1, 4)])
    with pytest.raises(ManifestMismatch, match="3 leaves, but 4 anchored"):
        load_manifest(manifest.dumps(), root=manifest.root, leaf_count=4)


def test_the_stated_root_must_be_the_anchored_one() -> None:
    manifest = _manifest([bytes([i]) * 32 for i in range(1, 4)])
    doc = _doc(manifest)
    doc["root"] = "0x" + "11" * 32  # the leaves still rebuild the anchored root
    with pytest.raises(ManifestMismatch, match="states root"):
        load_manifest(doc, root=manifest.root)


def test_a_hash_id_naming_another_event_is_a_mismatch() -> None:
    manifest = _manifest([bytes([i]) * 32 for i in range(1, 4)])
    doc = _doc(manifest)
    doc["leaves"][1]["eventHashId"] = f"ni:///sha-256;{'22' * 32}?ver=CBV2.0"
    with pytest.raises(ManifestMismatch, match="leaf 1: event hash ID and event hash disagree"):
        load_manifest(doc, root=manifest.root)


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("documentCid", "not a cid"),
        ("documentCid", "x" * 1000),  # would not even fit the index column
        ("eventHashId", "urn:uuid:0"),
        ("eventHash", "0x1234"),
    ],
)
def test_malformed_leaves_are_invalid_not_mismatched(field: str, value: str) -> None:
    manifest = _manifest([bytes([i]) * 32 for i in range(1, 4)])
    doc = _doc(manifest)
    doc["leaves"][0][field] = value
    with pytest.raises(InvalidManifest) as refused:
        load_manifest(doc, root=manifest.root)
    assert not isinstance(refused.value, ManifestMismatch)


@pytest.mark.parametrize(
    "raw", [b"", b"not json", b"[]", b'{"format": "other"}', b"\xff\xfe", b"[" * 100_000]
)
def test_documents_that_are_not_manifests_are_invalid(raw: bytes) -> None:
    with pytest.raises(InvalidManifest):
        load_manifest(raw, root=b"\x01" * 32)


def _sensor_event(values: list[float], low: float, high: float) -> dict:
    return {
        "@context": [
            "https://ref.gs1.org/standards/epcis/2.0.0/epcis-context.jsonld",
            {"tuan": "https://ns.tuanchain.org/epcis/"},
        ],
        "type": "ObjectEvent",
        "eventTime": "2026-09-01T08:00:00.000Z",
        "eventTimeZoneOffset": "+00:00",
        "action": "OBSERVE",
        "bizStep": "sensor_reporting",
        "quantityList": [{"epcClass": "https://id.gs1.org/01/09506000134352/10/L1"}],
        "sensorElementList": [
            {
                "sensorMetadata": {
                    "time": f"2026-09-01T{8 + i:02d}:00:00.000Z",
                    "tuan:minAllowedValue": low,
                    "tuan:maxAllowedValue": high,
                },
                "sensorReport": [{"type": "Temperature", "value": v, "uom": "CEL"}],
            }
            for i, v in enumerate(values)
        ],
    }


@settings(max_examples=40, deadline=None)
@given(
    st.lists(
        st.floats(-30, 40, allow_nan=False).map(lambda x: round(x, 1)), min_size=1, max_size=10
    ),
    st.floats(-5, 5).map(lambda x: round(x, 1)),
)
def test_cold_chain_breaches_are_exactly_the_readings_outside_the_range(
    values: list[float], low: float
) -> None:
    high = low + 4
    report = cold_chain_report([_sensor_event(values, low, high)], None)
    assert [r["value"] for r in report["readings"]] == values
    outside = [v for v in values if not low <= v <= high]
    assert [b["value"] for b in report["breaches"]] == outside
    assert report["compliant"] is (not outside)
    for breach in report["breaches"]:
        assert breach["bound"] == ("min" if breach["value"] < low else "max")
