"""Builders the supplier page calls before anything is signed: master data and trail events.

Each turns form fields (or an uploaded sensor CSV) into the JSON documents a supplier then signs
with an ordinary gasless action (``register_batch``, ``anchor_event``, ``anchor_root``), through
the very functions ``tuanchain supplier`` uses (:mod:`api.supplier.inputs`,
:mod:`api.supplier.masterdata`): the page and the CLI build the same documents. Nothing is
stored or signed here; a bad field is a 400 naming it (``input_error``), shown before signing.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Form, Request, UploadFile

from api.errors import error_responses
from api.ratelimit import limit_client, size_cost
from api.relayer.prepare import json_bytes
from api.routes.deps import ServicesDep
from api.schemas.supplier import EventIn, EventsOut, MasterDataIn, MasterDataOut
from api.supplier import inputs
from api.supplier.errors import InputError
from api.supplier.masterdata import lot_master_data, product_document
from traceability.ipfs import compute_cid

router = APIRouter(prefix="/v1/supplier", tags=["supplier"])

# Open to anyone, and its cost grows with the readings (see build_sensor_events): a token of the
# client's bucket (api.ratelimit) per started 20 kB, about 400 readings.
CSV_BYTES_PER_TOKEN = 20 * 1024


@router.post(
    "/master-data",
    response_model=MasterDataOut,
    responses=error_responses(400),
    summary="Product and lot master data from a form (nothing stored)",
)
def master_data(body: MasterDataIn, services: ServicesDep) -> Any:
    product = product_document(
        gtin=body.gtin14,
        name_zh=body.name_zh,
        name_en=body.name_en,
        image=f"ipfs://{body.image_cid}" if body.image_cid else None,
        specification=body.specification,
        unit=body.unit,
        origin_country=body.origin_country,
        origin_zh=body.origin_zh,
        origin_en=body.origin_en,
    )
    data = json_bytes(product)
    cid = compute_cid(data, profile=services.store.profile)
    cold = None
    if body.min_c is not None or body.max_c is not None:
        if body.min_c is None or body.max_c is None:
            raise InputError("give both ends of the cold-chain range, or neither")
        cold = (body.min_c, body.max_c)
    producer = {"zh": body.producer_zh, "en": body.producer_en or body.producer_zh}
    metadata = lot_master_data(
        product=product,
        product_cid=cid,
        lot=body.lot,
        producer=producer if producer["zh"] or producer["en"] else None,
        quantity=body.quantity,
        uom=body.uom,
        harvest_date=body.harvest_date,
        cold_chain=cold,
        places={
            body.site_gln: {"zh": body.site_zh or body.site_en, "en": body.site_en or body.site_zh}
        }
        if body.site_gln and (body.site_zh or body.site_en)
        else None,
    )
    return {
        "product": product,
        "product_json": data.decode(),
        "product_cid": cid,
        "metadata": metadata,
    }


@router.post(
    "/events",
    response_model=EventsOut,
    responses=error_responses(400),
    summary="One EPCIS event of a batch from a form (nothing stored)",
)
def build_event(body: EventIn) -> Any:
    target = inputs.batch(body.gtin14, body.lot)
    moment = inputs.parse_time(body.time, "time") if body.time else datetime.now(UTC)
    event = inputs.built_event(
        body.kind,
        target,
        event_time=moment,
        location=body.location.strip(),
        quantity=body.quantity,
        uom=body.uom,
        origin_country=body.origin_country or None,
        passed=body.passed,
        certificates=body.certificates,
        harvest_date=body.harvest_date,
    )
    return {"events": [event], "breaches": 0, "readings": 0}


@router.post(
    "/sensor-events",
    response_model=EventsOut,
    responses=error_responses(400, 413, 429),
    summary="Cold-chain events from a sensor CSV (time, device_id, type, value, unit)",
)
def build_sensor_events(
    request: Request,
    gtin14: Annotated[str, Form()],
    lot: Annotated[str, Form()],
    location: Annotated[str, Form(min_length=1)],
    min_c: Annotated[float, Form()],
    max_c: Annotated[float, Form()],
    file: UploadFile,
) -> Any:
    """Plain ``def``: FastAPI runs it in a worker thread. The events it builds are validated
    against the EPCIS schema, about 0.1 ms of CPU per reading (a full CSV: a few seconds with
    building them), which on the event loop would hold every other request of the service."""
    if not (math.isfinite(min_c) and math.isfinite(max_c)):
        raise InputError(f"the allowed range {min_c}–{max_c} °C is not finite")
    target = inputs.batch(gtin14, lot)
    raw = file.file.read(inputs.MAX_CSV_BYTES + 1)
    if len(raw) > inputs.MAX_CSV_BYTES:
        raise InputError(f"{file.filename}: larger than {inputs.MAX_CSV_BYTES} bytes")
    limit_client(request, cost=size_cost(len(raw), CSV_BYTES_PER_TOKEN))
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise InputError(f"{file.filename}: not UTF-8 text") from None
    events = inputs.sensor_events_from_text(
        text,
        file.filename or "readings.csv",
        target,
        location=location.strip(),
        min_c=min_c,
        max_c=max_c,
    )
    readings = sum(
        len(element.get("sensorReport", []))
        for event in events
        for element in event.get("sensorElementList", [])
    )
    return {
        "events": events,
        "breaches": sum(inputs.breaches(e) for e in events),
        "readings": readings,
    }
