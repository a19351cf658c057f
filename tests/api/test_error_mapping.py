"""The one mapping of domain errors to HTTP (:mod:`api.errors`), on a bare app with no services:
a traceability error reaching a route is bad input (400), never a 500; the read model's
not-found errors are 404s with the same codes as the contract's; details come from the error."""

from __future__ import annotations

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from api.errors import install_error_handlers
from api.index_errors import BatchNotFound, DealNotFound
from traceability.digital_link import InvalidGtin
from traceability.errors import TraceabilityError
from traceability.ipfs.errors import UnexpectedCid
from traceability.merkle import InvalidManifest
from traceability.safe_json import UnsafeJson

RAISED: dict[str, Exception] = {
    "root": TraceabilityError("something about the data"),
    "manifest": InvalidManifest("leaf 3 is not a hash"),
    "json": UnsafeJson("nested too deep"),
    "gtin": InvalidGtin("123", "a GTIN is 8, 12, 13 or 14 digits"),
    "deal": DealNotFound("no deal 7 in the index", deal_id=7),
    "batch": BatchNotFound("no batch"),
    "kubo": UnexpectedCid("/ip4/127.0.0.1/tcp/5001", "bafy...a", "bafy...b", "unixfs-v1-2025"),
}


@pytest.fixture(scope="module")
def client() -> TestClient:
    app = FastAPI()
    install_error_handlers(app)

    @app.get("/raise/{name}")
    def raise_it(name: str) -> None:
        raise RAISED[name]

    return TestClient(app, raise_server_exceptions=False)


@pytest.mark.parametrize(
    ("name", "status", "code", "details"),
    [
        ("root", 400, "traceability_error", {}),
        ("manifest", 400, "invalid_manifest", {}),
        ("json", 400, "unsafe_json", {}),
        ("gtin", 400, "invalid_gtin", {"gtin": "123"}),
        ("deal", 404, "deal_not_found", {"deal_id": 7}),
        ("batch", 404, "batch_not_found", {}),
        ("kubo", 502, "unexpected_cid", {}),  # the node's fault, not the document's
    ],
)
def test_domain_errors_map_once(
    client: TestClient, name: str, status: int, code: str, details: dict[str, object]
) -> None:
    response = client.get(f"/raise/{name}")
    assert response.status_code == status
    body = response.json()
    assert (body["code"], body["details"]) == (code, details)
    assert body["message"] == str(RAISED[name])
