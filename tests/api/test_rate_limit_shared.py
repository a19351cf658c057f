"""The per-client rate limit shared by several processes on one PostgreSQL database
(api.ratelimit.SharedBuckets): two apps — two ``tuanchain serve`` processes as far as the limit
can tell — on one database give a client one limit between them, not one each.

Runs when ``TUANCHAIN_TEST_POSTGRES_URL`` names a server (a fresh schema, dropped after). Each
test's client is an address of its own (a random IPv6 /64). Refill is 0.001 token a second: the
counts are exact unless a test runs for 1000 s; nothing is timed, nothing sleeps.
"""

from __future__ import annotations

import os
import secrets
import threading
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import Engine, text

from api.app import create_app
from api.db import init_db
from api.ratelimit import SharedBuckets
from api.services import build_services, make_engine
from chain.settings import Settings

from .conftest import POSTGRES_ENV

pytestmark = pytest.mark.skipif(
    not os.environ.get(POSTGRES_ENV), reason=f"{POSTGRES_ENV} names no PostgreSQL server"
)

SLOW = 0.001  # tokens a second: no refill worth a token while a test runs


@pytest.fixture(scope="module")
def pg_url(postgres_schema: Callable[[str], AbstractContextManager[str]]) -> Iterator[str]:
    with postgres_schema("rl") as url:
        engine = make_engine(url)
        init_db(engine)
        engine.dispose()
        yield url


@pytest.fixture
def pg_engine(pg_url: str) -> Iterator[Engine]:
    engine = make_engine(pg_url)
    yield engine
    engine.dispose()


def fresh_client() -> str:
    """An IPv6 address in a /64 no other test (or run) uses."""
    return f"2001:db8:{secrets.token_hex(2)}:{secrets.token_hex(2)}::1"


def app_on(url: str, tmp: Path, burst: int) -> FastAPI:
    """The app (no node behind it) on the shared database: one serving process."""
    settings = Settings(
        rpc_url="http://127.0.0.1:9",
        data_dir=tmp,
        database_url=url,
        deployments_dir=tmp / "deployments",
        rate_limit_per_second=SLOW,
        rate_limit_burst=burst,
    )
    return create_app(build_services(settings))


def test_two_processes_on_one_database_share_a_clients_limit(pg_url: str, tmp_path: Path) -> None:
    first, second = (app_on(pg_url, tmp_path / name, burst=4) for name in ("a", "b"))
    host = fresh_client()
    clients = [TestClient(app, client=(host, 40000)) for app in (first, second)]
    answers = [clients[i % 2].post("/v1/relay", json={}).status_code for i in range(10)]
    # Per process, each would have let 4 through (8 in all): together, 4.
    assert sum(code != 429 for code in answers) == 4, answers
    assert answers[4:] == [429] * 6
    assert isinstance(first.state.client_buckets, SharedBuckets)
    refused = clients[1].post("/v1/actions/join/prepare", json={})
    assert refused.status_code == 429 and refused.json()["code"] == "rate_limited"
    assert int(refused.headers["retry-after"]) > 900  # a token in 1000 s
    # Another client has its own bucket.
    other = TestClient(second, client=(fresh_client(), 40000))
    assert other.post("/v1/relay", json={}).status_code != 429


def test_leases_never_let_the_processes_give_more_than_the_bucket(pg_engine: Engine) -> None:
    """A lease is a tenth of the burst (4 of 40): each process spends what it leased, and the
    two together give exactly the bucket's 40."""
    processes = [SharedBuckets(pg_engine, rate=SLOW, burst=40) for _ in range(2)]
    assert processes[0].lease == 4
    key = fresh_client()
    given = [processes[i % 2].take(key) == 0 for i in range(60)]
    assert sum(given) == 40
    # A refusal is remembered: the next ones are answered without the database.
    assert processes[0].take_local(key) is not None and processes[0].take_local(key) > 900


def test_costs_above_a_lease_and_the_burst(pg_engine: Engine) -> None:
    buckets = SharedBuckets(pg_engine, rate=SLOW, burst=10)
    key = fresh_client()
    assert buckets.take(key, 7) == 0  # more than a lease (1): leased as needed
    assert buckets.take(key, 4) > 0  # 3 left
    assert buckets.take(key, 3) == 0
    assert buckets.take(fresh_client(), 50) == 0  # above the burst: the whole bucket
    long = "proxy-named-" + "x" * 200 + secrets.token_hex(8)  # longer than the key column
    assert buckets.take(long, 10) == 0
    assert buckets.take(long) > 0


def test_concurrent_takes_from_two_processes_never_pass_the_bucket(pg_engine: Engine) -> None:
    processes = [SharedBuckets(pg_engine, rate=SLOW, burst=30) for _ in range(2)]
    key = fresh_client()
    given: list[bool] = []
    lock = threading.Lock()

    def hammer(buckets: SharedBuckets) -> None:
        for _ in range(25):
            passed = buckets.take(key) == 0
            with lock:
                given.append(passed)

    threads = [threading.Thread(target=hammer, args=(p,)) for p in processes for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(given) == 150
    # Never more than the bucket; less only by leases held by a thread's process when refused.
    assert 30 - 2 * processes[0].lease <= sum(given) <= 30


def test_a_connection_the_server_closed_costs_no_answer(pg_engine: Engine) -> None:
    """The buckets' connections are not pinged before use (a round trip a lease): one the
    server closed (a restart, an idle timeout) fails its statement, which is tried again."""
    buckets = SharedBuckets(pg_engine, rate=SLOW, burst=10)
    key = fresh_client()
    assert buckets.take(key) == 0
    with buckets._buckets_engine.connect() as connection:
        pid = connection.exec_driver_sql("SELECT pg_backend_pid()").scalar()
        assert connection.exec_driver_sql("SHOW synchronous_commit").scalar() == "off"
    with pg_engine.begin() as admin:
        assert admin.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid}).scalar()
    assert buckets.take(key, 2) == 0  # past the lease of 1: the database is asked
