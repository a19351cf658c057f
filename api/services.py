"""``Services``: what every part of the service shares — settings, chain, document store, database.

Built once per process by :func:`build_services`; the FastAPI app, the relayer, the keeper, the
indexer and the CLI commands all take it. The chain connection is lazy so the API can start (and
report 503 with a reason) while the node is down.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import Engine, create_engine

from chain.context import Chain, connect
from chain.settings import Settings
from traceability.ipfs import DocumentStore, EmbeddedDocumentStore, KuboDocumentStore


def make_engine(database_url: str) -> Engine:
    """SQLite (the default, a file under ``data/``) or PostgreSQL (``postgresql+psycopg://...``)."""
    if database_url.startswith("sqlite:///"):
        Path(database_url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
        return create_engine(database_url, connect_args={"check_same_thread": False, "timeout": 30})
    # connect_timeout: a server that drops packets fails a request in seconds, not the OS TCP timeout.
    return create_engine(
        database_url,
        pool_pre_ping=True,
        pool_size=20,
        max_overflow=20,
        connect_args={"connect_timeout": 5},
    )


def make_store(settings: Settings) -> DocumentStore:
    if settings.ipfs_backend == "kubo":
        return KuboDocumentStore(settings.ipfs_api_url)
    return EmbeddedDocumentStore(settings.data_dir / "ipfs")


@dataclass
class Services:
    settings: Settings
    store: DocumentStore
    engine: Engine
    _chain: Chain | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def chain(self) -> Chain:
        """The chain connection, made on first use; raises ``NodeUnavailable`` if the node is down."""
        with self._lock:
            if self._chain is None:
                self._chain = connect(self.settings)
            return self._chain


def build_services(settings: Settings | None = None, *, chain: Chain | None = None) -> Services:
    settings = settings or Settings()
    return Services(
        settings=settings,
        store=make_store(settings),
        engine=make_engine(settings.database_url),
        _chain=chain,
    )
