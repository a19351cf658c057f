"""``/v1/auth/*``: Sign-In with Ethereum (EIP-4361) sessions.

``POST /v1/auth/nonce`` → the message to sign; ``POST /v1/auth/verify`` with the message and its
``personal_sign`` signature → a session (bearer token in the body, and an HttpOnly SameSite=Strict
cookie for pages); ``GET /v1/auth/session`` → who is signed in and their roles on chain;
``POST /v1/auth/logout`` ends the session.
"""

from __future__ import annotations

import time
from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse, Response
from hexbytes import HexBytes

from api.auth import sessions
from api.errors import error_responses
from api.routes.deps import SESSION_COOKIE, ClientLimited, ServicesDep, session_token, signed_in
from api.schemas.auth import Challenge, NonceRequest, SessionPublic, VerifyRequest
from api.services import Services
from chain.aa.erc7739 import personal_sign_hash

router = APIRouter(tags=["auth"])


def _erc1271(services: Services, address: str, text: str, signature: str) -> bool:
    """A contract account's (a passkey account's) personal_sign, checked on chain."""
    try:
        raw = bytes(HexBytes(signature))
    except (TypeError, ValueError):
        return False
    return services.chain.passkeys.is_valid_signature(address, personal_sign_hash(text), raw)


def _roles(services: Services, address: str) -> list[str]:
    registry = services.chain.clients.registry
    roles = []
    if registry.is_platform(address):
        roles.append("platform")
    if registry.is_approved_supplier(address):
        roles.append("supplier")
    if registry.is_approved_leader(address):
        roles.append("leader")
    return roles


@router.post(
    "/v1/auth/nonce",
    response_model=Challenge,
    responses=error_responses(400, 429),
    summary="A single-use nonce and the EIP-4361 message to sign with it",
    # Each nonce is a row kept in the database: one client must not write them without bound.
    dependencies=[ClientLimited],
)
def nonce(services: ServicesDep, body: NonceRequest, request: Request) -> Challenge:
    message = sessions.issue_challenge(
        services.engine,
        services.settings,
        address=body.address,
        now=int(time.time()),
        host=request.headers.get("host"),
    )
    return Challenge(
        nonce=message.nonce,
        message=message.text(),
        expires_at=int(time.time()) + sessions.NONCE_TTL_SECONDS,
    )


@router.post(
    "/v1/auth/verify",
    response_model=SessionPublic,
    responses=error_responses(400, 401, 429),
    summary="Sign in: the signed EIP-4361 message opens a session",
    # A signature recovery, or an ERC-1271 eth_call, per attempt.
    dependencies=[ClientLimited],
)
def verify(services: ServicesDep, body: VerifyRequest) -> JSONResponse:
    opened = sessions.sign_in(
        services.engine,
        services.settings,
        text=body.message,
        signature=body.signature,
        now=int(time.time()),
        contract_check=lambda address, text, signature: _erc1271(
            services, address, text, signature
        ),
    )
    public = SessionPublic(
        address=opened.address,
        token=opened.token,
        expires_at=opened.expires_at,
        roles=_roles(services, opened.address),
    )
    response = JSONResponse(public.model_dump())
    response.set_cookie(
        SESSION_COOKIE,
        opened.token,
        max_age=max(0, opened.expires_at - int(time.time())),
        httponly=True,
        samesite="strict",
        secure=services.settings.public_url.startswith("https://"),
    )
    return response


@router.get(
    "/v1/auth/session",
    response_model=SessionPublic,
    responses=error_responses(401),
    summary="Who is signed in, until when, and their roles on chain",
)
def current_session(
    services: ServicesDep, token: Annotated[str | None, Depends(session_token)]
) -> SessionPublic:
    address, expires_at = sessions.session_address(services.engine, token, now=int(time.time()))
    return SessionPublic(address=address, expires_at=expires_at, roles=_roles(services, address))


@router.post(
    "/v1/auth/logout",
    status_code=204,
    responses=error_responses(401),
    summary="End the session",
    dependencies=[Depends(signed_in)],
)
def logout(services: ServicesDep, token: Annotated[str | None, Depends(session_token)]) -> Response:
    sessions.end_session(services.engine, token or "", now=int(time.time()))
    response = Response(status_code=204)
    response.delete_cookie(SESSION_COOKIE)
    return response
