"""The index database going down: read routes answer 503 with a reason (never a 500), and
recover by themselves when it is back (SQLite and PostgreSQL, real driver errors).

The outage is real at the driver level: while it lasts, every new connection of the engine is
redirected (SQLAlchemy's ``do_connect`` hook) to a target that refuses it — a closed TCP port
for PostgreSQL, a file under a missing directory for SQLite — and the pool is emptied, so the
next query has to connect. The request goes through the real app and its error mapping.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, create_engine, event

from api.app import create_app
from api.services import Services, make_engine
from chain.settings import Settings
from traceability.ipfs import EmbeddedDocumentStore

from .world import World

# Read routes backed by the index, one per query family.
READ_ROUTES = (
    "/v1/batches",
    "/v1/batches?breaches=true&limit=5",
    "/v1/batches/09506000134352/OUTAGE",
    "/v1/deals",
    "/v1/deals/1",
    "/v1/dashboard",
)


class Outage:
    """Switches an engine's new connections to a refusing target while ``down`` is set."""

    def __init__(self, engine: Engine, nowhere: Path, closed_port: int) -> None:
        self.engine = engine
        self.down = threading.Event()
        self._closed_port = closed_port  # refuses connections
        self._nowhere = str(nowhere / "missing-dir" / "index.db")
        event.listen(engine, "do_connect", self._redirect)

    def _redirect(self, _dialect: Any, _record: Any, cargs: list[Any], cparams: dict) -> None:
        if not self.down.is_set():
            return
        if self.engine.dialect.name == "sqlite":
            cargs[0] = self._nowhere  # "unable to open database file"
        else:
            cparams["port"] = self._closed_port  # "connection refused"

    def start(self) -> None:
        self.down.set()
        self.engine.dispose()  # pooled connections would hide the outage

    def end(self) -> None:
        self.down.clear()


@pytest.fixture
def outage_client(
    world: World, services: Services, database_url: str, tmp_path: Path, closed_port: int
) -> Iterator[tuple[TestClient, Outage]]:
    """The app over its own engine on the session's (initialised) index database."""
    engine = make_engine(database_url)
    outage = Outage(engine, tmp_path, closed_port)
    own = Services(
        settings=services.settings, store=services.store, engine=engine, _chain=services.chain
    )
    with TestClient(create_app(own)) as client:
        yield client, outage
    engine.dispose()


def _assert_unavailable(response: Any, route: str) -> None:
    assert response.status_code == 503, (route, response.status_code, response.text)
    body = response.json()
    assert body["code"] == "operational_error"
    assert body["message"]  # the driver's reason, not an empty 5xx


def test_batches_answer_503_while_the_database_is_down_and_recover(outage_client) -> None:
    client, outage = outage_client
    assert client.get("/v1/batches").status_code == 200
    outage.start()
    try:
        _assert_unavailable(client.get("/v1/batches"), "/v1/batches")
    finally:
        outage.end()
    assert client.get("/v1/batches").status_code == 200  # no restart needed


def test_every_read_route_answers_503_and_health_names_the_index(outage_client) -> None:
    client, outage = outage_client
    outage.start()
    try:
        for route in READ_ROUTES:
            _assert_unavailable(client.get(route), route)
        health = client.get("/healthz")
        assert health.status_code == 503
        # The chain and the store are fine; the relayer's outbox is in that database too.
        assert health.json()["down"] == ["index", "relayer"]
    finally:
        outage.end()
    assert client.get("/healthz").status_code == 200


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_a_database_never_reached_answers_503(
    backend: str, api_settings: Settings, tmp_path: Path, closed_port: int
) -> None:
    """An engine pointing at nothing from the start: the route's first-use table check
    (``ensure_db``) fails, and that too is a 503."""
    if backend == "sqlite":
        blocker = tmp_path / "a-file"
        blocker.write_bytes(b"")
        engine = create_engine("sqlite:///" + str(blocker / "index.db"))  # parent is a file
    else:
        engine = create_engine(f"postgresql+psycopg://postgres@127.0.0.1:{closed_port}/test")
    down = Services(
        settings=api_settings, store=EmbeddedDocumentStore(tmp_path / "ipfs"), engine=engine
    )
    # Without ``with``: the lifespan (which creates tables at startup) is not run, as if the
    # database had gone away after startup, before this engine ever connected.
    client = TestClient(create_app(down), raise_server_exceptions=False)
    _assert_unavailable(client.get("/v1/batches"), "/v1/batches")
    engine.dispose()
