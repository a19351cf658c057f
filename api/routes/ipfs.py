"""``GET /ipfs/{cid}``: an IPFS trustless gateway over the document store.

``Accept: application/vnd.ipld.raw`` (or ``?format=raw``) returns the one block named by the
CID; ``application/vnd.ipld.car`` (``?format=car``) a CAR v1 of the file's whole DAG; both can be
verified by the client against the CID, so it need not trust this server. Without either, the
file's bytes (already verified by the store). Responses are immutable (the CID is the content):
``Cache-Control: public, max-age=29030400, immutable``, a strong ``ETag``, ``If-None-Match`` → 304.
A malformed CID is 400, an unknown one 404.
"""

from __future__ import annotations

import io
import json
from typing import Annotated

from fastapi import APIRouter, Header, Query
from fastapi.responses import Response

from api.errors import ApiError, error_responses
from api.routes.deps import ServicesDep
from traceability.ipfs import export_car, format_cid, parse_cid

router = APIRouter(tags=["ipfs"])

RAW = "application/vnd.ipld.raw"
CAR = "application/vnd.ipld.car"
IMMUTABLE = "public, max-age=29030400, immutable"


def _wanted_format(format_: str | None, accept: str | None) -> str:
    if format_ is not None:
        if format_ not in ("raw", "car"):
            raise ApiError(400, "invalid_format", "format must be raw or car")
        return format_
    for part in (accept or "").split(","):
        media = part.split(";")[0].strip().lower()
        if media == RAW:
            return "raw"
        if media == CAR:
            return "car"
    return "file"


def _sniff(data: bytes) -> str:
    """Content type of a whole file (the documents this service stores)."""
    if data.startswith(b"%PDF-"):
        return "application/pdf"
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if data.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        return "application/octet-stream"
    try:
        json.loads(text)
        return "application/json"
    except ValueError:
        return "text/plain; charset=utf-8"


_BYTES = {"schema": {"type": "string", "format": "binary"}}
# A block, a CAR, or the file itself in the type its bytes show (see _sniff).
GATEWAY_RESPONSES: dict[int | str, dict] = {
    200: {
        "description": "the block (raw), the DAG (car) or the file's bytes",
        "content": {
            RAW: _BYTES,
            CAR: _BYTES,
            "application/pdf": _BYTES,
            "image/png": _BYTES,
            "image/jpeg": _BYTES,
            "image/webp": _BYTES,
            "application/json": {"schema": {}},
            "text/plain": {"schema": {"type": "string"}},
            "application/octet-stream": _BYTES,
        },
    },
    304: {"description": "If-None-Match names this response's ETag: not modified"},
    **error_responses(400, 404, 502),
}


# GET and HEAD: one function, two operations (one OpenAPI operation id each).
@router.head(
    "/ipfs/{cid}",
    response_class=Response,
    responses=GATEWAY_RESPONSES,
    operation_id="gateway_head",
    summary="IPFS trustless gateway (headers only)",
)
@router.get(
    "/ipfs/{cid}",
    response_class=Response,
    responses=GATEWAY_RESPONSES,
    operation_id="gateway",
    summary="IPFS trustless gateway",
)
def gateway(
    cid: str,
    services: ServicesDep,
    format: Annotated[str | None, Query(description="raw | car")] = None,
    accept: Annotated[str | None, Header()] = None,
    if_none_match: Annotated[str | None, Header()] = None,
) -> Response:
    canonical = format_cid(parse_cid(cid))  # InvalidCid → 400
    kind = _wanted_format(format, accept)
    store = services.store
    if not store.has(canonical):
        raise ApiError(404, "document_not_found", f"no block {canonical} in this store")
    etag = f'"{canonical}.{kind}"' if kind != "file" else f'"{canonical}"'
    headers = {
        "Cache-Control": IMMUTABLE,
        "ETag": etag,
        "X-Content-Type-Options": "nosniff",
        "X-Ipfs-Path": f"/ipfs/{canonical}",
        "Vary": "Accept",
    }
    if if_none_match and etag in [t.strip() for t in if_none_match.split(",")]:
        return Response(status_code=304, headers=headers)
    if kind == "raw":
        body, media = store.get_block(canonical), RAW
        headers["Content-Disposition"] = f'attachment; filename="{canonical}.bin"'
    elif kind == "car":
        out = io.BytesIO()
        export_car(store, [canonical], out)
        body, media = out.getvalue(), f"{CAR}; version=1"
        headers["Content-Disposition"] = f'attachment; filename="{canonical}.car"'
    else:
        body = store.get(canonical)
        media = _sniff(body)
    return Response(content=body, media_type=media, headers=headers)
