"""A supplier's workspace from a phone: ``/supplier/{address}`` (``/supplier`` asks for a wallet
or an address first).

Apply (public profile, private credentials) and see the review; describe products (master data
per GTIN) and register batches; build their trail from forms and a sensor CSV, anchored singly or
many under one Merkle root; authorize carriers and inspectors; recall; see payouts per deal; go
to the claims to answer (``/supplier/{address}/claims``, :mod:`api.routes.ops`).

The page shows an address's controls only when its role allows them (an approved supplier),
and says why otherwise; the connected wallet must be that address (``/static/supplier.js`` hides
the controls from any other signer and says so). The contracts decide in the end: every action
is a request the supplier signs, checked on chain. The documents come from the builders the CLI
uses (:mod:`api.routes.supplier_trail`).
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy.orm import Session

from api.db import ensure_db
from api.errors import ApiError, error_responses
from api.render import render
from api.routes.deps import ServicesDep
from api.routes.page_common import connect_page, page_address, page_error
from api.supplier.inputs import CSV_COLUMNS, EVENT_KINDS
from api.supplier.workspace import supplier_view

router = APIRouter(tags=["pages"])


@router.get(
    "/supplier",
    response_class=HTMLResponse,
    responses={
        303: {"description": "the looked-up supplier's page"},
        **error_responses(400, html=True),
    },
    summary="A supplier's workspace: connect a wallet or give an address (HTML)",
)
def supplier_connect(request: Request, address: str | None = None) -> Response:
    return connect_page(request, "supplier_workspace", "/supplier", address)


@router.get(
    "/supplier/{address}",
    response_class=HTMLResponse,
    responses=error_responses(400, html=True),
    summary="A supplier's workspace: application, products, batches, trail, payouts (HTML)",
)
def supplier_page(request: Request, address: str, services: ServicesDep) -> Response:
    try:
        supplier = page_address(address)
    except ApiError as exc:
        return page_error(request, exc)
    ensure_db(services.engine)
    with Session(services.engine) as session:
        data = supplier_view(session, services, supplier)
    return render(
        request,
        "supplier.html",
        {**data, "event_kinds": EVENT_KINDS, "csv_columns": ",".join(CSV_COLUMNS)},
    )
