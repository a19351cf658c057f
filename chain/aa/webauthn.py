"""WebAuthn passkey signatures in the format the passkey accounts verify on chain.

A passkey signs ``sha256(authenticatorData ‖ sha256(clientDataJSON))`` with P-256, where
``clientDataJSON`` carries the challenge (here: a 32-byte hash, base64url without padding).
OpenZeppelin's ``WebAuthn.verify`` checks the JSON's ``type`` and ``challenge`` at given indexes,
the User Present and User Verified flags and the signature, and refuses ``s > n/2``: browsers
return DER signatures with a random ``s``, so :meth:`WebAuthnAssertion.normalised` replaces
``s`` by ``n - s`` before submission.

:class:`SoftwarePasskey` is a software authenticator (``cryptography``'s P-256) producing the
same bytes a browser does; :meth:`WebAuthnAssertion.from_browser` turns what
``navigator.credentials.get`` returns into an assertion.
"""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import json
import logging
from dataclasses import dataclass

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import (
    decode_dss_signature,
    encode_dss_signature,
)
from eth_abi import encode as abi_encode
from hexbytes import HexBytes

from chain.aa.errors import InvalidAssertion

logger = logging.getLogger(__name__)

#: P-256 group order; OpenZeppelin's P256 accepts only s <= n/2.
P256_N = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551
P256_HALF_N = P256_N // 2

FLAG_UP = 0x01  # user present
FLAG_UV = 0x04  # user verified (Face ID, fingerprint, PIN)
FLAG_BE = 0x08  # backup eligible (a synced passkey)
FLAG_BS = 0x10  # backed up
DEFAULT_FLAGS = FLAG_UP | FLAG_UV

DEFAULT_RP_ID = "localhost"  # a WebAuthn RP ID cannot be an IP address
DEFAULT_ORIGIN = "http://localhost:8000"

_TYPE_KEY = '"type":"webauthn.get"'
_CHALLENGE_KEY = '"challenge":"'


def base64url(data: bytes) -> str:
    """Base64url without padding (WebAuthn's challenge encoding)."""
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def base64url_decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def normalise_s(s: int) -> int:
    """The low form of an ECDSA ``s`` (``n - s`` when ``s > n/2``): the same signature, accepted."""
    return P256_N - s if s > P256_HALF_N else s


@dataclass(frozen=True)
class WebAuthnAssertion:
    """One WebAuthn authentication assertion: what ``WebAuthn.WebAuthnAuth`` holds on chain."""

    authenticator_data: bytes
    client_data_json: str
    r: int
    s: int

    @property
    def type_index(self) -> int:
        index = self.client_data_json.find(_TYPE_KEY)
        if index < 0:
            raise InvalidAssertion('clientDataJSON has no "type":"webauthn.get"')
        return index

    @property
    def challenge_index(self) -> int:
        index = self.client_data_json.find(_CHALLENGE_KEY)
        if index < 0:
            raise InvalidAssertion('clientDataJSON has no "challenge"')
        return index

    @property
    def challenge(self) -> bytes:
        """The challenge the authenticator signed (decoded from clientDataJSON)."""
        try:
            return base64url_decode(str(json.loads(self.client_data_json)["challenge"]))
        except (ValueError, KeyError, TypeError) as exc:
            raise InvalidAssertion(f"clientDataJSON has no readable challenge: {exc}") from exc

    @property
    def flags(self) -> int:
        return self.authenticator_data[32]

    @property
    def is_high_s(self) -> bool:
        return self.s > P256_HALF_N

    def normalised(self) -> WebAuthnAssertion:
        """The same assertion with a low ``s`` (what the account accepts)."""
        return dataclasses.replace(self, s=normalise_s(self.s))

    def encode(self) -> bytes:
        """``abi.encode(r, s, challengeIndex, typeIndex, authenticatorData, clientDataJSON)``.

        The flat tuple OpenZeppelin's ``WebAuthn.tryDecodeAuth`` reads (not ``abi.encode`` of the
        struct, which would start with an offset word).
        """
        return abi_encode(
            ["bytes32", "bytes32", "uint256", "uint256", "bytes", "string"],
            [
                self.r.to_bytes(32, "big"),
                self.s.to_bytes(32, "big"),
                self.challenge_index,
                self.type_index,
                self.authenticator_data,
                self.client_data_json,
            ],
        )

    @classmethod
    def from_browser(
        cls,
        *,
        authenticator_data: bytes | str,
        client_data_json: bytes | str,
        signature: bytes | str,
    ) -> WebAuthnAssertion:
        """From ``AuthenticatorAssertionResponse`` fields (raw bytes, hex or base64url strings).

        ``signature`` is the DER signature the browser returns; ``s`` is kept as given (call
        :meth:`normalised` before submitting).
        """
        auth_data = _bytes(authenticator_data, "authenticatorData")
        client_json = _bytes(client_data_json, "clientDataJSON")
        der = _bytes(signature, "signature")
        if len(auth_data) < 37:
            raise InvalidAssertion(
                f"authenticatorData is {len(auth_data)} bytes, at least 37 needed"
            )
        try:
            r, s = decode_dss_signature(der)
        except ValueError as exc:
            raise InvalidAssertion(f"signature is not DER-encoded ECDSA: {exc}") from exc
        try:
            text = client_json.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise InvalidAssertion("clientDataJSON is not UTF-8") from exc
        assertion = cls(authenticator_data=auth_data, client_data_json=text, r=r, s=s)
        assertion.type_index  # noqa: B018 - validate the fields the contract looks for
        assertion.challenge_index  # noqa: B018
        return assertion


def _bytes(value: bytes | str, name: str) -> bytes:
    if isinstance(value, bytes | bytearray):
        return bytes(value)
    text = value.strip()
    try:
        if text.startswith("0x"):
            return bytes(HexBytes(text))
        return base64url_decode(text)
    except ValueError as exc:
        raise InvalidAssertion(f"{name} is neither 0x-hex nor base64url: {exc}") from exc


class SoftwarePasskey:
    """A P-256 credential in software, standing in for a phone's authenticator in tests and tools.

    Signs exactly what a platform authenticator signs (``authenticatorData ‖
    sha256(clientDataJSON)``, SHA-256 ECDSA with a random nonce, so ``s`` is high half the time).
    """

    def __init__(self, private_key: ec.EllipticCurvePrivateKey) -> None:
        if not isinstance(private_key.curve, ec.SECP256R1):
            raise TypeError("a passkey is a P-256 (secp256r1) key")
        self._key = private_key
        numbers = private_key.public_key().public_numbers()
        self.qx = numbers.x.to_bytes(32, "big")
        self.qy = numbers.y.to_bytes(32, "big")

    @classmethod
    def generate(cls) -> SoftwarePasskey:
        return cls(ec.generate_private_key(ec.SECP256R1()))

    @classmethod
    def from_secret(cls, secret: int | bytes) -> SoftwarePasskey:
        """A deterministic key (tests, benchmarks): ``secret`` mod n, never 0."""
        value = int.from_bytes(secret, "big") if isinstance(secret, bytes) else secret
        return cls(ec.derive_private_key(value % (P256_N - 1) + 1, ec.SECP256R1()))

    @property
    def public_key(self) -> tuple[bytes, bytes]:
        """(qx, qy), 32 bytes each: what the factory and ``addPasskey`` take."""
        return self.qx, self.qy

    def signer(self, verifier: str) -> bytes:
        """The ERC-7913 signer the account stores: ``verifier ‖ qx ‖ qy``."""
        return bytes(HexBytes(verifier)) + self.qx + self.qy

    def assertion(
        self,
        challenge: bytes,
        *,
        flags: int = DEFAULT_FLAGS,
        rp_id: str = DEFAULT_RP_ID,
        origin: str = DEFAULT_ORIGIN,
        sign_count: int = 0,
        normalise: bool = True,
    ) -> WebAuthnAssertion:
        """Sign ``challenge`` as ``navigator.credentials.get`` would (then normalise ``s``)."""
        authenticator_data = (
            hashlib.sha256(rp_id.encode()).digest() + bytes([flags]) + sign_count.to_bytes(4, "big")
        )
        # Key order and compact separators as Chromium serialises CollectedClientData.
        client_data_json = json.dumps(
            {
                "type": "webauthn.get",
                "challenge": base64url(challenge),
                "origin": origin,
                "crossOrigin": False,
            },
            separators=(",", ":"),
        )
        message = authenticator_data + hashlib.sha256(client_data_json.encode()).digest()
        r, s = decode_dss_signature(self._key.sign(message, ec.ECDSA(hashes.SHA256())))
        assertion = WebAuthnAssertion(authenticator_data, client_data_json, r, s)
        return assertion.normalised() if normalise else assertion

    def verify(self, assertion: WebAuthnAssertion) -> bool:
        """Off-chain check of the P-256 signature alone (either ``s`` form)."""
        message = (
            assertion.authenticator_data
            + hashlib.sha256(assertion.client_data_json.encode()).digest()
        )
        try:
            self._key.public_key().verify(
                encode_dss_signature(assertion.r, assertion.s), message, ec.ECDSA(hashes.SHA256())
            )
        except InvalidSignature:
            return False
        return True


def account_signature(signers_and_assertions: list[tuple[bytes, WebAuthnAssertion]]) -> bytes:
    """A passkey account's signature: ``abi.encode(bytes[] signers, bytes[] signatures)``.

    OpenZeppelin MultiSignerERC7913's envelope; the accounts' threshold is 1, so one pair
    ``(passkey.signer(verifier), assertion)`` suffices.
    """
    return abi_encode(
        ["bytes[]", "bytes[]"],
        [[s for s, _ in signers_and_assertions], [a.encode() for _, a in signers_and_assertions]],
    )
