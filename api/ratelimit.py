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

No bucket per signer: before the signature check the signer is only a claim (keyed on it, anyone
could drain anyone's bucket), and after it most of an accept's CPU is spent and fresh keys cost
nothing. What one signer puts in the outbox is checked request by request already: its own
signature, contiguous nonces, a simulation that must pass.
"""

from __future__ import annotations

import ipaddress
import logging
import math
import threading
import time
from collections import OrderedDict
from collections.abc import Callable

from fastapi import Request

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
    buckets: TokenBuckets | None = getattr(request.app.state, "client_buckets", None)
    if buckets is None or cost <= 0:
        return
    client = client_key(request.client.host if request.client else None)
    wait = buckets.take(client, cost)
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
