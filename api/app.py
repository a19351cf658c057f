"""``create_app(services)``: the FastAPI application with every router and the error mapping.

With ``background=True`` (what ``tuanchain serve`` uses) the app's lifespan also runs the indexer,
the relayer's outbox worker and the keeper in daemon threads, and stops them on shutdown.
"""

from __future__ import annotations

import logging
import sys
import threading
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI
from sqlalchemy.engine import make_url
from sqlalchemy.exc import OperationalError

from api.background import stop_all
from api.bodylimit import BodyLimit
from api.db import ensure_db
from api.errors import error_responses, error_schema_component, install_error_handlers
from api.nostore import SessionNoStore
from api.ratelimit import SharedBuckets, TokenBuckets
from api.routes import (
    auth,
    bundler,
    community,
    documents,
    health,
    ipfs,
    ops,
    ops_listing,
    pages,
    passkeys,
    private_documents,
    qr,
    read,
    relay,
    resolver,
    supplier_pages,
    supplier_trail,
    webhooks,
)
from api.routes.response_cache import ReadCache, ResponseStore
from api.services import Services, build_services

logger = logging.getLogger(__name__)


def start_background(services: Services) -> list[Callable[[], None]]:
    """The background roles (:mod:`api.roles`: workers at once, the indexer and keeper while
    this process holds their lock)."""
    from api.roles import start_background as start_roles

    return start_roles(services)


# py_ecc (imported by web3) raises the recursion limit to 100,000; at that depth json.loads of a
# deeply nested request body overflows the C stack and kills the process (a remote crash). A few
# thousand is plenty for our code; deeper input becomes RecursionError, answered 400 (api.errors).
SAFE_RECURSION_LIMIT = 4000


def create_app(services: Services | None = None, *, background: bool = False) -> FastAPI:
    if sys.getrecursionlimit() > SAFE_RECURSION_LIMIT:
        sys.setrecursionlimit(SAFE_RECURSION_LIMIT)
    services = services or build_services()

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        # Tables exist before the first request, whoever (indexer, relayer) would create them.
        # A database that is down must not stop the service: routes answer 503 until it is back
        # (readers call ensure_db again on first use).
        try:
            ensure_db(services.engine)
        except OperationalError as exc:
            logger.warning("index database unavailable at startup: %s", exc)
        stops = start_background(services) if background else []
        try:
            yield
        finally:
            app.state.closing.set()
            stop_all(stops)

    app = FastAPI(
        title="tuanchain",
        version="0.1.0",
        description=(
            "Community group buying with on-chain escrow and verifiable EPCIS provenance: "
            "GS1 Digital Link resolver, provenance, IPFS trustless gateway, gasless relay, dashboards."
        ),
        lifespan=lifespan,
        # Every operation: a malformed request, or a dependency (database, node, store) down.
        # Routes declare their own errors beside them; all errors share one body (ErrorBody).
        responses=error_responses(422, 503),
    )
    app.state.services = services
    # Set when the server is asked to stop (request_shutdown): open streams end at once instead
    # of holding the graceful shutdown up until its timeout.
    app.state.closing = threading.Event()
    # The notice streams open now, per client (api.routes.community.MAX_STREAMS_PER_CLIENT).
    app.state.notice_streams = {}
    install_error_handlers(app)
    # GET /v1/deals and /v1/deals/{id}: rendered answers kept per state of the index (issue 15).
    app.state.read_cache = ResponseStore()
    # Per client address, on the writes that cost CPU (api.ratelimit.limit_client): in the
    # database when it is PostgreSQL, which several processes may share; else in the process.
    limit = {
        "rate": services.settings.rate_limit_per_second,
        "burst": services.settings.rate_limit_burst,
    }
    app.state.client_buckets = (
        SharedBuckets(lambda: services.engine, **limit)
        if make_url(services.settings.database_url).get_backend_name() == "postgresql"
        else TokenBuckets(**limit)
    )
    app.add_middleware(ReadCache, engine=lambda: services.engine, store=app.state.read_cache)
    # Whatever read the session is answered no-store (api.nostore).
    app.add_middleware(SessionNoStore)
    # Outermost (added last): no body past the largest a route takes is read, by any route.
    app.add_middleware(BodyLimit, max_bytes=documents.MAX_REQUEST_BYTES)

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = error_schema_component(FastAPI.openapi(app))
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
    for module in (
        health,
        read,
        relay,
        bundler,
        passkeys,
        auth,
        private_documents,
        documents,
        ipfs,
        resolver,
        pages,
        community,
        ops,
        ops_listing,
        # After ops: its /supplier/claims must not be taken for an address.
        supplier_pages,
        supplier_trail,
        webhooks,
        qr,
    ):
        app.include_router(module.router)
    return app


def request_shutdown(app: FastAPI) -> None:
    """Tell long-lived responses (the notice streams) to end: call it before asking the server to
    exit, so the in-flight requests the graceful shutdown waits for are all short."""
    app.state.closing.set()
