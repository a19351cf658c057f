"""What a supplier's systems hand the CLI: EPCIS files, builder options, sensor CSVs.

Everything is parsed and validated here, before anything is signed or sent, and a problem is an
:class:`InputError` naming the file, the line and the field.

Sensor CSV: a header row, then one reading per line with the columns ``time`` (ISO 8601 with a
zone offset), ``device_id``, ``type`` (``Temperature``), ``value``, ``unit`` (``CEL`` or ``FAR``;
``°C``/``C``/``°F``/``F`` accepted). The readings of each device become one GS1 cold-chain
``sensor_reporting`` event (readings outside ``[min, max]`` °C carry ``ALARM_CONDITION``, as the
platform's breach check reads them). EPCIS wants a URI for a device: an id that is not one
(``T-01``) is written ``urn:tuanchain:device:T-01``.
"""

from __future__ import annotations

import csv
import io
import json
import math
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote

from eth_utils import is_address, to_checksum_address

from api.routes.documents import MAX_UPLOAD_BYTES
from api.supplier.errors import InputError
from traceability.epcis import builders
from traceability.epcis.document import parse_epcis, serialize_document
from traceability.epcis.identifiers import validate_gtin14, validate_lot
from traceability.epcis.models import EpcisDocument, EpcisEvent
from traceability.errors import TraceabilityError

EVENT_KINDS = ("commissioning", "processing", "inspecting", "shipping", "receiving")
CSV_COLUMNS = ("time", "device_id", "type", "value", "unit")
CELSIUS_UNITS = {"CEL", "C", "°C"}
FAHRENHEIT_UNITS = {"FAR", "F", "°F"}
TEMPERATURE_TYPES = {"temperature", "gs1:temperature"}
# A sensor CSV's largest size, the page's upload and the CLI's file alike: a day of one-minute
# readings from a dozen loggers fits; its events are validated reading by reading (seconds of CPU).
MAX_CSV_BYTES = 2 * 1024 * 1024


@dataclass(frozen=True)
class Batch:
    gtin14: str
    lot: str


def batch(gtin: str, lot: str) -> Batch:
    """A validated GTIN-14 (check digit) and GS1 lot."""
    try:
        return Batch(validate_gtin14(gtin), validate_lot(lot))
    except TraceabilityError as exc:
        if gtin.isdigit() and len(gtin) in (8, 12, 13):
            # The barcode's EAN-13 (or UPC-A, EAN-8): GS1 writes it as 14 digits, zeros first.
            raise InputError(
                f"{exc} (a GTIN-{len(gtin)} is written with leading zeros: {gtin.zfill(14)})"
            ) from None
        raise InputError(str(exc)) from None


def address(text: str) -> str:
    """A checksummed account address."""
    if not is_address(text):
        raise InputError(f"not an account address: {text!r}")
    return to_checksum_address(text)


def parse_time(text: str, what: str) -> datetime:
    try:
        moment = datetime.fromisoformat(text.strip())
    except ValueError:
        raise InputError(f"{what}: {text!r} is not an ISO 8601 time") from None
    if moment.tzinfo is None:
        raise InputError(f"{what}: {text!r} has no zone offset (write +08:00 or Z)")
    return moment


def event_json(event: EpcisEvent) -> dict[str, Any]:
    """One event as a standalone EPCIS 2.0 JSON-LD object (with its ``@context``)."""
    document = serialize_document([event])
    return {"@context": document["@context"], **document["epcisBody"]["eventList"][0]}


def _size(n: int) -> str:
    return f"{n / 1024 / 1024:.1f} MiB" if n >= 1024 * 1024 else f"{n} bytes"


def file_bytes(path: Path, *, limit: int | None = None, hint: str = "") -> bytes:
    """A file's bytes, refused (:class:`InputError`) when it cannot be read or is larger than
    ``limit``: said here, before anything is signed or sent, not after minutes of parsing or
    uploading a file the service refuses anyway. ``limit``: the service's upload limit."""
    limit = MAX_UPLOAD_BYTES if limit is None else limit
    try:
        with path.open("rb") as handle:
            data = handle.read(limit + 1)
            size = max(len(data), os.fstat(handle.fileno()).st_size)
    except OSError as exc:
        raise InputError(f"{path}: {exc.strerror or exc}") from None
    if len(data) > limit:
        raise InputError(f"{path}: {_size(size)}, larger than the {_size(limit)} allowed{hint}")
    return data


def json_file(path: Path) -> Any:
    """A JSON file's value; :class:`InputError` naming the file if it cannot be read or parsed."""
    try:
        text = file_bytes(path).decode("utf-8")
    except UnicodeDecodeError:
        raise InputError(f"{path}: not UTF-8 text") from None
    try:
        return json.loads(text)
    except ValueError as exc:
        raise InputError(f"{path}: not JSON: {exc}") from None


def json_object_file(path: Path, what: str) -> dict[str, Any]:
    """A JSON file holding an object (``what`` names it in the error)."""
    value = json_file(path)
    if not isinstance(value, dict):
        raise InputError(f"{path}: {what} must be a JSON object")
    return value


def events_from_file(path: Path) -> list[dict[str, Any]]:
    """The events of an EPCIS document or of a standalone event file, validated."""
    try:
        parsed = parse_epcis(json_file(path))
    except TraceabilityError as exc:
        raise InputError(f"{path}: {exc}") from None
    events = list(parsed.epcisBody.eventList) if isinstance(parsed, EpcisDocument) else [parsed]
    if not events:
        raise InputError(f"{path}: the document holds no event")
    return [event_json(event) for event in events]


def check_kind(kind: str, quantity: float | None) -> None:
    """An event kind :func:`built_event` builds, with the quantity it needs (the CLI checks it
    before it asks for the keystore's password)."""
    if kind not in EVENT_KINDS:
        raise InputError(f"unknown event kind {kind!r}: {', '.join(EVENT_KINDS)}")
    if kind != "inspecting" and quantity is None:
        raise InputError(f"{kind} needs a quantity (--quantity)")


def built_event(
    kind: str,
    target: Batch,
    *,
    event_time: datetime,
    location: str,
    quantity: float | None,
    uom: str,
    origin_country: str | None,
    passed: bool,
    certificates: Sequence[str],
    harvest_date: date | None = None,
) -> dict[str, Any]:
    """An event from the builders (:data:`EVENT_KINDS`); the CLI's options and the supplier
    page's forms both end here. Processing turns the lot into itself (washed, cut, packed: a
    TransformationEvent with the lot as input and output); receiving is at ``location``."""
    check_kind(kind, quantity)
    try:
        if kind == "commissioning":
            assert quantity is not None
            event: EpcisEvent = builders.commissioning_event(
                gtin14=target.gtin14,
                lot=target.lot,
                quantity=quantity,
                uom=uom,
                event_time=event_time,
                location=location,
                origin_country=origin_country,
                harvest_date=harvest_date,
                certifications=certificates,
            )
        elif kind == "processing":
            assert quantity is not None
            lot = builders.LotQuantity(target.gtin14, target.lot, quantity, uom)
            event = builders.processing_event(
                inputs=[lot], outputs=[lot], event_time=event_time, location=location
            )
        elif kind == "inspecting":
            event = builders.inspection_event(
                gtin14=target.gtin14,
                lot=target.lot,
                event_time=event_time,
                location=location,
                passed=passed,
                certification_info=certificates,
            )
        elif kind == "shipping":
            assert quantity is not None
            event = builders.shipping_event(
                gtin14=target.gtin14,
                lot=target.lot,
                quantity=quantity,
                uom=uom,
                event_time=event_time,
                location=location,
            )
        elif kind == "receiving":
            assert quantity is not None
            event = builders.receiving_event(
                gtin14=target.gtin14,
                lot=target.lot,
                quantity=quantity,
                uom=uom,
                event_time=event_time,
                pickup_point=location,
            )
        else:
            raise InputError(f"unknown event kind {kind!r}: {', '.join(EVENT_KINDS)}")
        return event_json(event)
    except TraceabilityError as exc:
        raise InputError(str(exc)) from None


def device_uri(device: str) -> str:
    if re.match(r"^[A-Za-z][A-Za-z0-9+.\-]*:\S+$", device):
        return device
    return "urn:tuanchain:device:" + quote(device, safe="-._~")


def _celsius(value: float, unit: str, where: str) -> float:
    unit = unit.strip()
    if unit in CELSIUS_UNITS:
        return value
    if unit in FAHRENHEIT_UNITS:
        return (value - 32) * 5 / 9
    raise InputError(f"{where}: unit {unit!r} is not a temperature unit (CEL or FAR)")


def sensor_events(
    path: Path, target: Batch, *, location: str, min_c: float, max_c: float
) -> list[dict[str, Any]]:
    """One cold-chain event per device of a sensor CSV file (see the module doc)."""
    try:
        text = file_bytes(path, limit=MAX_CSV_BYTES, hint=" (split it by day or by device)").decode(
            "utf-8"
        )
    except UnicodeDecodeError:
        raise InputError(f"{path}: not UTF-8 text") from None
    return sensor_events_from_text(
        text, str(path), target, location=location, min_c=min_c, max_c=max_c
    )


def sensor_events_from_text(
    text: str, source: str, target: Batch, *, location: str, min_c: float, max_c: float
) -> list[dict[str, Any]]:
    """The same from a CSV's text (an upload); ``source`` names it in errors."""
    path = source
    if min_c >= max_c:
        raise InputError(f"the allowed range is empty: --min {min_c} is not below --max {max_c}")
    rows = list(csv.reader(io.StringIO(text.removeprefix("\ufeff"), newline="")))
    if not rows:
        raise InputError(f"{path}: empty file")
    header = tuple(cell.strip().lower() for cell in rows[0])
    if header != CSV_COLUMNS:
        raise InputError(
            f"{path}:1: the header must be {','.join(CSV_COLUMNS)}, not {','.join(header)}"
        )
    by_device: dict[str, list[builders.TemperatureReading]] = {}
    for number, row in enumerate(rows[1:], start=2):
        where = f"{path}:{number}"
        if not any(cell.strip() for cell in row):
            continue
        if len(row) != len(CSV_COLUMNS):
            raise InputError(f"{where}: {len(row)} columns, expected {len(CSV_COLUMNS)}")
        time_text, device, kind, value_text, unit = (cell.strip() for cell in row)
        if kind.lower() not in TEMPERATURE_TYPES:
            raise InputError(f"{where}: measurement type {kind!r} is not supported (Temperature)")
        if not device:
            raise InputError(f"{where}: empty device_id")
        try:
            value = float(value_text)
        except ValueError:
            raise InputError(f"{where}: value {value_text!r} is not a number") from None
        if not math.isfinite(value):
            raise InputError(f"{where}: value {value_text!r} is not a finite number")
        reading = builders.TemperatureReading(
            time=parse_time(time_text, where), celsius=_celsius(value, unit, where)
        )
        by_device.setdefault(device, []).append(reading)
    if not by_device:
        raise InputError(f"{path}: no readings")
    events = []
    for device, readings in by_device.items():
        readings.sort(key=lambda r: r.time)
        try:
            event = builders.cold_chain_event(
                gtin14=target.gtin14,
                lot=target.lot,
                event_time=readings[-1].time,
                location=location,
                readings=readings,
                min_c=min_c,
                max_c=max_c,
                device_id=device_uri(device),
            )
        except TraceabilityError as exc:
            raise InputError(f"{path}: {exc}") from None
        events.append(event_json(event))
    return events


def breaches(event: dict[str, Any]) -> int:
    """How many readings of an event carry ``ALARM_CONDITION``."""
    return sum(
        1
        for element in event.get("sensorElementList", [])
        for report in element.get("sensorReport", [])
        if report.get("exception") == "ALARM_CONDITION"
    )
