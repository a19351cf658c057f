"""``POST /v1/documents``: signed uploads of certificates and claim evidence into the document store.

No anonymous filling of the store: the uploader signs (EIP-191 ``personal_sign``, what every
wallet offers; a contract account such as a passkey account through ERC-1271, checked with its
``isValidSignature``) :func:`upload_message` — the file's SHA-256 and a unix timestamp — and must be an
approved supplier or leader in the registry, the platform, or (with ``deal_id``) a buyer with an
order in that deal. A signature is valid for :data:`SIGNATURE_WINDOW_SECONDS` around the server's
clock and only once: what is stored is the digest of the uploader and the signed message, not of
the signature bytes, since one message has several valid signatures (ECDSA's ``s`` and ``n - s``,
a contract account's own encodings). Size is limited (413) and the declared content type
must be allowed *and* match the bytes (415), so a "photo" cannot be an executable.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from typing import Annotated, Any

from eth_account import Account
from eth_account.messages import encode_defunct
from eth_utils import keccak, to_checksum_address
from fastapi import APIRouter, Form, Request, UploadFile
from hexbytes import HexBytes
from sqlalchemy.exc import IntegrityError

from api.db import session_factory
from api.errors import ApiError, error_responses
from api.ratelimit import limit_client
from api.relayer.models import DocumentUpload
from api.routes.deps import ServicesDep
from api.schemas.documents import DocumentStored
from api.services import Services
from chain.aa.erc7739 import personal_sign_hash

logger = logging.getLogger(__name__)

router = APIRouter(tags=["documents"])

MAX_UPLOAD_BYTES = 10 * 1024 * 1024
# The largest request body any route takes (api.bodylimit): an upload's file, and the multipart
# framing and form fields around it.
MAX_REQUEST_BYTES = MAX_UPLOAD_BYTES + 64 * 1024
SIGNATURE_WINDOW_SECONDS = 300
ALLOWED_TYPES = (
    "application/pdf",
    "image/jpeg",
    "image/png",
    "image/webp",
    "application/json",
    "application/ld+json",
    "text/plain",
)


def upload_message(sha256_hex: str, timestamp: int) -> str:
    """The text the uploader signs with ``personal_sign``."""
    return f"tuanchain document upload\nsha256: {sha256_hex.lower()}\ntimestamp: {int(timestamp)}"


def _not_json(constant: str) -> None:
    """NaN and ±Infinity: Python's json reads them, no other JSON parser does."""
    raise ValueError(f"{constant} is not JSON")


def _matches(content_type: str, data: bytes) -> bool:
    """Whether the bytes are what the declared type says (magic numbers / parse check)."""
    if content_type == "application/pdf":
        return data.startswith(b"%PDF-")
    if content_type == "image/jpeg":
        return data.startswith(b"\xff\xd8\xff")
    if content_type == "image/png":
        return data.startswith(b"\x89PNG\r\n\x1a\n")
    if content_type == "image/webp":
        return data[:4] == b"RIFF" and data[8:12] == b"WEBP"
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        return False
    if content_type in ("application/json", "application/ld+json"):
        try:
            json.loads(text, parse_constant=_not_json)
        except ValueError:
            return False
    return True


def _read_limited(file: UploadFile) -> bytes:
    chunks, size = [], 0
    while chunk := file.file.read(1024 * 1024):
        size += len(chunk)
        if size > MAX_UPLOAD_BYTES:
            raise ApiError(
                413,
                "document_too_large",
                f"documents are limited to {MAX_UPLOAD_BYTES} bytes",
                limit=MAX_UPLOAD_BYTES,
            )
        chunks.append(chunk)
    return b"".join(chunks)


def checked_upload(file: UploadFile) -> tuple[str, bytes]:
    """An upload's media type and bytes: an allowed type, within the size limit, not empty, and
    bytes that are what the type says (public and private uploads alike)."""
    content_type = (file.content_type or "").split(";")[0].strip().lower()
    if content_type not in ALLOWED_TYPES:
        raise ApiError(
            415,
            "unsupported_media_type",
            f"{content_type or 'no content type'} is not accepted; allowed: {', '.join(ALLOWED_TYPES)}",
        )
    data = _read_limited(file)
    if not data:
        raise ApiError(400, "empty_document", "the file is empty")
    if not _matches(content_type, data):
        raise ApiError(415, "content_mismatch", f"the bytes are not {content_type}")
    return content_type, data


def _authorized(services: Services, account: str, deal_id: int | None) -> str:
    """Why ``account`` may upload (a role name), or 403."""
    chain = services.chain
    registry, escrow = chain.clients.registry, chain.clients.escrow
    if account == chain.platform.address:
        return "platform"
    if registry.is_approved_supplier(account):
        return "supplier"
    if registry.is_approved_leader(account):
        return "leader"
    known_deal = deal_id is not None and 1 <= deal_id <= escrow.deal_count()
    if known_deal and escrow.order(deal_id, account).quantity > 0:  # type: ignore[arg-type]
        return "buyer"
    raise ApiError(
        403,
        "not_authorized",
        f"{account} is not an approved supplier or leader, nor a buyer in deal {deal_id}",
    )


@router.post(
    "/v1/documents",
    status_code=201,
    response_model=DocumentStored,
    responses=error_responses(400, 403, 413, 415, 429, 502),
    summary="Upload a signed document; returns its CID",
)
def upload_document(
    request: Request,
    services: ServicesDep,
    file: UploadFile,
    address: Annotated[str, Form(description="the uploader's account")],
    timestamp: Annotated[int, Form(description="unix seconds, inside the signed message")],
    signature: Annotated[
        str, Form(description="personal_sign of upload_message(sha256, timestamp)")
    ],
    deal_id: Annotated[int | None, Form(description="for buyers: the deal they ordered in")] = None,
) -> dict[str, Any]:
    # Each upload is a signature recovery (or an ERC-1271 call), role reads on chain and a
    # pinned document: a token of the client's bucket per upload (not per size, as
    # ClientLimited charges: a leader's receipt photos are megabytes each).
    limit_client(request)
    content_type, data = checked_upload(file)
    try:
        claimed = to_checksum_address(address)
    except ValueError:
        raise ApiError(400, "invalid_address", f"not an address: {address!r}") from None
    now = int(time.time())
    if abs(now - timestamp) > SIGNATURE_WINDOW_SECONDS:
        raise ApiError(
            400,
            "expired",
            f"the signed timestamp {timestamp} is more than {SIGNATURE_WINDOW_SECONDS} s from now ({now})",
        )
    sha256_hex = hashlib.sha256(data).hexdigest()
    message = upload_message(sha256_hex, timestamp)
    try:
        signature_bytes = bytes(HexBytes(signature))
    except (TypeError, ValueError):
        raise ApiError(400, "bad_signature", "the signature is not hex") from None
    try:
        signer: str | None = Account.recover_message(
            encode_defunct(text=message), signature=signature_bytes
        )
    except Exception:  # noqa: BLE001 — eth-account raises many types for malformed signatures
        signer = None  # not an EOA signature; a contract account may still accept it below
    # A contract account (a consumer's passkey account) signs through ERC-1271 instead.
    if signer != claimed and not services.chain.passkeys.is_valid_signature(
        claimed, personal_sign_hash(message), signature_bytes
    ):
        raise ApiError(
            400,
            "bad_signature",
            f"the message is not signed by {claimed} (signed by {signer or 'no one'}; or the "
            "file/timestamp differ)",
        )
    role = _authorized(services, claimed, deal_id)
    # Keyed on what was signed, by whom: a malleated signature (s -> n - s, v flipped) or another
    # encoding of the same one is the same upload again.
    signature_digest = "0x" + keccak(bytes.fromhex(claimed[2:]) + personal_sign_hash(message)).hex()
    with session_factory(services.engine)() as session:
        if session.get(DocumentUpload, signature_digest) is not None:
            raise ApiError(400, "replayed_signature", "this signed upload was already used")
        cid = services.store.put(data)
        session.add(
            DocumentUpload(
                signature_digest=signature_digest,
                uploader=claimed,
                cid=cid,
                sha256=sha256_hex,
                content_type=content_type,
                size=len(data),
            )
        )
        try:
            session.commit()
        except IntegrityError:  # the same upload, concurrently
            raise ApiError(
                400, "replayed_signature", "this signed upload was already used"
            ) from None
    logger.info("stored %s (%d bytes, %s) for %s %s", cid, len(data), content_type, role, claimed)
    return {
        "cid": cid,
        "size": len(data),
        "sha256": sha256_hex,
        "content_type": content_type,
        "uploader": claimed,
        "role": role,
        "url": f"/ipfs/{cid}",
    }
