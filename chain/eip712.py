"""EIP-712 typed data: OpenZeppelin ERC2771Forwarder requests and EIP-2612 permits.

Each builder returns the full typed-data dict exactly as ``eth_signTypedData_v4`` takes it
(``types`` with ``EIP712Domain``, ``primaryType``, ``domain``, ``message``), JSON-safe: hex
strings for bytes, Python ints for integers, checksummed address strings. The same dict can be
shown to a wallet, sent through an API as JSON, and signed here with eth-account.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from coincurve import PublicKey
from eth_account import Account
from eth_account.messages import SignableMessage, encode_typed_data
from eth_account.signers.local import LocalAccount
from hexbytes import HexBytes
from sha3 import keccak_256

from chain.address import checksum_address
from chain.exceptions import InvalidSignature

logger = logging.getLogger(__name__)

FORWARDER_NAME = "TuanchainForwarder"
FORWARDER_VERSION = "1"
TOKEN_NAME = "Tuan USD"
TOKEN_VERSION = "1"

EIP712_DOMAIN_TYPE = [
    {"name": "name", "type": "string"},
    {"name": "version", "type": "string"},
    {"name": "chainId", "type": "uint256"},
    {"name": "verifyingContract", "type": "address"},
]

# OpenZeppelin 5 ERC2771Forwarder._FORWARD_REQUEST_TYPEHASH, field for field.
FORWARD_REQUEST_TYPE = [
    {"name": "from", "type": "address"},
    {"name": "to", "type": "address"},
    {"name": "value", "type": "uint256"},
    {"name": "gas", "type": "uint256"},
    {"name": "nonce", "type": "uint256"},
    {"name": "deadline", "type": "uint48"},
    {"name": "data", "type": "bytes"},
]

PERMIT_TYPE = [
    {"name": "owner", "type": "address"},
    {"name": "spender", "type": "address"},
    {"name": "value", "type": "uint256"},
    {"name": "nonce", "type": "uint256"},
    {"name": "deadline", "type": "uint256"},
]


def _domain(*, name: str, version: str, chain_id: int, verifying_contract: str) -> dict[str, Any]:
    return {
        "name": name,
        "version": version,
        "chainId": int(chain_id),
        "verifyingContract": checksum_address(verifying_contract),
    }


def forward_request_typed_data(
    *,
    forwarder: str,
    chain_id: int,
    sender: str,
    to: str,
    data: bytes | str,
    nonce: int,
    deadline: int,
    gas: int,
    value: int = 0,
    name: str = FORWARDER_NAME,
    version: str = FORWARDER_VERSION,
) -> dict[str, Any]:
    """Typed data of a ``ForwardRequest`` for the forwarder at ``forwarder``.

    ``nonce`` is the signer's current ``forwarder.nonces(sender)``; ``deadline`` a unix time
    (uint48); ``gas`` the gas the forwarder must forward to the target.
    """
    return {
        "types": {"EIP712Domain": EIP712_DOMAIN_TYPE, "ForwardRequest": FORWARD_REQUEST_TYPE},
        "primaryType": "ForwardRequest",
        "domain": _domain(
            name=name, version=version, chain_id=chain_id, verifying_contract=forwarder
        ),
        "message": {
            "from": checksum_address(sender),
            "to": checksum_address(to),
            "value": int(value),
            "gas": int(gas),
            "nonce": int(nonce),
            "deadline": int(deadline),
            "data": HexBytes(data).to_0x_hex(),
        },
    }


def permit_typed_data(
    *,
    token: str,
    chain_id: int,
    owner: str,
    spender: str,
    value: int,
    nonce: int,
    deadline: int,
    name: str = TOKEN_NAME,
    version: str = TOKEN_VERSION,
) -> dict[str, Any]:
    """Typed data of an EIP-2612 ``Permit`` for the token at ``token`` (``nonces(owner)``)."""
    return {
        "types": {"EIP712Domain": EIP712_DOMAIN_TYPE, "Permit": PERMIT_TYPE},
        "primaryType": "Permit",
        "domain": _domain(name=name, version=version, chain_id=chain_id, verifying_contract=token),
        "message": {
            "owner": checksum_address(owner),
            "spender": checksum_address(spender),
            "value": int(value),
            "nonce": int(nonce),
            "deadline": int(deadline),
        },
    }


ESCROW_NAME = "GroupBuyEscrow"
ESCROW_VERSION = "1"
HANDOVER_TYPE = [
    {"name": "dealId", "type": "uint256"},
    {"name": "buyer", "type": "address"},
    {"name": "leader", "type": "address"},
    {"name": "quantity", "type": "uint256"},
    {"name": "expiry", "type": "uint256"},
]


def handover_typed_data(
    *,
    escrow: str,
    chain_id: int,
    deal_id: int,
    buyer: str,
    leader: str,
    quantity: int,
    expiry: int,
) -> dict[str, Any]:
    """Typed data of a pickup ``Handover`` (核销) the buyer signs and the leader submits to the
    escrow (GroupBuyLastMile: domain "GroupBuyEscrow" "1", verified by ECDSA or ERC-1271)."""
    return {
        "types": {"EIP712Domain": EIP712_DOMAIN_TYPE, "Handover": HANDOVER_TYPE},
        "primaryType": "Handover",
        "domain": _domain(
            name=ESCROW_NAME, version=ESCROW_VERSION, chain_id=chain_id, verifying_contract=escrow
        ),
        "message": {
            "dealId": int(deal_id),
            "buyer": checksum_address(buyer),
            "leader": checksum_address(leader),
            "quantity": int(quantity),
            "expiry": int(expiry),
        },
    }


@dataclass(frozen=True)
class Signature:
    """A 65-byte ECDSA signature and its parts."""

    v: int
    r: bytes
    s: bytes
    signature: bytes

    @property
    def hex(self) -> str:
        return HexBytes(self.signature).to_0x_hex()

    @classmethod
    def from_bytes(cls, signature: bytes | str) -> Signature:
        """Split a 65-byte ``r ‖ s ‖ v`` signature (``v`` as 0/1 or 27/28, as wallets give it)
        into the parts ``permit(..., v, r, s)`` takes; :class:`InvalidSignature` otherwise."""
        try:
            raw = bytes(HexBytes(signature))
        except (TypeError, ValueError) as exc:
            raise InvalidSignature(f"not a signature: {exc}") from None
        if len(raw) != 65:
            raise InvalidSignature("a signature is 65 bytes")
        v = raw[64] if raw[64] >= 27 else raw[64] + 27
        return cls(v=v, r=raw[:32], s=raw[32:64], signature=raw)


# Field types the flat encoder below hashes itself (everything a ForwardRequest, a Permit or
# the EIP-712 domain holds); any other type is left to eth-account.
_FLAT_TYPES = frozenset(
    ["address", "bool", "string", "bytes"]
    + [f"uint{n}" for n in range(8, 257, 8)]
    + [f"bytes{n}" for n in range(1, 33)]
)
_HEX_DIGITS = re.compile(r"[0-9a-fA-F]*")


def keccak(data: bytes) -> bytes:
    """keccak256 through safe-pysha3 (pinned, C) directly: eth-utils' ``keccak`` (its argument
    checks, eth-hash's wrappers) took ~6 µs against ~0.8 µs, and accepting a join hashes ~14
    times (issue 15)."""
    return keccak_256(data).digest()  # type: ignore[no-any-return]


def _type_string(name: str, fields: list[dict[str, str]]) -> str:
    return f"{name}(" + ",".join(f"{f['type']} {f['name']}" for f in fields) + ")"


@lru_cache(maxsize=64)
def _type_hash(name: str, fields: tuple[tuple[str, str], ...]) -> bytes:
    return keccak(_type_string(name, [{"name": n, "type": t} for n, t in fields]).encode())


def _is_hex(value: Any, *, length: int | None = None) -> bool:
    if not isinstance(value, str) or not value.startswith("0x") or len(value) % 2:
        return False
    digits = value[2:]
    # A regular expression, not a loop over the characters: a join's calldata is ~900 digits,
    # and the loop was the flat hasher's largest cost (issue 15, scripts/profile_relay.py).
    return (length is None or len(digits) == 2 * length) and _HEX_DIGITS.fullmatch(
        digits
    ) is not None


def _encode_flat_value(kind: str, value: Any) -> bytes | None:
    """One field's 32-byte encoding (EIP-712 ``encodeData``); None where eth-account should
    decide (a value it would convert, or refuse, in a way not copied here)."""
    if kind == "address":
        if not _is_hex(value, length=20):
            return None
        if value != value.lower() and checksum_address(value) != value:
            return None  # a bad checksum: eth-account says why
        return bytes(12) + bytes.fromhex(value[2:])
    if kind.startswith("uint"):
        if type(value) is not int or not 0 <= value < 2 ** int(kind[4:]):
            return None
        return value.to_bytes(32, "big")
    if kind == "bool":
        return (1 if value else 0).to_bytes(32, "big") if type(value) is bool else None
    if kind == "string":
        return keccak(value.encode()) if isinstance(value, str) else None
    if kind == "bytes":
        return keccak(bytes.fromhex(value[2:])) if _is_hex(value) else None
    size = int(kind[5:])  # bytesN
    return bytes.fromhex(value[2:]).ljust(32, b"\0") if _is_hex(value, length=size) else None


def _flat_struct_hash(name: str, fields: Any, values: Any) -> bytes | None:
    """``hashStruct`` of a struct whose fields are all elementary; None to defer to eth-account."""
    if not isinstance(fields, list) or not isinstance(values, dict):
        return None
    try:
        pairs = tuple((f["name"], f["type"]) for f in fields)
    except (KeyError, TypeError):
        return None
    if {n for n, _ in pairs} != set(values) or len(pairs) != len(values):
        return None
    if any(t not in _FLAT_TYPES for _, t in pairs):
        return None
    parts = [_type_hash(name, pairs)]
    for field_name, kind in pairs:
        encoded = _encode_flat_value(kind, values[field_name])
        if encoded is None:
            return None
        parts.append(encoded)
    return keccak(b"".join(parts))


def _flat_signable(typed_data: dict[str, Any]) -> SignableMessage | None:
    """The EIP-712 message of typed data with one flat primary type (ForwardRequest, Permit...),
    hashed here; None for anything else (eth-account hashes it).

    Why: eth-account's generic encoder took ~1.3 ms per hash, and accepting one relayed join
    hashed its request three times and its permit once (issue 15); this takes ~0.05 ms. A
    differential test holds it to eth-account's result."""
    types, primary = typed_data.get("types"), typed_data.get("primaryType")
    if not isinstance(types, dict) or set(types) != {"EIP712Domain", primary}:
        return None
    domain = _flat_struct_hash("EIP712Domain", types["EIP712Domain"], typed_data.get("domain"))
    if domain is None:
        return None
    body = _flat_struct_hash(str(primary), types[primary], typed_data.get("message"))
    if body is None:
        return None
    return SignableMessage(b"\x01", domain, body)


def _signable(typed_data: dict[str, Any]) -> SignableMessage:
    return _flat_signable(typed_data) or encode_typed_data(full_message=typed_data)


def typed_data_digest(typed_data: dict[str, Any]) -> bytes:
    """The EIP-712 digest ``keccak256(0x1901 ‖ domainSeparator ‖ structHash)``."""
    signable = _signable(typed_data)
    return keccak(b"\x19" + signable.version + signable.header + signable.body)


def sign_typed_data(account: LocalAccount, typed_data: dict[str, Any]) -> Signature:
    """Sign typed data with a local key, exactly as a wallet's ``eth_signTypedData_v4`` would."""
    signed = account.sign_typed_data(full_message=typed_data)
    return Signature(
        v=signed.v,
        r=signed.r.to_bytes(32, "big"),
        s=signed.s.to_bytes(32, "big"),
        signature=bytes(signed.signature),
    )


def recover_typed_data_signer(
    typed_data: dict[str, Any], signature: bytes | str, *, digest: bytes | None = None
) -> str:
    """The address that signed ``typed_data`` (checks a signature before relaying it);
    ``digest``: its :func:`typed_data_digest`, when the caller has it already.

    :class:`InvalidSignature` when the signature, or the typed data, cannot be checked."""
    try:
        if digest is None:
            digest = typed_data_digest(typed_data)
        fast = _recover_digest(digest, signature)
        if fast is not None:
            return fast
        return Account.recover_message(_signable(typed_data), signature=HexBytes(signature))
    except Exception as exc:  # eth-account raises many types for malformed input
        raise InvalidSignature(str(exc)) from exc


def _recover_digest(digest: bytes, signature: bytes | str) -> str | None:
    """The signer of ``digest`` through libsecp256k1 (coincurve) directly, for a well-formed
    65-byte ``r ‖ s ‖ v`` signature (v 0/1 or 27/28); None for anything else, which
    eth-account then recovers or refuses with its own message.

    Why: eth-account's ``recover_message`` (message objects, eth-keys' signature and public key
    objects, checksumming) cost ~0.4 ms a signature besides the 0.1 ms curve operation, twice
    per relayed join (issue 15). The test holds this to eth-account's answer."""
    try:
        raw = bytes(HexBytes(signature))
    except (TypeError, ValueError):
        return None
    if len(raw) != 65 or raw[64] not in (0, 1, 27, 28) or len(digest) != 32:
        return None
    r, s = int.from_bytes(raw[:32], "big"), int.from_bytes(raw[32:64], "big")
    if not (0 < r < _SECP256K1_N and 0 < s < _SECP256K1_N):
        return None  # eth-keys refuses these: its words
    try:
        public = PublicKey.from_signature_and_message(
            raw[:64] + bytes([raw[64] % 27]), digest, hasher=None
        )
    except ValueError:
        return None  # no point recovers (eth-account's error says so)
    return checksum_address("0x" + keccak(public.format(compressed=False)[1:])[-20:].hex())


_SECP256K1_N = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141


def canonical_signature(signature: str) -> str:
    """A 65-byte ``r ‖ s ‖ v`` signature as OpenZeppelin's ECDSA takes it (the forwarder's
    ``verify``, a token's ``permit``): ``v`` 27/28 rather than 0/1 (some hardware wallets), and
    the low ``s`` of the pair (``s`` and ``N - s`` with the other ``v`` recover the same
    signer; ECDSA refuses the high one against malleability). Anything else unchanged (the
    checks refuse it with their own words)."""
    try:
        raw = bytes(HexBytes(signature))
    except (TypeError, ValueError):
        return signature
    if len(raw) != 65 or raw[64] not in (0, 1, 27, 28):
        return signature
    v, s = raw[64] % 27 + 27, int.from_bytes(raw[32:64], "big")
    if _SECP256K1_N // 2 < s < _SECP256K1_N:
        s, v = _SECP256K1_N - s, 55 - v
    return "0x" + (raw[:32] + s.to_bytes(32, "big") + bytes([v])).hex()


def forward_request_data(typed_data: dict[str, Any], signature: bytes | str) -> tuple[Any, ...]:
    """The ``ForwardRequestData`` tuple ``execute``/``verify`` take, from signed typed data.

    ``(from, to, value, gas, deadline, data, signature)`` — the nonce is not part of it: the
    forwarder reads the signer's current nonce when it checks the signature.
    """
    message = typed_data["message"]
    return (
        checksum_address(message["from"]),
        checksum_address(message["to"]),
        int(message["value"]),
        int(message["gas"]),
        int(message["deadline"]),
        bytes(HexBytes(message["data"])),
        bytes(HexBytes(signature)),
    )
