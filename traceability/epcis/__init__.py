"""GS1 EPCIS 2.0 events for tuanchain: models, builders, JSON-LD documents, CBV 2.0 hash IDs."""

from traceability.epcis.builders import (
    LotQuantity,
    TemperatureReading,
    cold_chain_event,
    commissioning_event,
    error_declaration,
    inspection_event,
    processing_event,
    recall_event,
    receiving_event,
    shipping_event,
)
from traceability.epcis.coldchain import Breach, ColdChainReport, evaluate_cold_chain
from traceability.epcis.document import (
    dumps_document,
    make_document,
    parse_document,
    parse_epcis,
    parse_event,
    serialize_document,
    validate_json,
)
from traceability.epcis.errors import (
    EpcisError,
    EventHashError,
    InvalidEpcisDocument,
    InvalidIdentifier,
)
from traceability.epcis.hashing import (
    digest_from_hash_id,
    event_hash_digest,
    event_hash_id,
    event_prehash,
    hash_events_in_document,
    hash_id_of_digest,
)
from traceability.epcis.models import (
    EpcisDocument,
    EpcisEvent,
    ObjectEvent,
    TransformationEvent,
)

__all__ = [
    "Breach",
    "ColdChainReport",
    "EpcisDocument",
    "EpcisError",
    "EpcisEvent",
    "EventHashError",
    "InvalidEpcisDocument",
    "InvalidIdentifier",
    "LotQuantity",
    "ObjectEvent",
    "TemperatureReading",
    "TransformationEvent",
    "cold_chain_event",
    "commissioning_event",
    "digest_from_hash_id",
    "dumps_document",
    "error_declaration",
    "evaluate_cold_chain",
    "event_hash_digest",
    "event_hash_id",
    "event_prehash",
    "hash_events_in_document",
    "hash_id_of_digest",
    "inspection_event",
    "make_document",
    "parse_document",
    "parse_epcis",
    "parse_event",
    "processing_event",
    "recall_event",
    "receiving_event",
    "serialize_document",
    "shipping_event",
    "validate_json",
]
