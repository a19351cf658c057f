"""Formats the indexer reads, checked by property: Merkle trees/proofs against the reference
implementation (traceability.merkle, itself checked against OpenZeppelin's vectors), manifests,
and the cold-chain report."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from api.indexer.enrich import cold_chain_report
from api.indexer.merkle import StandardMerkleTree, parse_manifest, verify_proof
from traceability import merkle as reference

hashes = st.lists(st.binary(min_size=32, max_size=32), min_size=1, max_size=40, unique=True)


@settings(max_examples=60, deadline=None)
@given(hashes)
def test_tree_root_and_proofs_match_the_reference(values: list[bytes]) -> None:
    tree = StandardMerkleTree(values)
    ref = reference.StandardMerkleTree(values)
    assert tree.root == ref.root
    for value in values:
        proof = tree.proof(value)
        assert verify_proof(tree.root, value, proof)
        assert reference.verify(ref.root, value, proof)


@settings(max_examples=30, deadline=None)
@given(hashes, st.binary(min_size=32, max_size=32))
def test_a_proof_does_not_verify_another_value(values: list[bytes], other: bytes) -> None:
    tree = StandardMerkleTree(values)
    if other not in values:
        assert not verify_proof(tree.root, other, tree.proof(values[0]))


@settings(max_examples=30, deadline=None)
@given(hashes)
def test_reference_manifests_parse_to_the_same_leaves(values: list[bytes]) -> None:
    entries = [
        (f"ni:///sha-256;{v.hex()}?ver=CBV2.0", f"bafk{i}", "09506000134352", f"L{i}")
        for i, v in enumerate(values)
    ]
    manifest = reference.build_manifest(entries)
    leaves = parse_manifest(manifest.dumps())
    assert [leaf.event_hash for leaf in leaves] == [leaf.event_hash for leaf in manifest.leaves]
    assert [(leaf.gtin14, leaf.lot, leaf.document_cid) for leaf in leaves] == [
        (leaf.gtin14, leaf.lot, leaf.document_cid) for leaf in manifest.leaves
    ]
    assert StandardMerkleTree([leaf.event_hash for leaf in leaves]).root == manifest.root


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
