"""GS1 CBV 2.0 EPCIS Event Hash ID: ``ni:///sha-256;<hex>?ver=CBV2.0``.

Implements the canonicalisation of CBV 2.0 section 8.9 as the GS1 reference implementation
(github.com/RalphTro/epcis-event-hash-generator, ``-v CBV2.0``) applies it to JSON/JSON-LD:

* the event becomes a tree of (name, value, children); list wrappers name their items
  (``epcList`` -> ``epc``, ``quantityList`` -> ``quantityElement``...);
* standard fields are emitted in the canonical property order, ``name=value`` pairs joined
  without separator, siblings of one name sorted by code point; fields consumed this way are
  removed from the tree;
* whatever is left (ILMD, user extensions, extensions nested in readPoint etc.) is emitted
  afterwards as ``{namespace}local=value`` strings, sorted;
* values: trimmed; timestamps in UTC at millisecond precision with ``Z``; numbers without
  trailing zeros; CBV URNs, bare CBV terms and ``cbv:``/``gs1:`` CURIEs as Web URIs; EPC
  URIs and Digital Links as constrained canonical Digital Links;
* ``eventID``, ``recordTime``, ``errorDeclaration`` and ``certificationInfo`` are excluded
  (an error declaration re-states an event, so it must keep the event's hash).

It works on any EPCIS 2.0 JSON event (a mapping), not only on this package's models.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

from traceability.epcis.errors import EventHashError, InvalidEpcisDocument
from traceability.epcis.identifiers import canonical_identifier
from traceability.epcis.vocabulary import (
    DEFAULT_CONTEXT,
    URN_VOCABULARY,
    WELL_KNOWN_PREFIXES,
    bare_vocabularies,
    expand_curie,
)

logger = logging.getLogger(__name__)

CBV_VERSION = "CBV2.0"
# Bumped whenever the rules above change any event's hash. Hashes anchored under other rules
# never match this code's: an index or a demo chain made under them is rebuilt or refused, never
# mixed with hashes of these rules (api.binding, api.demo.seed).
HASH_RULES_VERSION = 1

_EXCLUDED = {"type", "eventID", "recordTime", "errorDeclaration", "certificationInfo", "@context"}
_IGNORED_EVERYWHERE = {"#text", "rdfs:comment", "comment"}
_LIST_ITEMS = {
    "epcList": "epc",
    "inputEPCList": "epc",
    "outputEPCList": "epc",
    "childEPCs": "epc",
    "quantityList": "quantityElement",
    "childQuantityList": "quantityElement",
    "inputQuantityList": "quantityElement",
    "outputQuantityList": "quantityElement",
    "bizTransactionList": "bizTransaction",
    "sourceList": "source",
    "destinationList": "destination",
    "sensorElementList": "sensorElement",
}
# Value of the item itself for lists of typed identifiers ({"type": t, "source": s}).
_TIME_KEYS = {"eventTime", "time", "startTime", "endTime", "declarationTime"}
_NUMERIC = re.compile(r"^[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?$")
_TIMESTAMP = re.compile(
    r"^(\d{4})-(\d{2})-(\d{2})[Tt](\d{2}):(\d{2}):(\d{2})(?:\.(\d+))?([Zz]|[+-]\d{2}:\d{2})$"
)


@dataclass
class _Node:
    name: str
    value: str | None = None
    children: list[_Node] = field(default_factory=list)
    vocabulary: str | None = None  # field path whose bare terms expand (see bare_vocabularies)


@dataclass(frozen=True)
class _Order:
    name: str
    children: tuple[_Order, ...] = ()
    emit_name: bool = True


def _leaves(*names: str) -> tuple[_Order, ...]:
    return tuple(_Order(n) for n in names)


_EPCS = (_Order("epc"),)
_QUANTITY = (_Order("quantityElement", _leaves("epcClass", "quantity", "uom")),)


def _typed(item: str) -> tuple[_Order, ...]:
    # Rule 13: the type prefixes the identifier before sorting; the item name is not emitted.
    return (_Order(item, _leaves("type", item), emit_name=False),)


_SENSOR_METADATA = _leaves(
    "time",
    "startTime",
    "endTime",
    "deviceID",
    "deviceMetadata",
    "rawData",
    "dataProcessingMethod",
    "bizRules",
)
_SENSOR_REPORT = _leaves(
    "type",
    "exception",
    "deviceID",
    "deviceMetadata",
    "rawData",
    "dataProcessingMethod",
    "time",
    "microorganism",
    "chemicalSubstance",
    "value",
    "component",
    "stringValue",
    "booleanValue",
    "hexBinaryValue",
    "uriValue",
    "minValue",
    "maxValue",
    "meanValue",
    "sDev",
    "percRank",
    "percValue",
    "uom",
    "coordinateReferenceSystem",
)

# CBV 2.0 canonical property order (eventType is emitted first, ILMD and extensions last).
CANONICAL_ORDER: tuple[_Order, ...] = (
    _Order("eventTime"),
    _Order("eventTimeZoneOffset"),
    _Order("epcList", _EPCS),
    _Order("parentID"),
    _Order("inputEPCList", _EPCS),
    _Order("childEPCs", _EPCS),
    _Order("quantityList", _QUANTITY),
    _Order("childQuantityList", _QUANTITY),
    _Order("inputQuantityList", _QUANTITY),
    _Order("outputEPCList", _EPCS),
    _Order("outputQuantityList", _QUANTITY),
    _Order("action"),
    _Order("transformationID"),
    _Order("bizStep"),
    _Order("disposition"),
    _Order("persistentDisposition", _leaves("set", "unset")),
    _Order("readPoint", _leaves("id")),
    _Order("bizLocation", _leaves("id")),
    _Order("bizTransactionList", _typed("bizTransaction")),
    _Order("sourceList", _typed("source")),
    _Order("destinationList", _typed("destination")),
    # CBV 2.0 does not emit the sensorElementList wrapper name (CBV 2.1 does).
    _Order(
        "sensorElementList",
        (
            _Order(
                "sensorElement",
                (
                    _Order("sensorMetadata", _SENSOR_METADATA),
                    _Order("sensorReport", _SENSOR_REPORT),
                ),
            ),
        ),
        emit_name=False,
    ),
)


# ------------------------------------------------------------------ value canonicalisation


def canonical_timestamp(value: str) -> str:
    """``value`` (xsd:dateTimeStamp) in UTC, millisecond precision, ``Z`` suffix.

    Extra fraction digits are truncated, as the reference implementation does for CBV 2.0
    (round-half-up is a CBV 2.1 rule). Values that are not timestamps are returned unchanged.
    """
    m = _TIMESTAMP.match(value)
    if not m:
        logger.warning("value %r is labelled as a time but is not an ISO 8601 timestamp", value)
        return value
    year, month, day, hour, minute, second, fraction, offset = m.groups()
    tz = "+00:00" if offset in ("Z", "z") else offset
    micros = (fraction or "0")[:6].ljust(6, "0")
    stamp = datetime.fromisoformat(
        f"{year}-{month}-{day}T{hour}:{minute}:{second}.{micros}{tz}"
    ).astimezone(UTC)
    return stamp.strftime("%Y-%m-%dT%H:%M:%S.") + f"{stamp.microsecond // 1000:03d}Z"


def canonical_number(value: Decimal | float | str) -> str:
    """Number without trailing zeros or exponent: ``1.0`` -> ``1``, ``0.3430`` -> ``0.343``."""
    number = Decimal(str(value))
    if number == number.to_integral_value():
        return str(int(number))
    return format(number.normalize(), "f")


def canonical_value(value: str, *, vocabulary: str | None = None) -> str:
    """Canonical form of one (non-time) string value for the pre-hash string."""
    text = value.strip()
    if vocabulary and (expanded := bare_vocabularies()[vocabulary].get(text)):
        return expanded
    for urn, web in URN_VOCABULARY:
        if text.startswith(urn):
            return web + text[len(urn) :]
    text = expand_curie(text)
    if _NUMERIC.match(text):
        try:
            return canonical_number(text)
        except InvalidOperation:  # pragma: no cover - regex already guarantees a number
            return text
    return canonical_identifier(text) or text


def _scalar(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float | Decimal):
        return canonical_number(value)
    return str(value)


# ------------------------------------------------------------------ tree building


class _Namespaces:
    """Prefix -> namespace URI map from the document's and the event's ``@context``."""

    def __init__(self, *contexts: Any) -> None:
        self.prefixes = dict(WELL_KNOWN_PREFIXES)
        for context in contexts:
            parts = context if isinstance(context, list) else [context]
            for part in parts:
                if isinstance(part, Mapping):
                    self.prefixes.update(
                        {
                            k: v
                            for k, v in part.items()
                            if isinstance(v, str) and not k.startswith("@")
                        }
                    )
        self.prefixes["gs1"] = WELL_KNOWN_PREFIXES["gs1"]

    def key(self, name: str) -> str:
        prefix, sep, local = name.partition(":")
        if sep and prefix in self.prefixes and not local.startswith("//"):
            return "{" + self.prefixes[prefix] + "}" + local
        return name


def _vocabulary_for(parent: str | None, key: str) -> str | None:
    if key in ("bizStep", "disposition") and parent is None:
        return key
    if parent == "persistentDisposition" and key in ("set", "unset"):
        return "persistentDisposition"
    if key == "type" and parent in ("bizTransactionList", "sourceList", "destinationList"):
        return f"{parent}.type"
    if parent == "sensorReport" and key in ("type", "exception", "component"):
        return f"sensorReport.{key}"
    return None


def _nodes(key: str, value: Any, ns: _Namespaces, parent: str | None) -> list[_Node]:
    """Tree nodes for one JSON member (a list member yields one node per item)."""
    if value is None or key in _IGNORED_EVERYWHERE:
        return []
    if key in _LIST_ITEMS and isinstance(value, list):
        item_name = _LIST_ITEMS[key]
        items: list[_Node] = []
        for item in value:
            if isinstance(item, Mapping):
                node = _Node(item_name, None, _children(item, ns, parent=key))
            else:
                node = _Node(item_name, _scalar(item))
            items.append(node)
        return [_Node(key, None, items)]
    if isinstance(value, list):
        return [n for item in value for n in _nodes(key, item, ns, parent)]
    name = ns.key(key)
    if isinstance(value, Mapping):
        text = value.get("#text")
        return [
            _Node(name, None if text is None else _scalar(text), _children(value, ns, parent=key))
        ]
    return [_Node(name, _scalar(value), vocabulary=_vocabulary_for(parent, key))]


def _children(obj: Mapping[str, Any], ns: _Namespaces, *, parent: str | None) -> list[_Node]:
    return [n for k, v in obj.items() for n in _nodes(k, v, ns, parent)]


# ------------------------------------------------------------------ pre-hash string


def _node_text(node: _Node, key: str) -> str:
    if node.value is None or not node.value.strip():
        return ""
    if key in _TIME_KEYS:
        return "=" + canonical_timestamp(node.value.strip())
    return "=" + canonical_value(node.value, vocabulary=node.vocabulary)


def _ordered(children: list[_Node], order: Sequence[_Order]) -> str:
    """Emit ``children`` named in ``order``; consumed leaves are removed from ``children``."""
    out: list[str] = []
    for spec in order:
        strings: list[str] = []
        for child in [c for c in children if c.name == spec.name]:
            grand = _ordered(child.children, spec.children) if spec.children else ""
            text = _node_text(child, spec.name)
            if text or grand:
                strings.append((child.name if spec.emit_name else "") + text + grand)
            if not child.children:
                children.remove(child)
        out.extend(sorted(strings))
    return "".join(out)


def _remainder(children: Iterable[_Node]) -> str:
    """ILMD, user extensions and anything not in the canonical order, sorted (rules 19-21)."""
    strings = []
    for child in children:
        text = "=" + canonical_value(child.value) if child.value and child.value.strip() else ""
        strings.append(child.name + text + _remainder(child.children))
    return "".join(sorted(strings))


def event_prehash(event: Mapping[str, Any] | Any, *, context: Any = None) -> str:
    """CBV 2.0 pre-hash string of one EPCIS event.

    ``event`` is a JSON mapping or an ``EpcisEvent`` model; ``context`` is the enclosing
    document's ``@context`` (prefix declarations for extension keys). Models default to
    this package's context.
    """
    if not isinstance(event, Mapping):
        dump = getattr(event, "to_json", None)
        if dump is None:
            raise EventHashError(f"not an EPCIS event: {type(event).__name__}")
        event = dump()
        context = DEFAULT_CONTEXT if context is None else context
    event_type = event.get("type")
    if not isinstance(event_type, str) or not event_type:
        raise EventHashError("event has no 'type'")
    ns = _Namespaces(context, event.get("@context"))
    children = _children({k: v for k, v in event.items() if k not in _EXCLUDED}, ns, parent=None)
    ordered = _ordered(children, CANONICAL_ORDER)
    return f"eventType={event_type}{ordered}{_remainder(children)}"


def event_hash_digest(event: Mapping[str, Any] | Any, *, context: Any = None) -> bytes:
    """32-byte SHA-256 digest of the event's pre-hash string: the value anchored on chain."""
    return hashlib.sha256(event_prehash(event, context=context).encode("utf-8")).digest()


def event_hash_id(event: Mapping[str, Any] | Any, *, context: Any = None) -> str:
    """The event's CBV 2.0 Event Hash ID, ``ni:///sha-256;<hex>?ver=CBV2.0``."""
    return hash_id_of_digest(event_hash_digest(event, context=context))


def hash_id_of_digest(digest: bytes) -> str:
    """The CBV 2.0 Event Hash ID whose digest is ``digest`` (the inverse of
    :func:`digest_from_hash_id`): what an anchored ``eventHash`` stands for."""
    if len(digest) != 32:
        raise EventHashError(f"an event hash digest is 32 bytes, not {len(digest)}")
    return f"ni:///sha-256;{bytes(digest).hex()}?ver={CBV_VERSION}"


def digest_from_hash_id(hash_id: str) -> bytes:
    """The 32-byte digest inside a ``ni:///sha-256;...`` hash ID."""
    m = re.fullmatch(r"ni:///sha-256;([0-9a-fA-F]{64})\?ver=CBV\d+\.\d+(\.\d+)?", hash_id)
    if not m:
        raise EventHashError(f"not a CBV sha-256 event hash ID: {hash_id!r}")
    return bytes.fromhex(m.group(1))


def _event_list(doc: Mapping[str, Any]) -> list[Any]:
    body = doc.get("epcisBody")
    if doc.get("type") not in ("EPCISDocument", "EPCISQueryDocument") or not isinstance(
        body, Mapping
    ):
        return [doc]  # a bare event
    if "eventList" in body:
        return list(body["eventList"])
    results = body.get("queryResults", {}).get("resultsBody", {})
    if "eventList" in results:
        return list(results["eventList"])
    raise InvalidEpcisDocument("$.epcisBody", "no eventList")


def hash_events_in_document(doc: Mapping[str, Any] | str | bytes | Path) -> list[str]:
    """Hash ID of every event of an EPCIS document (or of a single event), in document order.

    ``doc`` is a parsed JSON mapping, JSON text/bytes, or a path to a JSON(-LD) file.
    """
    if isinstance(doc, Path):
        doc = doc.read_bytes()
    if isinstance(doc, str | bytes):
        try:
            doc = json.loads(doc)
        except json.JSONDecodeError as exc:
            raise InvalidEpcisDocument("$", f"not JSON: {exc}") from exc
    if not isinstance(doc, Mapping):
        raise InvalidEpcisDocument("$", "an EPCIS document must be a JSON object")
    context = doc.get("@context")
    return [event_hash_id(event, context=context) for event in _event_list(doc)]
