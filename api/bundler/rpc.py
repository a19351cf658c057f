"""The ERC-4337 bundler JSON-RPC methods (ERC-7769), over the outbox.

- ``eth_supportedEntryPoints`` — ``[EntryPoint v0.8]``;
- ``eth_chainId`` — what SDKs ask a bundler first;
- ``eth_estimateUserOperationGas`` — ``preVerificationGas`` (the reference bundler's calldata
  model), ``verificationGasLimit`` (a measured budget for a passkey check, larger with the
  account's creation), ``callGasLimit`` (the account's calls simulated as the EntryPoint makes
  them, plus a margin) and the paymaster's limits. The signature may be a placeholder: validation
  is not run, only the calls (a revert is -32521);
- ``eth_sendUserOperation`` — :func:`api.bundler.accept.accept`; returns the userOpHash;
- ``eth_getUserOperationByHash`` — the operation and, once bundled, its transaction and block
  (``null`` for an unknown hash);
- ``eth_getUserOperationReceipt`` — once mined: success, actual gas, the revert reason of failed
  calls, the bundle's logs and its transaction receipt (``null`` before). One operation per
  bundle, so the receipt's logs are all the operation's.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from api.bundler import errors as rpc
from api.bundler.accept import accept, by_hash, parse_entry_point, parse_user_operation
from api.bundler.models import OpStatus, UserOperationRow
from chain import errors as chain_errors
from chain.aa.bundling import ExecutionReverted
from chain.aa.clients import UserOpGas
from chain.aa.entrypoint import ENTRYPOINT_V08
from chain.aa.userop import pre_verification_gas
from chain.context import Chain
from chain.identity import ChainChanged

logger = logging.getLogger(__name__)

CALL_GAS_MARGIN_PERCENT = 20
MIN_CALL_GAS = 50_000

Method = Callable[[Session, Chain, list[Any]], Any]


def _params(params: list[Any], count: int, method: str) -> list[Any]:
    if len(params) < count:
        raise rpc.RpcError(rpc.INVALID_PARAMS, f"{method} takes {count} parameter(s)")
    return params


def supported_entry_points(_: Session, __: Chain, ___: list[Any]) -> list[str]:
    return [ENTRYPOINT_V08]


def chain_id(_: Session, chain: Chain, __: list[Any]) -> str:
    return hex(chain.chain_id)


def estimate(session: Session, chain: Chain, params: list[Any]) -> dict[str, str]:
    op_json, entry_point = _params(params, 2, "eth_estimateUserOperationGas")[:2]
    parse_entry_point(entry_point)
    # Limits an SDK leaves out while estimating (the point of asking).
    defaults = dict.fromkeys(
        (
            "callGasLimit",
            "verificationGasLimit",
            "preVerificationGas",
            "maxFeePerGas",
            "maxPriorityFeePerGas",
        ),
        "0x0",
    )
    op = parse_user_operation({**defaults, **op_json} if isinstance(op_json, dict) else op_json)
    try:
        call_gas = chain.bundling.simulate_execution(op)
    except ExecutionReverted as exc:
        raise rpc.execution_reverted(exc) from None
    gas = UserOpGas()
    call_gas = max(MIN_CALL_GAS, call_gas * (100 + CALL_GAS_MARGIN_PERCENT) // 100)
    verification = (
        gas.verification_gas_limit_with_creation if op.factory else gas.verification_gas_limit
    )
    out = {
        "preVerificationGas": hex(pre_verification_gas(op.replace(signature=b""))),
        "verificationGasLimit": hex(verification),
        "callGasLimit": hex(call_gas),
    }
    if op.paymaster is not None:
        out["paymasterVerificationGasLimit"] = hex(gas.paymaster_verification_gas_limit)
        out["paymasterPostOpGasLimit"] = hex(gas.paymaster_post_op_gas_limit)
    return out


def send(session: Session, chain: Chain, params: list[Any]) -> str:
    op_json, entry_point = _params(params, 2, "eth_sendUserOperation")[:2]
    row, _ = accept(session, chain, op_json, entry_point)
    return row.user_op_hash


def _hash_param(params: list[Any], method: str) -> str:
    (value,) = _params(params, 1, method)[:1]
    if not isinstance(value, str) or len(value) != 66 or not value.startswith("0x"):
        raise rpc.RpcError(rpc.INVALID_PARAMS, f"{method}: expected a 32-byte 0x hash")
    try:
        bytes.fromhex(value[2:])
    except ValueError:
        raise rpc.RpcError(rpc.INVALID_PARAMS, f"{method}: expected a 32-byte 0x hash") from None
    return value.lower()


def by_hash_method(session: Session, chain: Chain, params: list[Any]) -> dict[str, Any] | None:
    row = by_hash(session, _hash_param(params, "eth_getUserOperationByHash"))
    if row is None:
        return None
    mined = row.status == OpStatus.MINED
    public = row.public()
    return {
        "userOperation": row.user_operation,
        "entryPoint": row.entry_point,
        "transactionHash": row.tx_hash if mined else None,
        "blockHash": row.block_hash if mined else None,
        "blockNumber": hex(row.block_number) if mined and row.block_number is not None else None,
        # Not in ERC-7769: where the operation stands in our outbox (failed ones say why).
        "status": public["status"],
        "error": public["error"],
    }


def receipt(session: Session, chain: Chain, params: list[Any]) -> dict[str, Any] | None:
    row = by_hash(session, _hash_param(params, "eth_getUserOperationReceipt"))
    if row is None or row.status != OpStatus.MINED or row.tx_hash is None:
        return None
    tx_receipt = chain.bundling.receipt_json(row.tx_hash)
    return receipt_of(row, tx_receipt)


def receipt_of(row: UserOperationRow, tx_receipt: dict[str, Any] | None) -> dict[str, Any]:
    op = row.user_operation
    return {
        "userOpHash": row.user_op_hash,
        "entryPoint": row.entry_point,
        "sender": row.sender,
        "nonce": hex(int(row.nonce)),
        "paymaster": op.get("paymaster") or "0x" + "00" * 20,
        "actualGasCost": hex(int(row.actual_gas_cost or 0)),
        "actualGasUsed": hex(int(row.actual_gas_used or 0)),
        "success": bool(row.success),
        "reason": row.revert_reason or "",
        "logs": (tx_receipt or {}).get("logs", []),
        "receipt": tx_receipt,
    }


METHODS: dict[str, Method] = {
    "eth_supportedEntryPoints": supported_entry_points,
    "eth_chainId": chain_id,
    "eth_estimateUserOperationGas": estimate,
    "eth_sendUserOperation": send,
    "eth_getUserOperationByHash": by_hash_method,
    "eth_getUserOperationReceipt": receipt,
}


def dispatch(session: Session, chain_of: Callable[[], Chain], request: Any) -> dict[str, Any]:
    """One JSON-RPC 2.0 request → its response object (errors as ``error``, never raised)."""
    request_id = request.get("id") if isinstance(request, dict) else None
    try:
        if (
            not isinstance(request, dict)
            or request.get("jsonrpc") != "2.0"
            or not isinstance(request.get("method"), str)
        ):
            raise rpc.RpcError(rpc.INVALID_REQUEST, "expected a JSON-RPC 2.0 request object")
        method = METHODS.get(request["method"])
        if method is None:
            raise rpc.RpcError(
                rpc.METHOD_NOT_FOUND, f"method {request['method']} is not served here"
            )
        params = request.get("params", [])
        if not isinstance(params, list):
            raise rpc.RpcError(rpc.INVALID_PARAMS, "params must be an array")
        result = method(session, chain_of(), params)
        return {"jsonrpc": "2.0", "id": request_id, "result": result}
    except rpc.RpcError as exc:
        session.rollback()
        return {"jsonrpc": "2.0", "id": request_id, "error": exc.to_json()}
    except (
        chain_errors.NodeUnavailable,
        chain_errors.DeploymentMismatch,
        ChainChanged,
        OperationalError,
    ) as exc:
        session.rollback()
        logger.warning("bundler %s: %s", request.get("method"), exc)
        error = rpc.RpcError(rpc.UNAVAILABLE, f"unavailable, retry later: {type(exc).__name__}")
        return {"jsonrpc": "2.0", "id": request_id, "error": error.to_json()}
    except chain_errors.ChainError as exc:
        session.rollback()
        logger.warning("bundler %s: %s", request.get("method"), exc)
        error = rpc.RpcError(rpc.INTERNAL_ERROR, f"{type(exc).__name__}: {exc}")
        return {"jsonrpc": "2.0", "id": request_id, "error": error.to_json()}
