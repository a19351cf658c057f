"""Whole-app guarantees that no single router owns: hostile bodies and unknown routes get a JSON
4xx with a code, never a crash or a 500, and the tables exist before the first request."""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import inspect

from api.app import create_app
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
