"""Plain keyword-argument builders for the events tuanchain records.

Identifiers are written as canonical GS1 Digital Link URIs (lot: ``/01/{gtin}/10/{lot}``,
place: ``/414/{gln}``, party: ``/417/{gln}``): they need no GS1 company prefix length, are
what consumers' QR codes carry, and are already the form the CBV event hash compares.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime

from traceability.epcis.errors import InvalidIdentifier
from traceability.epcis.identifiers import (
    location_digital_link,
    lot_digital_link,
    party_digital_link,
    validate_gln,
)
from traceability.epcis.models import (
    BizTransaction,
    Destination,
    EpcisEvent,
    ErrorDeclaration,
    Location,
    ObjectEvent,
    QuantityElement,
    SensorElement,
    SensorMetadata,
    SensorReport,
    Source,
    TransformationEvent,
)
from traceability.epcis.vocabulary import TUANCHAIN_PREFIX

logger = logging.getLogger(__name__)

T = TUANCHAIN_PREFIX


@dataclass(frozen=True)
class LotQuantity:
    """An amount of one lot: the input or output of a processing step."""

    gtin14: str
    lot: str
    quantity: float
    uom: str = "KGM"

    def element(self) -> QuantityElement:
        return QuantityElement(
            epcClass=lot_digital_link(self.gtin14, self.lot), quantity=self.quantity, uom=self.uom
        )


@dataclass(frozen=True)
class TemperatureReading:
    """One cold-chain reading in degrees Celsius."""

    time: datetime
    celsius: float


def tz_offset(moment: datetime) -> str:
    """EPCIS ``eventTimeZoneOffset`` (``+08:00``) of an aware datetime."""
    offset = moment.utcoffset()
    if offset is None:
        raise InvalidIdentifier(str(moment), "event time must be timezone-aware")
    minutes = int(offset.total_seconds() // 60)
    sign = "+" if minutes >= 0 else "-"
    return f"{sign}{abs(minutes) // 60:02d}:{abs(minutes) % 60:02d}"


def _place(location: str) -> Location:
    # A bare GLN becomes its Digital Link; any URI (SGLN URN, geo:, DL) is used as given.
    return Location(id=location_digital_link(location) if location.isdigit() else location)


def _when(event_time: datetime) -> dict[str, object]:
    return {"eventTime": event_time, "eventTimeZoneOffset": tz_offset(event_time)}


def commissioning_event(
    *,
    gtin14: str,
    lot: str,
    quantity: float,
    event_time: datetime,
    location: str,
    uom: str = "KGM",
    origin_country: str | None = None,
    producer: str | None = None,
    harvest_date: date | None = None,
    production_date: date | None = None,
    certifications: Sequence[str] = (),
) -> ObjectEvent:
    """ObjectEvent ADD / commissioning of a lot, with its lot master data in ILMD.

    ``origin_country`` is ISO 3166-1 alpha-2 (``cbvmda:countryOfOrigin``); ``producer`` a
    GLN (written as a PGLN Digital Link) or a name; certifications are URIs or references.
    """
    ilmd: dict[str, object] = {}
    if origin_country:
        ilmd["cbvmda:countryOfOrigin"] = origin_country.upper()
    if harvest_date:
        ilmd["cbvmda:harvestStartDate"] = harvest_date.isoformat()
    if production_date:
        ilmd[f"{T}:productionDate"] = production_date.isoformat()
    if producer:
        is_gln = producer.isdigit() and len(producer) == 13
        ilmd[f"{T}:producer"] = party_digital_link(validate_gln(producer)) if is_gln else producer
    if certifications:
        ilmd[f"{T}:certification"] = list(certifications)
    return ObjectEvent(
        **_when(event_time),
        action="ADD",
        bizStep="commissioning",
        disposition="active",
        quantityList=[LotQuantity(gtin14, lot, quantity, uom).element()],
        readPoint=_place(location),
        bizLocation=_place(location),
        ilmd=ilmd or None,
    )


def processing_event(
    *,
    inputs: Sequence[LotQuantity],
    outputs: Sequence[LotQuantity],
    event_time: datetime,
    location: str,
    transformation_id: str | None = None,
    output_ilmd: dict[str, object] | None = None,
) -> TransformationEvent:
    """TransformationEvent turning input lots into output lots (washing, packing, cutting)."""
    return TransformationEvent(
        **_when(event_time),
        bizStep="commissioning",
        disposition="active",
        inputQuantityList=[i.element() for i in inputs],
        outputQuantityList=[o.element() for o in outputs],
        transformationID=transformation_id,
        readPoint=_place(location),
        bizLocation=_place(location),
        ilmd=output_ilmd,
    )


def _transfer(
    *,
    biz_step: str,
    disposition: str,
    gtin14: str,
    lot: str,
    quantity: float,
    uom: str,
    event_time: datetime,
    location: str,
    from_gln: str | None,
    to_gln: str | None,
    purchase_order: str | None,
    biz_location: bool,
) -> ObjectEvent:
    sources = (
        [Source(type="owning_party", source=party_digital_link(from_gln))] if from_gln else None
    )
    dests = (
        [Destination(type="owning_party", destination=party_digital_link(to_gln))]
        if to_gln
        else None
    )
    return ObjectEvent(
        **_when(event_time),
        action="OBSERVE",
        bizStep=biz_step,
        disposition=disposition,
        quantityList=[LotQuantity(gtin14, lot, quantity, uom).element()],
        readPoint=_place(location),
        bizLocation=_place(location) if biz_location else None,
        sourceList=sources,
        destinationList=dests,
        bizTransactionList=[BizTransaction(type="po", bizTransaction=purchase_order)]
        if purchase_order
        else None,
    )


def shipping_event(
    *,
    gtin14: str,
    lot: str,
    quantity: float,
    event_time: datetime,
    location: str,
    uom: str = "KGM",
    from_gln: str | None = None,
    to_gln: str | None = None,
    purchase_order: str | None = None,
) -> ObjectEvent:
    """ObjectEvent OBSERVE / shipping, in_transit, from the supplier's dock ``location``."""
    return _transfer(
        biz_step="shipping",
        disposition="in_transit",
        gtin14=gtin14,
        lot=lot,
        quantity=quantity,
        uom=uom,
        event_time=event_time,
        location=location,
        from_gln=from_gln,
        to_gln=to_gln,
        purchase_order=purchase_order,
        biz_location=False,
    )


def receiving_event(
    *,
    gtin14: str,
    lot: str,
    quantity: float,
    event_time: datetime,
    pickup_point: str,
    uom: str = "KGM",
    from_gln: str | None = None,
    to_gln: str | None = None,
    purchase_order: str | None = None,
) -> ObjectEvent:
    """ObjectEvent OBSERVE / receiving at the group leader's pickup point (readPoint and bizLocation)."""
    return _transfer(
        biz_step="receiving",
        disposition="in_progress",
        gtin14=gtin14,
        lot=lot,
        quantity=quantity,
        uom=uom,
        event_time=event_time,
        location=pickup_point,
        from_gln=from_gln,
        to_gln=to_gln,
        purchase_order=purchase_order,
        biz_location=True,
    )


def inspection_event(
    *,
    gtin14: str,
    lot: str,
    event_time: datetime,
    location: str,
    passed: bool,
    certification_info: Sequence[str] = (),
) -> ObjectEvent:
    """ObjectEvent OBSERVE / inspecting, conformant or non_conformant, with certificate URIs."""
    return ObjectEvent(
        **_when(event_time),
        action="OBSERVE",
        bizStep="inspecting",
        disposition="conformant" if passed else "non_conformant",
        quantityList=[QuantityElement(epcClass=lot_digital_link(gtin14, lot))],
        readPoint=_place(location),
        certificationInfo=list(certification_info) or None,
    )


def cold_chain_event(
    *,
    gtin14: str,
    lot: str,
    event_time: datetime,
    location: str,
    readings: Sequence[TemperatureReading],
    min_c: float,
    max_c: float,
    device_id: str | None = None,
) -> ObjectEvent:
    """ObjectEvent OBSERVE / sensor_reporting with one gs1:Temperature report (CEL) per reading.

    The batch's allowed range goes in the sensorMetadata extension ``tuan:minAllowedValue`` /
    ``tuan:maxAllowedValue``: the standard sensorReport ``minValue``/``maxValue`` mean the
    observed extremes of an aggregated reading, not a limit. A reading outside the range
    carries the standard ``exception: ALARM_CONDITION``.
    """
    elements = []
    for reading in readings:
        alarm = not (min_c <= reading.celsius <= max_c)
        elements.append(
            SensorElement(
                sensorMetadata=SensorMetadata.model_validate(
                    {
                        "time": reading.time,
                        "deviceID": device_id,
                        f"{T}:minAllowedValue": min_c,
                        f"{T}:maxAllowedValue": max_c,
                    }
                ),
                sensorReport=[
                    SensorReport(
                        type="Temperature",
                        value=reading.celsius,
                        uom="CEL",
                        exception="ALARM_CONDITION" if alarm else None,
                    )
                ],
            )
        )
    return ObjectEvent(
        **_when(event_time),
        action="OBSERVE",
        bizStep="sensor_reporting",
        quantityList=[QuantityElement(epcClass=lot_digital_link(gtin14, lot))],
        readPoint=_place(location),
        sensorElementList=elements,
    )


def recall_event(
    *,
    gtin14: str,
    lot: str,
    event_time: datetime,
    location: str,
    reason_uri: str | None = None,
) -> ObjectEvent:
    """ObjectEvent OBSERVE / holding with disposition ``recalled`` (reason document in a bizTransaction-free extension)."""
    return ObjectEvent.model_validate(
        {
            **_when(event_time),
            "action": "OBSERVE",
            "bizStep": "holding",
            "disposition": "recalled",
            "quantityList": [{"epcClass": lot_digital_link(gtin14, lot)}],
            "readPoint": _place(location),
            **({f"{T}:recallReason": reason_uri} if reason_uri else {}),
        }
    )


def error_declaration(
    event: EpcisEvent,
    *,
    declaration_time: datetime,
    reason: str = "incorrect_data",
    corrective_event_ids: Sequence[str] = (),
) -> EpcisEvent:
    """The EPCIS error declaration of ``event``: the same event with ``errorDeclaration`` added.

    Its CBV hash equals the original event's (errorDeclaration is excluded from the hash), so
    the chain links the declaration to what it retracts.
    """
    return event.model_copy(
        update={
            "errorDeclaration": ErrorDeclaration(
                declarationTime=declaration_time,
                reason=reason,
                correctiveEventIDs=list(corrective_event_ids) or None,
            )
        }
    )
