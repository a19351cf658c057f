"""The platform's listing and escrow settings: ``/ops/deals/new`` (选品上架), ``/ops/tokens``
(allowed payment tokens), ``/ops/fee-recipient``; ``POST /v1/ops/deals/check`` (what the form
shows as it changes: every refusal of ``createDeal`` and each tier's economics, from
:mod:`chain.deal_checks`); ``GET /v1/roles/{address}`` (which roles an address holds on chain, so
the operators' pages show their controls only to those who can use them, and say why to others).

Acting is a signed request the escrow checks (``PLATFORM_ROLE``; the fee recipient
``DEFAULT_ADMIN_ROLE``), prepared by ``/v1/actions/{create_deal|set_token_allowed|
set_fee_recipient}/prepare`` and relayed like every action.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, Query, Request
from fastapi.responses import HTMLResponse, Response
from pydantic import ValidationError
from sqlalchemy.orm import Session
from web3 import Web3

from api.db import ensure_db
from api.disputes import batches
from api.errors import ApiError, error_responses
from api.names import Directory
from api.queries.common import MAX_PAGE
from api.relayer.prepare.listing import CreateDealParams, check_listing
from api.render import render
from api.review import queue
from api.routes.deps import ClientLimited, ServicesDep
from chain.clients import Clients

router = APIRouter(tags=["pages"])

# Role constants each operators' control needs, by contract (the getters' names).
ROLES = {
    "escrow": ("DEFAULT_ADMIN_ROLE", "PLATFORM_ROLE", "ARBITER_ROLE"),
    "registry": ("DEFAULT_ADMIN_ROLE", "PLATFORM_ROLE"),
}


def roles_of(clients: Clients, address: str) -> dict[str, dict[str, bool]]:
    return {
        contract: {name: getattr(clients, contract).has_role(name, address) for name in names}
        for contract, names in ROLES.items()
    }


@router.get(
    "/v1/roles/{address}",
    tags=["read"],
    responses=error_responses(400),
    summary="Which operator roles an address holds on chain",
)
def roles(address: str, services: ServicesDep) -> dict[str, Any]:
    if not Web3.is_address(address):
        raise ApiError(400, "invalid_address", f"not an Ethereum address: {address!r}")
    account = Web3.to_checksum_address(address)
    return {"address": account, **roles_of(services.chain.clients, account)}


@router.post(
    "/v1/ops/deals/check",
    tags=["gasless"],
    responses=error_responses(400, 422, 429, 502),
    summary="Check a listing before signing: every refusal and each tier's economics",
    # Open to anyone, and each check asks the chain about every batch named (up to 64).
    dependencies=[ClientLimited],
)
def check_deal(services: ServicesDep, body: Annotated[dict[str, Any], Body()]) -> dict[str, Any]:
    try:
        params = CreateDealParams.model_validate(body)
    except ValidationError as exc:
        errors = [{"loc": list(e["loc"]), "msg": e["msg"]} for e in exc.errors()]
        raise ApiError(422, "invalid_request", "bad listing parameters", errors=errors) from None
    return check_listing(services.chain, params)


def _token(clients: Clients) -> dict[str, Any]:
    token = clients.token
    return {"address": token.address, "name": token.name(), "decimals": token.decimals()}


@router.get("/ops/deals/new", response_class=HTMLResponse, summary="List a deal (HTML)")
def new_deal_page(
    request: Request,
    services: ServicesDep,
    q: Annotated[
        str | None,
        Query(
            max_length=100,
            description="batches to offer: the start of a GTIN (as printed) or of a lot, a "
            "product's name (among the newest batches), a batch id or a supplier's address; "
            "without it, the newest; at most a page's worth (200), the page says when more match",
        ),
    ] = None,
) -> Response:
    """The approved suppliers with their active batches (by product name), the token and the
    current fee recipient; the form's checks and economics come from ``/v1/ops/deals/check``.
    The newest batches are offered, a page's worth; ``q`` finds older ones."""
    ensure_db(services.engine)
    clients = services.chain.clients
    with Session(services.engine) as session:
        directory = Directory(session, services.store)
        suppliers = [
            a for a in queue(session, directory) if a.kind == "supplier" and a.status == "approved"
        ]
        # The newest batches (a page's worth, as /ops/recalls shows them first), or those the
        # operator searched for.
        newest, more = batches(session, directory, limit=MAX_PAGE, search=q)
        active = [b for b in newest if b.status == "active"]
    by_supplier = {
        s.account: [b for b in active if b.supplier.address == s.account] for s in suppliers
    }
    # A search picks the supplier of its first match (the form shows that supplier's batches).
    chosen = next((b.supplier.address for b in active if b.supplier.address in by_supplier), None)
    return render(
        request,
        "ops_deal_new.html",
        {
            "suppliers": suppliers,
            "batches": by_supplier,
            "search": (q or "").strip(),
            "found": sum(len(v) for v in by_supplier.values()),
            # With a search: more than a page's worth match (the page asks for a narrower one).
            "more_batches": more is not None,
            "page_size": MAX_PAGE,
            "chosen": chosen if q else None,
            "token": _token(clients),
            "fee_recipient": clients.escrow.fee_recipient(),
            "now": services.chain.sender.chain_time(),
        },
    )


def _tokens(clients: Clients) -> list[dict[str, Any]]:
    """Tokens the escrow ever allowed or refused (its ``TokenAllowed`` log), and its stablecoin."""
    seen = [clients.token.address]
    for log in clients.escrow.get_events("TokenAllowed"):
        token = Web3.to_checksum_address(log["args"]["token"])
        if token not in seen:
            seen.append(token)
    return [
        {
            "address": token,
            "allowed": clients.escrow.is_token_allowed(token),
            "name": clients.token.name() if token == clients.token.address else "",
        }
        for token in seen
    ]


@router.get("/ops/tokens", response_class=HTMLResponse, summary="Allowed payment tokens (HTML)")
def tokens_page(request: Request, services: ServicesDep) -> Response:
    return render(request, "ops_tokens.html", {"tokens": _tokens(services.chain.clients)})


@router.get("/ops/fee-recipient", response_class=HTMLResponse, summary="Fee recipient (HTML)")
def fee_recipient_page(request: Request, services: ServicesDep) -> Response:
    ensure_db(services.engine)
    recipient = services.chain.clients.escrow.fee_recipient()
    with Session(services.engine) as session:
        who = Directory(session, services.store).get(recipient)
    return render(request, "ops_fee.html", {"recipient": recipient, "who": who})
