"""EPCIS documents: schema validation, GS1 examples, errors, builders round trip, cold chain."""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, date, datetime, timedelta, timezone
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from traceability.epcis import (
    InvalidEpcisDocument,
    InvalidIdentifier,
    LotQuantity,
    TemperatureReading,
    cold_chain_event,
    commissioning_event,
    error_declaration,
    evaluate_cold_chain,
    hash_events_in_document,
    inspection_event,
    parse_document,
    parse_epcis,
    processing_event,
    recall_event,
    receiving_event,
    serialize_document,
    shipping_event,
    validate_json,
)
from traceability.epcis.document import epcis_schema
from traceability.epcis.vocabulary import epcis_context

# The GS1 EPCIS 2.0 examples, copied verbatim from the standard.
EXAMPLES = Path(__file__).resolve().parent / "fixtures" / "gs1-epcis-examples"
GTIN = "09521234543213"
GLN = "9521234000006"
TZ8 = timezone(timedelta(hours=8))
T0 = datetime(2024, 5, 1, 8, 0, tzinfo=TZ8)


def test_shipped_schema_and_context_are_the_official_ones() -> None:
    """The packaged copies are byte-identical to GS1's files (SHA-256 of the official downloads)."""
    schema_dir = Path(__file__).resolve().parents[2] / "traceability" / "epcis" / "schema"
    official = {
        "EPCIS-JSON-Schema.json": "ed3228d7867198b4a5be9748fe77f473457c6ed98224fab28a950b4ce634a041",
        "epcis-context.jsonld": "14b10c9d3e92d35f577bfc610fe5ec15aa2941124987919389d7cd9998516861",
    }
    for name, digest in official.items():
        assert hashlib.sha256((schema_dir / name).read_bytes()).hexdigest() == digest
    assert epcis_schema() == json.loads((schema_dir / "EPCIS-JSON-Schema.json").read_text())
    assert (
        epcis_context() == json.loads((schema_dir / "epcis-context.jsonld").read_text())["@context"]
    )


@pytest.mark.parametrize("path", sorted((EXAMPLES).iterdir()), ids=lambda p: p.name)
def test_every_gs1_example_is_valid_and_round_trips(path: Path) -> None:
    # All 11 GS1 examples copied from the standard are schema-valid (none is itself invalid).
    raw = json.loads(path.read_text())
    parsed = parse_epcis(raw)
    again = parsed.model_dump(mode="json", by_alias=True, exclude_none=True)
    validate_json(again)
    assert hash_events_in_document(again) == hash_events_in_document(raw)


def _all_events() -> list:
    return [
        commissioning_event(
            gtin14=GTIN,
            lot="LOT-42",
            quantity=100,
            event_time=T0,
            location=GLN,
            origin_country="cn",
            producer=GLN,
            harvest_date=date(2024, 4, 30),
            certifications=["https://cert.example/organic/1"],
        ),
        processing_event(
            inputs=[LotQuantity(GTIN, "LOT-42", 100)],
            outputs=[LotQuantity(GTIN, "LOT-43", 90)],
            event_time=T0,
            location=GLN,
        ),
        shipping_event(
            gtin14=GTIN,
            lot="LOT-42",
            quantity=10,
            event_time=T0,
            location=GLN,
            from_gln=GLN,
            to_gln=GLN,
            purchase_order="urn:uuid:6f1a0f64-1c3c-4d2b-9e57-1b0c3c1d9f10",
        ),
        receiving_event(gtin14=GTIN, lot="LOT-42", quantity=10, event_time=T0, pickup_point=GLN),
        inspection_event(
            gtin14=GTIN,
            lot="LOT-42",
            event_time=T0,
            location=GLN,
            passed=True,
            certification_info=["https://cert.example/lab/7"],
        ),
        cold_chain_event(
            gtin14=GTIN,
            lot="LOT-42",
            event_time=T0,
            location=GLN,
            min_c=0,
            max_c=8,
            readings=[
                TemperatureReading(T0, 3.5),
                TemperatureReading(T0 + timedelta(hours=1), 9.25),
            ],
            device_id="urn:epc:id:giai:4000001.111",
        ),
        recall_event(
            gtin14=GTIN,
            lot="LOT-42",
            event_time=T0,
            location=GLN,
            reason_uri="ipfs://bafkreiexample",
        ),
    ]


def test_builders_produce_schema_valid_documents_that_round_trip() -> None:
    events = _all_events()
    events.append(
        error_declaration(events[2], declaration_time=T0, corrective_event_ids=["urn:uuid:1"])
    )
    doc = serialize_document(events, creation_date=T0)
    assert doc["schemaVersion"] == "2.0" and doc["type"] == "EPCISDocument"
    assert parse_document(doc).events == events
    hashes = hash_events_in_document(doc)
    assert hashes == [e.hash_id() for e in events]
    assert hashes[2] == hashes[-1]  # the error declaration names the event it corrects


def test_receiving_is_at_the_pickup_point() -> None:
    event = receiving_event(gtin14=GTIN, lot="L1", quantity=1, event_time=T0, pickup_point=GLN)
    assert event.bizStep == "receiving"
    assert event.readPoint.id == event.bizLocation.id == f"https://id.gs1.org/414/{GLN}"


@pytest.mark.parametrize(
    ("mutate", "path"),
    [
        (lambda d: d.pop("creationDate"), "$"),
        (
            lambda d: d["epcisBody"]["eventList"][0].__setitem__("eventTime", "yesterday"),
            "$.epcisBody.eventList[0].eventTime",
        ),
        (
            lambda d: d["epcisBody"]["eventList"][0].__setitem__("action", "MOVE"),
            "$.epcisBody.eventList[0].action",
        ),
        (
            lambda d: d["epcisBody"]["eventList"][0]["quantityList"][0].__setitem__("uom", "kilo"),
            "$.epcisBody.eventList[0].quantityList[0].uom",
        ),
    ],
)
def test_invalid_documents_raise_with_json_path(mutate, path: str) -> None:
    doc = serialize_document(_all_events()[:1], creation_date=T0)
    mutate(doc)
    with pytest.raises(InvalidEpcisDocument) as info:
        parse_document(doc)
    assert info.value.path == path
    assert info.value.reason


@pytest.mark.parametrize("value", [float("nan"), float("inf"), float("-inf")])
def test_nan_and_infinity_are_refused_with_their_path(value: float) -> None:
    """Python's json reads and writes NaN and Infinity; no JSON parser elsewhere does, so a
    document anchored with one could be verified by nobody (and its quantity means nothing)."""
    doc = serialize_document(_all_events()[:1], creation_date=T0)
    doc["epcisBody"]["eventList"][0]["quantityList"][0]["quantity"] = value
    for parse in (parse_document, lambda d: parse_document(json.dumps(d))):
        with pytest.raises(InvalidEpcisDocument) as info:
            parse(doc)
        assert info.value.path == "$.epcisBody.eventList[0].quantityList[0].quantity"
        assert "not a JSON number" in info.value.reason


def test_not_json_is_invalid() -> None:
    with pytest.raises(InvalidEpcisDocument) as info:
        parse_document("{not json")
    assert info.value.path == "$"


def test_bad_identifiers_are_refused() -> None:
    with pytest.raises(InvalidIdentifier):
        shipping_event(gtin14="09521234543214", lot="L", quantity=1, event_time=T0, location=GLN)
    with pytest.raises(InvalidIdentifier):
        shipping_event(gtin14=GTIN, lot="lot with spaces", quantity=1, event_time=T0, location=GLN)
    with pytest.raises(InvalidIdentifier):
        shipping_event(
            gtin14=GTIN, lot="L", quantity=1, event_time=datetime(2024, 1, 1), location=GLN
        )


# ------------------------------------------------------------------ property-based

lots = st.text(alphabet="ABCDEFGHJKLMNPQRSTUVWXYZ0123456789-._", min_size=1, max_size=20)
gtins = (
    st.text(alphabet="0123456789", min_size=13, max_size=13)
    .filter(lambda d: d.strip("0"))
    .map(
        lambda d: (
            d
            + str(
                (
                    10
                    - sum(int(c) * (3 if i % 2 == 0 else 1) for i, c in enumerate(reversed(d))) % 10
                )
                % 10
            )
        )
    )
)
offsets = st.integers(min_value=-12 * 4, max_value=14 * 4).map(
    lambda q: timezone(timedelta(minutes=15 * q))
)
times = st.builds(
    lambda s, tz: datetime(2020, 1, 1, tzinfo=UTC).astimezone(tz) + timedelta(milliseconds=s),
    st.integers(min_value=0, max_value=10**11),
    offsets,
)
temps = st.floats(min_value=-40, max_value=60, allow_nan=False).map(lambda x: round(x, 2))


@st.composite
def events(draw):
    gtin, lot, t = draw(gtins), draw(lots), draw(times)
    kind = draw(
        st.sampled_from(["commission", "process", "ship", "receive", "inspect", "cold", "recall"])
    )
    qty = draw(st.integers(min_value=1, max_value=10**6))
    if kind == "commission":
        return commissioning_event(
            gtin14=gtin,
            lot=lot,
            quantity=qty,
            event_time=t,
            location=GLN,
            origin_country=draw(st.sampled_from(["CN", "VN", "TH"])),
            harvest_date=draw(st.dates(min_value=date(2000, 1, 1))),
        )
    if kind == "process":
        return processing_event(
            inputs=[LotQuantity(gtin, lot, qty)],
            outputs=[LotQuantity(gtin, lot + "P"[: 20 - len(lot)] or lot, qty)],
            event_time=t,
            location=GLN,
        )
    if kind == "ship":
        return shipping_event(
            gtin14=gtin, lot=lot, quantity=qty, event_time=t, location=GLN, to_gln=GLN
        )
    if kind == "receive":
        return receiving_event(gtin14=gtin, lot=lot, quantity=qty, event_time=t, pickup_point=GLN)
    if kind == "inspect":
        return inspection_event(
            gtin14=gtin, lot=lot, event_time=t, location=GLN, passed=draw(st.booleans())
        )
    if kind == "cold":
        readings = [TemperatureReading(t, c) for c in draw(st.lists(temps, min_size=1, max_size=4))]
        return cold_chain_event(
            gtin14=gtin, lot=lot, event_time=t, location=GLN, readings=readings, min_c=0, max_c=8
        )
    return recall_event(gtin14=gtin, lot=lot, event_time=t, location=GLN)


@settings(max_examples=60, deadline=None)
@given(batch=st.lists(events(), min_size=1, max_size=3))
def test_random_events_validate_round_trip_and_hash_stably(batch) -> None:
    doc = serialize_document(batch, creation_date=T0)  # validates against the GS1 schema
    parsed = parse_document(json.dumps(doc))
    assert parsed.events == batch
    assert hash_events_in_document(doc) == [e.hash_id() for e in batch]
    utc_doc = json.loads(json.dumps(doc))
    for event in utc_doc["epcisBody"]["eventList"]:  # same instants written in UTC
        event["eventTime"] = datetime.fromisoformat(event["eventTime"]).astimezone(UTC).isoformat()
    assert hash_events_in_document(utc_doc) == hash_events_in_document(doc)


# ------------------------------------------------------------------ cold chain


def test_cold_chain_reports_each_breach_with_its_bound() -> None:
    t1 = T0 + timedelta(hours=1)
    event = cold_chain_event(
        gtin14=GTIN,
        lot="L1",
        event_time=T0,
        location=GLN,
        min_c=0,
        max_c=8,
        readings=[
            TemperatureReading(T0, 4.0),
            TemperatureReading(t1, 9.5),
            TemperatureReading(T0, -1.0),
        ],
    )
    report = evaluate_cold_chain([event], 0, 8)
    assert not report.compliant and report.readings_checked == 3
    assert [(b.bound, b.value_c, b.limit_c, b.reading_time) for b in report.breaches] == [
        ("max", 9.5, 8, t1),
        ("min", -1.0, 0, T0),
    ]
    assert evaluate_cold_chain([event], -5, 10).compliant


def test_cold_chain_reads_the_gs1_sensor_example() -> None:
    doc = parse_document(EXAMPLES / "SensorDataExample1.jsonld")
    report = evaluate_cold_chain(doc.events, 2, 8)  # the example logs ~26 °C
    assert report.readings_checked == 3 and len(report.breaches) == 3
    assert all(b.bound == "max" for b in report.breaches)


@settings(max_examples=50, deadline=None)
@given(
    values=st.lists(temps, min_size=1, max_size=8),
    low=temps,
    span=st.floats(min_value=0, max_value=30),
)
def test_cold_chain_breaches_are_exactly_out_of_range_readings(values, low, span) -> None:
    high = low + span
    event = cold_chain_event(
        gtin14=GTIN,
        lot="L1",
        event_time=T0,
        location=GLN,
        min_c=low,
        max_c=high,
        readings=[TemperatureReading(T0, v) for v in values],
    )
    report = evaluate_cold_chain([event], low, high)
    assert [b.value_c for b in report.breaches] == [v for v in values if not low <= v <= high]
    alarms = [r.exception for el in event.sensorElementList for r in el.sensorReport]
    assert alarms == [None if low <= v <= high else "ALARM_CONDITION" for v in values]
