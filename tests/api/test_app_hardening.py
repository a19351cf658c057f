"""Whole-app guarantees that no single router owns: hostile bodies and unknown routes get a JSON
4xx with a code, never a crash or a 500, and the tables exist before the first request."""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import inspect

from api.app import create_app
from api.errors import install_error_handlers
from api.services import build_services
from chain.settings import Settings


@pytest.fixture
def offline_client(tmp_path: Path):
    """The app with a chain URL nobody listens on: these checks must not need a node."""
    settings = Settings(
        rpc_url="http://127.0.0.1:9",
        data_dir=tmp_path,
        database_url=f"sqlite:///{tmp_path}/index.db",
        deployments_dir=tmp_path / "deployments",
    )
    services = build_services(settings)
    with TestClient(create_app(services)) as client:
        yield client, services


def test_deeply_nested_json_is_a_400_not_a_crash(offline_client) -> None:
    """web3's py_ecc raises the recursion limit to 100,000; unguarded, this body segfaults."""
    client, _ = offline_client
    body = "[" * 200_000 + "]" * 200_000
    response = client.post("/v1/relay", content=body, headers={"content-type": "application/json"})
    assert response.status_code == 400
    assert response.json()["code"]


def test_unknown_route_is_json_404(offline_client) -> None:
    client, _ = offline_client
    response = client.get("/no/such/thing")
    assert response.status_code == 404
    assert response.json()["code"] == "not_found"


def test_tables_exist_after_startup(offline_client) -> None:
    _, services = offline_client
    assert "indexer_state" in inspect(services.engine).get_table_names()


def test_service_starts_without_its_database_and_hides_driver_details(tmp_path: Path) -> None:
    """A PostgreSQL server that is down: the app still starts, reads answer 503 with a fixed
    message (the driver's text names hosts, ports and SQL)."""
    settings = Settings(
        rpc_url="http://127.0.0.1:9",
        data_dir=tmp_path,
        database_url="postgresql+psycopg://postgres@127.0.0.1:9/test",
        deployments_dir=tmp_path / "deployments",
    )
    with TestClient(create_app(build_services(settings))) as client:
        response = client.get("/v1/batches")
    assert response.status_code == 503
    body = response.json()
    assert body["code"] == "operational_error"
    assert "127.0.0.1" not in body["message"] and "SELECT" not in response.text


@pytest.mark.parametrize(
    "path",
    [
        "/v1/deals/539806729371672293945638912",  # beyond BIGINT: was a driver overflow, a 500
        "/deals/-580883490633",  # a negative id reached the chain's uint256 encoder: a 500
        "/v1/batches?offset=11750909764589309952",
        "/v1/deals?offset=11750909764589309952",
    ],
)
def test_out_of_range_ids_and_offsets_are_422(offline_client, path: str) -> None:
    """Found by schemathesis against `tuanchain run`: integers outside what the database and
    the chain store are bad input."""
    client, _ = offline_client
    response = client.get(path)
    assert response.status_code == 422, response.text
    assert response.json()["code"] == "invalid_request"


def test_every_operation_declares_its_errors_with_one_shared_body(offline_client) -> None:
    """Found by schemathesis (status_code_conformance, response_schema_conformance): errors were
    answered but not declared (a 400 or 404 documented as 200/422 only), the declared 422 was
    FastAPI's ``{"detail": [...]}`` rather than the body the app sends, and GET and HEAD of the
    gateway shared one operation id. Every operation now declares 422 and 503, each as the one
    ``ErrorBody`` schema, in JSON even on HTML pages (but /healthz's 503, which is its report)."""
    client, _ = offline_client
    spec = client.get("/openapi.json").json()
    error = spec["components"]["schemas"]["ErrorBody"]
    assert set(error["required"]) == {"code", "message", "details"}
    ids = []
    for path, operations in spec["paths"].items():
        for method, operation in operations.items():
            ids.append(operation["operationId"])
            for status, response in operation["responses"].items():
                if status.startswith(("4", "5")) and (path, status) != ("/healthz", "503"):
                    schema = response["content"]["application/json"]["schema"]
                    assert schema == {"$ref": "#/components/schemas/ErrorBody"}, (method, path)
            assert {"422", "503"} <= operation["responses"].keys(), (method, path)
    assert len(ids) == len(set(ids))
    assert "HTTPValidationError" not in spec["components"]["schemas"]


@pytest.mark.parametrize(
    "path",
    ["/no/such/thing", "/v1/deals/not-a-number", "/v1/batches?supplier=0x12", "/ipfs/not-a-cid"],
)
def test_every_error_is_code_message_and_details(offline_client, path: str) -> None:
    """The same three fields on every error (``details`` empty when there is nothing to add),
    as ErrorBody declares them."""
    client, _ = offline_client
    response = client.get(path)
    assert 400 <= response.status_code < 500
    body = response.json()
    assert set(body) == {"code", "message", "details"}
    assert isinstance(body["details"], dict)


def test_an_unexpected_exception_is_a_json_500_in_the_same_shape() -> None:
    """A bug must still answer ``{code, message, details}`` (not Starlette's plain text), and
    say nothing about its cause; the traceback goes to the server's log."""
    app = FastAPI()
    install_error_handlers(app)

    @app.get("/boom")
    def boom() -> None:
        raise RuntimeError("secret internals")

    with TestClient(app, raise_server_exceptions=False) as client:
        response = client.get("/boom")
    assert response.status_code == 500
    assert response.json() == {
        "code": "internal_error",
        "message": "an unexpected error; it has been logged",
        "details": {},
    }


def test_a_body_over_the_limit_is_413_before_it_is_read_whole(offline_client) -> None:
    """Every request body is bounded (MAX_REQUEST_BYTES, stated in the answer): by its declared
    length at once, and while it streams when it declares none (a multipart upload was spooled
    to disk whole before the route's own 10 MB check; a JSON body was read whole into memory)."""
    from api.app import MAX_REQUEST_BYTES

    client, _ = offline_client
    too_big = b"x" * (MAX_REQUEST_BYTES + 1)
    for path, headers in (
        ("/v1/actions/anchor_root/prepare", {"Content-Type": "application/json"}),
        ("/v1/documents", {"Content-Type": "multipart/form-data; boundary=b"}),
    ):
        declared = client.post(path, content=too_big, headers=headers)
        streamed = client.post(path, content=iter([too_big[: 2**20]] * 40), headers=headers)
        for response in (declared, streamed):
            assert response.status_code == 413, response.text
            body = response.json()
            assert body["code"] == "body_too_large"
            assert body["details"] == {"limit": MAX_REQUEST_BYTES}


@pytest.mark.parametrize("constant", [b"NaN", b"Infinity", b"-Infinity"])
def test_a_json_upload_holding_nan_is_not_json(offline_client, constant: bytes) -> None:
    """Python's json reads NaN and Infinity; no other parser does: such bytes are no JSON."""
    client, _ = offline_client
    response = client.post(
        "/v1/documents",
        data={"address": "0x" + "11" * 20, "timestamp": "1", "signature": "0x00"},
        files={"file": ("x.json", b'{"weight": ' + constant + b"}", "application/json")},
    )
    assert response.status_code == 415 and response.json()["code"] == "content_mismatch"
