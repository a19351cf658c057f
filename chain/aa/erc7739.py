"""ERC-1271 signatures of passkey accounts: ERC-7739 nested typed data.

An application (the escrow's handover) checks ``SignatureChecker.isValidSignatureNow(account,
digest, signature)`` with its own EIP-712 ``digest``. The account does not accept a passkey
signature over that bare digest (one passkey may own several accounts; a bare signature would
serve them all). The passkey signs instead the ``TypedDataSign`` wrapping of the application's
message with the account's own domain, and the signature carries what the account needs to
rebuild it::

    signature = accountSignature ‖ appDomainSeparator ‖ contentsHash ‖ contentsDescr ‖ uint16(len)

:func:`typed_data_sign` returns the wrapping as ordinary EIP-712 typed data (a wallet could show
it; eth-account hashes it), so the passkey's challenge is :func:`chain.eip712.typed_data_digest`
of it. Implicit mode: ``contentsDescr`` is the application type's ``encodeType``, which must start
with the primary type (true when the primary type sorts before the types it references).
"""

from __future__ import annotations

import logging
import struct
from typing import Any

from eth_abi import encode as abi_encode
from eth_account.messages import encode_typed_data
from eth_utils import keccak, to_checksum_address

from chain.eip712 import EIP712_DOMAIN_TYPE, typed_data_digest

logger = logging.getLogger(__name__)

#: PasskeyAccount's EIP-712 domain (constructor EIP712("TuanchainPasskeyAccount", "1")).
ACCOUNT_DOMAIN_NAME = "TuanchainPasskeyAccount"
ACCOUNT_DOMAIN_VERSION = "1"
ZERO_SALT = "0x" + "00" * 32


def encode_type(primary_type: str, types: dict[str, list[dict[str, str]]]) -> str:
    """EIP-712 ``encodeType``: the primary type, then every type it references, sorted by name."""

    def referenced(name: str, found: set[str]) -> None:
        for field in types.get(name, []):
            base = field["type"].split("[", 1)[0]
            if base in types and base not in found and base != "EIP712Domain":
                found.add(base)
                referenced(base, found)

    deps: set[str] = set()
    referenced(primary_type, deps)
    deps.discard(primary_type)

    def one(name: str) -> str:
        return f"{name}(" + ",".join(f"{f['type']} {f['name']}" for f in types[name]) + ")"

    return one(primary_type) + "".join(one(name) for name in sorted(deps))


def typed_data_sign(
    app_typed_data: dict[str, Any], *, account: str, chain_id: int
) -> dict[str, Any]:
    """The ``TypedDataSign`` typed data the passkey of ``account`` signs for ``app_typed_data``."""
    primary = app_typed_data["primaryType"]
    app_types = {k: v for k, v in app_typed_data["types"].items() if k != "EIP712Domain"}
    return {
        "types": {
            "EIP712Domain": app_typed_data["types"].get("EIP712Domain", EIP712_DOMAIN_TYPE),
            "TypedDataSign": [
                {"name": "contents", "type": primary},
                {"name": "name", "type": "string"},
                {"name": "version", "type": "string"},
                {"name": "chainId", "type": "uint256"},
                {"name": "verifyingContract", "type": "address"},
                {"name": "salt", "type": "bytes32"},
            ],
            **app_types,
        },
        "primaryType": "TypedDataSign",
        "domain": app_typed_data["domain"],
        "message": {
            "contents": app_typed_data["message"],
            "name": ACCOUNT_DOMAIN_NAME,
            "version": ACCOUNT_DOMAIN_VERSION,
            "chainId": int(chain_id),
            "verifyingContract": to_checksum_address(account),
            "salt": ZERO_SALT,
        },
    }


def typed_data_sign_digest(app_typed_data: dict[str, Any], *, account: str, chain_id: int) -> bytes:
    """The 32 bytes the passkey signs (its WebAuthn challenge) for ``app_typed_data``."""
    return typed_data_digest(typed_data_sign(app_typed_data, account=account, chain_id=chain_id))


def wrap_signature(account_signature: bytes, app_typed_data: dict[str, Any]) -> bytes:
    """The ERC-1271 signature to hand the application: the account signature and the nesting."""
    signable = encode_typed_data(full_message=app_typed_data)
    app_separator, contents_hash = bytes(signable.header), bytes(signable.body)
    contents_descr = encode_type(app_typed_data["primaryType"], app_typed_data["types"]).encode()
    if len(contents_descr) > 0xFFFF:
        raise ValueError("contents type description longer than 65,535 bytes")
    return (
        account_signature
        + app_separator
        + contents_hash
        + contents_descr
        + struct.pack(">H", len(contents_descr))
    )


PERSONAL_SIGN_TYPE = "PersonalSign(bytes prefixed)"
EIP712_DOMAIN_TYPE_STRING = (
    "EIP712Domain(string name,string version,uint256 chainId,address verifyingContract)"
)


def account_domain_separator(*, account: str, chain_id: int) -> bytes:
    """The passkey account's own EIP-712 domain separator (OpenZeppelin ``EIP712``)."""
    return keccak(
        abi_encode(
            ["bytes32", "bytes32", "bytes32", "uint256", "address"],
            [
                keccak(text=EIP712_DOMAIN_TYPE_STRING),
                keccak(text=ACCOUNT_DOMAIN_NAME),
                keccak(text=ACCOUNT_DOMAIN_VERSION),
                int(chain_id),
                to_checksum_address(account),
            ],
        )
    )


def personal_sign_hash(message: str | bytes) -> bytes:
    """EIP-191 ``personal_sign`` hash of ``message`` (what ``isValidSignature`` is asked about)."""
    data = message.encode() if isinstance(message, str) else bytes(message)
    return keccak(b"\x19Ethereum Signed Message:\n" + str(len(data)).encode() + data)


def personal_sign_digest(message_hash: bytes, *, account: str, chain_id: int) -> bytes:
    """The 32 bytes the passkey signs so that ``account.isValidSignature(message_hash, sig)``
    accepts a ``personal_sign`` (ERC-7739 ``PersonalSign`` nesting under the account's domain; the
    signature is the plain account signature, no suffix). ``message_hash`` is the EIP-191 hash."""
    struct_hash = keccak(
        abi_encode(["bytes32", "bytes32"], [keccak(text=PERSONAL_SIGN_TYPE), message_hash])
    )
    separator = account_domain_separator(account=account, chain_id=chain_id)
    return keccak(b"\x19\x01" + separator + struct_hash)
