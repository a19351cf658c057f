"""Every CBV 2.0 hash ID the project computes equals GS1's reference generator's.

The reference is the generator itself (PyPI ``epcis-event-hash-generator`` 1.9.3, a pinned test
dependency, run in process by ``gs1_reference``): the GS1 EPCIS examples, every builder, and
hypothesis-generated events of all five types covering every member of the canonical order,
sensor elements, ILMD, certificationInfo, source/destination lists and user extensions at every
nesting level. The valid documents on which the generator raises are tested on their own at the
end: there the CBV 2.0 text decides (docs/epcis-hash.md).
"""

from __future__ import annotations

import copy
import json
from datetime import UTC, date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from epcis_event_hash_generator import hash_generator, json_to_py
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pyld import jsonld

from traceability.epcis import (
    LotQuantity,
    TemperatureReading,
    cold_chain_event,
    commissioning_event,
    error_declaration,
    event_prehash,
    hash_events_in_document,
    inspection_event,
    processing_event,
    recall_event,
    receiving_event,
    serialize_document,
    shipping_event,
)
from traceability.epcis.errors import EventHashError
from traceability.epcis.hash_input import vocabulary_values
from traceability.epcis.hashing import (
    HASH_RULES_VERSION,
    canonical_value,
    document_prehashes,
    prehashes_in_document,
)

from .epcis_strategies import CONTEXT, document, event, identifier, value_text
from .gs1_reference import GeneratorFailed, reference_hash_ids, reference_prehashes

EXAMPLES = Path(__file__).resolve().parent / "fixtures" / "gs1-epcis-examples"
CST = timezone(timedelta(hours=8))
T0 = datetime(2025, 10, 1, 8, 30, tzinfo=CST)
GTIN, LOT = "06901234500011", "R2025-10A"
GLN, GLN2 = "6901234000313", "6901234000115"


def _as_document(data: dict[str, Any]) -> dict[str, Any]:
    """A standalone GS1 example event as the one-event document the generator reads."""
    if data.get("type") == "EPCISDocument":
        return data
    event = {k: v for k, v in data.items() if k != "@context"}
    return {
        "@context": data["@context"],
        "type": "EPCISDocument",
        "epcisBody": {"eventList": [event]},
    }


def assert_same_as_generator(doc: dict[str, Any]) -> None:
    """Our pre-hash strings and hash IDs equal the generator's, event by event."""
    assert document_prehashes(doc) == reference_prehashes(doc)
    assert hash_events_in_document(doc) == reference_hash_ids(doc)


def test_rules_version_is_the_generator_matching_one() -> None:
    assert HASH_RULES_VERSION == 2


@pytest.mark.parametrize("path", sorted(EXAMPLES.iterdir()), ids=lambda p: p.name)
def test_gs1_examples_hash_as_the_generator(path: Path) -> None:
    doc = _as_document(json.loads(path.read_text("utf-8")))
    assert_same_as_generator(doc)
    # A standalone event file hashes as its one-event document.
    assert prehashes_in_document(path) == reference_prehashes(doc)


def _builder_events() -> dict[str, Any]:
    reading = [TemperatureReading(T0 + timedelta(hours=i), c) for i, c in enumerate((2.1, 6.2, 3))]
    shipped = shipping_event(
        gtin14=GTIN, lot=LOT, quantity=1000, event_time=T0, location=GLN,
        from_gln=GLN, to_gln=GLN2, purchase_order="urn:tuanchain:deal:7",
    )  # fmt: skip
    return {
        "commissioning": commissioning_event(
            gtin14=GTIN,
            lot=LOT,
            quantity=5000.0,
            event_time=T0,
            location=GLN,
            origin_country="cn",
            producer=GLN,
            harvest_date=date(2025, 9, 27),
            production_date=date(2025, 9, 30),
            certifications=["GB/T 19266", "绿色食品 LB-18"],
        ),
        "commissioning_named_producer": commissioning_event(
            gtin14=GTIN,
            lot=LOT,
            quantity=1,
            uom="EA",
            event_time=T0,
            location=GLN,
            producer="王家农场",
        ),
        "processing": processing_event(
            inputs=[LotQuantity("06901234500103", "PADDY-2510", 7000)],
            outputs=[LotQuantity(GTIN, LOT, 5000), LotQuantity("06901234500028", "BRAN-1", 12.5)],
            event_time=T0,
            location=GLN,
            transformation_id="urn:uuid:7c9e6679-7425-40de-944b-e07fc1f90ae7",
            output_ilmd={"cbvmda:bestBeforeDate": "2026-10-01", "tuan:grade": "一级"},
        ),
        "inspection": inspection_event(
            gtin14=GTIN,
            lot=LOT,
            event_time=T0,
            location=GLN,
            passed=False,
            certification_info=["ipfs://bafkreicert1", "ipfs://bafkreicert2"],
        ),
        "shipping": shipped,
        "receiving": receiving_event(
            gtin14=GTIN,
            lot=LOT,
            quantity=40,
            event_time=T0,
            pickup_point=GLN2,
            from_gln=GLN,
            to_gln=GLN2,
            purchase_order="urn:tuanchain:deal:7",
        ),
        "cold_chain": cold_chain_event(
            gtin14=GTIN,
            lot=LOT,
            event_time=T0,
            location=GLN,
            readings=reading,
            min_c=0,
            max_c=4,
            device_id="urn:epc:id:giai:6901234.T42",
        ),
        "recall": recall_event(
            gtin14=GTIN, lot=LOT, event_time=T0, location=GLN, reason_uri="ipfs://bafkreireason"
        ),
        "error_declaration": error_declaration(
            shipped,
            declaration_time=T0 + timedelta(days=1),
            corrective_event_ids=["ni:///sha-256;00?ver=CBV2.0"],
        ),
    }


@pytest.mark.parametrize("name", sorted(_builder_events()))
def test_every_builder_hashes_as_the_generator(name: str) -> None:
    event = _builder_events()[name]
    doc = serialize_document([event], creation_date=T0)
    assert_same_as_generator(doc)
    # The model path (what the demo seed and the API anchor) gives the same pre-hash.
    assert event_prehash(event) == reference_prehashes(doc)[0]


def test_an_uploaded_event_keeps_its_context_in_the_hash() -> None:
    """An event posted with its own @context keeps it inside the stored document; the generator
    hashes that member like an extension (docs/epcis-hash.md), and so does the project."""
    from traceability.epcis import parse_event

    raw = {"@context": CONTEXT, **_builder_events()["shipping"].to_json()}
    doc = serialize_document([parse_event(raw)], creation_date=T0)
    assert doc["epcisBody"]["eventList"][0]["@context"] == CONTEXT
    assert_same_as_generator(doc)
    assert (
        "@context=https://ref.gs1.org/standards/epcis/2.0.0/epcis-context.jsonld"
        in (document_prehashes(doc)[0])
    )


SETTINGS = settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@SETTINGS
@given(st.lists(event(), min_size=1, max_size=2))
def test_generated_documents_hash_as_the_generator(events: list[dict[str, Any]]) -> None:
    """All five types, every canonical member, extensions at every level, in any key order."""
    assert_same_as_generator(document(*events))


@SETTINGS
@given(value_text | identifier)
def test_values_are_canonicalised_as_the_generator(value: str) -> None:
    assert canonical_value(value) == hash_generator._canonize_value(value)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(event(), min_size=1, max_size=2))
def test_vocabulary_values_are_those_of_json_ld_expansion(events: list[dict[str, Any]]) -> None:
    """The bare-vocabulary set, computed without a JSON-LD processor, is PyLD's expansion's."""
    doc = document(*events)
    expanded: list[str] = []
    json_to_py._find_expanded_values(jsonld.expand(copy.deepcopy(doc)), expanded)
    roots = ("https://ref.gs1.org/cbv", "https://gs1.org/voc")
    assert vocabulary_values(doc) == {v for v in expanded if v.startswith(roots)}


# ------------------------------------------------- valid documents the generator raises on


def _one(event: dict[str, Any]) -> dict[str, Any]:
    base = {
        "type": "ObjectEvent",
        "eventTime": "2025-10-01T08:30:00.000+08:00",
        "eventTimeZoneOffset": "+08:00",
        "action": "OBSERVE",
        "epcList": ["urn:epc:id:sgtin:4012345.011111.9876"],
    }
    return document({**base, **event})


def test_untyped_business_transaction_follows_the_cbv_text() -> None:
    """bizTransaction's type is optional (EPCIS 2.0 7.3.5.3); the generator raises IndexError
    and drops the event. CBV rule 13 adds a type only when there is one."""
    doc = _one({"bizTransactionList": [{"bizTransaction": "urn:tuanchain:deal:1"}]})
    with pytest.raises(GeneratorFailed):
        reference_prehashes(doc)
    assert document_prehashes(doc)[0].endswith(
        "bizTransactionListbizTransaction=urn:tuanchain:deal:1"
    )
    typed = _one({"bizTransactionList": [{"type": "po", "bizTransaction": "urn:tuanchain:deal:1"}]})
    assert hash_events_in_document(doc) != hash_events_in_document(typed)


def test_time_rounding_into_the_next_second_follows_the_cbv_text() -> None:
    """.9995 s rounds to the next second (CBV rule 9); the generator's round() reaches
    1,000,000 µs and raises ValueError."""
    doc = _one({"eventTime": "2025-10-01T08:30:59.9996+08:00"})
    with pytest.raises(GeneratorFailed):
        reference_prehashes(doc)
    assert "eventTime=2025-10-01T00:31:00.000Z" in document_prehashes(doc)[0]


def test_infinite_number_text_is_kept_as_written() -> None:
    """A string value "Infinity" (here an extension) parses as a float; the generator's int()
    overflows and it raises. CBV rule 6 is about trailing zeros only: the value stays."""
    doc = _one({"ex:limit": "Infinity"})
    with pytest.raises(GeneratorFailed):
        reference_prehashes(doc)
    assert "{https://ns.example.com/epcis/}limit=Infinity" in document_prehashes(doc)[0]


def test_unresolvable_context_is_refused_with_a_clear_error() -> None:
    """A remote context other than EPCIS's would make the hash depend on a download."""
    doc = _one({})
    doc["@context"] = ["https://example.com/other-context.jsonld"]
    with pytest.raises(EventHashError, match="cannot be resolved offline"):
        hash_events_in_document(doc)


def test_redefining_a_protected_epcis_term_is_refused() -> None:
    """JSON-LD 1.1 forbids it (PyLD, hence the generator, raises); so does the hash."""
    doc = _one({})
    doc["@context"] = [CONTEXT[0], {"gs1": "https://ref.gs1.org/voc/"}]
    with pytest.raises(Exception):  # noqa: B017 - PyLD's JsonLdError
        reference_prehashes(doc)
    with pytest.raises(EventHashError, match="protected"):
        hash_events_in_document(doc)


def test_time_zone_of_the_machine_does_not_matter() -> None:
    """EPCIS timestamps carry an offset; the hash reads them in UTC whatever the zone."""
    doc = _one({"eventTime": datetime(2025, 10, 1, tzinfo=UTC).isoformat()})
    assert "eventTime=2025-10-01T00:00:00.000Z" in document_prehashes(doc)[0]
