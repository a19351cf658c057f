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

from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy.orm import Session

from api.db import ensure_db
from api.disputes import batches, claims, waiting_claims
from api.errors import ApiError, error_responses
from api.names import Directory
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
    ensure_db(services.engine)
    with Session(services.engine) as session:
        directory = Directory(session, services.store)
        found, more = claims(session, directory, services.store, supplier=supplier, before=before)
        now = chain_now(session)
        who = directory.get(supplier)
        waiting = waiting_claims(session, supplier=supplier, now=now)
    return render(
        request,
        "ops_disputes.html",
        {"claims": found, "now": now, "waiting": waiting, "supplier": who, "more": more},
    )


@router.get("/ops/recalls", response_class=HTMLResponse, summary="Recalls (HTML)")
def recalls_page(request: Request, services: ServicesDep, before: PageBefore = None) -> Response:
    """Every batch with its state; the platform recalls one or marks it non-compliant with a
    reason (stored as a document, its CID on chain), which freezes the deals selling it."""
    ensure_db(services.engine)
    with Session(services.engine) as session:
        rows, more = batches(session, Directory(session, services.store), before=before)
    return render(request, "ops_recalls.html", {"batches": rows, "more": more})
