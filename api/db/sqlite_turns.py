"""SQLite writers in one process take turns on a Python lock, not in SQLite's busy handler.

SQLite lets one connection write at a time. A connection that finds the file's write lock taken
waits in SQLite's busy handler, which *sleeps* — 1, 2, 5, 10, 15, 20, 25 ms... — and looks again,
however soon the lock was freed. Under the evening rush (issue 15) eight accepts and the relay
worker write the outbox at once: py-spy of the service showed the accepts' threads spending ~70 %
of their time inside the outbox INSERT in ``usleep``, while the writes themselves take well under
a millisecond. Throughput then follows the sleeps, not the CPU.

Connections made by :func:`api.services.make_engine` are :class:`TurnTakingConnection`: before
a statement that writes, a connection not yet writing takes its file's turn (a
``threading.Lock``, one per database file in this process), and gives it back when its
transaction ends (commit, rollback, close, or a statement that ran outside any transaction).
A waiting writer is woken the moment the turn is free. SQLite's own lock stays underneath, for
other processes (the CLI, a second server on the same file) and their busy timeout.

Waiting for the turn is bounded by the connection's ``timeout`` (the engine's 30 s busy timeout):
past it, ``sqlite3.OperationalError("database is locked")``, as SQLite itself would raise.
Reads never take the turn (WAL: readers do not block the writer or each other).
"""

from __future__ import annotations

import sqlite3
import threading
from typing import Any

# The first keyword of statements that take SQLite's write lock (the rest read). ``WITH`` may
# start either; counted as a write (a read under it only waits its turn). ``BEGIN`` only when
# IMMEDIATE or EXCLUSIVE (those take the write lock at once; a plain BEGIN does not).
_WRITES = frozenset(
    ("INSERT", "UPDATE", "DELETE", "REPLACE", "UPSERT", "CREATE", "DROP", "ALTER", "WITH")
)

_turns: dict[str, threading.Lock] = {}
_turns_guard = threading.Lock()


def _turn_of(database: str) -> threading.Lock | None:
    """The write turn of ``database`` (a file path, shared by every connection to it in this
    process); None for private in-memory databases, which nothing else can write."""
    if database in ("", ":memory:") or database.startswith("file::memory:"):
        return None
    with _turns_guard:
        return _turns.setdefault(database, threading.Lock())


def writes(sql: str) -> bool:
    """Whether ``sql`` takes SQLite's write lock (by its first keyword)."""
    words = sql.lstrip(" \t\r\n(").split(None, 2)
    if not words:
        return False
    first = words[0].upper()
    if first == "BEGIN":
        return len(words) > 1 and words[1].upper().rstrip(";") in ("IMMEDIATE", "EXCLUSIVE")
    return first in _WRITES


class TurnTakingConnection(sqlite3.Connection):
    """A ``sqlite3.Connection`` whose writes take their file's turn in this process (above).
    Pass as ``sqlite3.connect(..., factory=TurnTakingConnection)``."""

    def __init__(self, database: Any, timeout: float = 5.0, *args: Any, **kwargs: Any) -> None:
        super().__init__(database, timeout, *args, **kwargs)
        self._turn = _turn_of(str(database))
        self._turn_timeout = timeout
        self._has_turn = False

    def cursor(self, factory: Any = None) -> sqlite3.Cursor:  # type: ignore[override]
        return super().cursor(factory or _TurnTakingCursor)

    def execute(self, sql: str, parameters: Any = (), /) -> sqlite3.Cursor:  # type: ignore[override]
        return self.cursor().execute(sql, parameters)

    def executemany(self, sql: str, parameters: Any, /) -> sqlite3.Cursor:  # type: ignore[override]
        return self.cursor().executemany(sql, parameters)

    def commit(self) -> None:
        try:
            super().commit()
        finally:
            self._end_turn_unless_writing()

    def rollback(self) -> None:
        try:
            super().rollback()
        finally:
            self._end_turn_unless_writing()

    def close(self) -> None:
        try:
            super().close()
        finally:
            self._end_turn()

    def _take_turn(self) -> None:
        if self._turn is None or self._has_turn:
            return
        if not self._turn.acquire(timeout=self._turn_timeout):
            raise sqlite3.OperationalError("database is locked")
        self._has_turn = True

    def _end_turn_unless_writing(self) -> None:
        if self._has_turn and not self.in_transaction:
            self._end_turn()

    def _end_turn(self) -> None:
        if self._has_turn:
            self._has_turn = False
            assert self._turn is not None
            self._turn.release()


class _TurnTakingCursor(sqlite3.Cursor):
    def execute(self, sql: str, parameters: Any = (), /) -> sqlite3.Cursor:  # type: ignore[override]
        connection = self._turn_taker(sql)
        try:
            return super().execute(sql, parameters)
        finally:
            if connection is not None:
                connection._end_turn_unless_writing()

    def executemany(self, sql: str, parameters: Any, /) -> sqlite3.Cursor:  # type: ignore[override]
        connection = self._turn_taker(sql)
        try:
            return super().executemany(sql, parameters)
        finally:
            if connection is not None:
                connection._end_turn_unless_writing()

    def _turn_taker(self, sql: str) -> TurnTakingConnection | None:
        connection = self.connection
        if not isinstance(connection, TurnTakingConnection) or not writes(sql):
            return None
        connection._take_turn()
        return connection
