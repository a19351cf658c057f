"""Serialized provenance responses per batch, valid for one index ``version``."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from sqlalchemy import Engine
from sqlalchemy.orm import Session

from api.db import ensure_db
from api.queries.common import index_state


class ProvenanceCache:
    """Serialized provenance responses per batch, valid for one index ``version``.

    The version is re-read from the database at most every ``check_seconds`` (the indexer in
    another process); an indexer in this process clears the cache at once.
    """

    def __init__(
        self,
        engine: Engine,
        *,
        check_seconds: float = 0.25,
        max_items: int = 50_000,
        clock: Callable[[], float] = time.monotonic,
    ):
        self.engine = engine
        self.check_seconds = check_seconds
        self.max_items = max_items
        self._clock = clock
        self._items: dict[tuple[str, str], bytes] = {}
        self._version: int | None = None
        # When the version was last read, on ``clock``; None: never (or cleared), so a check is
        # due whatever the clock reads. Not 0.0: time.monotonic() counts from boot, so on a
        # machine up for less than ``check_seconds`` a 0.0 looked like a recent check and the
        # version was never read at all.
        self._checked: float | None = None
        self._checking = False  # a version check is running (single flight, see lookup)
        self._lock = threading.Lock()

    def clear(self) -> None:
        with self._lock:
            self._items.clear()
            self._checked = None

    def _due(self, now: float) -> bool:
        """A version check is due: never made, or made ``check_seconds`` or longer ago."""
        return self._checked is None or now - self._checked >= self.check_seconds

    def _current_version(self) -> int:
        ensure_db(self.engine)
        with Session(self.engine) as session:
            state = index_state(session)
            return state.version if state else -1

    def lookup(self, key: tuple[str, str]) -> tuple[bool, bytes | None]:
        """Without I/O, for the event loop: ``(True, body or None)`` while the version was
        checked within ``check_seconds``; ``(False, None)`` when a check is due — then call
        :meth:`get` in a worker thread (it queries the database, which may be slow or down).

        Single flight: only the first caller after the interval gets ``False``; the others keep
        being served from the cache while that one check runs (otherwise every concurrent
        request would query the version at once, every ``check_seconds``)."""
        if self._due(self._clock()):
            with self._lock:
                if not self._checking:
                    self._checking = True
                    return False, None
        return True, self._items.get(key)

    def get(self, key: tuple[str, str]) -> bytes | None:
        """The cached body, after re-reading the index version if the last check is old
        (blocking SQL; ``OperationalError`` when the database is down)."""
        now = self._clock()
        try:
            if self._due(now):
                version = self._current_version()
                with self._lock:
                    if version != self._version:
                        self._items.clear()
                        self._version = version
                    self._checked = now
        finally:
            with self._lock:
                self._checking = False
        return self._items.get(key)

    @property
    def version(self) -> int | None:
        """The index version the cached bodies belong to (pass it back to :meth:`put`)."""
        return self._version

    def put(self, key: tuple[str, str], body: bytes, version: int | None = None) -> None:
        """Cache ``body``, built while the cache was at ``version`` (:attr:`version` read before
        building); a body built under an older version than the current one is dropped."""
        with self._lock:
            if version is not None and version != self._version:
                return
            if len(self._items) >= self.max_items:
                self._items.clear()
            self._items[key] = body
