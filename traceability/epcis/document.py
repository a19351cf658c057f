"""EPCIS 2.0 JSON-LD documents: build, validate against the official JSON schema, parse.

The GS1 schema is draft-07 and only uses local ``#/definitions`` references, so a
``Draft7Validator`` over the copy shipped in ``schema/`` validates fully offline; URI and
date-time formats are checked (rfc3986-validator / rfc3339-validator).

``Draft7Validator`` walks the schema anew for every value (about 1 ms per sensor reading), so
conforming data is checked by the same schema compiled to Python by fastjsonschema (several
times faster), with jsonschema's own format checks; only data it rejects goes through
``Draft7Validator``, which then gives the error. The two accept exactly the same data
(tests/traceability/test_epcis_fast_schema.py).
"""

from __future__ import annotations

import json
import logging
import math
import re
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from functools import cache, lru_cache
from pathlib import Path
from typing import Any

import fastjsonschema
import jsonschema
from jsonschema.exceptions import best_match
from pydantic import TypeAdapter, ValidationError

from traceability.epcis.errors import InvalidEpcisDocument
from traceability.epcis.models import EpcisBody, EpcisDocument, EpcisEvent, Event
from traceability.epcis.vocabulary import DEFAULT_CONTEXT, schema_text
from traceability.safe_json import UnsafeJson, loads_bounded

logger = logging.getLogger(__name__)

_EVENT_ADAPTER: TypeAdapter[Any] = TypeAdapter(Event)


@cache
def epcis_schema() -> dict[str, Any]:
    """The official EPCIS 2.0 JSON schema (shipped copy)."""
    return json.loads(schema_text("EPCIS-JSON-Schema.json"))


@cache
def _validator() -> jsonschema.Draft7Validator:
    schema = epcis_schema()
    jsonschema.Draft7Validator.check_schema(schema)
    return jsonschema.Draft7Validator(
        schema, format_checker=jsonschema.Draft7Validator.FORMAT_CHECKER
    )


# fastjsonschema rewrites every unescaped ``$`` of a pattern to ``\Z`` (end of text), but
# ``Draft7Validator`` runs the pattern with ``re.search``, where ``$`` also matches before a
# final newline ("CEL" + newline is a valid uom to it). Written as that lookahead, which has no ``$``
# left to rewrite, the compiled pattern means what jsonschema's does.
_DOLLAR = re.compile(r"(?<!\\)\$")
_PYTHON_DOLLAR = r"(?=\n?\Z)"


def _python_dollars(schema: Any) -> Any:
    if isinstance(schema, dict):
        return {
            key: _DOLLAR.sub(lambda _: _PYTHON_DOLLAR, value)
            if key == "pattern" and isinstance(value, str)
            else _python_dollars(value)
            for key, value in schema.items()
        }
    if isinstance(schema, list):
        return [_python_dollars(item) for item in schema]
    return schema


@lru_cache(maxsize=65536)
def _conforms(format_name: str, value: str) -> bool:
    # The same checkers as Draft7Validator's; cached because a CSV's readings repeat the same
    # few URIs (device, uom vocabulary, type) thousands of times.
    return jsonschema.Draft7Validator.FORMAT_CHECKER.conforms(value, format_name)


def _no_remote_refs(uri: str) -> Any:
    raise InvalidEpcisDocument("$", f"the EPCIS schema refers outside itself: {uri}")


@cache
def _fast_validator() -> Callable[[Any], Any]:
    """The schema compiled by fastjsonschema (about a second, once per process)."""
    formats = {name: (lambda value, name=name: _conforms(name, value)) for name in _FORMATS}
    return fastjsonschema.compile(
        _python_dollars(epcis_schema()),
        handlers={"http": _no_remote_refs, "https": _no_remote_refs},
        formats=formats,
        use_default=False,  # validate, never fill in defaults
        detailed_exceptions=False,  # the error message comes from Draft7Validator
    )


# Every format the schema uses; test_epcis_fast_schema checks that none is missing.
_FORMATS = ("uri", "date-time")
_JSON_SCALARS = frozenset({str, int, bool, type(None)})


def fast_conforms(data: Any) -> bool:
    """True if ``data`` (plain JSON values, finite numbers) conforms to the schema."""
    try:
        _fast_validator()(data)
    except fastjsonschema.JsonSchemaException:
        return False
    return True


def _json_path(parts: Sequence[Any]) -> str:
    path = "$"
    for part in parts:
        path += f"[{part}]" if isinstance(part, int) else f".{part}"
    return path


_COMBINATORS = {"anyOf", "oneOf", "allOf", "not", "if", "then", "else", "$ref"}


def _leaf_errors(errors: Sequence[jsonschema.ValidationError]) -> list[jsonschema.ValidationError]:
    leaves = []
    for error in errors:
        leaves.extend(_leaf_errors(error.context) if error.context else [error])
    return leaves


def _non_finite(value: Any, path: tuple[Any, ...] = ()) -> tuple[Any, ...] | None:
    """The path of the first NaN or ±Infinity in ``value`` (Python's json reads and writes them,
    no other JSON parser does), or None."""
    if isinstance(value, float):
        return None if math.isfinite(value) else path
    if isinstance(value, Mapping):
        items: Any = value.items()
    elif isinstance(value, list):
        items = enumerate(value)
    else:
        return None
    for key, item in items:
        found = _non_finite(item, (*path, key))
        if found is not None:
            return found
    return None


def _plain_finite(value: Any) -> bool:
    """Only dicts with string keys, lists, strings, finite floats, ints, bools and None: what
    both validators type alike (fastjsonschema would take a tuple for an array, Draft7Validator
    does not). One pass without paths; the slow path finds a NaN's path."""
    stack = [value]
    while stack:
        item = stack.pop()
        kind = type(item)
        if kind is dict:
            if not all(type(key) is str for key in item):
                return False
            stack.extend(item.values())
        elif kind is list:
            stack.extend(item)
        elif kind is float:
            if not math.isfinite(item):
                return False
        elif kind not in _JSON_SCALARS:
            return False
    return True


def validate_json(data: Mapping[str, Any]) -> None:
    """Raise ``InvalidEpcisDocument`` unless ``data`` conforms to the EPCIS 2.0 JSON schema."""
    if _plain_finite(data) and fast_conforms(data):
        return
    bad = _non_finite(data)
    if bad is not None:
        raise InvalidEpcisDocument(_json_path(bad), "NaN or Infinity is not a JSON number")
    reference_validate_json(data)


def reference_validate_json(data: Mapping[str, Any]) -> None:
    """``validate_json`` by ``Draft7Validator`` alone (finite numbers assumed): the reference
    the compiled schema is tested and benchmarked against, and the source of error messages."""
    errors = list(_validator().iter_errors(data))
    if not errors:
        return
    # anyOf/oneOf/if-then failures report at a parent; the leaf errors under them say which
    # member is wrong. Prefer the deepest concrete (type/enum/format/...) leaf.
    leaves = [e for e in _leaf_errors(errors) if e.validator not in _COMBINATORS]
    error = max(leaves, key=lambda e: len(e.absolute_path)) if leaves else best_match(errors)
    if error is not None:
        raise InvalidEpcisDocument(_json_path(error.absolute_path), error.message)


def schema_errors(data: Mapping[str, Any]) -> list[InvalidEpcisDocument]:
    """Every schema violation of ``data`` (empty if it conforms), for reports."""
    if _plain_finite(data) and fast_conforms(data):
        return []
    return [
        InvalidEpcisDocument(_json_path(e.absolute_path), e.message)
        for e in sorted(
            _validator().iter_errors(data), key=lambda e: list(map(str, e.absolute_path))
        )
    ]


def make_document(
    events: Sequence[EpcisEvent],
    *,
    creation_date: datetime | None = None,
    document_id: str | None = None,
    context: Any = None,
) -> EpcisDocument:
    """Wrap events in an ``EPCISDocument`` (schemaVersion 2.0, tuanchain's @context)."""
    return EpcisDocument.model_validate(
        {
            "@context": DEFAULT_CONTEXT if context is None else context,
            "id": document_id,
            "creationDate": creation_date or datetime.now(UTC),
            "epcisBody": EpcisBody(eventList=list(events)),
        }
    )


def serialize_document(doc: EpcisDocument | Sequence[EpcisEvent], **kwargs: Any) -> dict[str, Any]:
    """EPCIS 2.0 JSON-LD of a document (or of events, wrapped with ``make_document``).

    The result is validated against the official schema before it is returned, so a
    document this package writes is always conforming.
    """
    if not isinstance(doc, EpcisDocument):
        doc = make_document(doc, **kwargs)
    data = doc.model_dump(mode="json", by_alias=True, exclude_none=True)
    validate_json(data)
    return data


def dumps_document(doc: EpcisDocument | Sequence[EpcisEvent], **kwargs: Any) -> str:
    """``serialize_document`` as compact UTF-8 JSON text."""
    return json.dumps(serialize_document(doc, **kwargs), ensure_ascii=False, separators=(",", ":"))


def _load(data: Mapping[str, Any] | str | bytes | Path) -> Mapping[str, Any]:
    if isinstance(data, Path):
        data = data.read_bytes()
    if isinstance(data, str | bytes):
        try:
            data = loads_bounded(data)
        except json.JSONDecodeError as exc:
            raise InvalidEpcisDocument("$", f"not JSON: {exc.msg} (line {exc.lineno})") from exc
        except UnsafeJson as exc:
            raise InvalidEpcisDocument("$", str(exc)) from exc
    if not isinstance(data, Mapping):
        raise InvalidEpcisDocument("$", "an EPCIS document must be a JSON object")
    return data


def _model_error(exc: ValidationError, prefix: Sequence[Any] = ()) -> InvalidEpcisDocument:
    first = exc.errors()[0]
    # Discriminated unions insert the tag ("ObjectEvent") into loc; it is not a JSON key.
    loc = [p for p in first["loc"] if not (isinstance(p, str) and p.endswith("Event"))]
    return InvalidEpcisDocument(_json_path([*prefix, *loc]), first["msg"])


def parse_document(data: Mapping[str, Any] | str | bytes | Path) -> EpcisDocument:
    """Parse and validate an ``EPCISDocument``; raise ``InvalidEpcisDocument`` otherwise."""
    obj = _load(data)
    if obj.get("type") != "EPCISDocument":
        raise InvalidEpcisDocument("$.type", f"expected 'EPCISDocument', got {obj.get('type')!r}")
    validate_json(obj)
    try:
        return EpcisDocument.model_validate(obj)
    except ValidationError as exc:
        raise _model_error(exc) from exc


def parse_event(data: Mapping[str, Any] | str | bytes | Path) -> EpcisEvent:
    """Parse and validate one standalone EPCIS event (it must carry its ``@context``)."""
    obj = _load(data)
    validate_json(obj)
    try:
        return _EVENT_ADAPTER.validate_python(obj)
    except ValidationError as exc:
        raise _model_error(exc) from exc


def parse_epcis(data: Mapping[str, Any] | str | bytes | Path) -> EpcisDocument | EpcisEvent:
    """Parse either an ``EPCISDocument`` or a standalone event."""
    obj = _load(data)
    return parse_document(obj) if obj.get("type") == "EPCISDocument" else parse_event(obj)
