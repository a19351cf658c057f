"""Which process runs the singleton background roles, when several share one PostgreSQL.

The indexer and the keeper must run in exactly one process (two indexers would write the same
rows; two keepers would race on the same transactions); the relayer's and the bundler's outbox
workers may run in any number (their claims, :mod:`api.relayer.claims`, keep them apart). So a
service process starts the workers at once and the singleton roles only while it holds a
PostgreSQL *session advisory lock* (``pg_try_advisory_lock``) on a connection of its own: when its
holder dies, PostgreSQL drops the connection and the lock with it, and another process's next
attempt (every ``RETRY_SECONDS``) takes the roles over.

SQLite has no such lock and the outbox workers' claims are PostgreSQL's, so on a SQLite file *all*
the background roles run in one process: it holds an exclusive ``flock`` on ``<file>.background.lock``
(the kernel drops it when the process dies), and a second process wanting them is refused with
:class:`BackgroundRolesTaken` — two relay workers on one file could send a request twice. HTTP-only
processes (``tuanchain serve --no-background``) may run beside the one that holds it.

``tuanchain worker`` runs all background roles without the HTTP server; ``tuanchain serve`` runs
them next to it. Any number of either may share one PostgreSQL database and one chain.
"""

from __future__ import annotations

import fcntl
import hashlib
import importlib
import logging
import os
import threading
from collections.abc import Callable
from pathlib import Path
from typing import IO

from sqlalchemy import Connection, Engine, text

from api.background import loop_threads, stop_all
from api.services import Services

logger = logging.getLogger(__name__)

# Modules exposing ``start_background(services) -> stop``. Singletons in this order (index before
# keeper); workers in any number of processes.
SINGLETON_MODULES = ("api.indexer.runner", "api.keeper.runner", "api.webhooks.runner")
WORKER_MODULES = ("api.relayer.worker", "api.bundler.worker")
RETRY_SECONDS = 5.0
LOCK_NAME = "tuanchain:singleton-roles"


def advisory_key(name: str) -> int:
    """A stable signed 64-bit key for ``pg_advisory_lock`` from a name."""
    return int.from_bytes(hashlib.sha256(name.encode()).digest()[:8], "big", signed=True)


def schema_lock_key(conn: Connection, name: str = LOCK_NAME) -> int:
    """The advisory key of ``name`` in the schema ``conn`` works in (its ``search_path``'s first)."""
    schema = conn.execute(text("SELECT current_schema()")).scalar()
    return advisory_key(f"{name}@{schema}")


class SingletonLock:
    """The session advisory lock of the singleton roles (always held on SQLite)."""

    def __init__(self, engine: Engine, name: str = LOCK_NAME) -> None:
        self.engine = engine
        self.name = name
        self.enabled = engine.dialect.name == "postgresql"
        self._conn: Connection | None = None
        self._key: int | None = None

    def key(self, conn: Connection) -> int:
        """The lock's key in this database: advisory locks are the whole database's, while a
        deployment's tables live in one schema, so two deployments sharing a database (two
        schemas) must not wait on each other's lock: the key names the schema too."""
        if self._key is None:
            self._key = schema_lock_key(conn, self.name)
        return self._key

    def try_acquire(self) -> bool:
        """Take the lock if nobody holds it; True while this process holds it."""
        if not self.enabled:
            return True
        if self._conn is not None:
            return self.held()
        conn = self.engine.connect()
        try:
            got = bool(
                conn.execute(
                    text("SELECT pg_try_advisory_lock(:k)"), {"k": self.key(conn)}
                ).scalar()
            )
            conn.commit()  # the lock is the session's, not the transaction's: it stays
        except Exception:
            conn.close()
            raise
        if got:
            self._conn = conn
        else:
            conn.close()
        return got

    def held(self) -> bool:
        """Whether the lock's connection is still alive (a dead one has lost the lock)."""
        if not self.enabled:
            return True
        if self._conn is None:
            return False
        try:
            self._conn.execute(text("SELECT 1"))
            self._conn.commit()
            return True
        except Exception:  # noqa: BLE001 — the server or the network dropped it
            self.release()
            return False

    def release(self) -> None:
        if self._conn is None:
            return
        conn, self._conn = self._conn, None
        try:
            # Unlock in the session itself: dropping the connection alone releases the lock only
            # once the server has seen the disconnect, so another process asking right after this
            # returns could still find it held.
            conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": self.key(conn)})
            conn.commit()
        except Exception as exc:  # noqa: BLE001 — a dead connection: its session and lock are gone
            logger.debug("advisory unlock on a dead connection: %s", exc)
        finally:
            conn.invalidate()  # never back to the pool: the session's end releases what is left


def _start(
    services: Services, names: tuple[str, ...], threads: set[threading.Thread]
) -> list[Callable[[], None]]:
    """Start the roles of ``names``; their loops' threads are added to ``threads`` (with, at
    worst, another loop started at the same moment elsewhere in the process)."""
    stops: list[Callable[[], None]] = []
    before = loop_threads()
    try:
        _start_modules(services, names, stops)
    finally:
        threads.update(loop_threads() - before)
    return stops


def _release_once_stopped(
    threads: set[threading.Thread], release: Callable[[], None], what: str
) -> None:
    """``release()`` now if every thread of ``threads`` has ended, else once they have: a loop
    whose stop timed out (a pass stuck in a call) still runs its role, and the lock that keeps a
    second process from running it too must be held until it ends."""
    alive = [thread for thread in threads if thread.is_alive()]
    if not alive:
        release()
        return
    logger.error(
        "%s still running after their stop timed out: %s is released once they end",
        ", ".join(sorted(thread.name for thread in alive)),
        what,
    )

    def release_when_stopped() -> None:
        for thread in alive:
            thread.join()
        release()

    threading.Thread(
        target=release_when_stopped, name="tuanchain-roles-release", daemon=True
    ).start()


def _start_modules(
    services: Services, names: tuple[str, ...], stops: list[Callable[[], None]]
) -> None:
    for name in names:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name == name:
                logger.warning("background module %s is not available", name)
                continue
            raise
        stops.append(module.start_background(services))


class BackgroundRolesUnavailable(RuntimeError):
    """This process cannot run the background roles on this SQLite database file."""


class BackgroundRolesTaken(BackgroundRolesUnavailable):
    """Another process runs the background roles on this SQLite database file."""


class SQLiteFileLock:
    """The one process per SQLite file that runs the background roles (see the module docstring):
    an exclusive ``flock`` on ``<file>.background.lock``, which names its holder's pid. A no-op for
    PostgreSQL and for an in-memory SQLite database (no other process can open it)."""

    def __init__(self, engine: Engine) -> None:
        database = engine.url.database if engine.dialect.name == "sqlite" else None
        self.database = database if database and database != ":memory:" else None
        # Beside the file itself: a symlink to it is the same database, under another name.
        real = os.path.realpath(self.database) if self.database else None
        self.path = Path(f"{real}.background.lock") if real else None
        self._file: IO[str] | None = None

    def acquire(self) -> None:
        """Take the lock, or raise :class:`BackgroundRolesTaken` naming the process holding it."""
        if self.path is None or self._file is not None:
            return
        try:
            lock = self.path.open("a+")
        except OSError as exc:  # a read-only data directory, say: said, not a traceback
            raise BackgroundRolesUnavailable(
                f"cannot open the background roles' lock file {self.path}: {exc.strerror}; "
                "the database's directory must be writable"
            ) from None
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            lock.seek(0)
            holder = lock.read().strip() or "unknown"
            lock.close()
            raise BackgroundRolesTaken(
                f"another process (pid {holder}) runs the background roles (indexer, relayer, "
                f"keeper) on the SQLite database {self.database}; SQLite allows one such process "
                "per file: stop it, start this one as `tuanchain serve --no-background` (HTTP "
                "only), or use PostgreSQL to run several"
            ) from None
        lock.seek(0)
        lock.truncate()
        lock.write(f"{os.getpid()}\n")
        lock.flush()
        self._file = lock

    def release(self) -> None:
        if self._file is not None:
            self._file.close()  # closing the file drops the flock
            self._file = None


def start_background(services: Services) -> list[Callable[[], None]]:
    """Start the workers now and the singleton roles whenever this process holds their lock;
    returns the stop functions (stopping releases the lock). On a SQLite file another process
    running them already: :class:`BackgroundRolesTaken`, nothing started."""
    file_lock = SQLiteFileLock(services.engine)
    file_lock.acquire()
    threads: set[threading.Thread] = set()  # every loop started here (the workers', singletons')
    try:
        stops = _start(services, WORKER_MODULES, threads)
    except BaseException:
        file_lock.release()
        raise
    lock = SingletonLock(services.engine)
    stop = threading.Event()
    singletons: list[Callable[[], None]] = []
    singleton_threads: set[threading.Thread] = set()
    # Starting and stopping the singletons never overlap: a stop request arriving while the watch
    # thread starts them waits for the start, then stops what was started.
    changing = threading.Lock()

    def start_singletons() -> None:
        with changing:
            if not singletons and not stop.is_set():
                logger.info("this process runs the indexer and the keeper")
                singletons.extend(_start(services, SINGLETON_MODULES, singleton_threads))
                threads.update(singleton_threads)

    def stop_singletons() -> None:
        with changing:
            stop_all(reversed(singletons))
            singletons.clear()

    def watch() -> None:
        while not stop.is_set():
            try:
                if lock.try_acquire():
                    start_singletons()
                elif singletons:
                    logger.warning("lost the singleton lock; stopping the indexer and keeper")
                    stop_singletons()
            except Exception:  # the database down: keep what runs, try again
                logger.exception("singleton lock check failed")
            stop.wait(RETRY_SECONDS)

    thread = threading.Thread(target=watch, name="tuanchain-roles", daemon=True)
    thread.start()

    def stop_roles() -> None:
        stop.set()
        stop_singletons()
        thread.join(timeout=30)
        # (the watch thread uses the lock's connection: released after it, and the singletons)
        _release_once_stopped(
            {thread, *singleton_threads}, lock.release, "the singleton roles' lock"
        )

    def stop_everything() -> None:
        try:
            stop_all([*stops, stop_roles])
        finally:
            # Once every loop has stopped: then another process may start them.
            _release_once_stopped(threads, file_lock.release, "the SQLite roles' lock")

    return [stop_everything]


__all__ = [
    "BackgroundRolesTaken",
    "BackgroundRolesUnavailable",
    "SQLiteFileLock",
    "SingletonLock",
    "advisory_key",
    "schema_lock_key",
    "start_background",
]
