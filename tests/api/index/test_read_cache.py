"""The kept answers of ``GET /v1/deals`` and ``/v1/deals/{id}`` (api.routes.response_cache):
the route's own bytes, an ETag and 304, and never an answer of another state of the index — a
join indexed, a deadline passed by chain time alone."""

from __future__ import annotations

import asyncio
import threading
from datetime import timedelta
from typing import Any

import anyio
import anyio.to_thread
import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import update
from sqlalchemy.exc import OperationalError

from api import queries
from api.app import create_app
from api.db import models as m
from api.db import session_factory
from api.routes.response_cache import ResponseStore, _Entry, _StateReads
from api.services import Services

from .conftest import make_indexer
from .world import World, advance, batch_id, create_deal


def _deal(world: World, *, open_for: int, min_quantity: int = 2) -> int:
    rice = bytes.fromhex(batch_id(*world.rice)[2:])
    return create_deal(
        world.chain, world.supplier.address, [rice], min_quantity=min_quantity, open_for=open_for
    )


@pytest.fixture
def store(client: TestClient) -> ResponseStore:
    cache: ResponseStore = client.app.state.read_cache  # type: ignore[attr-defined]
    return cache


def _get(client: TestClient, path: str, **params: Any) -> Any:
    response = client.get(path, params=params)
    assert response.status_code == 200, response.text
    return response


def test_a_kept_answer_is_the_routes_bytes_with_an_etag_and_304(
    world: World, services: Services, client: TestClient, store: ResponseStore
) -> None:
    make_indexer(services.engine, services).sync()
    first = _get(client, f"/v1/deals/{world.settled_deal}")
    hits = store.hits
    second = _get(client, f"/v1/deals/{world.settled_deal}")
    assert store.hits == hits + 1  # served from the cache
    assert second.content == first.content
    assert second.headers["content-type"] == first.headers["content-type"] == "application/json"
    assert second.headers["etag"] == first.headers["etag"]
    etag = first.headers["etag"]
    for condition in (etag, f"W/{etag}", f'"other", {etag}', "*"):
        response = client.get(
            f"/v1/deals/{world.settled_deal}", headers={"If-None-Match": condition}
        )
        assert (response.status_code, response.content) == (304, b"")
        assert response.headers["etag"] == etag
    other = client.get(f"/v1/deals/{world.settled_deal}", headers={"If-None-Match": '"other"'})
    assert (other.status_code, other.content) == (200, first.content)


def test_query_strings_are_normalized_and_a_repeated_name_keeps_its_order(
    world: World, services: Services, client: TestClient, store: ResponseStore
) -> None:
    make_indexer(services.engine, services).sync()
    a = client.get("/v1/deals?limit=2&offset=1")
    hits = store.hits
    b = client.get("/v1/deals?offset=1&limit=%32")
    assert store.hits == hits + 1 and a.content == b.content
    # FastAPI reads the last of a repeated scalar: these two are different answers.
    assert len(client.get("/v1/deals?limit=1&limit=3").json()["items"]) == 3
    assert len(client.get("/v1/deals?limit=3&limit=1").json()["items"]) == 1


def test_errors_are_not_kept(world: World, services: Services, client: TestClient) -> None:
    make_indexer(services.engine, services).sync()
    missing = 10**12
    for _ in range(2):
        response = client.get(f"/v1/deals/{missing}")
        assert response.status_code == 404 and "etag" not in response.headers
    assert client.get("/v1/deals?limit=0").status_code == 422
    assert client.get("/v1/deals?supplier=nope").status_code == 400


def test_an_indexed_join_changes_the_next_answer(
    world: World, services: Services, client: TestClient
) -> None:
    deal_id = _deal(world, open_for=7 * 86400)
    make_indexer(services.engine, services).sync()
    before = _get(client, f"/v1/deals/{deal_id}")
    page = _get(client, "/v1/deals", limit=200)
    assert before.json()["sold"] == 0
    assert _get(client, f"/v1/deals/{deal_id}").content == before.content  # kept
    world.chain.clients.escrow.join(deal_id, 3, world.leader.address, signer=world.buyers[1])
    make_indexer(services.engine, services).sync()
    after = _get(client, f"/v1/deals/{deal_id}")
    assert after.json()["sold"] == 3 and after.json()["buyers"] == 1
    assert after.headers["etag"] != before.headers["etag"]
    # The old ETag no longer matches: the new answer, not a 304.
    again = client.get(f"/v1/deals/{deal_id}", headers={"If-None-Match": before.headers["etag"]})
    assert (again.status_code, again.content) == (200, after.content)
    listed = {d["deal_id"]: d for d in _get(client, "/v1/deals", limit=200).json()["items"]}
    assert listed[deal_id]["sold"] == 3
    assert page.json()["items"][0]["sold"] == 0 or page.json()["items"][0]["deal_id"] != deal_id


def test_a_deadline_passing_by_chain_time_changes_the_next_answer(
    world: World, services: Services, client: TestClient
) -> None:
    """No row changes when a join deadline passes: the status moves with the chain time the
    indexer records (``head_time``), and so does the kept answer."""
    deal_id = _deal(world, open_for=600, min_quantity=5)
    make_indexer(services.engine, services).sync()
    assert _get(client, f"/v1/deals/{deal_id}").json()["status"] == "open"
    open_ids = [
        d["deal_id"] for d in _get(client, "/v1/deals", status="open", limit=200).json()["items"]
    ]
    assert deal_id in open_ids
    version = _version(services)
    advance(world.chain, 601)  # a block with no logs of ours
    make_indexer(services.engine, services).sync()
    assert _version(services) == version  # no row changed
    assert _get(client, f"/v1/deals/{deal_id}").json()["status"] == "failed"
    open_ids = [
        d["deal_id"] for d in _get(client, "/v1/deals", status="open", limit=200).json()["items"]
    ]
    assert deal_id not in open_ids


def test_the_key_follows_the_chain_time_alone(
    world: World, services: Services, client: TestClient
) -> None:
    """Only ``head_time`` moved (what the queries compute statuses at): a new answer."""
    deal_id = _deal(world, open_for=3600)
    make_indexer(services.engine, services).sync()
    before = _get(client, f"/v1/deals/{deal_id}").json()
    assert before["status"] == "open" and before["seconds_left"] > 0
    _move_head_time(services, 10)
    after = _get(client, f"/v1/deals/{deal_id}").json()
    assert after["seconds_left"] == before["seconds_left"] - 10


def test_an_answer_built_anew_with_the_same_bytes_is_a_304(
    world: World, services: Services, client: TestClient, store: ResponseStore
) -> None:
    """The chain time moved (a new key, the answer built again) but a settled deal's bytes did
    not change: the client's ETag still names them."""
    make_indexer(services.engine, services).sync()
    first = _get(client, f"/v1/deals/{world.settled_deal}")
    _move_head_time(services, 1)
    misses = store.misses
    again = client.get(
        f"/v1/deals/{world.settled_deal}", headers={"If-None-Match": first.headers["etag"]}
    )
    assert store.misses == misses + 1  # built anew
    assert (again.status_code, again.content) == (304, b"")
    assert again.headers["etag"] == first.headers["etag"]


def _move_head_time(services: Services, seconds: int) -> None:
    with session_factory(services.engine).begin() as session:
        state = session.get(m.IndexerState, "main")
        assert state is not None and state.head_time is not None
        session.execute(
            update(m.IndexerState)
            .where(m.IndexerState.name == "main")
            .values(head_time=state.head_time + timedelta(seconds=seconds))
        )


def _version(services: Services) -> int:
    with session_factory(services.engine)() as session:
        state = session.get(m.IndexerState, "main")
        assert state is not None
        return state.version


def test_the_store_is_bounded_least_recently_used_first() -> None:
    store = ResponseStore(max_items=3, max_bytes=10_000)
    entry = _Entry(headers=[], body=b"x" * 100, etag=b'"e"')
    for key in "abc":
        store.put((key,), entry)
    assert store.get(("a",)) is entry  # a is now the most recent
    store.put(("d",), entry)
    assert store.get(("b",)) is None and len(store) == 3
    assert all(store.get((k,)) is entry for k in "acd")
    big = _Entry(headers=[], body=b"x" * 4_000, etag=b'"b"')
    store.put(("e",), big)
    store.put(("f",), big)
    assert len(store) <= 3 and store._bytes <= 10_000
    store.put(("huge",), _Entry(headers=[], body=b"x" * 20_000, etag=b'"h"'))
    assert store.get(("huge",)) is None


def test_concurrent_misses_of_one_answer_build_it_once(
    world: World, services: Services, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Single flight: a second request for an answer being built waits for it (after an
    indexer commit the rush's clients build the new page once, not each)."""
    make_indexer(services.engine, services).sync()
    entered, release = threading.Event(), threading.Event()
    calls: list[int] = []
    real = queries.deal_detail

    def held(session: Any, deal_id: int) -> Any:
        calls.append(deal_id)
        entered.set()
        release.wait(60)
        return real(session, deal_id)

    monkeypatch.setattr(queries, "deal_detail", held)
    app = create_app(services)
    store: ResponseStore = app.state.read_cache
    path = f"/v1/deals/{world.failed_deal}"

    async def main() -> list[httpx.Response]:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            first = asyncio.create_task(client.get(path))
            await anyio.to_thread.run_sync(entered.wait, 60)  # the first is building it
            misses = store.misses
            second = asyncio.create_task(client.get(path))
            while store.misses == misses:  # the second looked, found nothing kept: it waits
                await asyncio.sleep(0)
            release.set()
            return [await first, await second]

    first, second = anyio.run(main)
    assert calls == [world.failed_deal]  # built once
    assert first.status_code == second.status_code == 200
    assert first.content == second.content and first.headers["etag"] == second.headers["etag"]


def test_the_bytes_bound_counts_the_keys_too() -> None:
    """A key is kept as long as its answer: ``/v1/deals?junk=<100 kB>`` is a 200 (FastAPI ignores
    unknown parameters; httptools sets no limit on a request line), so each such request keeps
    its query string. The bytes bound holds them too, not only the bodies."""
    store = ResponseStore(max_items=4096, max_bytes=1_000_000)
    entry = _Entry(headers=[], body=b"{}", etag=b'"e"')
    for n in range(100):
        store.put(("/v1/deals", (("junk", f"{n}" + "x" * 100_000),), ("state",)), entry)
    kept = sum(len(key[1][0][1]) for key in store._items)
    assert kept <= 1_000_000
    # A key alone bigger than the bound is not kept.
    store.put(("/v1/deals", (("junk", "y" * 2_000_000),), ("state",)), entry)
    assert store.get(("/v1/deals", (("junk", "y" * 2_000_000),), ("state",))) is None


def _held_reads() -> tuple[_StateReads, list[int], list[threading.Event]]:
    """A _StateReads whose n-th read returns (n,) once the test releases it."""
    started: list[int] = []
    releases = [threading.Event() for _ in range(10)]

    def read() -> tuple[Any, ...]:
        n = len(started)
        started.append(n)
        assert releases[n].wait(60)
        return (n,)

    return _StateReads(read), started, releases


async def _until(condition: Any) -> None:
    with anyio.fail_after(20):
        while not condition():
            await anyio.sleep(0.001)


def test_concurrent_requests_share_state_reads_never_one_older_than_themselves() -> None:
    """Requests arriving while a read of the index's state is under way take the next read (that
    one may predate a commit they have seen), and all of them share it: 1 + 5 requests, 2 reads."""
    reads, started, releases = _held_reads()
    got: dict[str, Any] = {}

    async def main() -> None:
        async def ask(name: str) -> None:
            got[name] = await reads.get()

        async with anyio.create_task_group() as tasks:
            tasks.start_soon(ask, "first")
            await _until(lambda: started == [0])  # the first read is under way
            for n in range(5):
                tasks.start_soon(ask, f"later{n}")
            await anyio.sleep(0.05)
            assert started == [0]  # the later ones wait: no read of their own meanwhile
            releases[0].set()
            await _until(lambda: started == [0, 1])
            releases[1].set()

    anyio.run(main)
    assert got["first"] == (0,)
    assert all(got[f"later{n}"] == (1,) for n in range(5))  # the read started after them
    assert reads.reads == 2


def test_a_failed_state_read_fails_every_request_sharing_it_and_the_next_reads_anew() -> None:
    calls: list[int] = []

    def read() -> tuple[Any, ...]:
        calls.append(1)
        if len(calls) == 1:
            raise OperationalError("SELECT", {}, Exception("database is down"))
        return ("up",)

    reads = _StateReads(read)

    async def main() -> None:
        with pytest.raises(OperationalError):
            await reads.get()
        assert await reads.get() == ("up",)

    anyio.run(main)


def test_a_request_gone_does_not_strand_those_sharing_its_read() -> None:
    """The request that starts a read may be cancelled (its client gone): the read still ends
    and the requests that joined it get its answer."""
    reads, started, releases = _held_reads()
    got: list[Any] = []

    async def main() -> None:
        leader_scope = anyio.CancelScope()

        async def leader() -> None:
            with leader_scope:
                await reads.get()  # leads the second read, once the first ends

        async def follower() -> None:
            got.append(await reads.get())

        async with anyio.create_task_group() as tasks:
            tasks.start_soon(reads.get)
            await _until(lambda: started == [0])
            tasks.start_soon(leader)
            await anyio.sleep(0.01)
            tasks.start_soon(follower)
            await anyio.sleep(0.01)
            leader_scope.cancel()  # the leader's client is gone before its read started
            releases[0].set()
            await _until(lambda: started == [0, 1])
            releases[1].set()

    anyio.run(main)
    assert got == [(1,)]
