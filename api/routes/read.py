"""Read API over the index: batches, provenance, deals, buyers' orders, dashboard.

Everything here answers from the SQL index (never from the chain), so it is fast and keeps
working while the node is down. Response models document the shapes in OpenAPI; they allow
extra fields so the index can grow without breaking clients.
"""

from __future__ import annotations

import json
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query, Request, Response
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy.orm import Session
from web3 import Web3

from api import queries
from api.db import ensure_db
from api.errors import ApiError, error_responses
from api.indexer import on_index_change
from api.routes.deps import DB_INT_MAX, DealId, get_services
from api.services import Services

router = APIRouter(prefix="/v1", tags=["read"])


class _Open(BaseModel):
    model_config = ConfigDict(extra="allow")


# ---------------------------------------------------------------------- response models


class BlockRef(_Open):
    block: int
    tx: str
    time: str | None


class SupplierPublic(_Open):
    address: str
    status: Literal["approved", "pending", "rejected", "revoked", "none"]
    profile_cid: str | None = Field(description="the public profile document (IPFS)")
    credentials_digest: str | None = Field(
        description="SHA-256 of the private credentials (not public; reviewers read them)"
    )
    reason_cid: str | None = Field(description="why the platform rejected or revoked it")


class BatchPublic(_Open):
    gtin: str
    lot: str
    batch_id: str
    status: Literal["active", "recalled", "non_compliant"]
    metadata_cid: str | None
    metadata: dict[str, Any] | None
    registered: BlockRef
    supplier: SupplierPublic


class AnchorPublic(_Open):
    kind: Literal["single", "merkle", "receipt"]
    block: int
    tx: str
    log_index: int
    time: str | None
    actor: str
    root: str | None
    proof: list[str] | None
    provisional: bool = False  # newer than head - confirmations: a re-org may still drop it


Verification = Literal["verified", "mismatch", "missing", "pending"]


class EventPublic(_Open):
    event_hash_id: str
    type: str | None
    biz_step: str | None
    event_time: str | None
    read_point: str | None
    document_cid: str | None
    document: dict[str, Any] | None
    anchor: AnchorPublic
    verification: Verification


class BreachPublic(_Open):
    time: str
    value: float
    limit: float
    bound: Literal["min", "max"]
    uom: str


class ReadingPublic(_Open):
    time: str
    value: float


class ColdChainPublic(_Open):
    compliant: bool
    breaches: list[BreachPublic]
    readings: list[ReadingPublic]


class CertificatePublic(_Open):
    event_hash_id: str
    certification: dict[str, Any]
    document_cid: str | None


class RecallPublic(_Open):
    reason_cid: str | None
    block: int
    tx: str
    time: str | None
    frozen_deals: list[int] = Field(
        default_factory=list,
        description="deals the recall's own transaction froze (their orders are refundable)",
    )
    notification_failures: list[str] = Field(
        default_factory=list,
        description="escrows whose recall notification failed; the keeper freezes their deals",
    )


class DealRef(_Open):
    deal_id: int
    status: str
    unit_price: int
    sold: int
    min_quantity: int


class VerificationSummary(_Open):
    status: Verification
    verified: int
    total: int


class ProvenancePublic(_Open):
    batch: BatchPublic
    events: list[EventPublic]
    cold_chain: ColdChainPublic
    certificates: list[CertificatePublic]
    recall: RecallPublic | None
    deals: list[DealRef]
    verification: VerificationSummary


class BatchSummary(_Open):
    gtin: str
    lot: str
    batch_id: str
    supplier: str
    status: str
    breaches: int
    registered: BlockRef


class BatchPage(_Open):
    total: int
    limit: int
    offset: int
    items: list[BatchSummary]


class DealSummary(_Open):
    deal_id: int
    status: Literal["open", "succeeded", "failed", "frozen", "settled"]
    supplier: str
    current_tier: int
    unit_price: int
    sold: int
    min_quantity: int
    max_quantity: int
    seconds_left: int
    batch_ids: list[str]


class DealPage(_Open):
    total: int
    items: list[DealSummary]


class LeaderPublic(_Open):
    leader: str
    quantity: int
    orders: list[dict[str, Any]]
    receipt: dict[str, Any] | None
    commission_bps: int
    commission: int


class DealDetail(DealSummary):
    leaders: list[LeaderPublic]
    payouts: list[dict[str, Any]]


class BuyerOrder(_Open):
    deal: DealSummary
    leader: str
    quantity: int
    paid: int
    refunded: int
    cancelled: bool
    claim_status: str | None


class BuyerOrders(_Open):
    buyer: str
    orders: list[BuyerOrder]


class Dashboard(_Open):
    gmv: int
    orders: int
    refunds: dict[str, dict[str, int]]
    commissions: list[dict[str, Any]]
    deals_by_state: dict[str, int]
    flagged_batches: list[BatchSummary]


# ---------------------------------------------------------------------- dependencies


def get_session(services: Annotated[Services, Depends(get_services)]) -> Any:
    ensure_db(services.engine)
    with Session(services.engine) as session:
        yield session


SessionDep = Annotated[Session, Depends(get_session)]


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
    cache = provenance_cache(request)
    key = (gtin, lot)
    checked, body = cache.lookup(key)
    if body is None:
        services: Services = request.app.state.services
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
    "/v1/batches/{gtin}/{lot}", _provenance_endpoint, methods=["GET"], include_in_schema=False
)


@router.get(
    "/batches/{gtin}/{lot}",
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
    status: Literal["open", "succeeded", "failed", "frozen", "settled"] | None = None,
    supplier: str | None = None,
    limit: int = Query(50, ge=1, le=queries.MAX_PAGE),
    offset: int = Query(0, ge=0, le=DB_INT_MAX),
) -> Any:
    if supplier:
        supplier = _address(supplier, "supplier")
    return queries.list_deals(session, status=status, supplier=supplier, limit=limit, offset=offset)


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


@router.get("/dashboard", response_model=Dashboard, summary="Platform dashboard (JSON)")
def get_dashboard(session: SessionDep) -> Any:
    return queries.dashboard(session)
