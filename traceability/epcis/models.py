"""Typed EPCIS 2.0 event models (pydantic v2), named after their JSON-LD members.

Field names are the EPCIS JSON names so that a model dumps to the standard JSON without an
alias table; user extensions (``"tuan:producer"``, ``"example:myField"``) are kept as
pydantic extras so any conforming event round-trips. Times are timezone-aware datetimes and
are written with millisecond precision and their own offset.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, PlainSerializer

Action = Literal["ADD", "OBSERVE", "DELETE"]


def _iso_ms(value: datetime) -> str:
    return value.isoformat(timespec="milliseconds").replace("+00:00", "Z")


EpcisTime = Annotated[AwareDatetime, PlainSerializer(_iso_ms, return_type=str)]


class _Open(BaseModel):
    """Standard members typed, extension members (``prefix:name``) kept as extras."""

    model_config = ConfigDict(extra="allow", populate_by_name=True)


class QuantityElement(BaseModel):
    model_config = ConfigDict(extra="forbid")
    epcClass: str
    quantity: float | None = None
    uom: str | None = None


class Location(_Open):
    """readPoint / bizLocation: an SGLN URI or Digital Link (``/414/...``)."""

    id: str


class BizTransaction(BaseModel):
    model_config = ConfigDict(extra="forbid")
    type: str | None = None
    bizTransaction: str


class Source(BaseModel):
    model_config = ConfigDict(extra="forbid")
    type: str
    source: str


class Destination(BaseModel):
    model_config = ConfigDict(extra="forbid")
    type: str
    destination: str


class PersistentDisposition(BaseModel):
    model_config = ConfigDict(extra="forbid")
    set: list[str] | None = None
    unset: list[str] | None = None


class SensorMetadata(_Open):
    time: EpcisTime | None = None
    startTime: EpcisTime | None = None
    endTime: EpcisTime | None = None
    deviceID: str | None = None
    deviceMetadata: str | None = None
    rawData: str | None = None
    dataProcessingMethod: str | None = None
    bizRules: str | None = None


class SensorReport(_Open):
    type: str | None = None
    exception: str | None = None
    deviceID: str | None = None
    deviceMetadata: str | None = None
    rawData: str | None = None
    dataProcessingMethod: str | None = None
    time: EpcisTime | None = None
    microorganism: str | None = None
    chemicalSubstance: str | None = None
    value: float | None = None
    component: str | None = None
    stringValue: str | None = None
    booleanValue: bool | None = None
    hexBinaryValue: str | None = None
    uriValue: str | None = None
    minValue: float | None = None
    maxValue: float | None = None
    meanValue: float | None = None
    sDev: float | None = None
    percRank: float | None = None
    percValue: float | None = None
    uom: str | None = None
    coordinateReferenceSystem: str | None = None


class SensorElement(_Open):
    sensorMetadata: SensorMetadata | None = None
    sensorReport: list[SensorReport]


class ErrorDeclaration(_Open):
    declarationTime: EpcisTime
    reason: str | None = None
    correctiveEventIDs: list[str] | None = None


class EpcisEvent(_Open):
    """Members common to every EPCIS event type."""

    context: Any = Field(default=None, alias="@context")
    eventID: str | None = None
    eventTime: EpcisTime
    eventTimeZoneOffset: str
    recordTime: EpcisTime | None = None
    certificationInfo: str | list[str] | None = None
    errorDeclaration: ErrorDeclaration | None = None

    def to_json(self) -> dict[str, Any]:
        """The event as EPCIS 2.0 JSON (absent members omitted)."""
        return self.model_dump(mode="json", by_alias=True, exclude_none=True)

    def hash_id(self) -> str:
        """CBV 2.0 event hash ID (see ``traceability.epcis.hashing``)."""
        from traceability.epcis.hashing import event_hash_id

        return event_hash_id(self)


class _WhatWhereWhy(EpcisEvent):
    bizStep: str | None = None
    disposition: str | None = None
    persistentDisposition: PersistentDisposition | None = None
    readPoint: Location | None = None
    bizLocation: Location | None = None
    bizTransactionList: list[BizTransaction] | None = None
    sourceList: list[Source] | None = None
    destinationList: list[Destination] | None = None
    sensorElementList: list[SensorElement] | None = None


class ObjectEvent(_WhatWhereWhy):
    type: Literal["ObjectEvent"] = "ObjectEvent"
    action: Action
    epcList: list[str] | None = None
    quantityList: list[QuantityElement] | None = None
    ilmd: dict[str, Any] | None = None


class AggregationEvent(_WhatWhereWhy):
    type: Literal["AggregationEvent"] = "AggregationEvent"
    action: Action
    parentID: str | None = None
    childEPCs: list[str] | None = None
    childQuantityList: list[QuantityElement] | None = None


class AssociationEvent(AggregationEvent):
    type: Literal["AssociationEvent"] = "AssociationEvent"  # type: ignore[assignment]


class TransactionEvent(_WhatWhereWhy):
    type: Literal["TransactionEvent"] = "TransactionEvent"
    action: Action
    parentID: str | None = None
    epcList: list[str] | None = None
    quantityList: list[QuantityElement] | None = None


class TransformationEvent(_WhatWhereWhy):
    type: Literal["TransformationEvent"] = "TransformationEvent"
    transformationID: str | None = None
    inputEPCList: list[str] | None = None
    inputQuantityList: list[QuantityElement] | None = None
    outputEPCList: list[str] | None = None
    outputQuantityList: list[QuantityElement] | None = None
    ilmd: dict[str, Any] | None = None


Event = Annotated[
    ObjectEvent | AggregationEvent | AssociationEvent | TransactionEvent | TransformationEvent,
    Field(discriminator="type"),
]


class EpcisBody(_Open):
    eventList: list[Event] = Field(default_factory=list)


class EpcisDocument(_Open):
    """An ``EPCISDocument`` (EPCIS 2.0 section 9 / JSON binding)."""

    context: Any = Field(alias="@context")
    type: Literal["EPCISDocument"] = "EPCISDocument"
    id: str | None = None
    schemaVersion: str = "2.0"
    creationDate: EpcisTime
    epcisHeader: dict[str, Any] | None = None
    epcisBody: EpcisBody

    @property
    def events(self) -> list[EpcisEvent]:
        return list(self.epcisBody.eventList)
