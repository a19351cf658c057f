"""GS1 CBV 2.0 EPCIS Event Hash ID: ``ni:///sha-256;<hex>?ver=CBV2.0``.

Every hash ID this project computes equals the one GS1's reference generator (PyPI
``epcis-event-hash-generator`` 1.9.3) gives for the same document, because that is the tool a
third party verifies an anchored hash with. Where the generator departs from the CBV 2.0 text
(section 8.9) this module follows the generator; ``docs/epcis-hash.md`` lists each case with its
clause, and the few valid documents on which the generator raises (then the CBV text decides).
The suite checks all of it against the generator itself.

The pre-hash string of an event is built from the tree :mod:`traceability.epcis.hash_input`
reads (the generator's JSON reading):

* ``eventType=<type>``, then the members named in :data:`CANONICAL_ORDER`, each ``name=value``
  with its ordered children; siblings of one name are sorted by code point; members consumed
  this way are removed from the tree;
* user extensions inside readPoint, bizLocation, sensorElement etc. (keys whose namespace ends
  with ``/``) follow their parent's ordered members;
* whatever is left (ILMD, event-level extensions, the bizTransaction/source/destination lists,
  an event-level ``@context``) follows, sorted, with ``eventID``, ``recordTime`` and
  ``errorDeclaration`` excluded.

It works on any EPCIS 2.0 JSON document, and on this package's event models.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
from collections.abc import Mapping, Sequence
from datetime import UTC, timedelta
from pathlib import Path
from typing import Any

from dateutil import parser as date_parser

from traceability.epcis.digital_link_reference import reference_digital_link
from traceability.epcis.errors import EventHashError, InvalidEpcisDocument
from traceability.epcis.hash_input import Node, event_trees
from traceability.epcis.vocabulary import DEFAULT_CONTEXT, URN_VOCABULARY

logger = logging.getLogger(__name__)

CBV_VERSION = "CBV2.0"
# The version of the rules this module hashes by. Anything that stores hashes (the index, the
# demo chain) records it and is rebuilt when it changes. 1: the canonicalisation before GS1's
# generator was matched; 2: identical to epcis-event-hash-generator 1.9.3.
HASH_RULES_VERSION = 2

# Order = (member name, order of its children or None).
Order = tuple[tuple[str, "Order | None"], ...]
_QUANTITY: Order = (("quantityElement", (("epcClass", None), ("quantity", None), ("uom", None))),)
_SENSOR_METADATA = ("time", "startTime", "endTime", "deviceID", "deviceMetadata", "rawData")
_SENSOR_METADATA += ("dataProcessingMethod", "bizRules")
_SENSOR_REPORT = ("type", "exception", "deviceID", "deviceMetadata", "rawData")
_SENSOR_REPORT += ("dataProcessingMethod", "time", "microorganism", "chemicalSubstance", "value")
_SENSOR_REPORT += ("component", "stringValue", "booleanValue", "hexBinaryValue", "uriValue")
_SENSOR_REPORT += ("minValue", "maxValue", "meanValue", "sDev", "percRank", "percValue", "uom")
_SENSOR_REPORT += ("coordinateReferenceSystem",)

# The generator's canonical property order. Against CBV 2.0's table it adds certificationInfo
# (third) and puts parentID before epcList. Its entries for bizTransactionList, sourceList and
# destinationList never match their (pair) items, so those lists always fall to the remainder:
# they are left out here for that reason (docs/epcis-hash.md).
CANONICAL_ORDER: Order = (
    ("eventTime", None),
    ("eventTimeZoneOffset", None),
    ("certificationInfo", None),
    ("parentID", None),
    ("epcList", (("epc", None),)),
    ("inputEPCList", (("epc", None),)),
    ("childEPCs", (("epc", None),)),
    ("quantityList", _QUANTITY),
    ("childQuantityList", _QUANTITY),
    ("inputQuantityList", _QUANTITY),
    ("outputEPCList", (("epc", None),)),
    ("outputQuantityList", _QUANTITY),
    ("action", None),
    ("transformationID", None),
    ("bizStep", None),
    ("disposition", None),
    ("persistentDisposition", (("set", None), ("unset", None))),
    ("readPoint", (("id", None),)),
    ("bizLocation", (("id", None),)),
    (
        "sensorElementList",
        (
            (
                "sensorElement",
                (
                    ("sensorMetadata", tuple((n, None) for n in _SENSOR_METADATA)),
                    ("sensorReport", tuple((n, None) for n in _SENSOR_REPORT)),
                ),
            ),
        ),
    ),
)
_NOT_HASHED = ("recordTime", "eventID", "type", "errorDeclaration")
_UNSORTED_SIBLINGS = ("bizTransaction", "source", "destination")


# ------------------------------------------------------------------ values


def canonical_timestamp(value: str) -> str:
    """A time value in UTC at millisecond precision with ``Z``, as the generator writes it.

    Any date the ``dateutil`` parser reads is accepted (so are the generator's); microseconds
    are rounded to milliseconds half-to-even (``round(us, -3)``). A value it cannot read is
    kept as it is. A timestamp without offset is read as UTC (the generator would use the
    machine's zone; EPCIS requires an offset). Where the rounding reaches the next second
    (``.9995`` and up) the generator raises; the CBV text's rounding (rule 9) carries into the
    next second, and so does this function.
    """
    try:
        moment = date_parser.parse(value)
    except (ValueError, OverflowError):
        logger.warning("value %r is labelled as a time but is not an ISO 8601 timestamp", value)
        return value
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    moment = moment.astimezone(UTC)
    micros = round(moment.microsecond, -3)
    if micros == 1_000_000:
        moment = moment.replace(microsecond=0) + timedelta(seconds=1)
    else:
        moment = moment.replace(microsecond=micros)
    return moment.isoformat(timespec="milliseconds")[:-6] + "Z"


def canonical_number(text: str) -> str:
    """A number as the generator writes it: Python's ``float``, integral values as ``int``.

    ``"1.0"`` -> ``1``, ``"0.3430"`` -> ``0.343``, ``"1e-7"`` -> ``1e-07``. Not a number:
    unchanged. ``inf`` (which makes the generator raise) is kept as written.
    """
    try:
        number = float(text)
    except ValueError:
        return text
    try:
        return str(int(number)) if int(number) == number else str(number)
    except (ValueError, OverflowError):  # nan, inf
        return text


def canonical_value(text: str) -> str:
    """Canonical form of one (non-time) value: CBV URNs as Web URIs, numbers, Digital Links."""
    for urn, web in URN_VOCABULARY:
        text = text.replace(urn, web)
    text = canonical_number(text)
    return reference_digital_link(text) or text


# ------------------------------------------------------------------ pre-hash string


def _is_time(name: str) -> bool:
    lowered = name.lower()
    return "time" in lowered and "offset" not in lowered


def _value_text(node: Node, *, timed: bool) -> str:
    text = node.text.strip() if node.text else ""
    if not text:
        return ""
    return "=" + (canonical_timestamp(text) if timed else canonical_value(text))


def _user_extensions(children: list[Any]) -> list[Node]:
    """Extensions inside a standard member (namespace ending with ``/``), taken out of it."""
    if len(children) <= 1:
        return []
    names = [c.name for c in children if isinstance(c, Node)]
    if any("eventTime" in n or "action" in n for n in names):
        return []  # the event level: its extensions go to the remainder
    found = [c for c in children if isinstance(c, Node) and "{" in c.name and "/}" in c.name]
    for extension in found:
        children.remove(extension)
    return found


def _member(node: Node, order: Order | None) -> str:
    inner = _ordered(node.children, order) if order else ""
    text = _value_text(node, timed=_is_time(node.name))
    return node.name + text + inner if text or inner else ""


def _ordered(children: list[Any], order: Order) -> str:
    """Members named in ``order``, consumed from ``children``; then the member's extensions."""
    extensions = _user_extensions(children)
    out = ""
    for name, child_order in order:
        strings = []
        for child in [c for c in children if isinstance(c, Node) and c.name == name]:
            if text := _member(child, child_order):
                strings.append(text)
            if not child.children:
                children.remove(child)
        out += "".join(sorted(strings))
    return out + _remainder(extensions) if extensions else out


def _remainder(children: Sequence[Any]) -> str:
    """Members not in the canonical order: ``name=value`` + their children, sorted."""
    strings = []
    for child in children:
        if isinstance(child, Node):
            strings.append(
                child.name + _value_text(child, timed=False) + _remainder(child.children)
            )
        else:  # a bizTransaction/source/destination pair: its members in document order
            strings.append(_remainder(child))
    names = [c.name for c in children if isinstance(c, Node)]
    if len(children) > 1 and not any(n in _UNSORTED_SIBLINGS for n in names):
        strings.sort()
    return "".join(strings)


def _tree_prehash(event: Node) -> str:
    children = event.children
    ordered = _ordered(children, CANONICAL_ORDER)
    rest = [c for c in children if c.name not in _NOT_HASHED]
    return f"eventType={event.name}{ordered}{_remainder(rest) if rest else ''}"


def document_prehashes(document: Mapping[str, Any]) -> list[str]:
    """Pre-hash string of every event of an EPCIS document, in document order."""
    return [_tree_prehash(tree) for tree in event_trees(document)]


def _one_event_document(event: Mapping[str, Any] | Any, context: Any) -> dict[str, Any]:
    if not isinstance(event, Mapping):
        dump = getattr(event, "to_json", None)
        if dump is None:
            raise EventHashError(f"not an EPCIS event: {type(event).__name__}")
        event = dump()
        context = DEFAULT_CONTEXT if context is None else context
    if not isinstance(event.get("type"), str) or not event.get("type"):
        raise EventHashError("event has no 'type'")
    document: dict[str, Any] = {"type": "EPCISDocument", "epcisBody": {"eventList": [event]}}
    if context is not None:
        document["@context"] = context
    return document


def event_prehash(event: Mapping[str, Any] | Any, *, context: Any = None) -> str:
    """CBV 2.0 pre-hash string of one EPCIS event, as in a one-event document.

    ``event`` is a JSON mapping or an ``EpcisEvent`` model; ``context`` is the enclosing
    document's ``@context``. Models default to this package's context. The generator reads
    bare vocabulary values from the whole document, so an event's hash is that of the
    one-event document it is anchored in (the project's convention).
    """
    return document_prehashes(_one_event_document(event, context))[0]


def prehash_hash_id(prehash: str) -> str:
    """The ``ni:///sha-256;…?ver=CBV2.0`` hash ID of a pre-hash string."""
    return hash_id_of_digest(hashlib.sha256(prehash.encode("utf-8")).digest())


def event_hash_digest(event: Mapping[str, Any] | Any, *, context: Any = None) -> bytes:
    """32-byte SHA-256 digest of the event's pre-hash string: the value anchored on chain."""
    return hashlib.sha256(event_prehash(event, context=context).encode("utf-8")).digest()


def event_hash_id(event: Mapping[str, Any] | Any, *, context: Any = None) -> str:
    """The event's CBV 2.0 Event Hash ID, ``ni:///sha-256;<hex>?ver=CBV2.0``."""
    return prehash_hash_id(event_prehash(event, context=context))


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


def _load(doc: Mapping[str, Any] | str | bytes | Path) -> Mapping[str, Any]:
    if isinstance(doc, Path):
        doc = doc.read_bytes()
    if isinstance(doc, str | bytes):
        try:
            doc = json.loads(doc)
        except json.JSONDecodeError as exc:
            raise InvalidEpcisDocument("$", f"not JSON: {exc}") from exc
    if not isinstance(doc, Mapping):
        raise InvalidEpcisDocument("$", "an EPCIS document must be a JSON object")
    return doc


def _as_document(doc: Mapping[str, Any]) -> Mapping[str, Any]:
    """A document whose events the hash reads; a bare event becomes a one-event document."""
    if doc.get("type") not in ("EPCISDocument", "EPCISQueryDocument"):
        # A standalone event: hashed as the one-event document its @context moves up to.
        event = {k: v for k, v in doc.items() if k != "@context"}
        return _one_event_document(event, doc.get("@context"))
    body = doc.get("epcisBody")
    if not isinstance(body, Mapping):
        raise InvalidEpcisDocument("$.epcisBody", "no epcisBody")
    if "eventList" in body or "event" in body:
        return doc
    results = body.get("queryResults", {}).get("resultsBody", {})
    if "eventList" in results:
        return {**doc, "epcisBody": {"eventList": results["eventList"]}}
    raise InvalidEpcisDocument("$.epcisBody", "no eventList")


def prehashes_in_document(doc: Mapping[str, Any] | str | bytes | Path) -> list[str]:
    """Pre-hash string of every event of a document (or of one bare event), in order."""
    return document_prehashes(_as_document(_load(doc)))


def hash_events_in_document(doc: Mapping[str, Any] | str | bytes | Path) -> list[str]:
    """Hash ID of every event of an EPCIS document (or of a single event), in document order.

    ``doc`` is a parsed JSON mapping, JSON text/bytes, or a path to a JSON(-LD) file.
    """
    return [prehash_hash_id(p) for p in prehashes_in_document(doc)]
