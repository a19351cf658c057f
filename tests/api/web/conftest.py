"""Fixtures of the WEB tests: a seeded demo chain, its index, the app, and a live server.

The demo seed jumps chain time, so it gets its own anvil (not the service tests' shared one):
other tests' deadlines are not disturbed. Seeding and indexing run once per session and
database backend (SQLite always; PostgreSQL too when ``TUANCHAIN_TEST_POSTGRES_URL`` is set, in
a schema of its own, failing rather than skipping if the server is unreachable).
"""

from __future__ import annotations

import os
import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
import uvicorn
from fastapi import FastAPI
from fastapi.testclient import TestClient
from playwright.sync_api import Browser, expect, sync_playwright

from api.app import create_app, request_shutdown
from api.db import drop_db, ensure_db, init_db
from api.demo.seed import SeedReport, seed
from api.indexer.runner import make_indexer
from api.services import Services, make_engine
from chain.anvil import Anvil
from chain.context import connect
from chain.settings import Settings
from traceability.ipfs import EmbeddedDocumentStore

POSTGRES_ENV = "TUANCHAIN_TEST_POSTGRES_URL"
CHROMIUM = "/usr/bin/chromium"
PHONE = {"width": 390, "height": 844}
WAIT_MS = 60_000  # an upper bound for a relayed transaction to be mined and indexed, not a timing


@dataclass
class Demo:
    services: Services
    report: SeedReport


@pytest.fixture(scope="session")
def web_anvil() -> Iterator[Anvil]:
    with Anvil() as node:
        yield node


@pytest.fixture(scope="session")
def web_settings(web_anvil: Anvil, tmp_path_factory: pytest.TempPathFactory) -> Settings:
    base = tmp_path_factory.mktemp("web")
    return Settings(
        rpc_url=web_anvil.rpc_url,
        chain_id=web_anvil.chain_id,
        data_dir=base / "data",
        deployments_dir=base / "deployments",
        database_url="sqlite:///" + str(base / "data" / "index.db"),
    )


@pytest.fixture(scope="session")
def seeded_chain(web_settings: Settings) -> tuple[Services, SeedReport]:
    """Contracts deployed and the demo seeded once (the chain is the same for every backend)."""
    chain = connect(web_settings, deploy=True)
    services = Services(
        settings=web_settings,
        store=EmbeddedDocumentStore(web_settings.data_dir / "ipfs"),
        engine=make_engine(web_settings.database_url),
        _chain=chain,
    )
    return services, seed(services)


def _backends() -> list[str]:
    return ["sqlite", "postgresql"] if os.environ.get(POSTGRES_ENV) else ["sqlite"]


@pytest.fixture(scope="session", params=_backends())
def web_database_url(
    request: pytest.FixtureRequest,
    tmp_path_factory: pytest.TempPathFactory,
    postgres_schema: Callable[[str], AbstractContextManager[str]],
) -> Iterator[str]:
    if request.param == "sqlite":
        yield "sqlite:///" + str(tmp_path_factory.mktemp("web-sqlite") / "index.db")
        return
    with postgres_schema("web") as url:  # an unreachable server fails the session
        yield url


@pytest.fixture(scope="session")
def demo(seeded_chain: tuple[Services, SeedReport], web_database_url: str) -> Iterator[Demo]:
    """The seeded chain indexed into a fresh database of this session's backend."""
    chain_services, report = seeded_chain
    engine = make_engine(web_database_url)
    drop_db(engine)
    init_db(engine)
    services = Services(
        settings=chain_services.settings.model_copy(update={"database_url": web_database_url}),
        store=chain_services.store,
        engine=engine,
        _chain=chain_services.chain,
    )
    make_indexer(services).sync_until_idle()
    yield Demo(services, report)
    engine.dispose()


@pytest.fixture(scope="session")
def web_app(demo: Demo) -> FastAPI:
    return create_app(demo.services)


@pytest.fixture
def web_client(web_app: FastAPI) -> Iterator[TestClient]:
    with TestClient(web_app, follow_redirects=False) as client:
        yield client


@pytest.fixture(scope="session")
def live_server(web_app: FastAPI, web_database_url: str) -> Iterator[str]:
    """The app served by uvicorn on a free port in a thread (for headless Chromium).

    Browser tests check what Chromium renders, not the database behind it, so they run once,
    on the SQLite index; the resolver and page tests cover both backends.
    """
    if not web_database_url.startswith("sqlite"):
        pytest.skip("browser tests run once, against the SQLite index")
    # uvicorn serves a socket bound here: a port picked and then bound by uvicorn could be taken
    # in between by another process on the machine.
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(web_app, log_level="warning"))
    thread = threading.Thread(
        target=server.run, kwargs={"sockets": [sock]}, name="web-test-server", daemon=True
    )
    thread.start()
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:  # readiness, not a timed assertion
        try:
            if httpx.get(base + "/static/style.css", timeout=1).status_code == 200:
                break
        except httpx.HTTPError:
            time.sleep(0.05)
    else:
        pytest.fail("uvicorn did not start")
    yield base
    server.should_exit = True
    thread.join(timeout=30)
    sock.close()


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    """Debian's Chromium driven by Playwright (no browser download), once per module.

    Module scope, not session: Playwright's sync API owns an event loop while it runs, which
    tests of other modules (asyncio, anyio) must not meet. Without Chromium the tests fail with
    the install command rather than skip.
    """
    if not os.path.isfile(CHROMIUM):
        pytest.fail(
            "chromium is not installed: apt-get install -y --no-install-recommends chromium"
        )
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        # What a page shows after a relayed request waits for it to be mined and indexed: every
        # expectation may wait that long (a bound, not a timing; Playwright's default of 5 s
        # failed under a loaded CI machine), and gets the default back for other modules.
        expect.set_options(timeout=WAIT_MS)
        try:
            yield chromium
        finally:
            expect.set_options(timeout=5_000)
            chromium.close()


# A background loop of the service: started with the services, returns its stop function.
BackgroundLoop = Callable[[Services], Callable[[], None]]


def wait_ready(base: str) -> None:
    """Until the server answers and its index has caught up with the chain (readiness only)."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            health = httpx.get(base + "/healthz", timeout=2).json()
            if health["index"].get("last_block") and not health["index"]["lag_blocks"]:
                return
        except (httpx.HTTPError, ValueError, KeyError):
            pass
        time.sleep(0.1)
    pytest.fail("the server did not start or index")


@contextmanager
def served_on_snapshot(
    seeded_chain: tuple[Services, SeedReport],
    web_settings: Settings,
    index_dir: Path,
    loops: tuple[BackgroundLoop, ...],
    *,
    host: str = "127.0.0.1",
) -> Iterator[tuple[str, Services]]:
    """The app served by uvicorn in a thread, with its own SQLite index and the given background
    loops, on the seeded chain from a snapshot reverted afterwards (a module's journeys may spend
    and move the clock; other modules share the chain). Yields the base URL, which is also the
    public URL (the Sign-In with Ethereum domain), and the services."""
    demo_services, _ = seeded_chain
    chain = demo_services.chain
    snapshot = chain.w3.provider.make_request("evm_snapshot", [])["result"]  # type: ignore[arg-type]
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    base = f"http://{host}:{sock.getsockname()[1]}"
    url = "sqlite:///" + str(index_dir / "index.db")
    services = Services(
        settings=web_settings.model_copy(update={"database_url": url, "public_url": base}),
        store=demo_services.store,
        engine=make_engine(url),
    )
    ensure_db(services.engine)  # before the workers' first pass
    # The whole index, enrichment included, before the first page: wait_ready sees the blocks
    # indexed, but the indexer commits them before it loads the lots' master data (product
    # names) in a later transaction, and a page read in between showed a batch without its
    # product (a listing-page test failed so on a loaded machine).
    make_indexer(services).sync_until_idle()
    app = create_app(services)
    stops = [start(services) for start in loops]
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    try:
        wait_ready(base)
        yield base, services
    finally:
        request_shutdown(app)  # the notice streams end first
        server.should_exit = True
        thread.join(timeout=30)
        sock.close()
        for stop in reversed(stops):
            stop()
        services.engine.dispose()
        chain.w3.provider.make_request("evm_revert", [snapshot])  # type: ignore[arg-type]
        chain.sender.reset_all_nonces()
