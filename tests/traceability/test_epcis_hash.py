"""CBV 2.0 event hash: reference test vectors and invariance properties.

Reference vectors are the worked examples of the GS1 reference implementation's README
(github.com/RalphTro/epcis-event-hash-generator, README.md "Worked examples", CBV 2.0 column;
inputs tests/examples/documents/ReferenceEventHashAlgorithm{,2,3}.jsonld), read via the
project's code search. They cover EPC URN -> Digital Link conversion (SSCC, SGTIN, SGLN, GIAI,
GDTI, PGLN), bare CBV terms, sensor reports, bizTransaction/source/destination typing, and
user extensions at event level and inside readPoint.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from traceability.epcis import (
    EventHashError,
    digest_from_hash_id,
    event_hash_digest,
    event_hash_id,
    event_prehash,
    hash_events_in_document,
)

# The GS1 EPCIS 2.0 examples, copied verbatim from the standard.
EXAMPLES = Path(__file__).resolve().parent / "fixtures" / "gs1-epcis-examples"
CTX = "https://ref.gs1.org/standards/epcis/2.0.0/epcis-context.jsonld"
EXAMPLE_NS = {"example": "https://ns.example.com/epcis/"}

REF1 = {
    "type": "ObjectEvent",
    "eventTime": "2020-03-04T11:00:30.000+01:00",
    "eventTimeZoneOffset": "+01:00",
    "recordTime": "2020-03-04T11:00:30.999+01:00",
    "epcList": [
        "urn:epc:id:sscc:4012345.0000000333",
        "urn:epc:id:sscc:4012345.0000000111",
        "urn:epc:id:sscc:4012345.0000000222",
    ],
    "action": "OBSERVE",
    "bizStep": "departing",
    "readPoint": {"id": "urn:epc:id:sgln:4012345.00011.987"},
    "example:myField1": {"example:mySubField1": "2", "example:mySubField2": "5"},
    "example:myField2": "0",
    "example:myField3": {"example:mySubField3": ["3", "1"]},
}
REF1_PREHASH = (
    "eventType=ObjectEventeventTime=2020-03-04T10:00:30.000ZeventTimeZoneOffset=+01:00"
    "epcListepc=https://id.gs1.org/00/040123450000001112epc=https://id.gs1.org/00/040123450000002225"
    "epc=https://id.gs1.org/00/040123450000003338action=OBSERVE"
    "bizStep=https://ref.gs1.org/cbv/BizStep-departing"
    "readPointid=https://id.gs1.org/414/4012345000115/254/987"
    "{https://ns.example.com/epcis/}myField1{https://ns.example.com/epcis/}mySubField1=2"
    "{https://ns.example.com/epcis/}mySubField2=5{https://ns.example.com/epcis/}myField2=0"
    "{https://ns.example.com/epcis/}myField3{https://ns.example.com/epcis/}mySubField3=1"
    "{https://ns.example.com/epcis/}mySubField3=3"
)
REF2 = {
    "type": "ObjectEvent",
    "eventTime": "2020-04-01T15:00:00+01:00",
    "eventTimeZoneOffset": "+01:00",
    "epcList": ["urn:epc:id:sgtin:4012345.011111.9876"],
    "action": "OBSERVE",
    "bizStep": "inspecting",
    "readPoint": {"id": "urn:epc:id:sgln:4012345.00005.0"},
    "sensorElementList": [
        {
            "sensorMetadata": {
                "deviceID": "urn:epc:id:giai:4000001.111",
                "deviceMetadata": "https://id.gs1.org/8004/4000001111",
            },
            "sensorReport": [
                {"type": "Temperature", "value": 26, "sDev": 0.1, "uom": "CEL"},
                {"type": "AbsoluteHumidity", "value": 12.1, "uom": "A93"},
                {
                    "type": "Dimensionless",
                    "microorganism": "https://www.ncbi.nlm.nih.gov/taxonomy/1126011",
                    "value": 0.05,
                    "uom": "C35",
                },
                {
                    "type": "Dimensionless",
                    "chemicalSubstance": "https://identifiers.org/inchikey:CZMRCDWAGMRECN-UGDNZRGBSA-N",
                    "value": 0.18,
                    "uom": "C35",
                },
            ],
        }
    ],
}
REF3 = {
    "type": "ObjectEvent",
    "eventTime": "2020-03-04T11:00:30+01:00",
    "eventTimeZoneOffset": "+01:00",
    "epcList": ["urn:epc:id:sgtin:0614141.011111.987"],
    "action": "OBSERVE",
    "bizStep": "departing",
    "disposition": "in_transit",
    "readPoint": {"id": "urn:epc:id:sgln:4012345.00011.0", "example:myField1": "AB-12"},
    "bizTransactionList": [{"type": "po", "bizTransaction": "urn:epc:id:gdti:4012345.11111.123"}],
    "sourceList": [{"type": "owning_party", "source": "urn:epc:id:pgln:4012345.00000"}],
    "destinationList": [{"type": "owning_party", "destination": "urn:epc:id:pgln:0614141.00000"}],
    "example:userExt": "CD-34",
}


def _doc(*events: dict, context: object = None) -> dict:
    return {
        "@context": context if context is not None else [CTX, EXAMPLE_NS],
        "type": "EPCISDocument",
        "schemaVersion": "2.0",
        "creationDate": "2022-02-17T11:30:47.0Z",
        "epcisBody": {"eventList": list(events)},
    }


@pytest.mark.parametrize(
    ("event", "expected"),
    [
        (REF1, "6ae96341e0acc6d7a261364751f60e68278a81cdf51da0abb6b4e617014e39d7"),
        # The README gives 271565c3... and 3ae14c02... for these two: the CBV 2.0 text's values.
        # The generator itself (1.9.3) gives these, and third parties verify with it: it keeps
        # the sensorElementList name, and sorts the source/destination lists after the other
        # members, type first (docs/epcis-hash.md, deviations 3 and 4).
        (REF2, "49b13037c36e84ad9307c531671b00e901318c3957e4b1151f816ec49eb668da"),
        (REF3, "a13cbe6c8bb6df3710b3edaeff760a1365ec8fd69ca1f4d7e0c10eb5189a883a"),
    ],
)
def test_reference_vectors(event: dict, expected: str) -> None:
    assert hash_events_in_document(_doc(event)) == [f"ni:///sha-256;{expected}?ver=CBV2.0"]


def test_reference_prehash_string_matches_exactly() -> None:
    assert event_prehash(REF1, context=[CTX, EXAMPLE_NS]) == REF1_PREHASH


def test_digest_is_32_bytes_and_matches_hash_id() -> None:
    digest = event_hash_digest(REF1, context=[CTX, EXAMPLE_NS])
    assert len(digest) == 32
    assert digest_from_hash_id(event_hash_id(REF1, context=[CTX, EXAMPLE_NS])) == digest


def test_error_declaration_keeps_the_original_events_hash() -> None:
    # GS1 example pair: the same two events, the second file re-declares them with
    # errorDeclaration and different eventIDs; the hash must link them.
    plain = hash_events_in_document(EXAMPLES / "Example_9.6.1-ObjectEvent.jsonld")
    declared = hash_events_in_document(
        EXAMPLES / "Example_9.6.1-ObjectEvent-with-error-declaration.jsonld"
    )
    assert plain == declared


def test_urn_and_digital_link_forms_hash_alike() -> None:
    urn = copy.deepcopy(REF3)
    dl = copy.deepcopy(REF3)
    dl["epcList"] = ["https://example.com/some/prefix/01/00614141111114/21/987?linkType=all"]
    dl["sourceList"] = [{"type": "owning_party", "source": "https://id.gs1.org/417/4012345000009"}]
    assert event_hash_id(urn, context=[CTX, EXAMPLE_NS]) == event_hash_id(
        dl, context=[CTX, EXAMPLE_NS]
    )


def test_every_gs1_example_hashes() -> None:
    for path in sorted(EXAMPLES.iterdir()):
        hashes = hash_events_in_document(path)
        assert hashes and all(h.startswith("ni:///sha-256;") for h in hashes), path.name


def test_event_without_type_is_refused() -> None:
    with pytest.raises(EventHashError):
        event_prehash({"eventTime": "2020-01-01T00:00:00Z"})


# ---------------------------------------------------------------- invariance properties

EVENTS = [REF1, REF2, REF3]


@settings(max_examples=60, deadline=None)
@given(index=st.sampled_from(range(3)), seed=st.randoms(use_true_random=False))
def test_hash_invariant_under_key_and_list_reordering(index: int, seed) -> None:
    def shuffle(value):
        if isinstance(value, dict):
            items = list(value.items())
            # The generator reads a bizTransaction/source/destination item's members in document
            # order (docs/epcis-hash.md, deviation 4): those items keep theirs.
            if not any(k in value for k in ("bizTransaction", "source", "destination")):
                seed.shuffle(items)
            return {k: shuffle(v) for k, v in items}
        if isinstance(value, list):
            items = [shuffle(v) for v in value]
            seed.shuffle(items)
            return items
        return value

    event = EVENTS[index]
    ctx = [CTX, EXAMPLE_NS]
    assert event_hash_id(shuffle(event), context=ctx) == event_hash_id(event, context=ctx)


@settings(max_examples=40, deadline=None)
@given(indent=st.sampled_from([None, 0, 2, "\t"]), index=st.sampled_from(range(3)))
def test_hash_invariant_under_whitespace(indent, index: int) -> None:
    doc = _doc(EVENTS[index])
    text = json.dumps(doc, indent=indent)
    assert hash_events_in_document(text) == hash_events_in_document(doc)


@settings(max_examples=60, deadline=None)
@given(offset_minutes=st.integers(min_value=-14 * 60, max_value=14 * 60))
def test_hash_invariant_under_equivalent_time_zone_offsets(offset_minutes: int) -> None:
    from datetime import UTC, datetime, timedelta, timezone

    instant = datetime(2020, 3, 4, 10, 0, 30, tzinfo=UTC)
    local = instant.astimezone(timezone(timedelta(minutes=offset_minutes)))
    event = dict(REF1, eventTime=local.isoformat(timespec="milliseconds"))
    ctx = [CTX, EXAMPLE_NS]
    assert event_hash_id(event, context=ctx) == event_hash_id(REF1, context=ctx)


def test_hash_invariant_compact_vs_expanded_namespaces() -> None:
    expanded = {k: v for k, v in REF2.items()}
    expanded["bizStep"] = "urn:epcglobal:cbv:bizstep:inspecting"
    report = expanded["sensorElementList"][0]["sensorReport"]
    expanded["sensorElementList"] = [
        {
            **expanded["sensorElementList"][0],
            "sensorReport": [dict(report[0], type="gs1:Temperature"), *report[1:]],
        }
    ]
    curie = dict(REF2, bizStep="cbv:BizStep-inspecting")
    # The generator expands a CURIE value only with a prefix the document itself declares
    # (docs/epcis-hash.md, deviation 6); declared, the three forms hash alike.
    declared = [CTX, {"gs1": "https://gs1.org/voc/", "cbv": "https://ref.gs1.org/cbv/"}]
    base = event_hash_id(REF2, context=declared)
    assert event_hash_id(expanded, context=declared) == base
    assert event_hash_id(curie, context=declared) == base
    assert event_hash_id(curie, context=[CTX]) != event_hash_id(REF2, context=[CTX])
    # Another prefix bound to the same namespace gives the same extension keys.
    other_prefix = {
        ("ex2:" + k.split(":", 1)[1] if k.startswith("example:") else k): v for k, v in REF3.items()
    }
    other_prefix["readPoint"] = {"id": REF3["readPoint"]["id"], "ex2:myField1": "AB-12"}
    assert event_hash_id(other_prefix, context=[CTX, {"ex2": "https://ns.example.com/epcis/"}]) == (
        event_hash_id(REF3, context=[CTX, EXAMPLE_NS])
    )


MUTATIONS = [
    ("eventTime", "2020-03-04T11:00:30.001+01:00"),
    ("eventTimeZoneOffset", "+02:00"),
    ("action", "ADD"),
    ("bizStep", "shipping"),
    ("disposition", "in_progress"),
    ("readPoint", {"id": "urn:epc:id:sgln:4012345.00011.1"}),
    ("epcList", ["urn:epc:id:sgtin:0614141.011111.988"]),
    ("example:userExt", "CD-35"),
    ("example:added", "x"),
    ("sourceList", [{"type": "possessing_party", "source": "urn:epc:id:pgln:4012345.00000"}]),
]


@pytest.mark.parametrize(("key", "value"), MUTATIONS)
def test_hash_changes_on_meaningful_change(key: str, value: object) -> None:
    ctx = [CTX, EXAMPLE_NS]
    assert event_hash_id(dict(REF3, **{key: value}), context=ctx) != event_hash_id(
        REF3, context=ctx
    )


def test_hash_ignores_event_id_and_record_time() -> None:
    ctx = [CTX, EXAMPLE_NS]
    changed = dict(
        REF1,
        eventID="urn:uuid:00000000-0000-0000-0000-000000000000",
        recordTime="2030-01-01T00:00:00Z",
    )
    assert event_hash_id(changed, context=ctx) == event_hash_id(REF1, context=ctx)
