"""One mapping from domain errors to HTTP responses: a status and ``{"code", "message"}``.

Every route raises domain exceptions (or :class:`ApiError`); nothing here is route-specific, so the
same error always gives the same status and code. Bad input is never a 500.
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import OperationalError
from starlette.exceptions import HTTPException as StarletteHTTPException

from chain import errors as chain_errors
from chain.identity import ChainChanged
from traceability.epcis import errors as epcis_errors
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
    (ipfs_errors.DocumentTooLarge, 413),
    (ipfs_errors.DocumentNotFound, 404),
    (ipfs_errors.InvalidCid, 400),
    (ipfs_errors.BlockCorrupted, 502),
    (ipfs_errors.StoreUnavailable, 503),
    (ipfs_errors.IpfsError, 400),
    (epcis_errors.EpcisError, 400),
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
]


def error_body(code: str, message: str, **details: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"code": code, "message": message}
    if details:
        body["details"] = details
    return body


def status_for(exc: BaseException) -> int | None:
    for cls, status in DOMAIN_STATUS:
        if isinstance(exc, cls):
            return status
    return None


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(RecursionError)
    async def _too_deep(_: Request, exc: RecursionError) -> JSONResponse:
        return JSONResponse(
            error_body("input_too_deep", "the request body is nested too deeply"), status_code=400
        )

    @app.exception_handler(ApiError)
    async def _api_error(_: Request, exc: ApiError) -> JSONResponse:
        return JSONResponse(error_body(exc.code, exc.message, **exc.details), status_code=exc.status)

    @app.exception_handler(RequestValidationError)
    async def _validation(_: Request, exc: RequestValidationError) -> JSONResponse:
        errors = [
            {"loc": list(e.get("loc", ())), "msg": e.get("msg", "")} for e in exc.errors()
        ]
        return JSONResponse(
            error_body("invalid_request", "the request is malformed", errors=errors), status_code=422
        )

    @app.exception_handler(StarletteHTTPException)
    async def _http(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "http_error")
        return JSONResponse(error_body(code, str(exc.detail)), status_code=exc.status_code)

    for cls, status in DOMAIN_STATUS:

        async def _domain(_: Request, exc: Exception, status: int = status) -> JSONResponse:
            if status >= 500:
                logger.warning("%s: %s", type(exc).__name__, exc)
            details = {}
            if isinstance(exc, chain_errors.ContractRevert):
                # The contract's own error name and arguments, JSON-safe (bytes as 0x-hex).
                details = {
                    "error": exc.name or type(exc).__name__,
                    "args": {k: ("0x" + v.hex() if isinstance(v, bytes) else v) for k, v in exc.args.items()},
                }
            message = str(exc)
            if isinstance(exc, OperationalError):
                # The driver's text names hosts, ports and SQL: logged above, not sent to clients.
                message = "the index database is unavailable; retry later"
            return JSONResponse(
                error_body(_snake(type(exc).__name__), message, **{k: v for k, v in details.items() if v}),
                status_code=status_for(exc) or status,
            )

        app.add_exception_handler(cls, _domain)
