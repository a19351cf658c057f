"""``POST /v1/qr``: a QR code of a text as SVG, for codes made in the browser (the pickup code a
buyer signs is only known to their page). Drawn with segno as the leaders' share codes are
(:func:`api.shop.qr_svg`); the text comes in a POST body, so it stays out of URLs and logs."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response
from pydantic import BaseModel, Field

from api.errors import error_responses
from api.ratelimit import limit_client, size_cost
from api.shop import qr_svg

router = APIRouter(tags=["pages"])

# A pickup code is ~150 characters (a wallet's) or ~275 (a passkey account's compact assertion,
# chain/aa/compact.py); codes of the first form, still accepted, were up to ~2,100 (the whole
# ERC-1271 signature in hex): up to what version 40 at level M holds.
MAX_QR_TEXT = 2331
# Drawing a code costs about 25 ms of CPU for a wallet's pickup code and about 350 ms at
# MAX_QR_TEXT (segno tries every mask of a version-33 symbol): a token of the client's bucket
# per started 100 characters, as a relay request costs one (api.ratelimit).
QR_CHARS_PER_TOKEN = 100


class QrIn(BaseModel):
    text: str = Field(min_length=1, max_length=MAX_QR_TEXT)


@router.post(
    "/v1/qr",
    response_class=Response,
    responses={
        200: {"content": {"image/svg+xml": {}}, "description": "the QR code (SVG)"},
        **error_responses(400, 429),
    },
    summary="A QR code of a text, as SVG (for codes made in the browser)",
)
def qr(body: QrIn, request: Request) -> Response:
    limit_client(request, cost=size_cost(len(body.text), QR_CHARS_PER_TOKEN))
    return Response(
        qr_svg(body.text),
        media_type="image/svg+xml",
        headers={"Cache-Control": "no-store", "X-Content-Type-Options": "nosniff"},
    )
