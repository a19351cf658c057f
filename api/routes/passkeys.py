"""Passkey accounts for pages: the account of a passkey, unsigned operations, the demo faucet, and
the phone-first ``/passkey`` page.

- ``GET /v1/passkeys/account?qx=&qy=`` — the counterfactual address the factory gives the passkey,
  whether it is deployed, its stablecoin balance and the signer bytes (verifier ‖ qx ‖ qy);
- ``POST /v1/actions/{action}/prepare-userop`` — the unsigned user operation of a consumer action
  (``join``, ``cancel``, ``withdraw``, ``refund``, ``file_claim``, ``add_passkey``) and its ``userOpHash``, the challenge the passkey signs
  (:mod:`api.bundler.prepare`); the page sends the signed operation to ``POST /v1/bundler``;
- ``POST /v1/passkeys/sign-message`` — the challenge of an ERC-1271 ``personal_sign`` (uploads);
- ``POST /v1/passkeys/sign-typed-data`` — the challenge of an ERC-1271 EIP-712 signature (pickup codes);
- ``POST /v1/faucet`` — test stablecoins on a local chain only (:mod:`api.faucet`);
- ``GET /passkey`` — sign in with a passkey, see the account, get test tokens, join a deal
  (``/static/passkey.js``).
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, Query, Request
from fastapi.responses import HTMLResponse

from api.bundler.actions import PASSKEY_ACTIONS
from api.bundler.prepare import (
    acting_account,
    message_challenge,
    parse_coordinate,
    prepare,
    typed_data_challenge,
)
from api.db import session_factory
from api.errors import ApiError, error_responses
from api.faucet import Faucet
from api.render import render
from api.routes.deps import ClientLimited, ServicesDep
from chain.aa.bundling import checksum

router = APIRouter(tags=["passkeys"])

_FAUCET = Faucet()


def faucet_of(request: Request) -> Faucet:
    """The app's faucet (its per-address window); one per process unless a test sets its own."""
    return getattr(request.app.state, "faucet", _FAUCET)


@router.get(
    "/v1/passkeys/account",
    summary="The passkey account of a public key",
    description="Counterfactual CREATE2 address from the factory (usable before deployment), "
    "whether it is deployed, its stablecoin balance, and the signer bytes its signatures name. "
    "With `account` (a passkey added to that account on another device): that account, once "
    "the chain says the passkey is one of its passkeys (403 `not_a_passkey_of_account` otherwise).",
    responses=error_responses(400, 403),
)
def passkey_account(
    services: ServicesDep,
    qx: Annotated[str, Query(description="P-256 public key x, 32 bytes 0x hex")],
    qy: Annotated[str, Query(description="P-256 public key y, 32 bytes 0x hex")],
    named: Annotated[
        str | None, Query(alias="account", description="the account this passkey was added to")
    ] = None,
) -> dict[str, Any]:
    return acting_account(
        services.chain, parse_coordinate(qx, "qx"), parse_coordinate(qy, "qy"), named
    )


@router.post(
    "/v1/actions/{action}/prepare-userop",
    summary="Unsigned user operation of a consumer action for a passkey account",
    description="Body: `qx`, `qy` (the passkey's public key) and the action's fields "
    f"({', '.join(PASSKEY_ACTIONS)}: `deal_id`; join: `quantity`, `leader`; file_claim: "
    "`quantity`, `evidence_cid`). Returns the "
    "operation (ERC-7769 JSON, signature empty) and its `userOpHash`, the WebAuthn challenge. "
    "Sponsored by the consumer paymaster; the account is created by its first operation.",
    responses=error_responses(400, 403, 404, 409, 429),
    dependencies=[ClientLimited],
)
def prepare_userop(
    action: str, services: ServicesDep, body: Annotated[dict[str, Any], Body()]
) -> dict[str, Any]:
    if not isinstance(body, dict):
        raise ApiError(400, "invalid_request", "expected a JSON object")
    qx = parse_coordinate(body.get("qx"), "qx")
    qy = parse_coordinate(body.get("qy"), "qy")
    with session_factory(services.engine)() as session:
        return prepare(
            session,
            services.chain,
            action=action,
            qx=qx,
            qy=qy,
            body=body,
            store=services.store,
            engine=services.engine,
        )


@router.post(
    "/v1/passkeys/sign-message",
    summary="The challenge a passkey signs for its account's personal_sign (ERC-1271)",
    description="Body: `qx`, `qy`, `message` (text) and, for a passkey added to an account on "
    "another device, that `account`. Returns the account, the message's EIP-191 "
    "hash and the `challenge`: the ERC-7739 PersonalSign digest under the account's EIP-712 "
    "domain. The account signature over it (`abi.encode(bytes[] signers, bytes[] signatures)`) "
    "is what `isValidSignature(messageHash, signature)` accepts, e.g. for signed uploads.",
    responses=error_responses(400, 403),
)
def sign_message(services: ServicesDep, body: Annotated[dict[str, Any], Body()]) -> dict[str, Any]:
    if not isinstance(body, dict) or not isinstance(body.get("message"), str):
        raise ApiError(400, "invalid_request", "message (text) is required")
    return message_challenge(
        services.chain,
        qx=parse_coordinate(body.get("qx"), "qx"),
        qy=parse_coordinate(body.get("qy"), "qy"),
        message=body["message"],
        named=body.get("account"),
    )


@router.post(
    "/v1/passkeys/sign-typed-data",
    summary="The challenge a passkey signs for its account's EIP-712 signature (ERC-1271)",
    description="Body: `qx`, `qy`, `typed_data` (EIP-712, e.g. a prepared `handover_code`) and, "
    "for a passkey added to an account on another device, that `account`. "
    "Returns the account, the `challenge` (the ERC-7739 TypedDataSign digest under the account's "
    "domain), the `signer` and a `suffix`: the signature an application's `isValidSignature` "
    "accepts is `abi.encode(bytes[] signers, bytes[] signatures)` over the challenge, then the "
    "suffix.",
    responses=error_responses(400, 403),
)
def sign_typed_data(
    services: ServicesDep, body: Annotated[dict[str, Any], Body()]
) -> dict[str, Any]:
    if not isinstance(body, dict) or not isinstance(body.get("typed_data"), dict):
        raise ApiError(400, "invalid_request", "typed_data (an EIP-712 object) is required")
    return typed_data_challenge(
        services.chain,
        qx=parse_coordinate(body.get("qx"), "qx"),
        qy=parse_coordinate(body.get("qy"), "qy"),
        typed_data=body["typed_data"],
        named=body.get("account"),
    )


@router.post(
    "/v1/faucet",
    summary="Test stablecoins for an account (local chain only)",
    description="Mints 200 tUSD to `address` on a local chain; 403 `faucet_unavailable` "
    "anywhere else, 429 `faucet_limit` when the address was served within the hour or "
    "already holds that much.",
    responses=error_responses(400, 403, 429),
    dependencies=[ClientLimited],
)
def faucet(
    request: Request, services: ServicesDep, body: Annotated[dict[str, Any], Body()]
) -> dict[str, Any]:
    try:
        address = checksum(str(body.get("address"))) if isinstance(body, dict) else ""
    except (TypeError, ValueError):
        address = ""
    if not address:
        raise ApiError(400, "invalid_address", "address (0x, 20 bytes) is required")
    return faucet_of(request).grant(services.chain, address)


@router.get("/passkey", response_class=HTMLResponse, summary="Passkey sign-in page (HTML)")
def passkey_page(request: Request) -> HTMLResponse:
    return render(
        request,
        "passkey.html",
        {"deal": request.query_params.get("deal", ""), "next": local_next(request)},
    )


def local_next(request: Request) -> str:
    """The page to go back to once signed in (``?next=``): a path on this site only — an
    absolute URL, a scheme-relative ``//host`` or a backslash (``/\\host``, which browsers read
    as ``//``) is dropped, so the link cannot lead off the site."""
    target = request.query_params.get("next", "")
    if not target.startswith("/") or target.startswith("//") or "\\" in target:
        return ""
    if any(ord(ch) < 0x20 for ch in target):
        return ""
    return target
