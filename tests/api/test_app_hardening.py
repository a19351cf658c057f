"""Whole-app guarantees that no single router owns: hostile bodies and unknown routes get a JSON
4xx with a code, never a crash or a 500, and the tables exist before the first request."""

from __future__ import annotations

import inspect as inspect_module
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anyio
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import inspect

from api.app import create_app
from api.errors import install_error_handlers
from api.routes.community import MAX_STREAMS_PER_CLIENT
from api.routes.documents import MAX_REQUEST_BYTES, MAX_UPLOAD_BYTES
from api.routes.supplier_trail import build_sensor_events
from api.services import build_services
from chain.errors import DeploymentMismatch
from chain.settings import Settings
from traceability.ipfs.errors import StoreUnavailable


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


def test_a_body_past_the_largest_upload_is_refused_before_it_is_read(offline_client) -> None:
    """Found in review: any route read a body whole before judging it (FastAPI reads JSON into
    memory, Starlette spools a multipart file to disk before the route's dependencies run), so
    one anonymous request could make the service hold gigabytes. Past the bound: a 413, whether
    the body declares its length or comes chunked (then counted as it arrives)."""
    client, _ = offline_client
    big = b"x" * (MAX_REQUEST_BYTES + 1)
    declared = client.post("/v1/qr", content=big, headers={"content-type": "application/json"})
    assert declared.status_code == 413, declared.text
    assert declared.json()["code"] == "request_too_large"

    def chunks() -> Iterator[bytes]:
        for start in range(0, len(big), 1 << 20):
            yield big[start : start + (1 << 20)]

    chunked = client.post(
        "/v1/supplier/sensor-events",
        content=chunks(),
        headers={"content-type": "multipart/form-data; boundary=b"},
    )
    assert chunked.status_code == 413, chunked.text
    assert chunked.json()["code"] == "request_too_large"


def test_the_largest_document_still_reaches_the_upload_route(offline_client) -> None:
    """The bound leaves room for a document of the largest size the upload route takes, with
    its form fields: the route's own checks answer (here: an unsigned upload)."""
    client, _ = offline_client
    response = client.post(
        "/v1/documents",
        files={"file": ("a.pdf", b"%PDF-" + b"0" * (MAX_UPLOAD_BYTES - 5), "application/pdf")},
        data={"address": "0x" + "11" * 20, "timestamp": "0", "signature": "0x00"},
    )
    assert response.status_code == 400, response.text
    assert response.json()["code"] == "expired"


def _down_node_settings(tmp_path: Path) -> Settings:
    """A hosted node's URL, with its key, on a port where nothing answers."""
    return Settings(
        rpc_url="http://127.0.0.1:9/v3/secret-api-key",
        data_dir=tmp_path,
        database_url=f"sqlite:///{tmp_path}/index.db",
        deployments_dir=tmp_path / "deployments",
    )


def test_a_node_that_is_down_is_a_503_that_does_not_name_its_url(tmp_path: Path) -> None:
    """Found in review: the 503 of a node that cannot be reached carried the node's URL and the
    HTTP client's text about it, and a hosted node's URL carries its API key (``/v3/<key>``):
    anyone could read it from any page or read that asks the chain while the node is down, and
    from /healthz at any time it was."""
    settings = _down_node_settings(tmp_path)
    with TestClient(create_app(build_services(settings))) as client:
        for path in ("/v1/roles/0x" + "11" * 20, "/ops/tokens"):
            response = client.get(path)
            assert response.status_code == 503, response.text
            assert response.json()["code"] == "node_unavailable"
            assert "secret-api-key" not in response.text and "127.0.0.1" not in response.text
        health = client.get("/healthz")  # public too: it names the part that is down, not where
        assert health.status_code == 503 and health.json()["down"] == ["chain"]
        assert "secret-api-key" not in health.text and "127.0.0.1" not in health.text


def test_the_deal_page_with_the_node_down_is_the_error_page_not_json(tmp_path: Path) -> None:
    """Found in the operations review: with the node down (or serving a chain that was reset) a
    browser opening a deal page got the API's JSON error, in English, instead of a page."""
    settings = _down_node_settings(tmp_path)
    with TestClient(create_app(build_services(settings))) as client:
        response = client.get("/deals/2?lang=zh", headers={"Accept": "text/html"})
    assert response.status_code == 503, response.text
    assert response.headers["content-type"].startswith("text/html")
    assert 'data-code="node_unavailable"' in response.text
    assert "secret-api-key" not in response.text and "127.0.0.1:9" not in response.text


def test_a_store_that_is_down_is_a_503_that_does_not_name_its_address() -> None:
    """As for the node: a document store's failure named its address (and a Kubo RPC URL may
    carry credentials)."""
    app = FastAPI()
    install_error_handlers(app)

    @app.get("/store")
    def store() -> None:
        raise StoreUnavailable("http://user:pw@kubo.internal:5001", "connection refused")

    with TestClient(app) as client:
        response = client.get("/store")
    assert response.status_code == 503
    assert response.json()["code"] == "store_unavailable"
    assert "kubo.internal" not in response.text and "pw" not in response.text


def test_a_node_on_another_chain_is_a_503_that_names_neither_url_nor_path() -> None:
    """Found in the operations review: after a chain reset every read that asks the chain (and
    /healthz) answered with the deployment mismatch's own text, which names the manifest's path on
    this host and the node's URL (a hosted node's carries its API key). The client hears what
    happened and what the operator runs; the log keeps the whole text."""
    app = FastAPI()
    install_error_handlers(app)

    @app.get("/reset")
    def reset() -> None:
        raise DeploymentMismatch(
            "/srv/secret-dir/deployments/1.json was written for chain 1 with genesis 0xaa, but "
            "the node at https://rpc.example/v3/secret-api-key serves genesis 0xbb: deploy there"
        )

    with TestClient(app) as client:
        response = client.get("/reset")
    assert response.status_code == 503
    assert response.json()["code"] == "deployment_mismatch"
    assert "`tuanchain deploy`" in response.json()["message"]
    assert "secret" not in response.text and "rpc.example" not in response.text


@pytest.mark.parametrize("path", ["/passkey", "/orders", "/orders/not-an-address"])
def test_pages_may_not_be_framed_nor_run_scripts_from_elsewhere(offline_client, path) -> None:
    """Found in review: pages came with no policy at all, so any site could frame one (its
    signing buttons under a decoy) and a text that escaped its escaping could run as script.
    Every page (its error page too) now says: no framing, scripts from this service only."""
    client, _ = offline_client
    response = client.get(path)
    assert response.headers["content-type"].startswith("text/html")
    policy = response.headers["content-security-policy"]
    assert "frame-ancestors 'none'" in policy and "script-src 'self'" in policy
    assert "unsafe-inline" not in policy.split("script-src", 1)[1].split(";", 1)[0]
    assert response.headers["x-frame-options"] == "DENY"
    assert response.headers["x-content-type-options"] == "nosniff"


@pytest.mark.parametrize(
    "path",
    [
        "/supplier/claims?address=nope&lang=zh",
        "/supplier/0x12/claims?lang=zh",
        "/dashboard?leader=0x12&lang=zh",
        f"/dashboard?leader=0x{'11' * 20}&supplier=0x{'22' * 20}&lang=zh",
    ],
)
def test_a_page_asked_for_a_bad_address_answers_with_the_error_page(offline_client, path) -> None:
    """Found in review: these pages (the claims look-up form without a wallet among them)
    answered a mistyped address with the API's JSON, which a phone shows as raw text in English;
    every other page answers with its error page in the reader's language."""
    client, _ = offline_client
    response = client.get(path)
    assert response.status_code == 400
    assert response.headers["content-type"].startswith("text/html")
    assert 'id="error"' in response.text and "出错了" in response.text


def test_a_sensor_csv_is_built_off_the_event_loop() -> None:
    """Found in review: the sensor CSV route was ``async def``, so the seconds of schema
    validation its readings cost ran on the event loop and held every other request meanwhile.
    FastAPI runs a plain ``def`` route in a worker thread."""
    assert not inspect_module.iscoroutinefunction(build_sensor_events)


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


def test_one_client_holds_a_bounded_number_of_notice_streams(tmp_path: Path) -> None:
    """Found in review: anyone could hold any number of ``/v1/notices/{address}/stream`` open,
    each reading the index every second and rebuilding its notices on every commit in the
    worker threads all routes share. Past MAX_STREAMS_PER_CLIENT a client's stream says so and
    ends (the browser retries later); another client is not refused, and the count goes down
    as streams end. Driven as ASGI directly: TestClient would wait for an endless body."""
    settings = Settings(
        rpc_url="http://127.0.0.1:9",
        data_dir=tmp_path,
        database_url=f"sqlite:///{tmp_path}/index.db",
        deployments_dir=tmp_path / "deployments",
        rate_limit_per_second=1,  # the suite turns per-client limits off; this test wants them
    )
    app = create_app(build_services(settings))
    path = f"/v1/notices/0x{'11' * 20}/stream"
    open_streams = app.state.notice_streams

    async def scenario() -> None:
        gone = anyio.Event()

        async def stream(host: str, first: anyio.Event, seen: list[bytes]) -> None:
            async def receive() -> dict[str, Any]:
                await gone.wait()
                return {"type": "http.disconnect"}

            async def send(message: dict[str, Any]) -> None:
                if message["type"] == "http.response.body" and message.get("body"):
                    seen.append(message["body"])
                    first.set()

            scope = {
                "type": "http",
                "asgi": {"version": "3.0"},
                "http_version": "1.1",
                "method": "GET",
                "scheme": "http",
                "path": path,
                "raw_path": path.encode(),
                "query_string": b"",
                "root_path": "",
                "headers": [(b"host", b"testserver")],
                "client": (host, 40000),
                "server": ("testserver", 80),
            }
            await app(scope, receive, send)

        async with anyio.create_task_group() as group:
            opened = []
            for _ in range(MAX_STREAMS_PER_CLIENT):
                first, seen = anyio.Event(), []
                group.start_soon(stream, "198.51.100.1", first, seen)
                await first.wait()
                opened.append(seen)
            assert all(b"retry: 5000" in seen[0] for seen in opened)
            refused, refused_seen = anyio.Event(), []
            group.start_soon(stream, "198.51.100.1", refused, refused_seen)
            await refused.wait()
            assert b"too many notice streams" in refused_seen[0]
            other, other_seen = anyio.Event(), []
            group.start_soon(stream, "198.51.100.2", other, other_seen)
            await other.wait()
            assert b"retry: 5000" in other_seen[0]
            assert open_streams == {"198.51.100.1": MAX_STREAMS_PER_CLIENT, "198.51.100.2": 1}
            gone.set()  # every client goes
        assert open_streams == {}

    anyio.run(scenario)


def test_a_chunked_body_past_the_bound_is_refused_by_the_relay_route_too(
    offline_client, caplog
) -> None:
    """The gasless routes read their JSON bodies themselves (api.routes.jsonbody): a chunked
    body past the bound is the same 413, with no error logged on the way."""
    client, _ = offline_client
    big = b"[" * (MAX_REQUEST_BYTES + 1)

    def chunks() -> Iterator[bytes]:
        for start in range(0, len(big), 1 << 20):
            yield big[start : start + (1 << 20)]

    with caplog.at_level(logging.WARNING):
        response = client.post(
            "/v1/relay", content=chunks(), headers={"content-type": "application/json"}
        )
    assert response.status_code == 413, response.text
    assert response.json()["code"] == "request_too_large"
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]
