"""EPCIS/CBV vocabulary facts shared by models, builders and the event hash.

The bare-string vocabularies (``"shipping"`` meaning ``cbv:BizStep-shipping``) come from the
official JSON-LD context shipped in ``schema/`` (read by ``hash_input``), so they never drift
from the standard.
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
