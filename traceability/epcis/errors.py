"""Typed errors of the EPCIS subpackage (all are ``TraceabilityError``)."""

from __future__ import annotations

from traceability.errors import TraceabilityError


class EpcisError(TraceabilityError):
    """Base class for EPCIS modelling, parsing and hashing errors."""


class InvalidEpcisDocument(EpcisError):
    """A document or event does not conform to EPCIS 2.0 (JSON schema or model).

    ``path`` is a JSONPath-like location (``$.epcisBody.eventList[0].eventTime``) and
    ``reason`` says what is wrong there.
    """

    def __init__(self, path: str, reason: str) -> None:
        self.path = path
        self.reason = reason
        super().__init__(f"invalid EPCIS document at {path}: {reason}")


class InvalidIdentifier(EpcisError):
    """A GS1 key (GTIN, GLN, lot) or EPC URI is malformed."""

    def __init__(self, value: str, reason: str) -> None:
        self.value = value
        self.reason = reason
        super().__init__(f"invalid GS1 identifier {value!r}: {reason}")


class EventHashError(EpcisError):
    """An event cannot be canonicalised for the CBV 2.0 event hash (e.g. no ``type``)."""

    def __init__(self, reason: str) -> None:
        self.reason = reason
        super().__init__(f"cannot compute EPCIS event hash: {reason}")
