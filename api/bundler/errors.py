"""JSON-RPC errors of the bundler, with the codes of the ERC-4337 bundler API (ERC-7769).

A standard SDK (viem, permissionless, userop.js, the reference bundler's tests) branches on these
codes, so each refusal maps to exactly one. EntryPoint reasons (``AAxx``) decide between them:
``AA1x`` (factory) and ``AA2x`` (account) are -32500, except a bad signature (``AA24``, -32507) and
an out-of-range ``validUntil``/``validAfter`` (``AA22``/``AA32``, -32503); ``AA3x`` (paymaster) is
-32501, except ``AA31`` (paymaster deposit too low, -32508) and ``AA34`` (paymaster signature,
-32507).
"""

from __future__ import annotations

from typing import Any

from chain.aa.bundling import ExecutionReverted, ValidationRejected

PARSE_ERROR = -32700
INVALID_REQUEST = -32600
METHOD_NOT_FOUND = -32601
INVALID_PARAMS = -32602
INTERNAL_ERROR = -32603
REJECTED_BY_ENTRY_POINT = -32500  # simulation: factory or account validation failed
REJECTED_BY_PAYMASTER = -32501
BANNED_OPCODE = -32502
OUT_OF_TIME_RANGE = -32503
THROTTLED = -32504
STAKE_TOO_LOW = -32505
UNSUPPORTED_AGGREGATOR = -32506
INVALID_SIGNATURE = -32507
PAYMASTER_DEPOSIT_TOO_LOW = -32508
EXECUTION_REVERTED = -32521
# Not in ERC-7769: the node or the database is down (JSON-RPC's server-error range).
UNAVAILABLE = -32000

_BY_AA_CODE = {
    "AA22": OUT_OF_TIME_RANGE,
    "AA24": INVALID_SIGNATURE,
    "AA31": PAYMASTER_DEPOSIT_TOO_LOW,
    "AA32": OUT_OF_TIME_RANGE,
    "AA34": INVALID_SIGNATURE,
}


class RpcError(Exception):
    """An error answer: ``{"code", "message", "data"}`` in the JSON-RPC response."""

    def __init__(self, code: int, message: str, **data: Any) -> None:
        super().__init__(message)
        self.code, self.message, self.data = code, message, data

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"code": self.code, "message": self.message}
        if self.data:
            out["data"] = self.data
        return out


def code_of_rejection(rejection: ValidationRejected) -> int:
    """The ERC-7769 code of an EntryPoint refusal (see the module docstring)."""
    if rejection.aa_code in _BY_AA_CODE:
        return _BY_AA_CODE[rejection.aa_code]
    if rejection.aa_code.startswith("AA3"):
        return REJECTED_BY_PAYMASTER
    return REJECTED_BY_ENTRY_POINT


def rejection_data(rejection: ValidationRejected) -> dict[str, Any]:
    data: dict[str, Any] = {"reason": rejection.reason, "aaCode": rejection.aa_code or None}
    if rejection.inner is not None:
        data["revert"] = revert_json(rejection.inner)
    return data


def rejected(rejection: ValidationRejected) -> RpcError:
    return RpcError(code_of_rejection(rejection), str(rejection), **rejection_data(rejection))


def execution_reverted(exc: ExecutionReverted) -> RpcError:
    return RpcError(
        EXECUTION_REVERTED,
        f"the operation's calls would revert: {exc}",
        revert=revert_json(exc.revert),
    )


def revert_json(revert: Any) -> dict[str, Any]:
    """A decoded contract error as JSON (its name and arguments, bytes as 0x hex)."""
    return {
        "error": getattr(revert, "name", "") or type(revert).__name__,
        "args": {
            k: ("0x" + bytes(v).hex() if isinstance(v, bytes | bytearray) else _json_int(v))
            for k, v in getattr(revert, "args", {}).items()
        },
    }


def _json_int(value: Any) -> Any:
    return str(value) if isinstance(value, int) and abs(value) >= 2**53 else value
