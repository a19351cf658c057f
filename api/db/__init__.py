"""The service's database: tables (:mod:`api.db.models`, :mod:`api.relayer.models`), their
migrations (:mod:`api.db.migrate`), and sessions.

``init_db(engine)`` brings the database to the current schema by applying the Alembic revisions
it lacks (every table, the relayer's outbox included, is created and changed only that way).
"""

from __future__ import annotations

import logging
import threading
import time
import weakref

from sqlalchemy import Engine, MetaData, Table
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session, sessionmaker

from api.db.models import Base, load_all_models

logger = logging.getLogger(__name__)


def init_db(engine: Engine) -> None:
    """Apply the migrations the database lacks (idempotent; safe in concurrent processes).

    Raises :class:`api.db.migrate.DatabaseSchemaError` for a database a newer release wrote."""
    from api.db.migrate import upgrade

    if engine.dialect.name == "sqlite":
        _use_wal(engine)
    upgrade(engine)


# How long a start waits for another process that holds the SQLite file to switch it to WAL or
# migrate it (the same as the engine's busy timeout).
_WAL_PATIENCE_SECONDS = 30.0


def _use_wal(engine: Engine) -> None:
    """WAL, so the API reads while the indexer writes (the mode is stored in the file).

    Changing the journal mode needs the file to itself and does not wait for a busy lock, so a
    start racing another one (switching the mode, or migrating) retries until that one is done;
    a file already in WAL mode needs no change and never waits."""
    deadline = time.monotonic() + _WAL_PATIENCE_SECONDS
    while True:
        try:
            with engine.connect() as conn:
                conn.exec_driver_sql("PRAGMA journal_mode=WAL")
            return
        except OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() > deadline:
                raise
            time.sleep(0.05)


# Weak references, not id(engine): a disposed engine's id is reused by the next one, which would
# then be taken as ready and never get its tables.
_ready: weakref.WeakSet[Engine] = weakref.WeakSet()
_ready_lock = threading.Lock()


def ensure_db(engine: Engine) -> None:
    """``init_db`` once per engine in this process (readers call it before their first query,
    so the API answers on a database the indexer has not touched yet)."""
    if engine in _ready:
        return
    with _ready_lock:
        if engine not in _ready:
            init_db(engine)
            _ready.add(engine)


def drop_db(engine: Engine) -> None:
    """Drop every table and the migration version (tests: a database as if new)."""
    from api.db.migrate import VERSION_TABLE

    load_all_models()
    Base.metadata.drop_all(engine)
    Table(VERSION_TABLE, MetaData()).drop(engine, checkfirst=True)
    _ready.discard(engine)


def session_factory(engine: Engine) -> sessionmaker[Session]:
    """Sessions bound to ``engine``; objects stay readable after commit.

    One factory per engine, made once: each ``sessionmaker`` defines a new ``Session`` subclass,
    and SQLAlchemy sets up that class's event dispatch on its first session's close — a fifth
    of the CPU of a request refused at once, when routes made a factory per request (profiled
    under the relay rush, issue 15), and a class more in memory each time."""
    factory: sessionmaker[Session] | None = getattr(engine, _FACTORY, None)
    if factory is None:
        with _factory_lock:
            factory = getattr(engine, _FACTORY, None)
            if factory is None:
                # On the engine itself (a cycle the collector frees with it), not in a weak
                # mapping: the factory refers to its engine, so a mapping would keep it alive.
                factory = sessionmaker(engine, expire_on_commit=False)
                setattr(engine, _FACTORY, factory)
    return factory


_FACTORY = "_tuanchain_session_factory"
_factory_lock = threading.Lock()


__all__ = ["Base", "drop_db", "ensure_db", "init_db", "session_factory"]
