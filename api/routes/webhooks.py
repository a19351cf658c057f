"""Webhooks for operators' gateways, and the consent behind the contacts they carry.

Operators (accounts holding the registry's ``PLATFORM_ROLE`` on chain, checked at each request,
signed in with Sign-In with Ethereum as on the other ops pages):
- ``POST /v1/ops/webhooks``: register a gateway URL (400 ``webhook_url_refused`` with the reason
  for a URL that reaches the service's own network: :mod:`api.webhooks.targets`); the answer
  shows its ``whsec_`` secret once (``Cache-Control: no-store``), nothing shows it again;
- ``GET /v1/ops/webhooks``: the endpoints and their deliveries per state;
- ``GET /v1/ops/webhooks/{id}/deliveries?status=dead``: the dead letters (or any state);
- ``POST /v1/ops/webhooks/{id}/retry``: send dead letters again; ``DELETE``: stop an endpoint;
- ``/ops/webhooks``: the same as a page.

The address itself (its own session, nobody else's):
- ``PUT /v1/contact``: consent to notices by phone / WeChat (given now, for that contact);
- ``GET``: what is kept; ``DELETE``: withdraw consent (the contact is deleted).
"""

from __future__ import annotations

import time
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from fastapi import Path as PathParam
from fastapi.responses import HTMLResponse, Response
from sqlalchemy import select
from sqlalchemy.orm import Session

from api.auth.errors import AccessDenied, AuthError
from api.db import ensure_db
from api.errors import ApiError, error_responses
from api.private import crypto
from api.queries.common import chain_now
from api.render import render
from api.routes.deps import ServicesDep, SignedInDep, session_token, signed_in
from api.schemas.webhooks import (
    ContactIn,
    ContactOut,
    DeliveryOut,
    EndpointCreated,
    EndpointIn,
    EndpointOut,
    Retried,
    RetryIn,
)
from api.services import Services
from api.webhooks import contacts, outbox, runner, signing, targets, words
from api.webhooks.models import DeliveryStatus, WebhookDelivery, WebhookEndpoint

router = APIRouter(tags=["webhooks"])
EndpointId = Annotated[int, PathParam(ge=1, le=2**31 - 1)]

# The newest dead letters an endpoint's card on /ops/webhooks lists (the API pages through all).
DEAD_LETTERS_SHOWN = 50


def _operator(services: Services, address: str) -> str:
    if not services.chain.clients.registry.is_platform(address):
        raise AccessDenied(
            f"{address} is not one of the platform's operators (PLATFORM_ROLE)", address=address
        )
    return address


def operator(services: ServicesDep, address: SignedInDep) -> str:
    """The signed-in address, if the registry gives it PLATFORM_ROLE now (403 otherwise)."""
    return _operator(services, address)


OperatorDep = Annotated[str, Depends(operator)]


def _out(row: WebhookEndpoint, counts: dict[str, int] | None) -> EndpointOut:
    return EndpointOut(
        id=row.id,
        url=row.url,
        description=row.description,
        created_by=row.created_by,
        created_at=row.created_at,
        since=row.since,
        disabled=row.disabled_at is not None,
        deliveries=counts or {s.value: 0 for s in DeliveryStatus},
    )


def endpoints(session: Session) -> list[EndpointOut]:
    counts = outbox.counts(session)
    rows = session.scalars(select(WebhookEndpoint).order_by(WebhookEndpoint.id))
    return [_out(row, counts.get(row.id)) for row in rows]


def _endpoint(session: Session, endpoint_id: int) -> WebhookEndpoint:
    row = session.get(WebhookEndpoint, endpoint_id)
    if row is None:
        raise ApiError(404, "endpoint_not_found", f"no webhook endpoint {endpoint_id}")
    return row


@router.post(
    "/v1/ops/webhooks",
    status_code=201,
    response_model=EndpointCreated,
    responses=error_responses(400, 401, 403),
    summary="Register a gateway for notices (operators)",
)
def register(
    body: EndpointIn, response: Response, services: ServicesDep, who: OperatorDep
) -> EndpointCreated:
    ensure_db(services.engine)
    try:
        url = targets.check_url(str(body.url), targets.TargetPolicy.of(services.settings))
    except targets.TargetRefused as exc:
        raise ApiError(
            400, "webhook_url_refused", str(exc), url=str(body.url), reason=exc.reason.as_dict()
        ) from None
    key = runner.document_key(services)
    secret = signing.new_secret()
    now = int(time.time())
    with Session(services.engine) as session:
        row = WebhookEndpoint(
            url=url,
            description=body.description,
            secret_sealed=b"",
            key_id=crypto.key_id(key),
            created_by=who,
            created_at=now,
            since=body.since if body.since is not None else chain_now(session),
        )
        session.add(row)
        session.flush()  # its id seals the secret to this row
        row.secret_sealed = outbox.seal_secret(key, row.id, secret)
        session.commit()
        out = _out(row, None)
    runner.wake(rescan=True)
    # The secret is in this answer only (sealed at rest, never listed): no cache may keep it.
    response.headers["Cache-Control"] = "no-store"
    return EndpointCreated(**out.model_dump(), secret=secret)


@router.get(
    "/v1/ops/webhooks",
    response_model=list[EndpointOut],
    responses=error_responses(401, 403),
    summary="The gateways and their deliveries per state (operators)",
)
def list_endpoints(services: ServicesDep, _: OperatorDep) -> list[EndpointOut]:
    ensure_db(services.engine)
    with Session(services.engine) as session:
        return endpoints(session)


def deliveries(
    session: Session, endpoint_id: int, status: DeliveryStatus | None, limit: int
) -> list[DeliveryOut]:
    query = select(WebhookDelivery).where(WebhookDelivery.endpoint_id == endpoint_id)
    if status is not None:
        query = query.where(WebhookDelivery.status == status.value)
    rows = session.scalars(query.order_by(WebhookDelivery.id.desc()).limit(limit))
    return [
        DeliveryOut(
            id=r.id,
            message_id=r.message_id,
            notice_id=r.notice_id,
            recipient=r.recipient,
            kind=r.kind,
            status=DeliveryStatus(r.status),
            attempts=r.attempts,
            last_status=r.last_status,
            last_error=r.last_error,
            created_at=r.created_at,
            delivered_at=r.delivered_at,
        )
        for r in rows
    ]


@router.get(
    "/v1/ops/webhooks/{endpoint_id}/deliveries",
    response_model=list[DeliveryOut],
    responses=error_responses(401, 403, 404),
    summary="An endpoint's deliveries, newest first (status=dead: the dead letters)",
)
def list_deliveries(
    endpoint_id: EndpointId,
    services: ServicesDep,
    _: OperatorDep,
    status: DeliveryStatus | None = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> list[DeliveryOut]:
    ensure_db(services.engine)
    with Session(services.engine) as session:
        _endpoint(session, endpoint_id)
        return deliveries(session, endpoint_id, status, limit)


@router.post(
    "/v1/ops/webhooks/{endpoint_id}/retry",
    response_model=Retried,
    responses=error_responses(400, 401, 403, 404),
    summary="Send an endpoint's dead letters again (operators)",
)
def retry(endpoint_id: EndpointId, body: RetryIn, services: ServicesDep, _: OperatorDep) -> Retried:
    ensure_db(services.engine)
    with Session(services.engine) as session:
        _endpoint(session, endpoint_id)
    n = outbox.retry(
        services.engine, endpoint_id=endpoint_id, delivery_id=body.delivery_id, now=time.time()
    )
    runner.wake()
    return Retried(retried=n)


@router.delete(
    "/v1/ops/webhooks/{endpoint_id}",
    status_code=204,
    responses=error_responses(401, 403, 404),
    summary="Stop sending to an endpoint (its rows are kept)",
)
def disable(endpoint_id: EndpointId, services: ServicesDep, _: OperatorDep) -> Response:
    ensure_db(services.engine)
    with Session(services.engine) as session:
        row = _endpoint(session, endpoint_id)
        row.disabled_at = row.disabled_at or int(time.time())
        session.commit()
    return Response(status_code=204)


# ---------------------------------------------------------------------- consent


@router.put(
    "/v1/contact",
    response_model=ContactOut,
    responses=error_responses(400, 401),
    summary="Consent to notices by phone / WeChat (the signed-in address's own)",
)
def give_contact(body: ContactIn, services: ServicesDep, address: SignedInDep) -> ContactOut:
    ensure_db(services.engine)
    try:
        kept = contacts.give(
            services.engine,
            runner.document_key(services),
            address,
            phone=body.phone,
            wechat_openid=body.wechat_openid,
            now=int(time.time()),
        )
    except contacts.ContactError as exc:
        raise ApiError(400, "invalid_contact", str(exc)) from None
    return ContactOut(address=address, **kept.to_json())  # type: ignore[arg-type]


@router.get(
    "/v1/contact",
    response_model=ContactOut,
    responses=error_responses(401),
    summary="The contact kept for the signed-in address, if it consented",
)
def get_contact(services: ServicesDep, address: SignedInDep) -> ContactOut:
    ensure_db(services.engine)
    with Session(services.engine) as session:
        kept = contacts.get(session, runner.document_key(services), address)
    if kept is None:
        return ContactOut(address=address, phone=None, wechat_openid=None, consented_at=None)
    return ContactOut(address=address, **kept.to_json())  # type: ignore[arg-type]


@router.delete(
    "/v1/contact",
    status_code=204,
    responses=error_responses(401),
    summary="Withdraw consent: the contact is deleted, later webhooks carry none",
)
def withdraw_contact(services: ServicesDep, address: SignedInDep) -> Response:
    ensure_db(services.engine)
    contacts.withdraw(services.engine, address)
    return Response(status_code=204)


# ---------------------------------------------------------------------- the page


@router.get("/ops/webhooks", response_class=HTMLResponse, summary="Webhooks (HTML, operators)")
def webhooks_page(request: Request, services: ServicesDep) -> Response:
    """Endpoints, deliveries per state and the dead letters, for a signed-in operator; anyone
    else sees how to sign in (the URLs of gateways are not public)."""
    ensure_db(services.engine)
    context: dict[str, object] = {
        "who": None,
        "endpoints": [],
        "dead": {},
        "refused": None,
        "error_words": words.delivery_error_words,
    }
    try:
        who = signed_in(request, session_token(request, request.headers.get("authorization")))
        context["who"] = _operator(services, who)
    except AuthError as exc:
        context["refused"] = str(exc) if isinstance(exc, AccessDenied) else None
        return render(request, "ops_webhooks.html", context)
    with Session(services.engine) as session:
        found = endpoints(session)
        context["endpoints"] = found
        context["dead"] = {
            e.id: deliveries(session, e.id, DeliveryStatus.DEAD, DEAD_LETTERS_SHOWN) for e in found
        }
    return render(request, "ops_webhooks.html", context)
