"""GS1 Digital Link resolver: ``GET /01/{gtin}/10/{lot}`` — what a consumer's QR code opens.

One URI, several representations (GS1 Digital Link 1.x resolver behaviour):

- ``?linkType=gs1:traceability`` → the provenance JSON (the same as ``GET /v1/batches/{gtin}/{lot}``);
- ``?linkType=gs1:certificationInfo`` → the batch's certificates;
- ``?linkType=gs1:pip`` (product information page) → the consumer page (HTML);
- ``?linkType=linkset`` / ``all``, or ``Accept: application/linkset+json`` → an RFC 9264 linkset
  listing every link;
- no linkType: a browser (``Accept: text/html``) gets the consumer page, others the provenance.

Every answer carries a ``Link`` header (RFC 8288) pointing to the linkset and the other links.
A GTIN-8/12/13 is redirected (308, query kept) to its GTIN-14 form, the canonical URI, and a
serial's link (``/21/{serial}``) to its batch (307); an invalid GTIN, lot or serial is 400 and an
unknown batch 404, each with a reason. A lot's escaped "/" (``%2F``) stays in the lot.
"""

from __future__ import annotations

import logging
from typing import Any
from urllib.parse import quote, urlencode

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, RedirectResponse, Response
from sqlalchemy.orm import Session

from api.errors import ApiError, error_responses
from api.index_errors import NotInIndex
from api.render import choose_language, pick, render
from api.routes.deps import get_services, raw_segments
from api.services import Services
from traceability.digital_link import (
    GS1_VOC,
    InvalidDigitalLink,
    build_link,
    check_lot,
    link_path,
    normalize_gtin,
    normalize_link_type,
)
from traceability.epcis.errors import InvalidIdentifier
from traceability.epcis.identifiers import validate_lot

logger = logging.getLogger(__name__)

router = APIRouter(tags=["resolver"])

LINKSET_TYPE = "application/linkset+json"
LINKSET_PROFILE = "https://www.gs1.org/voc/?show=linktypes"
# The link types this resolver serves, with their media types.
SERVED = {
    "gs1:pip": "text/html",
    "gs1:traceability": "application/json",
    "gs1:certificationInfo": "application/json",
}


def load_provenance(services: Services, gtin14: str, lot: str) -> dict[str, Any] | None:
    """The indexed provenance of a batch (``api.queries.provenance``), or None if unknown."""
    from api import queries  # the index's read model (INDEX); imported late: optional at import

    with Session(services.engine) as session:
        try:
            return queries.provenance(session, gtin14, lot)
        except NotInIndex:
            return None


def _href(base: str, gtin14: str, lot: str, link_type: str | None = None) -> str:
    # linkType appended here: "linkset" is this resolver's own, not a gs1: link type.
    uri = build_link(gtin14, lot, resolver=base)
    return uri + ("?" + urlencode({"linkType": link_type}, safe=":") if link_type else "")


def _title(provenance: dict[str, Any], lang: str) -> str:
    metadata = provenance["batch"].get("metadata") or {}
    name = pick(metadata.get("product"), lang) if metadata else ""
    return name or f"{provenance['batch']['gtin']} / {provenance['batch']['lot']}"


def linkset(base: str, provenance: dict[str, Any], lang: str) -> dict[str, Any]:
    """RFC 9264 JSON linkset: the batch anchor, each link type's targets, the documents."""
    batch = provenance["batch"]
    gtin14, lot = batch["gtin"], batch["lot"]
    title = _title(provenance, lang)
    page = {
        "href": _href(base, gtin14, lot, "gs1:pip"),
        "type": "text/html",
        "hreflang": ["zh", "en"],
        "title": title,
    }
    certificates = [
        {
            "href": f"{base.rstrip('/')}/ipfs/{c['document_cid']}",
            "type": "application/ld+json",
            "title": c.get("event_hash_id", ""),
        }
        for c in provenance.get("certificates", [])
        if c.get("document_cid")
    ]
    links: dict[str, Any] = {
        "anchor": _href(base, gtin14, lot),
        f"{GS1_VOC}defaultLink": [page],
        f"{GS1_VOC}pip": [page],
        f"{GS1_VOC}traceability": [
            {
                "href": _href(base, gtin14, lot, "gs1:traceability"),
                "type": "application/json",
                "title": f"{title}: provenance",
            },
            {
                "href": f"{base.rstrip('/')}/v1/batches/{gtin14}/{quote(lot, safe='')}",
                "type": "application/json",
            },
        ],
        f"{GS1_VOC}certificationInfo": [
            {
                "href": _href(base, gtin14, lot, "gs1:certificationInfo"),
                "type": "application/json",
                "title": f"{title}: certificates",
            },
            *certificates,
        ],
        f"{GS1_VOC}epcis": [
            {
                "href": f"{base.rstrip('/')}/ipfs/{e['document_cid']}",
                "type": "application/ld+json",
                "title": e.get("event_hash_id", ""),
            }
            for e in provenance.get("events", [])
            if e.get("document_cid")
        ],
    }
    if batch.get("metadata_cid"):
        links[f"{GS1_VOC}masterData"] = [
            {"href": f"{base.rstrip('/')}/ipfs/{batch['metadata_cid']}", "type": "application/json"}
        ]
    return {"linkset": [{k: v for k, v in links.items() if v}]}


def link_header(base: str, gtin14: str, lot: str) -> str:
    """RFC 8288 ``Link`` header: the linkset, and each served link type."""
    parts = [f'<{_href(base, gtin14, lot, "linkset")}>; rel="linkset"; type="{LINKSET_TYPE}"']
    for link_type, media in SERVED.items():
        rel = GS1_VOC + link_type.removeprefix("gs1:")
        parts.append(f'<{_href(base, gtin14, lot, link_type)}>; rel="{rel}"; type="{media}"')
    return ", ".join(parts)


def _wants_html(request: Request) -> bool:
    accept = request.headers.get("accept", "")
    return "text/html" in accept or "application/xhtml+xml" in accept


def _not_found(request: Request, gtin14: str, lot: str, html: bool) -> Response:
    message = f"no batch with GTIN {gtin14} and lot {lot!r} is registered"
    if html:
        return render(
            request,
            "error.html",
            {"status": 404, "code": "batch_not_found", "message": message},
            status_code=404,
        )
    raise ApiError(404, "batch_not_found", message, gtin=gtin14, lot=lot)


@router.get(
    "/01/{gtin}/10/{lot:path}",
    summary="GS1 Digital Link resolver of a batch",
    responses={
        200: {"content": {"text/html": {}, "application/json": {}, LINKSET_TYPE: {}}},
        307: {"description": "a serial's link (/21/{serial}) redirected to its batch"},
        308: {"description": "GTIN-8/12/13 redirected to the GTIN-14 form"},
        **error_responses(400),  # invalid GTIN, lot or linkType
        # an unknown batch (an error page for browsers), or a link type this batch has not
        **error_responses(404, html=True),
    },
)
def resolve(request: Request, gtin: str, lot: str, linkType: str | None = None) -> Response:
    html = _wants_html(request)
    segments = raw_segments(request, lot)  # the lot, or the lot, "21" and a serial
    serial = segments[2] if len(segments) == 3 and segments[1] == "21" else None
    if len(segments) != 1 and serial is None:
        raise ApiError(
            404,
            "not_a_batch_link",
            "this resolver answers /01/{gtin}/10/{lot}, optionally followed by /21/{serial}",
        )
    lot = segments[0]
    try:
        gtin14 = normalize_gtin(gtin)
    except InvalidIdentifier as exc:
        raise ApiError(
            400, "invalid_gtin", f"invalid GTIN {gtin!r}: {exc.reason}", gtin=gtin
        ) from None
    try:
        check_lot(lot)
    except InvalidIdentifier as exc:
        raise ApiError(400, "invalid_lot", f"invalid lot {lot!r}: {exc.reason}", lot=lot) from None
    if serial is not None:
        try:
            validate_lot(serial)  # AI 21: the same 1-20 characters of the AI 82 set
        except InvalidIdentifier as exc:
            raise ApiError(
                400, "invalid_serial", f"invalid serial {serial!r}: {exc.reason}", serial=serial
            ) from None
        # Serials are not tracked: the batch answers (a resolver walks up to the lot), for now.
        target = link_path(gtin14, lot) + (f"?{request.url.query}" if request.url.query else "")
        return RedirectResponse(target, status_code=307)
    if gtin14 != gtin:
        target = link_path(gtin14, lot)
        if request.url.query:
            target += "?" + request.url.query
        # 308 keeps the method; the GTIN-14 form is the canonical (and permanent) URI.
        return RedirectResponse(target, status_code=308)

    link_type: str | None = None
    if linkType is not None:
        if linkType in ("linkset", "all"):
            link_type = "linkset"
        else:
            try:
                link_type = normalize_link_type(linkType)
            except InvalidDigitalLink as exc:
                raise ApiError(400, "invalid_link_type", exc.reason, linkType=linkType) from None
    elif LINKSET_TYPE in request.headers.get("accept", ""):
        link_type = "linkset"

    services = get_services(request)
    provenance = load_provenance(services, gtin14, lot)
    if provenance is None:
        return _not_found(request, gtin14, lot, html and link_type in (None, "gs1:pip"))

    base = str(request.base_url)
    headers = {"Link": link_header(base, gtin14, lot), "Vary": "Accept, Accept-Language"}
    if link_type == "linkset":
        body = linkset(base, provenance, choose_language(request))
        return JSONResponse(
            body,
            media_type=LINKSET_TYPE,
            headers={**headers, "Content-Type": f'{LINKSET_TYPE}; profile="{LINKSET_PROFILE}"'},
        )
    if link_type == "gs1:traceability" or (link_type is None and not html):
        return JSONResponse(provenance, headers=headers)
    if link_type == "gs1:certificationInfo":
        return JSONResponse(
            {
                "batch": {k: provenance["batch"][k] for k in ("gtin", "lot", "batch_id", "status")},
                "certificates": provenance.get("certificates", []),
            },
            headers=headers,
        )
    if link_type in (None, "gs1:pip"):
        from api.routes.pages import provenance_page  # the page lives with the other pages

        response = provenance_page(request, services, provenance)
        response.headers.update(headers)
        return response
    raise ApiError(
        404,
        "link_type_not_available",
        f"this batch has no {link_type} link; see ?linkType=linkset for the links it has",
        linkType=link_type,
        available=list(SERVED),
    )
