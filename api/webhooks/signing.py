"""The Standard Webhooks format (https://www.standardwebhooks.com, spec v1).

A message is signed over ``{webhook-id}.{webhook-timestamp}.{body}`` with HMAC-SHA256 under the
endpoint's secret; the secret is shown as ``whsec_`` + base64 of its bytes, the signature header
as ``v1,`` + base64 of the MAC (several space-separated when a secret is being rotated). The
receiver checks the MAC and that the timestamp is recent (replays), and deduplicates on the id.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets

SECRET_PREFIX = "whsec_"
SECRET_BYTES = 24  # the spec asks for 24 to 64 random bytes
TOLERANCE_SECONDS = 5 * 60


class WebhookVerificationError(Exception):
    """A message whose signature or timestamp does not check out."""


def new_secret() -> str:
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(SECRET_BYTES)).decode()


def _key(secret: str) -> bytes:
    return base64.b64decode(secret.removeprefix(SECRET_PREFIX))


def signature(secret: str, msg_id: str, timestamp: int, body: bytes) -> str:
    """The ``webhook-signature`` header value (``v1,<base64>``)."""
    signed = f"{msg_id}.{timestamp}.".encode() + body
    mac = hmac.new(_key(secret), signed, hashlib.sha256).digest()
    return "v1," + base64.b64encode(mac).decode()


def headers(secret: str, msg_id: str, timestamp: int, body: bytes) -> dict[str, str]:
    return {
        "webhook-id": msg_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": signature(secret, msg_id, timestamp, body),
        "content-type": "application/json",
    }


def verify(secret: str, received: dict[str, str], body: bytes, *, now: int) -> None:
    """What a receiver does (used by the tests as a gateway would): raises when the message is
    not from the holder of ``secret`` or is older/newer than the tolerance."""
    lowered = {k.lower(): v for k, v in received.items()}
    try:
        msg_id, stamp = lowered["webhook-id"], int(lowered["webhook-timestamp"])
        offered = lowered["webhook-signature"].split()
    except (KeyError, ValueError) as exc:
        raise WebhookVerificationError(f"missing or malformed header: {exc}") from None
    if abs(now - stamp) > TOLERANCE_SECONDS:
        raise WebhookVerificationError(f"timestamp {stamp} too far from now ({now})")
    expected = signature(secret, msg_id, stamp, body).encode()
    if not any(hmac.compare_digest(expected, o.encode()) for o in offered if o.startswith("v1,")):
        raise WebhookVerificationError("no matching v1 signature")
