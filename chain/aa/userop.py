"""ERC-4337 user operations for EntryPoint v0.8: the unpacked form, its packing, its hash.

:class:`UserOperation` holds the fields the way the ERC-4337 JSON-RPC API (ERC-7769, v0.7+) names
them (``factory``/``factoryData``, ``paymaster``/``paymasterData``, gas limits apart);
:meth:`UserOperation.packed` is the ``PackedUserOperation`` tuple ``handleOps`` takes.
:func:`user_op_typed_data` is the EIP-712 typed data EntryPoint v0.8 hashes (domain "ERC4337",
version "1"); its digest, :func:`user_op_hash`, is ``EntryPoint.getUserOpHash`` and the WebAuthn
challenge a passkey signs.

ERC-7821 batches (:func:`encode_execute`, :func:`decode_execute`) are the accounts' calls:
``execute(bytes32 mode, bytes executionData)`` in single batch mode, ``executionData`` =
``abi.encode((address target, uint256 value, bytes data)[])``.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from eth_abi import decode as abi_decode
from eth_abi import encode as abi_encode
from eth_utils import function_signature_to_4byte_selector, to_checksum_address
from hexbytes import HexBytes

from chain.eip712 import EIP712_DOMAIN_TYPE, typed_data_digest

logger = logging.getLogger(__name__)

ENTRYPOINT_DOMAIN_NAME = "ERC4337"
ENTRYPOINT_DOMAIN_VERSION = "1"

# UserOperationLib.PACKED_USEROP_TYPEHASH of EntryPoint v0.8, field for field.
PACKED_USER_OPERATION_TYPE = [
    {"name": "sender", "type": "address"},
    {"name": "nonce", "type": "uint256"},
    {"name": "initCode", "type": "bytes"},
    {"name": "callData", "type": "bytes"},
    {"name": "accountGasLimits", "type": "bytes32"},
    {"name": "preVerificationGas", "type": "uint256"},
    {"name": "gasFees", "type": "bytes32"},
    {"name": "paymasterAndData", "type": "bytes"},
]
PACKED_USER_OPERATION_ABI = "(address,uint256,bytes,bytes,bytes32,uint256,bytes32,bytes,bytes)"

EXECUTE_SELECTOR = function_signature_to_4byte_selector("execute(bytes32,bytes)")
#: ERC-7821 single batch mode: call type 0x01, default exec type, no selector, no payload.
BATCH_MODE = bytes([1]) + bytes(31)

# The reference bundler's preVerificationGas model (eth-infinitism bundler, calcPreVerificationGas).
PVG_FIXED = 21_000
PVG_PER_USER_OP = 18_300
PVG_PER_USER_OP_WORD = 4
PVG_ZERO_BYTE = 4
PVG_NON_ZERO_BYTE = 16
#: Bytes assumed for a passkey signature not made yet (a one-passkey WebAuthn envelope is ~830).
PLACEHOLDER_SIGNATURE_SIZE = 900
PVG_COUNTED_AS = 0xFFFFFFFF
#: EIP-7623 (Prague and later; anvil runs osaka): a transaction pays at least 21,000 + 10 gas per
#: calldata token, a zero byte being one token and any other byte four, whatever its execution
#: cost (which pays 4 a token). The EntryPoint repays measured gas + preVerificationGas only.
PVG_FLOOR_PER_TOKEN = 10
PVG_TOKENS_PER_NON_ZERO_BYTE = 4
#: ``handleOps``' calldata around one packed operation, counted as non-zero bytes: the selector,
#: the array's offset and length, the element's offset and the beneficiary.
PVG_BUNDLE_FRAME_BYTES = 4 + 4 * 32


def _uint(value: int, name: str, bits: int) -> int:
    if not 0 <= value < 1 << bits:
        raise ValueError(f"{name} must fit in {bits} unsigned bits, got {value}")
    return value


@dataclass(frozen=True)
class UserOperation:
    """One user operation (v0.7+ fields). Addresses are checksummed; bytes are ``bytes``."""

    sender: str
    nonce: int
    call_data: bytes
    call_gas_limit: int
    verification_gas_limit: int
    pre_verification_gas: int
    max_fee_per_gas: int
    max_priority_fee_per_gas: int
    factory: str | None = None
    factory_data: bytes = b""
    paymaster: str | None = None
    paymaster_verification_gas_limit: int = 0
    paymaster_post_op_gas_limit: int = 0
    paymaster_data: bytes = b""
    signature: bytes = b""

    def __post_init__(self) -> None:
        object.__setattr__(self, "sender", to_checksum_address(self.sender))
        if self.factory is not None:
            object.__setattr__(self, "factory", to_checksum_address(self.factory))
        if self.paymaster is not None:
            object.__setattr__(self, "paymaster", to_checksum_address(self.paymaster))
        for name in (
            "call_gas_limit",
            "verification_gas_limit",
            "max_fee_per_gas",
            "max_priority_fee_per_gas",
            "paymaster_verification_gas_limit",
            "paymaster_post_op_gas_limit",
        ):
            _uint(getattr(self, name), name, 128)
        # uint256 in PackedUserOperation: a negative or wider value cannot be hashed or packed
        # (eth_abi raises deep inside the userOpHash, a 500 rather than -32602).
        for name in ("nonce", "pre_verification_gas"):
            _uint(getattr(self, name), name, 256)

    def replace(self, **changes: Any) -> UserOperation:
        """A copy with some fields changed (``op.replace(signature=sig)``)."""
        return dataclasses.replace(self, **changes)

    # ------------------------------------------------------------------ packed fields

    @property
    def init_code(self) -> bytes:
        return b"" if self.factory is None else HexBytes(self.factory) + self.factory_data

    @property
    def account_gas_limits(self) -> bytes:
        return (self.verification_gas_limit << 128 | self.call_gas_limit).to_bytes(32, "big")

    @property
    def gas_fees(self) -> bytes:
        return (self.max_priority_fee_per_gas << 128 | self.max_fee_per_gas).to_bytes(32, "big")

    @property
    def paymaster_and_data(self) -> bytes:
        if self.paymaster is None:
            return b""
        return (
            bytes(HexBytes(self.paymaster))
            + self.paymaster_verification_gas_limit.to_bytes(16, "big")
            + self.paymaster_post_op_gas_limit.to_bytes(16, "big")
            + self.paymaster_data
        )

    @property
    def max_cost(self) -> int:
        """What the EntryPoint reserves from the paymaster (or account): every gas limit × maxFee."""
        gas = (
            self.verification_gas_limit
            + self.call_gas_limit
            + self.paymaster_verification_gas_limit
            + self.paymaster_post_op_gas_limit
            + self.pre_verification_gas
        )
        return gas * self.max_fee_per_gas

    def packed(self) -> tuple[Any, ...]:
        """The ``PackedUserOperation`` tuple (``handleOps``, ``getUserOpHash``)."""
        return (
            self.sender,
            self.nonce,
            self.init_code,
            self.call_data,
            self.account_gas_limits,
            self.pre_verification_gas,
            self.gas_fees,
            self.paymaster_and_data,
            self.signature,
        )

    @classmethod
    def from_packed(cls, packed: Sequence[Any]) -> UserOperation:
        """The inverse of :meth:`packed` (``eth_getUserOperationByHash`` reads ops from calldata)."""
        sender, nonce, init_code, call_data, gas_limits, pvg, fees, pm_and_data, signature = packed
        init_code, gas_limits, fees, pm_and_data = (
            bytes(init_code),
            int.from_bytes(bytes(gas_limits), "big"),
            int.from_bytes(bytes(fees), "big"),
            bytes(pm_and_data),
        )
        mask = (1 << 128) - 1
        return cls(
            sender=sender,
            nonce=int(nonce),
            call_data=bytes(call_data),
            call_gas_limit=gas_limits & mask,
            verification_gas_limit=gas_limits >> 128,
            pre_verification_gas=int(pvg),
            max_fee_per_gas=fees & mask,
            max_priority_fee_per_gas=fees >> 128,
            factory=to_checksum_address(init_code[:20]) if init_code else None,
            factory_data=init_code[20:],
            paymaster=to_checksum_address(pm_and_data[:20]) if pm_and_data else None,
            paymaster_verification_gas_limit=int.from_bytes(pm_and_data[20:36], "big"),
            paymaster_post_op_gas_limit=int.from_bytes(pm_and_data[36:52], "big"),
            paymaster_data=pm_and_data[52:],
            signature=bytes(signature),
        )

    # ------------------------------------------------------------------ JSON-RPC (ERC-7769)

    def to_rpc(self) -> dict[str, str]:
        """The operation as ``eth_sendUserOperation`` takes it (hex quantities and data)."""
        out: dict[str, str] = {
            "sender": self.sender,
            "nonce": hex(self.nonce),
            "callData": HexBytes(self.call_data).to_0x_hex(),
            "callGasLimit": hex(self.call_gas_limit),
            "verificationGasLimit": hex(self.verification_gas_limit),
            "preVerificationGas": hex(self.pre_verification_gas),
            "maxFeePerGas": hex(self.max_fee_per_gas),
            "maxPriorityFeePerGas": hex(self.max_priority_fee_per_gas),
            "signature": HexBytes(self.signature).to_0x_hex(),
        }
        if self.factory is not None:
            out["factory"] = self.factory
            out["factoryData"] = HexBytes(self.factory_data).to_0x_hex()
        if self.paymaster is not None:
            out["paymaster"] = self.paymaster
            out["paymasterVerificationGasLimit"] = hex(self.paymaster_verification_gas_limit)
            out["paymasterPostOpGasLimit"] = hex(self.paymaster_post_op_gas_limit)
            out["paymasterData"] = HexBytes(self.paymaster_data).to_0x_hex()
        return out

    @classmethod
    def from_rpc(cls, data: dict[str, Any]) -> UserOperation:
        """Parse the JSON-RPC form; ``KeyError``/``ValueError`` on a missing or malformed field."""

        def quantity(key: str, default: str | None = None) -> int:
            value = data.get(key, default)
            if value is None:
                raise KeyError(key)
            return int(value, 16) if isinstance(value, str) else int(value)

        def data_field(key: str) -> bytes:
            return bytes(HexBytes(data.get(key) or "0x"))

        factory = data.get("factory") or None
        paymaster = data.get("paymaster") or None
        return cls(
            sender=data["sender"],
            nonce=quantity("nonce"),
            call_data=data_field("callData"),
            call_gas_limit=quantity("callGasLimit"),
            verification_gas_limit=quantity("verificationGasLimit"),
            pre_verification_gas=quantity("preVerificationGas"),
            max_fee_per_gas=quantity("maxFeePerGas"),
            max_priority_fee_per_gas=quantity("maxPriorityFeePerGas"),
            factory=factory,
            factory_data=data_field("factoryData") if factory else b"",
            paymaster=paymaster,
            paymaster_verification_gas_limit=(
                quantity("paymasterVerificationGasLimit", "0x0") if paymaster else 0
            ),
            paymaster_post_op_gas_limit=(
                quantity("paymasterPostOpGasLimit", "0x0") if paymaster else 0
            ),
            paymaster_data=data_field("paymasterData") if paymaster else b"",
            signature=data_field("signature"),
        )


# ---------------------------------------------------------------------- hash


def user_op_typed_data(op: UserOperation, *, entry_point: str, chain_id: int) -> dict[str, Any]:
    """The EIP-712 typed data EntryPoint v0.8 hashes into ``getUserOpHash`` (signature excluded)."""
    return {
        "types": {
            "EIP712Domain": EIP712_DOMAIN_TYPE,
            "PackedUserOperation": PACKED_USER_OPERATION_TYPE,
        },
        "primaryType": "PackedUserOperation",
        "domain": {
            "name": ENTRYPOINT_DOMAIN_NAME,
            "version": ENTRYPOINT_DOMAIN_VERSION,
            "chainId": int(chain_id),
            "verifyingContract": to_checksum_address(entry_point),
        },
        "message": {
            "sender": op.sender,
            "nonce": op.nonce,
            "initCode": HexBytes(op.init_code).to_0x_hex(),
            "callData": HexBytes(op.call_data).to_0x_hex(),
            "accountGasLimits": HexBytes(op.account_gas_limits).to_0x_hex(),
            "preVerificationGas": op.pre_verification_gas,
            "gasFees": HexBytes(op.gas_fees).to_0x_hex(),
            "paymasterAndData": HexBytes(op.paymaster_and_data).to_0x_hex(),
        },
    }


def user_op_hash(op: UserOperation, *, entry_point: str, chain_id: int) -> bytes:
    """``EntryPoint.getUserOpHash(op)`` computed locally (v0.8: an EIP-712 digest)."""
    return typed_data_digest(user_op_typed_data(op, entry_point=entry_point, chain_id=chain_id))


# ---------------------------------------------------------------------- gas


def pre_verification_gas(op: UserOperation) -> int:
    """The gas a bundler charges for carrying ``op`` (calldata and per-operation overhead).

    The reference bundler's model for a bundle of one: 21,000 + 18,300 + 4 per word of the packed
    operation + 4 per zero byte and 16 per other byte of it — and at least EIP-7623's calldata
    floor for a bundle of one: 21,000 + 10 per token of the packed operation and of the bundle's
    frame (:data:`PVG_BUNDLE_FRAME_BYTES`). Each operation of a bundle of several pays 21,000 and
    its own tokens, so the bundle's floor is covered too. An unsigned operation is counted with
    a placeholder signature of :data:`PLACEHOLDER_SIGNATURE_SIZE` non-zero bytes.
    """
    signature = op.signature or b"\x01" * PLACEHOLDER_SIGNATURE_SIZE
    # The field itself is counted at its largest realistic size (4 non-zero bytes): the figure
    # does not depend on the value it becomes, so an operation priced by it passes the check.
    counted = op.replace(signature=signature, pre_verification_gas=PVG_COUNTED_AS)
    packed = abi_encode([PACKED_USER_OPERATION_ABI], [counted.packed()])
    zeros = packed.count(0)
    non_zeros = len(packed) - zeros
    calldata_cost = PVG_ZERO_BYTE * zeros + PVG_NON_ZERO_BYTE * non_zeros
    words = (len(packed) + 31) // 32
    standard = calldata_cost + PVG_FIXED + PVG_PER_USER_OP + PVG_PER_USER_OP_WORD * words
    tokens = zeros + PVG_TOKENS_PER_NON_ZERO_BYTE * (non_zeros + PVG_BUNDLE_FRAME_BYTES)
    return max(standard, PVG_FIXED + PVG_FLOOR_PER_TOKEN * tokens)


# ---------------------------------------------------------------------- ERC-7821 batches


@dataclass(frozen=True)
class Call:
    """One call of an ERC-7821 batch."""

    target: str
    data: bytes
    value: int = 0

    def __post_init__(self) -> None:
        object.__setattr__(self, "target", to_checksum_address(self.target))
        object.__setattr__(self, "data", bytes(self.data))


def encode_execute(calls: Sequence[Call]) -> bytes:
    """``execute(BATCH_MODE, abi.encode(calls))`` calldata for a passkey account."""
    execution_data = abi_encode(
        ["(address,uint256,bytes)[]"], [[(c.target, c.value, c.data) for c in calls]]
    )
    return EXECUTE_SELECTOR + abi_encode(["bytes32", "bytes"], [BATCH_MODE, execution_data])


def decode_execute(call_data: bytes) -> list[Call]:
    """The calls of ``execute`` calldata in batch mode; ``ValueError`` for anything else."""
    call_data = bytes(call_data)
    if call_data[:4] != EXECUTE_SELECTOR:
        raise ValueError(f"not ERC-7821 execute: selector 0x{call_data[:4].hex()}")
    try:
        mode, execution_data = abi_decode(["bytes32", "bytes"], call_data[4:])
        if bytes(mode) != BATCH_MODE:
            raise ValueError(f"not the single batch mode: 0x{bytes(mode).hex()}")
        (calls,) = abi_decode(["(address,uint256,bytes)[]"], execution_data)
    except ValueError:
        raise
    except Exception as exc:  # eth_abi's DecodingError and friends
        raise ValueError(f"malformed ERC-7821 batch: {exc}") from exc
    return [Call(target=t, value=int(v), data=bytes(d)) for t, v, d in calls]
