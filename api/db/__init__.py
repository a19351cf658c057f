"""The index database: tables (:mod:`api.db.models`), creation, and sessions.

``init_db(engine)`` creates every table on :class:`api.db.models.Base` — including the relayer's
outbox (``api.relayer.models``, imported here when present so one call creates everything).
"""

from __future__ import annotations

import importlib
import logging
import threading
import weakref

from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from api.db.models import Base

logger = logging.getLogger(__name__)

# Modules that declare more tables on the same Base (owned by other parts of the service).
_EXTRA_MODEL_MODULES = ("api.relayer.models", "api.binding")


def _load_all_models() -> None:
    for name in _EXTRA_MODEL_MODULES:
        try:
            importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name is None or not name.startswith(exc.name):
                raise
            logger.debug("no %s yet; its tables are not created", name)


def init_db(engine: Engine) -> None:
    """Create every missing table (idempotent)."""
    _load_all_models()
    if engine.dialect.name == "sqlite":
        # WAL: the API reads while the indexer writes (the mode is stored in the file).
        with engine.connect() as conn:
            conn.exec_driver_sql("PRAGMA journal_mode=WAL")
    Base.metadata.create_all(engine)


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
    """Drop every table (tests and ``tuanchain index --from-scratch`` of a whole database)."""
    _load_all_models()
    Base.metadata.drop_all(engine)
    _ready.discard(engine)


def session_factory(engine: Engine) -> sessionmaker[Session]:
    """Sessions bound to ``engine``; objects stay readable after commit."""
    return sessionmaker(engine, expire_on_commit=False)


__all__ = ["Base", "drop_db", "ensure_db", "init_db", "session_factory"]
