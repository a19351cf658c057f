"""``create_app(services)``: the FastAPI application with every router and the error mapping."""

from __future__ import annotations

from fastapi import FastAPI

from api.errors import install_error_handlers
from api.routes import documents, health, ipfs, pages, read, relay, resolver
from api.services import Services, build_services


def create_app(services: Services | None = None) -> FastAPI:
    services = services or build_services()
    app = FastAPI(
        title="tuanchain",
        version="0.1.0",
        description=(
            "Community group buying with on-chain escrow and verifiable EPCIS provenance: "
            "GS1 Digital Link resolver, provenance, IPFS trustless gateway, gasless relay, dashboards."
        ),
    )
    app.state.services = services
    install_error_handlers(app)
    for module in (health, read, relay, documents, ipfs, resolver, pages):
        app.include_router(module.router)
    return app
