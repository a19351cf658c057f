"""EPCIS/CBV vocabulary facts shared by models, builders and the event hash.

The bare-string vocabularies (``"shipping"`` meaning ``cbv:BizStep-shipping``) are read from
the official JSON-LD context shipped in ``schema/``, so they never drift from the standard.
"""

from __future__ import annotations

import json
from functools import cache
from importlib import resources
from typing import Any

EPCIS_CONTEXT_URL = "https://ref.gs1.org/standards/epcis/2.0.0/epcis-context.jsonld"
# Namespace of tuanchain's own ILMD / extension fields (producer, certifications, limits).
TUANCHAIN_PREFIX = "tuan"
TUANCHAIN_NS = "https://ns.tuanchain.org/epcis/"
DEFAULT_CONTEXT: list[Any] = [EPCIS_CONTEXT_URL, {TUANCHAIN_PREFIX: TUANCHAIN_NS}]

CBV_NS = "https://ref.gs1.org/cbv/"
# The GS1 Web Vocabulary's current home; the reference hash implementation expands ``gs1:``
# to it whatever the context file says (the 2.0.0 context still says https://gs1.org/voc/).
GS1_VOC_NS = "https://ref.gs1.org/voc/"

# Prefixes every EPCIS 2.0 document may use without declaring them, as the reference
# implementation resolves them; ``cbvmda`` keeps the XML namespace (no trailing colon) so
# JSON and XML events hash alike.
WELL_KNOWN_PREFIXES: dict[str, str] = {
    "gs1": GS1_VOC_NS,
    "cbv": CBV_NS,
    "epcis": "https://ref.gs1.org/epcis/",
    "cbvmda": "urn:epcglobal:cbv:mda",
}

# Old URN vocabulary values (EPCIS 1.x) and their CBV 2.0 Web URI equivalents.
URN_VOCABULARY = (
    ("urn:epcglobal:cbv:bizstep:", CBV_NS + "BizStep-"),
    ("urn:epcglobal:cbv:disp:", CBV_NS + "Disp-"),
    ("urn:epcglobal:cbv:btt:", CBV_NS + "BTT-"),
    ("urn:epcglobal:cbv:sdt:", CBV_NS + "SDT-"),
    ("urn:epcglobal:cbv:er:", CBV_NS + "ER-"),
)


def schema_text(name: str) -> str:
    """Text of a file shipped in ``traceability/epcis/schema``."""
    return (
        resources.files("traceability.epcis").joinpath("schema").joinpath(name).read_text("utf-8")
    )


@cache
def epcis_context() -> dict[str, Any]:
    """The official EPCIS 2.0 JSON-LD context (its ``@context`` object)."""
    return json.loads(schema_text("epcis-context.jsonld"))["@context"]


def _terms(node: Any) -> dict[str, str]:
    ctx = node.get("@context", {}) if isinstance(node, dict) else {}
    if isinstance(ctx, list):
        merged: dict[str, Any] = {}
        for part in ctx:
            if isinstance(part, dict):
                merged.update(part)
        ctx = merged
    return {k: v for k, v in ctx.items() if isinstance(v, str) and not k.startswith("@")}


def expand_curie(value: str) -> str:
    """Expand a ``cbv:``/``gs1:`` compact URI to its full URI; other values unchanged."""
    prefix, sep, local = value.partition(":")
    if sep and prefix in ("cbv", "gs1"):
        return WELL_KNOWN_PREFIXES[prefix] + local
    return value


@cache
def bare_vocabularies() -> dict[str, dict[str, str]]:
    """Bare-string terms per field, e.g. ``{"bizStep": {"shipping": "https://ref.gs1.org/cbv/BizStep-shipping"}}``.

    Keys are field paths as the hash canonicaliser sees them: ``bizStep``, ``disposition``,
    ``persistentDisposition`` (set/unset values), ``bizTransactionList.type``,
    ``sourceList.type``, ``destinationList.type``, ``sensorReport.type``,
    ``sensorReport.exception``, ``sensorReport.component``, ``errorDeclaration.reason``.
    """
    ctx = epcis_context()
    sensor = ctx["sensorElementList"]["@context"]["sensorReport"]["@context"]
    raw = {
        "bizStep": _terms(ctx["bizStep"]),
        "disposition": _terms(ctx["disposition"]),
        "persistentDisposition": _terms(ctx["persistentDisposition"]),
        "bizTransactionList.type": _terms(ctx["bizTransactionList"]["@context"]["type"]),
        "sourceList.type": _terms(ctx["sourceList"]["@context"]["type"]),
        "destinationList.type": _terms(ctx["destinationList"]["@context"]["type"]),
        "sensorReport.type": _terms(sensor["type"]),
        "sensorReport.exception": _terms(sensor["exception"]),
        "sensorReport.component": _terms(sensor["component"]),
        "errorDeclaration.reason": _terms(ctx["errorDeclaration"]["@context"]["reason"]),
    }
    return {field: {t: expand_curie(c) for t, c in terms.items()} for field, terms in raw.items()}
