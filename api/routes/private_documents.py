"""``/v1/documents/private``: personal data (credentials, contact details, claim photos), sealed.

Upload and read need a Sign-In with Ethereum session (``/v1/auth/*``). An upload is sealed with
AES-256-GCM and never enters the IPFS document store: ``/ipfs/{cid}`` cannot serve it. What the
uploader anchors on chain is its SHA-256 (``digest``; or ``cid``, the CIDv1 ``raw`` identifier of
the same digest, where a contract takes a CID); a reader fetches it by that digest and can check
the bytes against the chain. Readers: see :mod:`api.private.store`.
"""

from __future__ import annotations

import time
from typing import Annotated

from fastapi import APIRouter, Form, UploadFile
from fastapi import Path as PathParam
from fastapi.responses import Response

from api.errors import error_responses
from api.private import store
from api.routes.deps import DB_INT_MAX, ClientLimited, ServicesDep, SignedInDep
from api.routes.documents import checked_upload
from api.schemas.private_documents import PrivateDocumentStored
from traceability.ipfs.cid import raw_cid_of_digest

router = APIRouter(tags=["private documents"])
Sha256Path = Annotated[
    str,
    PathParam(
        pattern=r"^(0x)?[0-9a-fA-F]{64}$", description="the document's SHA-256 (as on chain)"
    ),
]


@router.post(
    "/v1/documents/private",
    status_code=201,
    response_model=PrivateDocumentStored,
    responses=error_responses(400, 401, 403, 413, 415, 429),
    summary="Upload a private document (sealed; only its digest is public)",
    # Sealed and kept for any signed-in address: one client must not write them without bound.
    dependencies=[ClientLimited],
)
def upload_private(
    services: ServicesDep,
    owner: SignedInDep,
    file: UploadFile,
    purpose: Annotated[store.Purpose, Form()],
    deal_id: Annotated[
        int, Form(ge=0, le=DB_INT_MAX, description="claim evidence: the deal claimed in")
    ] = 0,
) -> PrivateDocumentStored:
    content_type, data = checked_upload(file)
    stored = store.put(
        services,
        owner=owner,
        data=data,
        content_type=content_type,
        purpose=purpose,
        deal_id=deal_id,
        now=int(time.time()),
    )
    return PrivateDocumentStored(
        sha256=stored.sha256,
        digest="0x" + stored.sha256,
        cid=raw_cid_of_digest(bytes.fromhex(stored.sha256)),
        size=stored.size,
        content_type=stored.content_type,
        owner=stored.owner,
        purpose=stored.purpose,
        deal_id=stored.deal_id,
        url=f"/v1/documents/private/{stored.sha256}",
    )


@router.get(
    "/v1/documents/private/{sha256}",
    response_class=Response,
    responses={
        200: {"content": {"application/octet-stream": {}}, "description": "the document's bytes"},
        **error_responses(401, 403, 404),
    },
    summary="Read a private document by its SHA-256 (owner, platform, or a claim's supplier)",
)
def read_private(services: ServicesDep, reader: SignedInDep, sha256: Sha256Path) -> Response:
    opened = store.read(
        services, reader=reader, sha256_hex=sha256.lower().removeprefix("0x"), now=int(time.time())
    )
    return Response(
        opened.data,
        media_type=opened.content_type,
        headers={
            # Personal data: no shared cache keeps it, no browser guesses its type.
            "Cache-Control": "private, no-store",
            "X-Content-Type-Options": "nosniff",
            "Content-Disposition": "attachment",
            "X-Read-Right": opened.right,
        },
    )
