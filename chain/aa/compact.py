"""A passkey account's ERC-1271 signature of a pickup code (``Handover``), compact for a QR code.

The full signature (:func:`chain.aa.erc7739.wrap_signature` of
:func:`chain.aa.webauthn.account_signature`) is ~870 bytes: the ABI envelope, the account's
signer (verifier ‖ qx ‖ qy), the WebAuthn assertion with its clientDataJSON, and the ERC-7739
nesting (the escrow's domain separator, the contents hash and type). Written in hex in a pickup
code it made a version-38 QR code, marginal for a phone camera.

Most of it is public and rebuilt by whoever records the code: the challenge is the
``TypedDataSign`` digest of the handover's typed data under the account's domain; the nesting
follows from the same typed data; the signer is one of the account's own (read from the chain,
the one whose key verifies the assertion). What only the passkey can produce stays in the code:

    r ‖ s ‖ uint8(len(authenticatorData)) ‖ authenticatorData ‖ clientDataJSON′

where ``clientDataJSON′`` is the JSON with the challenge's value taken out; when the JSON begins
with ``{"type":"webauthn.get","challenge":"`` (browsers write it so), that beginning and the
challenge's closing quote are left out too and the first byte of ``clientDataJSON′`` is
:data:`STANDARD_PREFIX` (``0x01``; otherwise ``0x00`` then the JSON with ``"challenge":""``).

Nothing is lost that a forger could use: the code is exactly as strong as the full signature,
which the escrow still checks through ERC-1271 on chain (the rebuilt one, byte for byte what the
browser produced, when the code is genuine).
"""

from __future__ import annotations

import hashlib

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature
from eth_abi import decode as abi_decode

from chain.aa.erc7739 import typed_data_sign_digest, wrap_signature
from chain.aa.errors import InvalidAssertion
from chain.aa.webauthn import WebAuthnAssertion, account_signature, base64url

STANDARD_PREFIX = 0x01
PLAIN = 0x00
_HEAD = '{"type":"webauthn.get","challenge":"'
_CHALLENGE_KEY = '"challenge":"'


def _strip_challenge(client_data_json: str) -> bytes:
    start = client_data_json.find(_CHALLENGE_KEY)
    if start < 0:
        raise InvalidAssertion('clientDataJSON has no "challenge"')
    value = start + len(_CHALLENGE_KEY)
    end = client_data_json.find('"', value)
    if end < 0:
        raise InvalidAssertion("clientDataJSON's challenge is not closed")
    if client_data_json.startswith(_HEAD):
        return bytes([STANDARD_PREFIX]) + client_data_json[end + 1 :].encode()
    return bytes([PLAIN]) + (client_data_json[:value] + client_data_json[end:]).encode()


def _put_challenge(stripped: bytes, challenge: bytes) -> str:
    if not stripped:
        raise InvalidAssertion("no clientDataJSON")
    text = stripped[1:].decode("utf-8", errors="strict")
    if stripped[0] == STANDARD_PREFIX:
        return _HEAD + base64url(challenge) + '"' + text
    if stripped[0] == PLAIN and _CHALLENGE_KEY + '"' in text:
        return text.replace(_CHALLENGE_KEY + '"', _CHALLENGE_KEY + base64url(challenge) + '"', 1)
    raise InvalidAssertion("clientDataJSON: unknown form")


def compact(assertion: WebAuthnAssertion) -> bytes:
    """The compact form of one assertion (the passkey's part of the account signature)."""
    auth = assertion.authenticator_data
    if len(auth) > 255:
        raise InvalidAssertion("authenticatorData longer than 255 bytes")
    return (
        assertion.r.to_bytes(32, "big")
        + assertion.s.to_bytes(32, "big")
        + bytes([len(auth)])
        + auth
        + _strip_challenge(assertion.client_data_json)
    )


def compact_signature(signature: bytes) -> bytes:
    """The compact form of a full ERC-1271 signature (envelope ‖ ERC-7739 suffix): its first
    assertion (the accounts' threshold is one). What the buyer's page does in ``pickup.js``."""
    try:
        _signers, assertions = abi_decode(["bytes[]", "bytes[]"], signature)
        r, s, _ci, _ti, auth, client = abi_decode(
            ["bytes32", "bytes32", "uint256", "uint256", "bytes", "string"], assertions[0]
        )
    except Exception as exc:  # noqa: BLE001 - eth-abi raises several kinds for bad bytes
        raise InvalidAssertion(f"not a passkey account's signature: {exc}") from None
    return compact(
        WebAuthnAssertion(
            authenticator_data=bytes(auth),
            client_data_json=client,
            r=int.from_bytes(r, "big"),
            s=int.from_bytes(s, "big"),
        )
    )


def assertion_of(data: bytes, challenge: bytes) -> WebAuthnAssertion:
    """The assertion a compact form stands for, with ``challenge`` put back (InvalidAssertion)."""
    if len(data) < 65 or len(data) < 65 + data[64]:
        raise InvalidAssertion("a compact passkey signature is too short")
    auth_len = data[64]
    try:
        client = _put_challenge(data[65 + auth_len :], challenge)
    except UnicodeDecodeError:
        raise InvalidAssertion("clientDataJSON is not UTF-8") from None
    return WebAuthnAssertion(
        authenticator_data=data[65 : 65 + auth_len],
        client_data_json=client,
        r=int.from_bytes(data[:32], "big"),
        s=int.from_bytes(data[32:64], "big"),
    )


def _verifies(signer: bytes, assertion: WebAuthnAssertion) -> bool:
    if len(signer) != 84:
        return False
    try:
        key = ec.EllipticCurvePublicNumbers(
            int.from_bytes(signer[20:52], "big"),
            int.from_bytes(signer[52:84], "big"),
            ec.SECP256R1(),
        ).public_key()
        message = (
            assertion.authenticator_data
            + hashlib.sha256(assertion.client_data_json.encode()).digest()
        )
        key.verify(
            encode_dss_signature(assertion.r, assertion.s), message, ec.ECDSA(hashes.SHA256())
        )
    except (InvalidSignature, ValueError):
        return False
    return True


def expand(
    data: bytes,
    *,
    typed_data: dict,
    account: str,
    chain_id: int,
    signers: list[bytes],
) -> bytes:
    """The full ERC-1271 signature ``account`` gives for ``typed_data`` from its compact form:
    the challenge rebuilt, the account's signer whose key verifies the assertion (the first one
    when none does: the chain then refuses it), the ERC-7739 nesting. InvalidAssertion when the
    bytes are not a compact signature or the account has no signer."""
    if not signers:
        raise InvalidAssertion(f"{account} has no passkey")
    challenge = typed_data_sign_digest(typed_data, account=account, chain_id=chain_id)
    assertion = assertion_of(data, challenge)
    signer = next((s for s in signers if _verifies(s, assertion)), signers[0])
    return wrap_signature(account_signature([(signer, assertion)]), typed_data)
