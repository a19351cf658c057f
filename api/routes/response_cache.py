"""Rendered answers of the hot public reads, kept per state of the index (issue 15).

``GET /v1/deals`` (every query string) and ``GET /v1/deals/{deal_id}`` are what the evening
rush hammers: 16 clients asking for the newest page cost ~9 ms of server CPU each to build (the
page's statement, its totals, the summaries, FastAPI's response model and JSON), while the
answer only changes when the index does. :class:`ReadCache` is an ASGI middleware that keeps the
bytes FastAPI rendered for a 200, keyed by

- the path and the query string, normalized (parameters decoded and ordered by name, a repeated
  name keeping its values' order: FastAPI takes the last one);
- the index's state, read on every request (one primary-key SELECT of ``indexer_state`` in a
  worker thread, never on the event loop): ``version`` (bumped by every commit that changes
  rows, restarted by a rebuild), ``updated_at`` (set by every range's commit) and
  ``last_block`` — the key ``/v1/deals``' count cache uses — and the chain time the answers are
  computed at (:func:`api.queries.common.chain_now`: the indexer's ``head_time``, which moves
  with every pass even when no row changes, so a deadline passing changes the key; the wall
  clock's second when the index has no head time yet).

So an answer is never served for another state of the index than the one read for its request
(another process's indexer included: nothing here is told of commits, it reads them). A miss
(or a state that cannot be read) goes to the route unchanged — its validation, errors and
bytes — and only a 200 is kept. Bounded: least recently used entries go first past
``max_items`` or ``max_bytes``. Each kept answer carries an ``ETag`` (a digest of its bytes);
``If-None-Match`` with it is answered 304 with no body.

Concurrent misses of one key wait for the first (single flight): after an indexer commit the
16 clients of a rush build the new page once, not 16 times. Concurrent requests share their
reads of the index's state the same way, without ever taking a read older than themselves
(:class:`_StateReads`): a read already under way when a request arrives may have started before
the commit that request has seen, so the request joins the *next* read, which every request
arriving meanwhile shares. At 16 clients a hit took a worker thread and a SELECT of its own
(~0.14 ms of a hit's ~0.2 ms of server CPU); now a few hits share each.
"""

from __future__ import annotations

import base64
import hashlib
import re
import threading
from collections import OrderedDict
from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl

import anyio
import anyio.to_thread
from sqlalchemy import Engine, select
from sqlalchemy.exc import SQLAlchemyError

from api.db import models as m
from api.queries.common import chain_time_at

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

# The cached paths: the deals page and one deal (``/v1/deals/{deal_id}``, one segment).
CACHED_PATHS = re.compile(r"/v1/deals(?:/[^/]+)?")

_STATE = select(
    m.IndexerState.version,
    m.IndexerState.updated_at,
    m.IndexerState.last_block,
    m.IndexerState.head_time,
    m.IndexerState.chain_id,
).where(m.IndexerState.name == "main")


def index_key(engine: Engine) -> tuple[Any, ...] | None:
    """What a deals answer depends on besides its request: the index's state and the chain time
    the queries compute statuses and time left at. None: no index yet (nothing is cached)."""
    with engine.connect() as connection:
        row = connection.execute(_STATE).first()
    if row is None:
        return None
    version, updated_at, last_block, head_time, chain_id = row
    # As chain_now() computes it (the wall clock without a head: the answer moves every second).
    return (chain_id, version, updated_at, last_block, chain_time_at(head_time))


@dataclass(frozen=True)
class _Entry:
    headers: list[tuple[bytes, bytes]]  # as the route sent them (content type and length)
    body: bytes
    etag: bytes  # quoted

    @property
    def size(self) -> int:
        return len(self.body) + 256


def _key_size(key: tuple[Any, ...]) -> int:
    """What a request's key costs besides its answer: its path and query string (any query
    string is a 200 of ``/v1/deals``, unknown parameters ignored, and httptools sets no limit on
    a request line: a key may be far bigger than its answer)."""
    path, pairs = key[0], key[1] if len(key) > 1 else ()
    size = len(str(path)) + 64
    if isinstance(pairs, tuple):
        size += sum(len(str(name)) + len(str(value)) + 64 for name, value in pairs)
    return size


class ResponseStore:
    """The kept answers, least recently used first (thread-safe; no I/O). ``max_bytes`` bounds
    the answers and their keys."""

    def __init__(self, *, max_items: int = 4096, max_bytes: int = 64 * 2**20) -> None:
        self.max_items, self.max_bytes = max_items, max_bytes
        self._items: OrderedDict[tuple[Any, ...], _Entry] = OrderedDict()
        self._sizes: dict[tuple[Any, ...], int] = {}
        self._bytes = 0
        self._lock = threading.Lock()
        self.hits = self.misses = 0

    def __len__(self) -> int:
        return len(self._items)

    def get(self, key: tuple[Any, ...]) -> _Entry | None:
        with self._lock:
            entry = self._items.get(key)
            if entry is None:
                self.misses += 1
                return None
            self._items.move_to_end(key)
            self.hits += 1
            return entry

    def put(self, key: tuple[Any, ...], entry: _Entry) -> None:
        size = entry.size + _key_size(key)
        if size > self.max_bytes:
            return
        with self._lock:
            if self._items.pop(key, None) is not None:
                self._bytes -= self._sizes.pop(key)
            self._items[key] = entry
            self._sizes[key] = size
            self._bytes += size
            while len(self._items) > self.max_items or self._bytes > self.max_bytes:
                dropped, _ = self._items.popitem(last=False)
                self._bytes -= self._sizes.pop(dropped)

    def clear(self) -> None:
        with self._lock:
            self._items.clear()
            self._sizes.clear()
            self._bytes = 0


def _etag(body: bytes) -> bytes:
    digest = hashlib.blake2b(body, digest_size=16).digest()
    return b'"' + base64.urlsafe_b64encode(digest).rstrip(b"=") + b'"'


def _request_key(scope: Scope) -> tuple[Any, ...]:
    pairs = parse_qsl(scope["query_string"].decode("latin-1"), keep_blank_values=True)
    # Stable: a repeated name keeps its values' order (the route reads the last one).
    return (scope["path"], tuple(sorted(pairs, key=lambda pair: pair[0])))


def _if_none_match(scope: Scope) -> bytes | None:
    for name, value in scope["headers"]:
        if name == b"if-none-match":
            return value
    return None


def _matches(header: bytes, etag: bytes) -> bool:
    """``If-None-Match`` (RFC 9110 13.1.2: weak comparison, a list, or ``*``)."""
    for candidate in header.split(b","):
        candidate = candidate.strip()
        if candidate == b"*" or candidate.removeprefix(b"W/") == etag:
            return True
    return False


async def _send_entry(send: Send, entry: _Entry, scope: Scope) -> None:
    condition = _if_none_match(scope)
    if condition is not None and _matches(condition, entry.etag):
        await send(
            {"type": "http.response.start", "status": 304, "headers": [(b"etag", entry.etag)]}
        )
        await send({"type": "http.response.body", "body": b""})
        return
    headers = [*entry.headers, (b"etag", entry.etag)]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": entry.body})


class _Flight:
    """One read of the index's state and the requests waiting for it."""

    __slots__ = ("done", "error", "result")

    def __init__(self) -> None:
        self.done = anyio.Event()
        self.result: tuple[Any, ...] | None = None
        self.error: BaseException | None = None


class _StateReads:
    """Reads of the index's state (``read``, in a worker thread) shared by concurrent requests:
    at most one under way; a request arriving meanwhile waits for the next one, which starts
    once that one ends and is shared by every request that arrived in between. So each request
    gets a state read no earlier than its own arrival (never an answer of an index state older
    than one it could have seen), and 16 concurrent requests take a couple of reads, not 16."""

    def __init__(self, read: Callable[[], tuple[Any, ...] | None]) -> None:
        self.read = read
        self._running: _Flight | None = None  # the read under way (it may predate a request)
        self._next: _Flight | None = None  # the read to start when it ends: requests join it
        self.reads = 0

    async def get(self) -> tuple[Any, ...] | None:
        flight = self._next
        if flight is not None:  # not started yet: it will start after this request arrived
            await flight.done.wait()
        else:
            flight = self._next = _Flight()
            # Shielded: the requests that joined this read wait for it, whatever happens to the
            # one that leads it (a client gone); a read is one SELECT.
            with anyio.CancelScope(shield=True):
                running = self._running
                if running is not None:
                    await running.done.wait()  # started before this request: not ours to take
                self._next, self._running = None, flight
                try:
                    self.reads += 1
                    flight.result = await anyio.to_thread.run_sync(self.read)
                except Exception as exc:  # noqa: BLE001 - re-raised in every request sharing it
                    flight.error = exc
                finally:
                    if self._running is flight:
                        self._running = None
                    flight.done.set()
        if flight.error is not None:
            raise flight.error
        return flight.result


class ReadCache:
    """ASGI middleware: the cached reads of :data:`CACHED_PATHS` (see the module's docstring);
    every other request passes through untouched."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        engine: Callable[[], Engine],
        store: ResponseStore | None = None,
    ) -> None:
        self.app = app
        self.engine = engine
        self.store = store if store is not None else ResponseStore()
        self._flights: dict[tuple[Any, ...], anyio.Event] = {}
        self.states = _StateReads(lambda: index_key(self.engine()))

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope["type"] != "http"
            or scope["method"] != "GET"
            or not CACHED_PATHS.fullmatch(scope["path"])
        ):
            await self.app(scope, receive, send)
            return
        try:
            state = await self.states.get()
        except SQLAlchemyError:
            state = None  # the route answers (a 503 when the database is down)
        if state is None:
            await self.app(scope, receive, send)
            return
        key = (*_request_key(scope), state)
        entry = self.store.get(key)
        while entry is None and key in self._flights:
            await self._flights[key].wait()  # the same answer is being built: take it
            entry = self.store.get(key)
        if entry is not None:
            await _send_entry(send, entry, scope)
            return
        flight = self._flights[key] = anyio.Event()
        try:
            await self.app(scope, receive, _Keeper(send, self.store, key, scope))
        finally:
            del self._flights[key]
            flight.set()


class _Keeper:
    """The route's ``send``: a 200's start is held until its whole body is in, then kept and
    sent with an ``ETag`` (or a 304 when ``If-None-Match`` names those bytes); any other answer
    passes through as it comes."""

    def __init__(
        self, send: Send, store: ResponseStore, key: tuple[Any, ...], scope: Scope
    ) -> None:
        self.send, self.store, self.key, self.scope = send, store, key, scope
        self.start: Message | None = None
        self.chunks: list[bytes] = []
        self.passing = False

    async def __call__(self, message: Message) -> None:
        if self.passing:
            await self.send(message)
            return
        if message["type"] == "http.response.start":
            if message["status"] != 200:
                self.passing = True
                await self.send(message)
                return
            self.start = message
            return
        if message["type"] != "http.response.body" or self.start is None:
            await self.send(message)
            return
        self.chunks.append(message.get("body", b""))
        if message.get("more_body", False):
            return
        body = b"".join(self.chunks)
        headers = [(bytes(k), bytes(v)) for k, v in self.start.get("headers", [])]
        entry = _Entry(headers=headers, body=body, etag=_etag(body))
        self.store.put(self.key, entry)
        # Built anew (the index moved) but the same bytes as the client holds: a 304 too.
        await _send_entry(self.send, entry, self.scope)
