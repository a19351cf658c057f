"""Cold-chain compliance: temperature readings outside a batch's allowed range are breaches."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal

from traceability.epcis.models import EpcisEvent, SensorReport

logger = logging.getLogger(__name__)

_TEMPERATURE_TYPES = {
    "Temperature",
    "gs1:Temperature",
    "https://gs1.org/voc/Temperature",
    "https://ref.gs1.org/voc/Temperature",
}


@dataclass(frozen=True)
class Breach:
    """One reading beyond a limit: which bound, by how much, when and in which event."""

    event_time: datetime
    reading_time: datetime
    value_c: float
    limit_c: float
    bound: Literal["min", "max"]
    event_id: str | None


@dataclass(frozen=True)
class ColdChainReport:
    min_c: float
    max_c: float
    readings_checked: int
    breaches: list[Breach] = field(default_factory=list)

    @property
    def compliant(self) -> bool:
        return not self.breaches


def _celsius(value: float, uom: str | None) -> float | None:
    # UN/CEFACT codes the EPCIS schema allows for temperature: CEL, FAH, KEL.
    if uom in (None, "CEL"):
        return value
    if uom == "FAH":
        return (value - 32) * 5 / 9
    if uom == "KEL":
        return value - 273.15
    return None


def _values(report: SensorReport) -> list[float]:
    # An aggregated report carries observed extremes; both must stay inside the range.
    raw = [v for v in (report.value, report.minValue, report.maxValue) if v is not None]
    return [c for v in raw if (c := _celsius(v, report.uom)) is not None]


def evaluate_cold_chain(
    events: Iterable[EpcisEvent], min_c: float, max_c: float
) -> ColdChainReport:
    """Check every temperature sensor report of ``events`` against ``[min_c, max_c]`` °C."""
    checked = 0
    breaches: list[Breach] = []
    for event in events:
        for element in getattr(event, "sensorElementList", None) or []:
            meta_time = element.sensorMetadata.time if element.sensorMetadata else None
            for report in element.sensorReport:
                if report.type not in _TEMPERATURE_TYPES:
                    continue
                when = report.time or meta_time or event.eventTime
                for value in _values(report):
                    checked += 1
                    if value < min_c:
                        breaches.append(
                            Breach(event.eventTime, when, value, min_c, "min", event.eventID)
                        )
                    elif value > max_c:
                        breaches.append(
                            Breach(event.eventTime, when, value, max_c, "max", event.eventID)
                        )
    if breaches:
        logger.info(
            "cold chain: %d of %d readings outside [%s, %s] °C",
            len(breaches),
            checked,
            min_c,
            max_c,
        )
    return ColdChainReport(min_c=min_c, max_c=max_c, readings_checked=checked, breaches=breaches)
