"""Gasless actions: ``POST /v1/actions/{action}/prepare`` → sign → ``POST /v1/relay`` → poll.

``prepare`` returns the EIP-712 payloads to sign (see :mod:`api.relayer.prepare`); the client posts the
same object back with ``signatures`` (one per payload, ``eth_signTypedData_v4`` output). The
relay endpoint checks and simulates it (:mod:`api.relayer.accept`), commits it to the outbox and
answers 202 with its id; ``GET /v1/relay/{id}`` shows queued / sending / sent / mined / failed.
"""

from __future__ import annotations

import asyncio
from typing import Annotated, Any
from weakref import WeakKeyDictionary

import anyio
from fastapi import APIRouter, Body
from fastapi.responses import JSONResponse

from api.db import session_factory
from api.errors import ApiError, error_responses
from api.relayer.accept import accept
from api.relayer.models import RelayRequest
from api.relayer.prepare import ACTIONS, NextNonces, prepare_action
from api.relayer.queue import signer_queue
from api.relayer.worker import WAKE
from api.routes.deps import ClientLimited, ServicesDep
from api.routes.jsonbody import FastJsonRoute
from api.schemas.relay import PreparedPublic, RelayRequestPublic

# (msgspec reads the signed payloads: api.routes.jsonbody)
router = APIRouter(tags=["gasless"], route_class=FastJsonRoute)

# Accepting is CPU-bound under the GIL (issue 15): a rush of concurrent accepts, each on a thread of
# its own, only interleaved — and starved the outbox worker's thread, which then mined at half the
# accept rate. A few at a time keep the CPU as busy; the rest wait off the GIL — as tasks on the
# event loop (a limiter per loop), not as threads blocked on a semaphore, each woken in turn.
# 8, not 4: an accept also waits on the node's JSON-RPC batch and the outbox commit, off the GIL;
# 2,000-join rushes alternating 4 and 8 (scripts/bench_relay.py, load 3.3-4.1): 168.7 / 142.0
# joins/s mined at 4, 197.3 / 170.4 at 8, still mined as fast as accepted; at 16 the worker fell
# behind again (230.7 accepted/s, 191.1 mined).
ACCEPT_CONCURRENCY = 8
_LIMITERS: WeakKeyDictionary[asyncio.AbstractEventLoop, anyio.CapacityLimiter] = WeakKeyDictionary()


def _accept_limiter() -> anyio.CapacityLimiter:
    loop = asyncio.get_running_loop()
    limiter = _LIMITERS.get(loop)
    if limiter is None:
        limiter = _LIMITERS[loop] = anyio.CapacityLimiter(ACCEPT_CONCURRENCY)
    return limiter


_EXAMPLE_PREPARE = {
    "from": "0x70997970C51812dc3A010C7d01b50e0d17dc79C8",
    "deal_id": 1,
    "quantity": 2,
    "leader": "0x3C44CdDdB6a900fa2b585dd299e03d12FA4293BC",
}


@router.post(
    "/v1/actions/{action}/prepare",
    response_model=PreparedPublic,
    responses=error_responses(400, 404, 409, 429, 502, 504),
    dependencies=[ClientLimited],
    summary="Typed data to sign for a gasless action",
    description="Actions: "
    + ", ".join(sorted(ACTIONS))
    + ". Returns {action, from, payloads, details}.",
)
def prepare(
    action: str,
    services: ServicesDep,
    body: Annotated[dict[str, Any], Body(examples=[_EXAMPLE_PREPARE])],
) -> dict[str, Any]:
    with session_factory(services.engine)() as session:

        def nonces(sender: str) -> NextNonces:
            # After the sender's requests still waiting in the outbox (contiguous nonces).
            return signer_queue(session, services.chain, sender).next_nonces()

        return prepare_action(
            services.chain, services.store, action, body, nonces=nonces, engine=services.engine
        ).to_json()


RELAY_DESCRIPTION = """Post the prepare response back with `signatures` (one per payload, as
`eth_signTypedData_v4` returns them). The request is checked (domain, signature, deadline, nonce, a
join's permit) and simulated, then committed to the outbox: 202 with its id, or 200 with the
existing row when the same signed request is posted again.

**`details` in the body are ignored.** Nothing signs them, so the outbox never takes the client's
word: the `details` it stores and `GET /v1/relay/{id}` shows are decoded from the signed payloads
(the forward request's calldata with the target contract's ABI, the permit's values), e.g. a join's
`deal_id`, `quantity`, `leader`, `amount` (quantity × the deal's top price) and `permit_value`.

Nonces: a signer's requests carry contiguous forwarder nonces (400 `replayed_nonce` /
`nonce_ahead` otherwise). If two API processes accept requests for one nonce at the same moment,
the database lets one in and the other answers 409 `nonce_taken` with `details.pending`, the id of
the request that holds the nonce."""


def _accept(services: Any, body: dict[str, Any]) -> tuple[dict[str, Any], bool]:
    # A Core connection, not an ORM session: accept's statements are Core (issue 15).
    with services.engine.connect() as connection:
        return accept(connection, services.chain, body, services.store)


@router.post(
    "/v1/relay",
    status_code=202,
    summary="Submit signed payloads to the relayer",
    description=RELAY_DESCRIPTION,
    response_model=RelayRequestPublic,
    responses={
        200: {"model": RelayRequestPublic, "description": "already accepted: the same request"},
        **error_responses(400, 409, 429, 502, 504),
    },
    dependencies=[ClientLimited],
)
async def relay(services: ServicesDep, body: Annotated[dict[str, Any], Body()]) -> JSONResponse:
    # The accept on a worker thread, at most ACCEPT_CONCURRENCY at once, the others waiting as
    # tasks on the event loop (issue 15).
    public, created = await anyio.to_thread.run_sync(
        _accept, services, body, limiter=_accept_limiter()
    )
    WAKE.set()
    return JSONResponse(public, status_code=202 if created else 200)


@router.get(
    "/v1/relay/{request_id}",
    response_model=RelayRequestPublic,
    responses=error_responses(404),
    summary="Status of a relayed request",
    description="queued / sending / sent / mined / failed (with the contract's error), and the "
    "request's `details`, decoded from its signed payloads.",
)
def relay_status(request_id: str, services: ServicesDep) -> dict[str, Any]:
    with session_factory(services.engine)() as session:
        row = session.get(RelayRequest, request_id)
        if row is None:
            raise ApiError(404, "relay_request_not_found", f"no relay request {request_id}")
        return row.public()
