"""``POST /v1/bundler``: the ERC-4337 bundler JSON-RPC (ERC-7769) — standard SDKs point here.

JSON-RPC errors are answered with HTTP 200 and an ``error`` object, as every bundler does (SDKs
read the code, not the status); a body that is not JSON is ``-32700``. Batches (arrays) work.
``GET /v1/bundler/ops/{userOpHash}`` shows where an operation stands in the outbox.
"""

from __future__ import annotations

import json
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from api.bundler import errors as rpc
from api.bundler.accept import by_hash
from api.bundler.rpc import dispatch
from api.bundler.worker import WAKE
from api.db import session_factory
from api.errors import ApiError, error_responses
from api.ratelimit import limit_client_async
from api.routes.deps import ServicesDep
from api.services import Services

router = APIRouter(tags=["bundler"])


MAX_BATCH = 20
# The calls that check and simulate an operation (an accept's CPU, issue 15): each takes a token
# from the client's bucket (api.ratelimit). The others read the outbox or constants — an SDK
# polling for its receipt is never refused.
SIMULATING = frozenset({"eth_sendUserOperation", "eth_estimateUserOperationGas"})

DESCRIPTION = """The standard ERC-4337 bundler API (ERC-7769) for EntryPoint v0.8
(`0x4337084D9E255Ff0702461CF8895CE9E3b5Ff108`): `eth_supportedEntryPoints`, `eth_chainId`,
`eth_estimateUserOperationGas`, `eth_sendUserOperation`, `eth_getUserOperationByHash`,
`eth_getUserOperationReceipt`. An accepted operation is stored before the answer and bundled by
the service's worker with `handleOps` (beneficiary: the relayer), never lost or bundled twice.
Refusals carry the ERC-7769 codes: -32602 invalid fields, -32500 refused by the EntryPoint
(account or factory validation, nonce), -32501 refused by the paymaster (a call it does not
sponsor, limits), -32503 out of its time range, -32507 bad signature, -32521 the calls would
revert. Too many operations checked for one client: HTTP 429 `rate_limited` with `Retry-After`
(an HTTP refusal, not a JSON-RPC error: SDKs' HTTP transports back off and retry on it)."""


@router.post(
    "/v1/bundler",
    summary="ERC-4337 bundler JSON-RPC",
    description=DESCRIPTION,
    responses={
        200: {"description": "a JSON-RPC 2.0 response (or an array of them)"},
        **error_responses(429),
    },
)
async def bundler_rpc(request: Request, services: ServicesDep) -> JSONResponse:
    raw = await request.body()
    try:
        body: Any = json.loads(raw)
    except (ValueError, RecursionError):
        error = rpc.RpcError(rpc.PARSE_ERROR, "the body is not JSON")
        return JSONResponse({"jsonrpc": "2.0", "id": None, "error": error.to_json()})
    await limit_client_async(
        request, cost=sum(_method(item) in SIMULATING for item in _items(body))
    )
    return JSONResponse(await run_in_threadpool(_answer, services, body))


def _answer(services: Services, body: Any) -> Any:
    with session_factory(services.engine)() as session:
        if isinstance(body, list):
            if not body or len(body) > MAX_BATCH:
                error = rpc.RpcError(rpc.INVALID_REQUEST, f"a batch holds 1 to {MAX_BATCH} calls")
                return {"jsonrpc": "2.0", "id": None, "error": error.to_json()}
            answers = [dispatch(session, lambda: services.chain, item) for item in body]
        else:
            answers = [dispatch(session, lambda: services.chain, body)]
    if any(a.get("result") and _is_send(item) for a, item in zip(answers, _items(body))):
        WAKE.set()
    return answers if isinstance(body, list) else answers[0]


def _items(body: Any) -> list[Any]:
    return body if isinstance(body, list) else [body]


def _method(item: Any) -> Any:
    return item.get("method") if isinstance(item, dict) else None


def _is_send(item: Any) -> bool:
    return _method(item) == "eth_sendUserOperation"


@router.get(
    "/v1/bundler/ops/{user_op_hash}",
    summary="Where a user operation stands in the bundler's outbox",
    description="queued / sending / sent / mined (with `success`) / failed (with the reason).",
    responses=error_responses(404),
)
def user_operation_status(user_op_hash: str, services: ServicesDep) -> dict[str, Any]:
    with session_factory(services.engine)() as session:
        row = by_hash(session, user_op_hash.lower())
        if row is None:
            raise ApiError(404, "user_operation_not_found", f"no user operation {user_op_hash}")
        return row.public()
