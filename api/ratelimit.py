"""How often one key may ask: a token bucket per key, in a table of bounded size.

One mechanism for every limit the service keeps in its process: the demo faucet's one grant per
address per hour (:mod:`api.faucet`: a bucket of one token refilled once an hour) and the
per-client limit on the writes that cost the service CPU (:func:`limit_client`: relay, prepare,
prepare-userop and the bundler's sends, each accept 4-5 ms of the one interpreter's CPU whether
it is accepted or refused, issue 15).

A bucket holds up to ``burst`` tokens and refills at ``rate`` tokens a second; a request takes
``cost`` tokens or is refused with the seconds until it could have them (``Retry-After``). A key
absent from the table has a full bucket, so a bucket that has refilled is forgotten without
changing any answer: the least recently used keys are dropped while they are full, and the table
never holds more than ``max_keys`` (past that, the least recently used bucket is dropped even if
not full: that client starts afresh, which takes ``max_keys`` other clients to arrange).

The client is the address uvicorn reports: its proxy-headers middleware has already replaced a
trusted proxy's address by the client it names in ``X-Forwarded-For``
(``TUANCHAIN_FORWARDED_ALLOW_IPS``, :mod:`api.serve`). An IPv6 client is its /64 — one host
usually holds a whole /64, and counting its addresses one by one would let it start afresh at
will. No address is exempt (loopback included): an exemption is what a proxy that forgets
``X-Forwarded-For`` turns into "everyone is 127.0.0.1, unlimited"; without one, that mistake
shows at once as 429s shared by everyone. The benchmarks and the test suite, one address posting
thousands of requests as fast as it can, turn the limit off themselves
(``TUANCHAIN_RATE_LIMIT_PER_SECOND=0``).

Several processes on one PostgreSQL database (``tuanchain serve`` on several machines, README
"Configuration, and beyond one machine") share each client's bucket: it is a row of
``rate_limits`` (:class:`SharedBuckets`), so N processes do not give a client N times the limit.
Asking the database on every request would put a round trip on the relay's hot path, so a process
takes a *lease* of tokens at once (up to a tenth of the burst, one UPSERT) and spends it locally;
what a process leased was taken from the shared bucket, so all processes together never admit
more than the one bucket allows. The price is the other way: tokens leased by one process are not
spent by another, so a client spread over N processes near its limit may be refused up to N
leases early. What a process last saw the shared bucket hold is remembered: a flood is refused
without a round trip each, until the bucket could hold the cost again. On SQLite (one process, one machine) the bucket stays
in the process (:class:`TokenBuckets`). The faucet's window stays in the process too: it gives
out test tokens on a local chain only (:mod:`api.faucet`).

No bucket per signer: before the signature check the signer is only a claim (keyed on it, anyone
could drain anyone's bucket), and after it most of an accept's CPU is spent and fresh keys cost
nothing. What one signer puts in the outbox is checked request by request already: its own
signature, contiguous nonces, a simulation that must pass.
"""

from __future__ import annotations

import hashlib
import ipaddress
import logging
import math
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

from fastapi import Request
from sqlalchemy import Connection, Engine, Row, create_engine, event, text
from sqlalchemy.exc import DBAPIError
from starlette.concurrency import run_in_threadpool

from api.db import ensure_db
from api.errors import ApiError

logger = logging.getLogger(__name__)

# The table's bound: a bucket is a key and two floats in an ordered dict, about 260 bytes
# (tracemalloc); 50,000 distinct clients active within one refill time hold about 13 MB.
MAX_KEYS = 50_000
# Refilled tokens are a float product: a request retried exactly ``Retry-After`` seconds later
# must not be refused for a rounding error's worth of a token.
_ROUNDING = 1e-9


class TokenBuckets:
    """A token bucket per key (``clock`` injectable: tests never wait). ``rate`` 0: no limit."""

    def __init__(
        self,
        *,
        rate: float,
        burst: float,
        max_keys: int = MAX_KEYS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if rate < 0 or burst < 1 or max_keys < 1:
            raise ValueError(f"rate >= 0, burst >= 1, max_keys >= 1: {rate}, {burst}, {max_keys}")
        self.rate, self.burst, self.max_keys, self.clock = rate, float(burst), max_keys, clock
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()  # key: tokens, at
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._buckets)

    def take(self, key: str, cost: float = 1.0) -> float:
        """Take ``cost`` tokens from ``key``'s bucket: 0.0 when taken, else the seconds until
        they would be there (nothing is taken). A cost above ``burst`` takes the whole bucket."""
        if self.rate == 0:
            return 0.0
        cost = min(cost, self.burst)
        with self._lock:
            now = self.clock()
            self._forget_full(now)
            tokens = self._tokens(key, now)
            wait = 0.0 if tokens + _ROUNDING >= cost else (cost - tokens) / self.rate
            if not wait:
                tokens = max(0.0, tokens - cost)
            self._buckets[key] = (tokens, now)  # last: the most recently used
            while len(self._buckets) > self.max_keys:
                self._buckets.popitem(last=False)
            return wait

    def give_back(self, key: str, cost: float = 1.0) -> None:
        """Return tokens taken for a request that was not served after all."""
        if self.rate == 0:
            return
        with self._lock:
            now = self.clock()
            tokens = min(self.burst, self._tokens(key, now) + cost)
            self._buckets[key] = (tokens, now)

    def _tokens(self, key: str, now: float) -> float:
        tokens, at = self._buckets.pop(key, (self.burst, now))
        return min(self.burst, tokens + max(0.0, now - at) * self.rate)

    def _forget_full(self, now: float) -> None:
        # Least recently used first: the first that has not refilled stops the sweep (amortised
        # O(1) per take; later ones were used more recently, most are not full either).
        while self._buckets:
            key, (tokens, at) = next(iter(self._buckets.items()))
            if tokens + (now - at) * self.rate < self.burst:
                return
            del self._buckets[key]


# A lease is at most this share of the burst: what a client spread over several processes may be
# refused early (tokens another process holds), against one round trip per that many tokens.
LEASE_SHARE = 0.1
# Rows of buckets that have refilled are deleted at most this often by each process.
PRUNE_SECONDS = 60.0

_NOW = "CAST(extract(epoch from clock_timestamp()) AS double precision)"
_REFILLED = (
    "least(CAST(:burst AS double precision), "
    "b.tokens + greatest(0, excluded.at - b.at) * CAST(:rate AS double precision))"
)
# One statement, atomic per row: take up to :want tokens (at least :cost, else nothing) from the
# bucket, refilled to the database's clock. A key without a row has a full bucket.
_LEASE = text(
    f"""
    INSERT INTO rate_limits AS b (key, tokens, at, granted)
    VALUES (:key, CAST(:burst AS double precision) - CAST(:want AS double precision), {_NOW},
            CAST(:want AS double precision))
    ON CONFLICT (key) DO UPDATE SET
        granted = least(CAST(:want AS double precision), {_REFILLED}),
        tokens = {_REFILLED} - least(CAST(:want AS double precision), {_REFILLED}),
        at = greatest(b.at, excluded.at)
    WHERE {_REFILLED} + {_ROUNDING} >= CAST(:cost AS double precision)
    RETURNING granted, tokens
    """
)
_LEFT = text(f"SELECT tokens, at, {_NOW} FROM rate_limits WHERE key = :key")
_PRUNE = text(f"DELETE FROM rate_limits WHERE at < {_NOW} - CAST(:full_after AS double precision)")


def _row_key(key: str) -> str:
    """The key as ``rate_limits`` holds it (100 characters): a client that is not an IP address
    (a name a trusted proxy forwarded) may be longer; its digest then."""
    return key if len(key) <= 100 else hashlib.sha256(key.encode()).hexdigest()


def _buckets_engine(engine: Engine) -> Engine:
    """The engine the shared buckets are written through: the database's, on connections of
    their own, made for one statement a lease (profiled, scripts/bench_rate_limit.py):

    - each UPSERT its own transaction (``AUTOCOMMIT``; it is atomic alone): no BEGIN and COMMIT
      round trips;
    - no ping when a connection is taken from the pool (the service's engine pings, a round trip
      more): a connection the server closed fails its statement, which is tried once more;
    - ``synchronous_commit`` off: a lease does not wait for the WAL's flush (milliseconds: most
      of a lease's wall time). A server crash may forget the last leases — clients get a fraction
      of a second's tokens again, once — and can never corrupt the table."""
    buckets = create_engine(
        engine.url,
        isolation_level="AUTOCOMMIT",
        pool_size=5,
        max_overflow=15,
        connect_args={"connect_timeout": 5},
    )

    @event.listens_for(buckets, "connect")
    def _no_flush_wait(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.execute("SET synchronous_commit = off")
        dbapi_connection.commit()  # before the pool turns autocommit on (a SET stays set)

    return buckets


class SharedBuckets:
    """:class:`TokenBuckets`' ``take`` with the buckets in the database (see the module
    docstring): each process spends leases of the shared bucket, and remembers what it last
    saw the shared bucket hold — an upper bound ever after, refilled at ``rate``, since other
    processes only take — to refuse without asking again what the database could not give."""

    def __init__(
        self,
        engine: Engine | Callable[[], Engine],
        *,
        rate: float,
        burst: float,
        max_keys: int = MAX_KEYS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        """``engine``: the database's, or a function giving it when first needed (``create_app``
        reads only the settings while it builds the app: tests/api/test_schemathesis.py)."""
        if rate < 0 or burst < 1 or max_keys < 1:
            raise ValueError(f"rate >= 0, burst >= 1, max_keys >= 1: {rate}, {burst}, {max_keys}")
        self._engine_of = engine if callable(engine) else (lambda: engine)
        self.rate, self.burst = rate, float(burst)
        self._own_engine: Engine | None = None
        self.max_keys, self.clock = max_keys, clock
        self.lease = max(1.0, self.burst * LEASE_SHARE)
        # key: (tokens leased and not spent, the most the shared bucket held, when (clock))
        self._local: OrderedDict[str, tuple[float, float, float]] = OrderedDict()
        self._lock = threading.Lock()
        self._pruned_at: float | None = None

    @property
    def engine(self) -> Engine:
        return self._engine_of()

    @property
    def _buckets_engine(self) -> Engine:
        """The leases' own engine, made on the first lease (:func:`_buckets_engine`)."""
        with self._lock:
            if self._own_engine is None:
                self._own_engine = _buckets_engine(self.engine)
            return self._own_engine

    def take_local(self, key: str, cost: float = 1.0) -> float | None:
        """What :meth:`take` answers without the database, or None: the database must be asked."""
        if self.rate == 0:
            return 0.0
        cost = min(cost, self.burst)
        with self._lock:
            now = self.clock()
            leased, most, at = self._local.pop(key, (0.0, self.burst, now))
            if leased + _ROUNDING >= cost:
                self._keep(key, leased - cost, most, at)
                return 0.0
            self._keep(key, leased, most, at)
            shared = min(self.burst, most + max(0.0, now - at) * self.rate)
            if shared + _ROUNDING < cost - leased:
                return (cost - leased - shared) / self.rate
            return None

    def take(self, key: str, cost: float = 1.0) -> float:
        """Take ``cost`` tokens: 0.0 when taken, else the seconds until the shared bucket could
        hold them (nothing is taken)."""
        local = self.take_local(key, cost)
        if local is not None:
            return local
        cost = min(cost, self.burst)
        with self._lock:
            leased, most, at = self._local.pop(key, (0.0, self.burst, self.clock()))
            if leased + _ROUNDING >= cost:  # another thread's lease came meanwhile
                self._keep(key, leased - cost, most, at)
                return 0.0
        need = cost - leased  # what is leased is spent first; the lease adds the rest
        params = {
            "key": _row_key(key),
            "want": max(need, self.lease),
            "cost": need,
            "burst": self.burst,
            "rate": self.rate,
        }
        try:
            ensure_db(self.engine)
            try:
                row, left = self._lease(params)
            except DBAPIError as exc:
                if not exc.connection_invalidated:
                    raise
                # A connection the server closed (no ping before a lease): again, on a new one.
                row, left = self._lease(params)
        except Exception:
            with self._lock:  # the request fails (503), the tokens leased before are not lost
                current, most, at = self._local.pop(key, (0.0, most, at))
                self._keep(key, current + leased, most, at)
            raise
        with self._lock:
            # Plus what other threads leased for this key meanwhile: a lease is never dropped.
            current, _, _ = self._local.pop(key, (0.0, 0.0, 0.0))
            if row is None:
                self._keep(key, current + leased, left, self.clock())
                return max((need - left) / self.rate, _ROUNDING)
            self._keep(key, current + max(0.0, leased + row[0] - cost), left, self.clock())
            return 0.0

    def _lease(self, params: dict[str, Any]) -> tuple[Row[Any] | None, float]:
        """The lease's UPSERT: (granted, tokens) or None, and what the shared bucket holds."""
        with self._buckets_engine.connect() as connection:
            row = connection.execute(_LEASE, params).one_or_none()
            if row is None:
                tokens, at, now = connection.execute(_LEFT, {"key": params["key"]}).one()
                left = min(self.burst, tokens + max(0.0, now - at) * self.rate)
            else:
                left = row[1]
            self._prune(connection)
        return row, left

    def _keep(self, key: str, leased: float, most: float, at: float) -> None:
        self._local[key] = (leased, most, at)  # last: the most recently used
        while len(self._local) > self.max_keys:
            self._local.popitem(last=False)  # its lease is lost: fewer requests, never more

    def _prune(self, connection: Connection) -> None:
        now = self.clock()
        if self._pruned_at is not None and now - self._pruned_at < PRUNE_SECONDS:
            return
        self._pruned_at = now
        # Empty to full takes burst / rate seconds: an older row is a full bucket, as no row is.
        connection.execute(_PRUNE, {"full_after": self.burst / self.rate})


def client_key(host: str | None) -> str:
    """The bucket of a client address: an IPv6 address's /64, any other address as it is."""
    if host is None:
        return "unix"  # a Unix socket's peer (a proxy on this machine): one client
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return host
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return str(address.ipv4_mapped)
        return str(ipaddress.IPv6Network((address, 64), strict=False))
    return str(address)


def retry_after(wait: float) -> int:
    """Whole seconds for ``Retry-After`` (at least 1: by then the request would pass)."""
    return max(1, math.ceil(wait))


# Which clients' refusals were logged in the last minute.
_LOGGED = TokenBuckets(rate=1 / 60, burst=1)


def size_cost(size: int, per_token: int) -> float:
    """The tokens a request costs by its size: one, and one more per whole ``per_token`` (bytes
    of a body, characters of a text) — one rule for every route charged by what it carries."""
    return float(1 + size // per_token)


def limit_client(request: Request, cost: float = 1.0) -> None:
    """Take ``cost`` tokens from the requesting client's bucket, or refuse it: 429
    ``rate_limited`` with ``details.retry_after_seconds`` (and the ``Retry-After`` header)."""
    buckets: TokenBuckets | SharedBuckets | None = getattr(
        request.app.state, "client_buckets", None
    )
    if buckets is None or cost <= 0:
        return
    client = _client(request)
    _refuse_if(buckets, client, buckets.take(client, cost))


async def limit_client_async(request: Request, cost: float = 1.0) -> None:
    """:func:`limit_client` on the event loop: when the shared bucket must be asked (once a
    lease), the round trip runs on a worker thread, never blocking the loop."""
    buckets: TokenBuckets | SharedBuckets | None = getattr(
        request.app.state, "client_buckets", None
    )
    if buckets is None or cost <= 0:
        return
    client = _client(request)
    if isinstance(buckets, SharedBuckets):
        wait = buckets.take_local(client, cost)
        if wait is None:
            wait = await run_in_threadpool(buckets.take, client, cost)
    else:
        wait = buckets.take(client, cost)
    _refuse_if(buckets, client, wait)


def _client(request: Request) -> str:
    return client_key(request.client.host if request.client else None)


def _refuse_if(buckets: TokenBuckets | SharedBuckets, client: str, wait: float) -> None:
    if wait:
        if not _LOGGED.take(client):  # a flood is one line a minute per client, not per request
            logger.warning(
                "rate limit: refusing %s (%g a second after a burst of %d)",
                client,
                buckets.rate,
                buckets.burst,
            )
        seconds = retry_after(wait)
        raise ApiError(
            429,
            "rate_limited",
            f"too many requests from {client}; try again in {seconds} s",
            retry_after_seconds=seconds,
        )
