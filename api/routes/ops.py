"""The platform operators' pages: ``/ops/review``, the review queue (资质审核 / 团长审核);
``/ops/disputes``, quality claims to arbitrate (and ``/supplier/{address}/claims``, a supplier's
claims to answer); ``/ops/recalls``, batches to recall or mark non-compliant.

Applications with their public profile and the digest of their private credentials; a reviewer
signs in with Sign-In with Ethereum to open the credentials (the page checks the file against the
digest on chain), then approves, rejects with a reason, or revokes with a reason: each a request
the reviewer signs and the registry checks (``PLATFORM_ROLE``), relayed like every action. The
page is public; the credentials and the decisions are not: the API and the chain refuse others.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy.orm import Session

from api.db import ensure_db
from api.disputes import Claim, batches, claims, waiting_claims
from api.errors import ApiError, error_responses
from api.names import Directory, Person
from api.queries.common import chain_now
from api.render import render
from api.review import queue
from api.routes.deps import DB_INT_MAX, ServicesDep
from api.routes.page_common import (
    CONNECT_RESPONSES,
    LookupAddress,
    connect_page,
    page_address,
    page_error,
)
from api.schemas.supplier import SupplierClaims
from api.services import Services
from api.timefmt import iso_utc

router = APIRouter(tags=["pages"])

# A page's cursor: only rows older than the one it names (the previous page's "more" link).
PageBefore = Annotated[
    int | None,
    Query(ge=1, le=DB_INT_MAX, description="cursor: the previous page's last row (its more link)"),
]


@router.get("/ops/review", response_class=HTMLResponse, summary="The review queue (HTML)")
def review_page(request: Request, services: ServicesDep) -> Response:
    ensure_db(services.engine)
    with Session(services.engine) as session:
        applications = queue(session, Directory(session, services.store))
    pending = sum(1 for a in applications if a.status == "pending")
    return render(request, "ops_review.html", {"applications": applications, "pending": pending})


@router.get("/ops/disputes", response_class=HTMLResponse, summary="Quality claims (HTML)")
def disputes_page(request: Request, services: ServicesDep, before: PageBefore = None) -> Response:
    """Every claim with its evidence, the supplier's answer and deadline; the platform (the
    escrow's ``ARBITER_ROLE``) upholds or denies a claim the supplier rejected."""
    ensure_db(services.engine)
    with Session(services.engine) as session:
        directory = Directory(session, services.store)
        found, more = claims(session, directory, services.store, before=before)
        now = chain_now(session)
        waiting = waiting_claims(session)  # every page's, not this page's only
    return render(
        request,
        "ops_disputes.html",
        {"claims": found, "now": now, "waiting": waiting, "supplier": None, "more": more},
    )


@router.get(
    "/supplier/claims",
    response_class=HTMLResponse,
    responses=CONNECT_RESPONSES,
    summary="A supplier's claims: connect a wallet or give an address (HTML)",
)
def supplier_claims_connect(request: Request, address: LookupAddress = None) -> Response:
    return connect_page(
        request, "supplier_claims", "/supplier/claims", address, go="/supplier/{address}/claims"
    )


@router.get(
    "/supplier/{address}/claims",
    response_class=HTMLResponse,
    responses=error_responses(400, html=True),
    summary="A supplier's claims (HTML)",
)
def supplier_claims_page(
    request: Request, address: str, services: ServicesDep, before: PageBefore = None
) -> Response:
    """A supplier's claims: accept (refund) or reject one before its answer deadline; the escrow
    refuses anyone but the deal's supplier."""
    try:
        supplier = page_address(address)
    except ApiError as exc:
        return page_error(request, exc)
    found, more, now, waiting, who = _supplier_claims(services, supplier, before)
    return render(
        request,
        "ops_disputes.html",
        {"claims": found, "now": now, "waiting": waiting, "supplier": who, "more": more},
    )


@router.get(
    "/v1/supplier/{address}/claims",
    response_model=SupplierClaims,
    responses=error_responses(400),
    tags=["supplier"],
    summary="A supplier's claims (the page's, as JSON: ``tuanchain supplier claims``)",
)
def supplier_claims_json(address: str, services: ServicesDep, before: PageBefore = None) -> Any:
    """The claims of the supplier's page, newest filings first in pages of 50 (``before``: the
    previous page's ``next_before``); ``waiting`` marks the ones to answer before
    ``answer_deadline`` (``POST /v1/actions/accept_claim|reject_claim/prepare``)."""
    supplier = page_address(address)
    found, more, now, waiting, _ = _supplier_claims(services, supplier, before)
    return {
        "supplier": supplier,
        "waiting": waiting,
        "next_before": more,
        "claims": [
            {
                "deal_id": c.deal_id,
                "buyer": c.buyer.address,
                "leader": c.leader.address if c.leader else None,
                "product": {"name": c.product.get("name")},
                "quantity": c.quantity,
                "status": c.status,
                "waiting": c.answerable(now),
                "answer_deadline": iso_utc(c.answer_deadline),
                "filed_at": iso_utc(c.filed_at),
                "by_default": c.by_default,
                "evidence_cid": c.evidence_cid,
                "evidence_private": c.evidence_private is not None,
            }
            for c in found
        ],
    }


def _supplier_claims(
    services: Services, supplier: str, before: int | None
) -> tuple[list[Claim], int | None, int, int, Person]:
    """The page's claims of ``supplier``, its next cursor, chain time, how many wait, the
    supplier's name."""
    ensure_db(services.engine)
    with Session(services.engine) as session:
        directory = Directory(session, services.store)
        found, more = claims(session, directory, services.store, supplier=supplier, before=before)
        now = chain_now(session)
        waiting = waiting_claims(session, supplier=supplier, now=now)
        return found, more, now, waiting, directory.get(supplier)


@router.get("/ops/recalls", response_class=HTMLResponse, summary="Recalls (HTML)")
def recalls_page(request: Request, services: ServicesDep, before: PageBefore = None) -> Response:
    """Every batch with its state; the platform recalls one or marks it non-compliant with a
    reason (stored as a document, its CID on chain), which freezes the deals selling it."""
    ensure_db(services.engine)
    with Session(services.engine) as session:
        rows, more = batches(session, Directory(session, services.store), before=before)
    return render(request, "ops_recalls.html", {"batches": rows, "more": more})
