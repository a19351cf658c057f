"""Read API over the index: batches, provenance, deals, buyers' orders, dashboard.

Everything here answers from the SQL index (never from the chain), so it is fast and keeps
working while the node is down. Response models document the shapes in OpenAPI; they allow
extra fields so the index can grow without breaking clients.
"""

from __future__ import annotations

import json
from typing import Any, Literal

from fastapi import APIRouter, Query, Request, Response
from fastapi.concurrency import run_in_threadpool
from sqlalchemy.orm import Session
from web3 import Web3

from api import queries
from api.db import ensure_db
from api.errors import ApiError, error_responses
from api.indexer import on_index_change
from api.routes.deps import DB_INT_MAX, DealId, SessionDep, get_services, raw_segments
from api.schemas.read import (
    BatchPage,
    BuyerOrders,
    Dashboard,
    DealDetail,
    DealPage,
    LeaderCashOrders,
    ProvenancePublic,
)
from api.services import Services
from chain.deal_rules import DealStatusLabel

router = APIRouter(prefix="/v1", tags=["read"])


def _address(value: str, name: str) -> str:
    if not Web3.is_address(value):
        raise ApiError(400, "invalid_address", f"{name} is not an Ethereum address: {value!r}")
    return Web3.to_checksum_address(value)


def provenance_cache(request: Request) -> queries.ProvenanceCache:
    """One cache per app; the in-process indexer clears it after each commit."""
    state = request.app.state
    cache = getattr(state, "provenance_cache", None)
    if cache is None:
        cache = queries.ProvenanceCache(state.services.engine)
        state.provenance_cache = cache
        on_index_change(cache.clear)
    return cache


# ---------------------------------------------------------------------- routes


@router.get(
    "/batches",
    response_model=BatchPage,
    summary="Batches, paged and filtered",
    responses=error_responses(400),
)
def list_batches(
    session: SessionDep,
    supplier: str | None = None,
    gtin: str | None = None,
    status: Literal["active", "recalled", "non_compliant"] | None = None,
    breach: bool | None = Query(
        None, description="only batches with (true) / without cold-chain breaches"
    ),
    limit: int = Query(50, ge=1, le=queries.MAX_PAGE),
    offset: int = Query(0, ge=0, le=DB_INT_MAX),
) -> Any:
    if supplier:
        supplier = _address(supplier, "supplier")
    if gtin:
        queries.check_batch_key(gtin, "L")
    return queries.list_batches(
        session,
        supplier=supplier,
        gtin=gtin,
        status=status,
        breach=breach,
        limit=limit,
        offset=offset,
    )


async def _provenance_endpoint(request: Request) -> Response:
    """The hot path, as a plain Starlette endpoint: no dependency solving or response-model
    pass (the body is already serialized JSON), a cache hit answered on the event loop, and
    anything that touches the database (a miss, or the cache's periodic index-version check)
    run in the thread pool: a slow or unreachable database must not stall the event loop."""
    gtin, lot = request.path_params["gtin"], request.path_params["lot"]
    segments = raw_segments(request, lot)  # a lot's escaped "/" stays in it
    if len(segments) != 1:
        raise ApiError(404, "not_found", "the path is /v1/batches/{gtin}/{lot}, the lot escaped")
    lot = segments[0]
    cache = provenance_cache(request)
    key = (gtin, lot)
    checked, body = cache.lookup(key)
    if body is None:
        services = get_services(request)
        body = await run_in_threadpool(_provenance_miss, services, cache, key, checked)
    return Response(body, media_type="application/json")


def _provenance_miss(
    services: Services, cache: queries.ProvenanceCache, key: tuple[str, str], checked: bool
) -> bytes:
    """In a worker thread: the version check if one is due, then the cached or a fresh body."""
    body = None if checked else cache.get(key)
    if body is None:
        version = cache.version  # read first: a body from older data must not outlive a clear
        body = _provenance_body(services, *key)
        cache.put(key, body, version)
    return body


# Registered first, so it serves the path; the declaration below documents it in OpenAPI.
router.add_route(
    "/v1/batches/{gtin}/{lot:path}", _provenance_endpoint, methods=["GET"], include_in_schema=False
)


@router.get(
    "/batches/{gtin}/{lot:path}",
    response_model=ProvenancePublic,
    summary="A batch's whole provenance, with anchors, proofs and verification",
    responses=error_responses(400, 404),
)
async def get_provenance(gtin: str, lot: str, request: Request) -> Response:
    return await _provenance_endpoint(request)


def _provenance_body(services: Services, gtin: str, lot: str) -> bytes:
    ensure_db(services.engine)
    with Session(services.engine) as session:
        data = queries.provenance(session, gtin, lot)
    return json.dumps(data, separators=(",", ":"), ensure_ascii=False).encode()


@router.get(
    "/deals",
    response_model=DealPage,
    summary="Deals with live totals, tier and time left",
    responses=error_responses(400),
)
def list_deals(
    session: SessionDep,
    status: DealStatusLabel | None = None,
    supplier: str | None = None,
    limit: int = Query(50, ge=1, le=queries.MAX_PAGE),
    offset: int = Query(0, ge=0, le=DB_INT_MAX),
    before: int | None = Query(
        None,
        ge=1,
        le=DB_INT_MAX,
        description="cursor: only deals with a smaller deal id (the previous page's last "
        "deal_id), for deep pages without an offset; total still counts every match",
    ),
) -> Any:
    if supplier:
        supplier = _address(supplier, "supplier")
    return queries.list_deals(
        session,
        status=status,
        supplier=supplier,
        limit=limit,
        offset=offset,
        before=before,
    )


@router.get(
    "/deals/{deal_id}",
    response_model=DealDetail,
    summary="A deal: leaders, orders, receipts",
    responses=error_responses(400, 404),
)
def get_deal(deal_id: DealId, session: SessionDep) -> Any:
    if deal_id < 1:
        raise ApiError(400, "invalid_deal_id", "deal ids start at 1")
    return queries.deal_detail(session, deal_id)


@router.get(
    "/buyers/{address}/orders",
    response_model=BuyerOrders,
    summary="A buyer's orders",
    responses=error_responses(400),
)
def get_buyer_orders(address: str, session: SessionDep) -> Any:
    return queries.buyer_orders(session, _address(address, "address"))


@router.get(
    "/leaders/{address}/cash-orders",
    response_model=LeaderCashOrders,
    summary="A leader's cash orders (线下支付 / 代下单) in every deal, with the cash owed back",
    responses=error_responses(400),
)
def get_leader_cash_orders(address: str, session: SessionDep) -> Any:
    return queries.leader_cash_orders(session, _address(address, "address"))


@router.get(
    "/dashboard",
    response_model=Dashboard,
    summary="Platform dashboard (JSON); one supplier's or one leader's with their address",
    responses=error_responses(400),
)
def get_dashboard(
    session: SessionDep,
    supplier: str | None = None,
    leader: str | None = None,
    leaders_after: str | None = None,
) -> Any:
    if supplier and leader:
        raise ApiError(400, "invalid_request", "give a supplier or a leader, not both")
    if leaders_after:
        _address(leaders_after, "leaders_after")  # checked; kept as given (a stored cursor)
    return queries.dashboard(
        session,
        supplier=_address(supplier, "supplier") if supplier else None,
        leader=_address(leader, "leader") if leader else None,
        leaders_after=leaders_after or None,
    )
