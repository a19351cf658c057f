"""The demo batches' EPCIS events, built from the catalog and a :class:`DemoClock`.

Pure functions (no chain, no store): the same clock and certificate URIs always give the same
events, hence the same documents and event hashes, which is what lets a rerun of the seed find
everything already anchored. Each trail says which events are anchored one by one (and by whom)
and which go into the supplier's Merkle root.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from api.demo import catalog as c
from api.demo.catalog import Actor, DemoClock, Product
from traceability.epcis import (
    EpcisEvent,
    LotQuantity,
    TemperatureReading,
    cold_chain_event,
    commissioning_event,
    inspection_event,
    processing_event,
    recall_event,
    shipping_event,
)

# The pork's six readings in transit, every two hours from 13:45; the 6.2 °C one is a breach.
PORK_READINGS_C = (2.1, 2.8, 3.5, 6.2, 3.0, 2.4)


@dataclass(frozen=True)
class Trail:
    """One batch's events before delivery: anchored singly (with signer) or in a Merkle root."""

    single: list[tuple[EpcisEvent, Actor]]
    merkle: list[EpcisEvent] = field(default_factory=list)


# ---------------------------------------------------------------------------- steps


def commissioned(p: Product, clock: DemoClock, hour: int) -> EpcisEvent:
    """The harvest (or slaughter) of ``p``'s lot at its farm, on the harvest day."""
    day = clock.harvest(p)
    return commissioning_event(
        gtin14=p.gtin14,
        lot=p.lot,
        quantity=p.quantity_kg,
        event_time=clock.at(p, 0, hour),
        location=p.farm_gln,
        origin_country="CN",
        producer=p.supplier.gln,
        harvest_date=day,
        certifications=p.certifications,
    )


def processed(p: Product, when: datetime, source: LotQuantity, location: str) -> EpcisEvent:
    """``source`` (paddy, carcass) turned into ``p``'s whole lot at ``location``."""
    return processing_event(
        inputs=[source],
        outputs=[LotQuantity(p.gtin14, p.lot, p.quantity_kg)],
        event_time=when,
        location=location,
    )


def inspected(p: Product, when: datetime, certificate_uri: str) -> EpcisEvent:
    """A passed inspection at the demo inspection centre, citing the certificate document."""
    return inspection_event(
        gtin14=p.gtin14,
        lot=p.lot,
        event_time=when,
        location=c.INSPECTION_GLN,
        passed=True,
        certification_info=[certificate_uri],
    )


def shipped(p: Product, when: datetime, quantity: int, location: str, to: Actor) -> EpcisEvent:
    """``quantity`` of ``p`` leaving ``location`` for the leader ``to``."""
    return shipping_event(
        gtin14=p.gtin14,
        lot=p.lot,
        quantity=quantity,
        event_time=when,
        location=location,
        from_gln=p.supplier.gln,
        to_gln=to.gln,
    )


# ---------------------------------------------------------------------------- trails


def rice_trail(clock: DemoClock, certificate_uri: str) -> Trail:
    p, s = c.RICE, c.RICE.supplier
    paddy = LotQuantity(c.with_check("0690123450010"), "PADDY-2510", 7000)
    return Trail(
        single=[
            (commissioned(p, clock, 8), s),
            (processed(p, clock.at(p, 3, 9), paddy, c.MILL_GLN), s),
        ],
        # Inspection and shipping go into the supplier's Merkle root (with the oranges').
        merkle=[
            inspected(p, clock.at(p, 4, 15), certificate_uri),
            shipped(p, clock.at(p, 6, 7), 1000, c.MILL_GLN, c.LEADERS[0]),
        ],
    )


def pork_trail(clock: DemoClock, certificate_uri: str) -> Trail:
    """Slaughter to cold chain in one day; the carrier (a batch writer) anchors the readings."""
    p, s = c.PORK, c.PORK.supplier
    low, high = p.cold_chain or (0.0, 4.0)
    carcass = LotQuantity(c.with_check("0690123450020"), "CARCASS-1107", 1100)
    readings = [
        TemperatureReading(clock.at(p, 0, 13 + 2 * i, 45), celsius)
        for i, celsius in enumerate(PORK_READINGS_C)
    ]
    transit = cold_chain_event(
        gtin14=p.gtin14,
        lot=p.lot,
        event_time=clock.at(p, 0, 23, 50),
        location=c.CARRIER.gln,
        readings=readings,
        min_c=low,
        max_c=high,
        device_id="urn:epc:id:giai:6901234.T42",
    )
    return Trail(
        single=[
            (commissioned(p, clock, 6), s),
            (processed(p, clock.at(p, 0, 10), carcass, p.farm_gln), s),
            (inspected(p, clock.at(p, 0, 12), certificate_uri), s),
            (shipped(p, clock.at(p, 0, 13, 30), 300, p.farm_gln, c.LEADERS[1]), s),
            (transit, c.CARRIER),
        ]
    )


def orange_trail(clock: DemoClock, certificate_uri: str) -> Trail:
    p, s = c.ORANGES, c.ORANGES.supplier
    return Trail(
        single=[(commissioned(p, clock, 7), s)],
        merkle=[
            inspected(p, clock.at(p, 1, 10), certificate_uri),
            shipped(p, clock.at(p, 2, 8), 500, p.farm_gln, c.LEADERS[2]),
        ],
    )


ORANGE_RECALL_DAY = 8  # days after the oranges' harvest


def orange_recall(clock: DemoClock, reason_uri: str) -> EpcisEvent:
    """The oranges' recall (reason document at ``reason_uri``), ORANGE_RECALL_DAY after harvest."""
    p = c.ORANGES
    return recall_event(
        gtin14=p.gtin14,
        lot=p.lot,
        event_time=clock.at(p, ORANGE_RECALL_DAY, 16),
        location=p.farm_gln,
        reason_uri=reason_uri,
    )


def trails(clock: DemoClock, certificate_uris: dict[str, str]) -> dict[str, Trail]:
    """Every product's trail by product key (certificate URIs by product key too)."""
    return {
        "rice": rice_trail(clock, certificate_uris["rice"]),
        "pork": pork_trail(clock, certificate_uris["pork"]),
        "oranges": orange_trail(clock, certificate_uris["oranges"]),
    }
