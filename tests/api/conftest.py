"""Fixtures of the service tests, layered node → chain (deployed) → database → services → app client.

- ``api_anvil``: one anvil per test session, separate from the chain tests' ``anvil_node`` (so the
  root conftest's per-test ``evm_snapshot``/``evm_revert`` does not apply: service tests share one
  growing chain, as the service does; tests that need isolation take ``chain_snapshot``).
- ``api_chain``: ``chain.context.connect(settings, deploy=True)`` on a temporary deployments dir.
- ``database_url``: SQLite always; PostgreSQL too when ``TUANCHAIN_TEST_POSTGRES_URL`` is set (then
  it must run: an unreachable server fails the session rather than skipping). Each session uses a
  fresh PostgreSQL *schema* (engineers and CI runs share the ``test`` database), dropped after.
- ``services`` / ``app`` / ``client``: :class:`api.services.Services` and the real FastAPI app
  (``TestClient`` runs its lifespan; no background loops unless a test starts them).
"""

from __future__ import annotations

import os
import threading
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from typing import Any
from urllib.parse import quote

import pytest
from eth_account.messages import encode_defunct
from eth_account.signers.local import LocalAccount
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import Engine, text

from api.app import create_app
from api.db import drop_db, init_db
from api.services import Services, make_engine
from chain.anvil import Anvil
from chain.context import Chain, connect
from chain.settings import Settings
from traceability.ipfs import EmbeddedDocumentStore

POSTGRES_ENV = "TUANCHAIN_TEST_POSTGRES_URL"


def database_backends() -> list[str]:
    """``sqlite`` always; ``postgresql`` when the CI (or a developer) names a server."""
    return ["sqlite", "postgresql"] if os.environ.get(POSTGRES_ENV) else ["sqlite"]


def _with_schema(url: str, schema: str) -> str:
    """The PostgreSQL URL whose connections use ``schema`` (psycopg's ``options`` parameter)."""
    separator = "&" if "?" in url else "?"
    return f"{url}{separator}options={quote(f'-csearch_path={schema}')}"


ONE_BACKEND_MARK = "sqlite_only"
BACKEND_FIXTURES = ("database_url", "web_database_url")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        f"{ONE_BACKEND_MARK}: runs on SQLite alone, also when PostgreSQL is set: the test drives a "
        "flow through the chain, the relayer or a browser; the database layer under it (index, "
        "outbox, read API, migrations) has tests of its own on both backends",
    )


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Deselect the PostgreSQL parametrization of the tests marked ``sqlite_only``."""
    dropped = [item for item in items if _postgresql_of_a_sqlite_only_test(item)]
    if dropped:
        config.hook.pytest_deselected(items=dropped)
        items[:] = [item for item in items if not _postgresql_of_a_sqlite_only_test(item)]


def _postgresql_of_a_sqlite_only_test(item: pytest.Item) -> bool:
    callspec = getattr(item, "callspec", None)
    if callspec is None or item.get_closest_marker(ONE_BACKEND_MARK) is None:
        return False
    return any(callspec.params.get(name) == "postgresql" for name in BACKEND_FIXTURES)


def pytest_itemcollected(item: pytest.Item) -> None:
    """One test id per OpenAPI operation (``test_...[GET /v1/batches]``) for schemathesis'
    tests: schemathesis 4.32 names its items the way pytest 8 built ids from names, pytest 9
    builds them from the parametrization only, so all of them had one id (and -k, --deselect,
    the random order's per-test seed could not tell them apart)."""
    label = getattr(item, "operation_label", None)
    if isinstance(label, str) and item.id.params is None:
        item._id = item.id.with_params(label)


@pytest.fixture(scope="session")
def api_anvil() -> Iterator[Anvil]:
    with Anvil() as node:
        yield node


@pytest.fixture(scope="session")
def api_settings(api_anvil: Anvil, tmp_path_factory: pytest.TempPathFactory) -> Settings:
    base = tmp_path_factory.mktemp("service")
    return Settings(
        rpc_url=api_anvil.rpc_url,
        chain_id=api_anvil.chain_id,
        data_dir=base / "data",
        deployments_dir=base / "deployments",
        database_url="sqlite:///" + str(base / "data" / "index.db"),
    )


@pytest.fixture(scope="session")
def api_chain(api_settings: Settings) -> Chain:
    """The project's contracts deployed once per session by the platform account."""
    return connect(api_settings, deploy=True)


@contextmanager
def temporary_schema(prefix: str) -> Iterator[str]:
    """A new, empty PostgreSQL schema on the CI's server; yields a URL whose connections use it,
    and drops it afterwards. Fails (never skips) when the server is unreachable."""
    base_url = os.environ[POSTGRES_ENV]
    schema = f"{prefix}_{os.getpid()}_{uuid.uuid4().hex[:8]}"
    admin = make_engine(base_url)
    try:
        with admin.begin() as conn:
            conn.execute(text(f'CREATE SCHEMA "{schema}"'))
        yield _with_schema(base_url, schema)
        with admin.begin() as conn:
            conn.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
    finally:
        admin.dispose()


@pytest.fixture(scope="session")
def postgres_schema() -> Callable[[str], AbstractContextManager[str]]:
    """:func:`temporary_schema`, for the sub-suites' own database fixtures."""
    return temporary_schema


@pytest.fixture(scope="session", params=database_backends())
def database_url(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    """A fresh, empty database per session and backend (SQLite file / PostgreSQL schema)."""
    if request.param == "sqlite":
        yield "sqlite:///" + str(tmp_path_factory.mktemp("sqlite") / "index.db")
        return
    with temporary_schema("t") as url:
        yield url


@pytest.fixture(scope="session")
def engine(database_url: str) -> Iterator[Engine]:
    """The session's engine with every table created (drop_all first: a fresh start)."""
    db_engine = make_engine(database_url)
    drop_db(db_engine)
    init_db(db_engine)
    yield db_engine
    db_engine.dispose()


@pytest.fixture(scope="session")
def services(
    api_settings: Settings, api_chain: Chain, engine: Engine, database_url: str
) -> Services:
    settings = api_settings.model_copy(update={"database_url": database_url})
    return Services(
        settings=settings,
        store=EmbeddedDocumentStore(settings.data_dir / "ipfs"),
        engine=engine,
        _chain=api_chain,
    )


@pytest.fixture(scope="session")
def app(services: Services) -> FastAPI:
    return create_app(services)


@pytest.fixture
def client(app: FastAPI) -> Iterator[TestClient]:
    with TestClient(app) as test_client:
        yield test_client


@pytest.fixture
def chain_snapshot(api_chain: Chain) -> Iterator[None]:
    """Run a test between ``evm_snapshot`` and ``evm_revert`` (and resync the sender's nonces).

    Note: the index does not revert with the chain; the indexer sees the revert as a re-org.
    """
    provider = api_chain.w3.provider
    snapshot = provider.make_request("evm_snapshot", [])["result"]  # type: ignore[arg-type]
    try:
        yield
    finally:
        provider.make_request("evm_revert", [snapshot])  # type: ignore[arg-type]
        api_chain.sender.reset_all_nonces()


def run_side_by_side(workers: Sequence[Any], done: Callable[[], bool], rounds: int) -> None:
    """Run the workers as two service processes would: each in its own thread, started together,
    calling ``run_once`` until ``done()`` (at most ``rounds`` times: a bug cannot hang the suite);
    an exception in any thread fails the test."""
    start = threading.Barrier(len(workers))
    errors: list[BaseException] = []

    def work(worker: Any) -> None:
        try:
            start.wait()
            for _ in range(rounds):
                worker.run_once()
                if done():
                    return
        except BaseException as exc:  # noqa: BLE001 — reported below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(w,)) for w in workers]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors


def siwe_token(client: Any, account: LocalAccount) -> str:
    """Sign in with Ethereum as the CLI does (nonce → personal_sign → verify): the bearer token.
    The session cookie is dropped, so the tests name their reader by the token alone."""
    challenge = client.post("/v1/auth/nonce", json={"address": account.address}).json()
    signature = account.sign_message(encode_defunct(text=challenge["message"])).signature
    response = client.post(
        "/v1/auth/verify",
        json={"message": challenge["message"], "signature": signature.to_0x_hex()},
    )
    assert response.status_code == 200, response.text
    client.cookies.clear()
    return str(response.json()["token"])
