"""Product master data per GTIN and the lot master data a batch is registered with.

A product (GTIN) is described once in a public document, ``tuanchain:ProductMasterData`` (name
zh/en, photo, specification, unit, origin). Each batch of it is registered with its lot master
data (``tuanchain:LotMasterData``): the product's facts copied in (what the pages read: name,
origin, producer, photo) plus ``product_master``, the ``ipfs://`` CID of the product document.
Registering the batch anchors the lot document's CID on chain, and with it the product document
it names: the product data is anchored with every batch of it.

The supplier page and ``tuanchain supplier register-batch --product`` both build the documents
here; nothing is signed or stored by these functions.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import date
from typing import Any

from api.photos import photo_path
from api.supplier.errors import InputError
from api.supplier.inputs import batch

# ISO 3166-1 alpha-2, as EPCIS' cbvmda:countryOfOrigin takes it.
_COUNTRY = re.compile(r"^[A-Z]{2}$")
MAX_TEXT = 200


def _text(value: Any, what: str, *, required: bool = False) -> str:
    text = str(value or "").strip()
    if required and not text:
        raise InputError(f"{what} is required")
    if len(text) > MAX_TEXT:
        raise InputError(f"{what} is longer than {MAX_TEXT} characters")
    return text


def product_document(
    *,
    gtin: str,
    name_zh: str,
    name_en: str,
    image: str | None = None,
    specification: str = "",
    unit: str = "",
    origin_country: str = "",
    origin_zh: str = "",
    origin_en: str = "",
) -> dict[str, Any]:
    """The product's public master data; :class:`InputError` names a bad field (a GTIN with a
    wrong check digit among them)."""
    gtin14 = batch(gtin, "L").gtin14  # the check digit, as for a batch
    if not (name_zh.strip() or name_en.strip()):
        raise InputError("the product needs a name (zh or en)")
    country = origin_country.strip().upper()
    if country and not _COUNTRY.match(country):
        raise InputError(f"origin country {origin_country!r} is not ISO 3166-1 alpha-2 (CN)")
    if image and photo_path(image) is None:
        raise InputError(f"the photo must be an ipfs:// document, not {image!r}")
    name_zh, name_en = _text(name_zh, "name (zh)"), _text(name_en, "name (en)")
    origin_zh, origin_en = _text(origin_zh, "origin (zh)"), _text(origin_en, "origin (en)")
    return {
        "type": "tuanchain:ProductMasterData",
        "gtin": gtin14,
        "name": {"zh": name_zh or name_en, "en": name_en or name_zh},
        "image": image or None,
        "specification": _text(specification, "specification"),
        "unit": _text(unit, "unit"),
        "origin": {
            "country": country,
            "zh": origin_zh or origin_en,
            "en": origin_en or origin_zh,
        },
    }


def lot_master_data(
    *,
    product: dict[str, Any],
    product_cid: str | None,
    lot: str,
    producer: dict[str, str] | None = None,
    quantity: float | None = None,
    uom: str = "KGM",
    harvest_date: date | None = None,
    cold_chain: tuple[float, float] | None = None,
    certifications: Sequence[str] = (),
    places: dict[str, dict[str, str]] | None = None,
) -> dict[str, Any]:
    """The batch's metadata document: the lot's facts and the product's, naming its document."""
    target = batch(str(product.get("gtin", "")), lot)
    if quantity is not None and not quantity > 0:
        raise InputError(f"the lot's quantity must be positive, not {quantity}")
    if cold_chain is not None and cold_chain[0] >= cold_chain[1]:
        raise InputError(f"the cold-chain range {cold_chain[0]}–{cold_chain[1]} °C is empty")
    data: dict[str, Any] = {
        "type": "tuanchain:LotMasterData",
        "gtin": target.gtin14,
        "lot": target.lot,
        "product": product["name"],
        "origin": product.get("origin") or {},
        "specification": product.get("specification") or "",
        "unit": product.get("unit") or "",
        # Keys the provenance page reads, present even when empty (as in the demo's lots).
        "producer": producer or {},
        "certifications": list(certifications),
    }
    if product_cid:
        data["product_master"] = f"ipfs://{product_cid}"
    if product.get("image"):
        data["image"] = product["image"]
    if quantity is not None:
        data["quantity"] = {"value": quantity, "uom": uom}
    if harvest_date is not None:
        data["harvest_date"] = harvest_date.isoformat()
    if places:  # GLN → {zh, en}: the pages name an event's read point with it
        data["places"] = places
    if cold_chain is not None:
        data["cold_chain"] = {"min_c": cold_chain[0], "max_c": cold_chain[1]}
    return data
