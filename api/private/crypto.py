"""AES-256-GCM sealing of private documents (``cryptography``'s AEAD, a fresh 96-bit nonce each).

The associated data binds a ciphertext to the SHA-256 of its plaintext, so a sealed row moved onto
another document's row does not open. ``key_id`` (a digest of the key, not the key) tells which key
sealed a row, so a wrong or rotated key is a clear :class:`WrongDocumentKey`, not garbage.
"""

from __future__ import annotations

import hashlib
import os

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

NONCE_BYTES = 12


class WrongDocumentKey(Exception):
    """The row was sealed with another key than the configured one (or was altered)."""


def key_id(key: bytes) -> str:
    return hashlib.sha256(b"tuanchain document key id\x00" + key).hexdigest()[:16]


def _associated(sha256_hex: str) -> bytes:
    return f"tuanchain private document v1 sha256:{sha256_hex}".encode()


def seal(key: bytes, plaintext: bytes, sha256_hex: str) -> bytes:
    """``nonce || ciphertext || tag``."""
    nonce = os.urandom(NONCE_BYTES)
    return nonce + AESGCM(key).encrypt(nonce, plaintext, _associated(sha256_hex))


def open_sealed(key: bytes, sealed: bytes, sha256_hex: str) -> bytes:
    try:
        plaintext = AESGCM(key).decrypt(
            sealed[:NONCE_BYTES], sealed[NONCE_BYTES:], _associated(sha256_hex)
        )
    except InvalidTag:
        raise WrongDocumentKey(
            "the document does not open with the configured TUANCHAIN_DOCUMENT_KEY"
        ) from None
    if hashlib.sha256(plaintext).hexdigest() != sha256_hex:  # cannot happen with a valid tag
        raise WrongDocumentKey("the opened document does not match its digest")
    return plaintext


def _record_associated(label: str) -> bytes:
    return f"tuanchain private record v1 {label}".encode()


def seal_record(key: bytes, plaintext: bytes, label: str) -> bytes:
    """Seal a small record that is not a document (a consented phone number, a webhook secret);
    ``label`` (e.g. the row's address) binds it to its row as the digest binds a document."""
    nonce = os.urandom(NONCE_BYTES)
    return nonce + AESGCM(key).encrypt(nonce, plaintext, _record_associated(label))


def open_record(key: bytes, sealed: bytes, label: str) -> bytes:
    try:
        return AESGCM(key).decrypt(
            sealed[:NONCE_BYTES], sealed[NONCE_BYTES:], _record_associated(label)
        )
    except InvalidTag:
        raise WrongDocumentKey(
            "the record does not open with the configured TUANCHAIN_DOCUMENT_KEY"
        ) from None
