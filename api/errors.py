"""One mapping from domain errors to HTTP responses: a status and ``{"code", "message", "details"}``.

Every route raises domain exceptions (or :class:`ApiError`); nothing here is route-specific, so the
same error always gives the same status and code. Bad input is never a 500. :class:`ErrorBody` is
the one schema of every error response, and :func:`error_responses` declares it in OpenAPI.
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from sqlalchemy.exc import OperationalError
from starlette.exceptions import HTTPException as StarletteHTTPException

from api.auth import errors as auth_errors
from api.db.migrate import DatabaseSchemaError
from api.index_errors import NotInIndex
from api.private import crypto as private_crypto
from api.private import store as private_store
from api.supplier.errors import InputError
from chain import errors as chain_errors
from chain.identity import ChainChanged
from chain.jsonable import json_safe
from traceability.epcis import errors as epcis_errors
from traceability.errors import TraceabilityError
from traceability.ipfs import errors as ipfs_errors

logger = logging.getLogger(__name__)


class ApiError(Exception):
    """An error a route raises on purpose: ``ApiError(404, "batch_not_found", "no batch 0123/LOT")``."""

    def __init__(self, status: int, code: str, message: str, **details: Any) -> None:
        super().__init__(message)
        self.status, self.code, self.message, self.details = status, code, message, details


def _snake(name: str) -> str:
    return "".join("_" + c.lower() if c.isupper() else c for c in name).lstrip("_")


# (exception class, HTTP status); the first match in this order wins, so subclasses come first.
DOMAIN_STATUS: list[tuple[type[BaseException], int]] = [
    (auth_errors.AccessDenied, 403),
    (auth_errors.AuthError, 401),
    (private_store.PrivateDocumentNotFound, 404),
    (private_store.PrivateStoreFull, 429),
    (private_store.PrivateDocumentError, 400),
    # The configured document key is not the one that sealed the document: an operator's fix.
    (private_crypto.WrongDocumentKey, 503),
    (ipfs_errors.DocumentTooLarge, 413),
    (ipfs_errors.DocumentNotFound, 404),
    (ipfs_errors.InvalidCid, 400),
    (ipfs_errors.BlockCorrupted, 502),
    (ipfs_errors.StoreUnavailable, 503),
    (ipfs_errors.UnexpectedCid, 502),  # a Kubo node that ignores the import profile
    (ipfs_errors.IpfsError, 400),
    (epcis_errors.EpcisError, 400),
    # Any other traceability error reaching a route is about data it was given (a link, a
    # manifest, a JSON document): bad input, never a 500.
    (TraceabilityError, 400),
    # A supplier's form field or file the builders cannot use (api.supplier.inputs).
    (InputError, 400),
    (NotInIndex, 404),
    (chain_errors.NodeUnavailable, 503),
    (chain_errors.TransactionTimeout, 504),
    (chain_errors.UnknownContract, 503),
    # The node serves another chain than the one we are bound to / deployed on: retry later.
    (chain_errors.DeploymentMismatch, 503),
    (ChainChanged, 503),
    # Reverts that mean "no such thing" rather than "not now" (classes are unique per name).
    (chain_errors.error_class("DealNotFound"), 404),
    (chain_errors.error_class("UnknownBatch"), 404),
    (chain_errors.ContractRevert, 409),
    (chain_errors.ChainError, 502),
    # The index database is down or unreachable (not bad input): retry later.
    (OperationalError, 503),
    # The database's schema is newer than this code (another release migrated it).
    (DatabaseSchemaError, 503),
]


# Services behind this one whose failures name where they are: the driver's text names hosts,
# ports and SQL; a node's or a store's its URL, which for a hosted node carries its API key
# (``https://…/v3/<key>``). Logged (every 5xx is), never sent to clients: these words instead.
HIDDEN_CAUSES: dict[type[BaseException], str] = {
    OperationalError: "the index database is unavailable; retry later",
    chain_errors.NodeUnavailable: "the chain node is unavailable; retry later",
    ipfs_errors.StoreUnavailable: "the document store is unavailable; retry later",
    # Its text names the manifest's path on this host and the node's URL.
    chain_errors.DeploymentMismatch: "the chain node serves another chain than the one this "
    "service's contracts were deployed on (it was reset, or the RPC URL points elsewhere); the "
    "operator deploys there with `tuanchain deploy` (`tuanchain run` on a local chain) and the "
    "service's log says more",
}


def public_message(exc: BaseException) -> str:
    """What a client is told of ``exc``: its text, or for :data:`HIDDEN_CAUSES` their words."""
    return next((text for cls, text in HIDDEN_CAUSES.items() if isinstance(exc, cls)), str(exc))


class ErrorBody(BaseModel):
    """The body of every error response."""

    code: str = Field(description="stable and machine-readable: invalid_gtin, deal_not_found, ...")
    message: str = Field(description="what went wrong, in one sentence for people")
    details: dict[str, Any] = Field(
        description="the values the error is about (the offending input, a contract error's "
        "name and arguments, each invalid field); empty when there are none"
    )


ERROR_DESCRIPTIONS = {
    400: "bad input; `code` says which",
    401: "not signed in, or the Sign-In with Ethereum message was refused (`details.reason`)",
    403: "the signer is not allowed to do this",
    404: "no such resource",
    405: "the path does not take this method",
    409: "the contract refused it: `details` has the Solidity error's name and arguments",
    413: "the body is too large",
    415: "the media type is not accepted, or the bytes are not of that type",
    429: "too many requests from this client, or for this address: `details.retry_after_seconds` "
    "and the `Retry-After` header say when to try again",
    422: "the request does not match this operation's parameters: `details.errors` lists them",
    502: "the chain node or the document store answered something invalid",
    503: "the index database, the chain node or the document store is unavailable; retry later",
    504: "the chain did not confirm the transaction in time",
}


ERROR_SCHEMA = "ErrorBody"  # its name in the OpenAPI components (see error_schema_component)


def error_responses(*statuses: int, html: bool = False) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses`` declaring ``statuses`` with :class:`ErrorBody` as JSON (and, for
    ``html``, also an error page: pages answer browsers in HTML).

    The body is a ``$ref``, not FastAPI's ``model``: a model goes under the route's own media
    type, which for an HTML page would document the JSON error as ``text/html``."""
    content: dict[str, Any] = {
        "application/json": {"schema": {"$ref": f"#/components/schemas/{ERROR_SCHEMA}"}}
    }
    if html:
        content["text/html"] = {"schema": {"type": "string"}}
    return {
        status: {"description": ERROR_DESCRIPTIONS[status], "content": content}
        for status in statuses
    }


def error_schema_component(openapi: dict[str, Any]) -> dict[str, Any]:
    """``openapi`` with :class:`ErrorBody` among its component schemas (what the ``$ref`` of
    :func:`error_responses` names)."""
    schemas = openapi.setdefault("components", {}).setdefault("schemas", {})
    schemas[ERROR_SCHEMA] = ErrorBody.model_json_schema()
    return openapi


def error_body(code: str, message: str, **details: Any) -> dict[str, Any]:
    return {"code": code, "message": message, "details": details}


def status_for(exc: BaseException) -> int | None:
    for cls, status in DOMAIN_STATUS:
        if isinstance(exc, cls):
            return status
    return None


def as_api_error(exc: BaseException) -> ApiError | None:
    """``exc`` as the API answers it (status, code, public words): a page shows it on its error
    page instead of the API's JSON. None for what the mapping does not know (a 500)."""
    if isinstance(exc, ApiError):
        return exc
    status = status_for(exc)
    if status is None:
        return None
    if status >= 500:
        logger.warning("%s: %s", type(exc).__name__, exc)
    return ApiError(status, _code_of(exc), public_message(exc))


def _code_of(exc: BaseException) -> str:
    """A domain error's code: its own, else its class's name in snake case."""
    if isinstance(exc, private_store.PrivateDocumentError):
        return exc.code
    return _snake(type(exc).__name__)


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(RecursionError)
    async def _too_deep(_: Request, exc: RecursionError) -> JSONResponse:
        return JSONResponse(
            error_body("input_too_deep", "the request body is nested too deeply"), status_code=400
        )

    @app.exception_handler(ApiError)
    async def _api_error(_: Request, exc: ApiError) -> JSONResponse:
        # A refusal that says when to come back says it in HTTP too (RFC 9110 Retry-After):
        # clients and SDKs back off on the header without reading the body.
        wait = exc.details.get("retry_after_seconds")
        return JSONResponse(
            error_body(exc.code, exc.message, **exc.details),
            status_code=exc.status,
            headers={"Retry-After": str(wait)} if isinstance(wait, int) else None,
        )

    @app.exception_handler(RequestValidationError)
    async def _validation(_: Request, exc: RequestValidationError) -> JSONResponse:
        errors = [{"loc": list(e.get("loc", ())), "msg": e.get("msg", "")} for e in exc.errors()]
        return JSONResponse(
            error_body("invalid_request", "the request is malformed", errors=errors),
            status_code=422,
        )

    @app.exception_handler(Exception)
    async def _unexpected(_: Request, exc: Exception) -> JSONResponse:
        # A bug, never bad input (undeclared in OpenAPI; the schemathesis test hunts for these).
        # Starlette re-raises the exception after this response, so the server logs its traceback.
        return JSONResponse(
            error_body("internal_error", "an unexpected error; it has been logged"),
            status_code=500,
        )

    @app.exception_handler(StarletteHTTPException)
    async def _http(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "http_error")
        return JSONResponse(error_body(code, str(exc.detail)), status_code=exc.status_code)

    for cls, status in DOMAIN_STATUS:

        async def _domain(_: Request, exc: Exception, status: int = status) -> JSONResponse:
            if status >= 500:
                logger.warning("%s: %s", type(exc).__name__, exc)
            # Domain errors that carry the values they are about (AuthError, the read model's
            # errors, InvalidGtin/InvalidLot) give them as details.
            carried = getattr(exc, "details", None)
            details: dict[str, Any] = dict(carried) if isinstance(carried, dict) else {}
            if isinstance(exc, chain_errors.ContractRevert):
                # The contract's own error name and arguments, JSON-safe (bytes as 0x-hex).
                details = {
                    "error": exc.name or type(exc).__name__,
                    "args": json_safe(dict(exc.args)),
                }
            message = public_message(exc)
            return JSONResponse(
                error_body(
                    _code_of(exc),
                    message,
                    **{k: v for k, v in details.items() if v},
                ),
                status_code=status_for(exc) or status,
            )

        app.add_exception_handler(cls, _domain)
