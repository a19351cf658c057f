"""``Services``: what every part of the service shares — settings, chain, document store, database.

Built once per process by :func:`build_services`; the FastAPI app, the relayer, the keeper, the
indexer and the CLI commands all take it. The chain connection is lazy so the API can start (and
report 503 with a reason) while the node is down.

Before the chain is first handed out, the database is bound to it (:func:`api.binding.bind`: an
index of another chain is rebuilt, requests accepted for another chain are failed). The background
loops call :meth:`Services.check_chain` on every pass: if the node changed under the running
service, the connection is dropped and the next use connects — and binds — again.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import Engine, create_engine

from api.db.sqlite_turns import TurnTakingConnection
from chain import fastjson
from chain.context import Chain, connect
from chain.identity import ChainChanged
from chain.settings import Settings
from traceability.ipfs import DocumentStore, EmbeddedDocumentStore, KuboDocumentStore


def make_engine(database_url: str) -> Engine:
    """SQLite (the default, a file under ``data/``) or PostgreSQL (``postgresql+psycopg://...``).

    JSON columns are read with :func:`chain.fastjson.loads` (the same values as ``json.loads``,
    in a quarter of the time: the relay worker reads each request's typed data and permit back,
    ~3 % of the service's CPU under the rush, issue 15)."""
    if database_url.startswith("sqlite:///"):
        Path(database_url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
        # A pool as large as PostgreSQL's: the API's thread pool (40 threads) and the background
        # loops each hold a session; the default 5 + 10 made requests queue for a connection
        # under the rush (issue 15). SQLite connections are cheap; writes still take turns.
        return create_engine(
            database_url,
            pool_size=20,
            max_overflow=20,
            # Writers in this process take turns on a lock, not in SQLite's sleeping busy
            # handler (api.db.sqlite_turns).
            connect_args={
                "check_same_thread": False,
                "timeout": 30,
                "factory": TurnTakingConnection,
            },
            json_deserializer=fastjson.loads,
        )
    # connect_timeout: a server that drops packets fails a request in seconds, not the OS TCP timeout.
    return create_engine(
        database_url,
        pool_pre_ping=True,
        pool_size=20,
        max_overflow=20,
        connect_args={"connect_timeout": 5},
        json_deserializer=fastjson.loads,
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
    _bound: bool = False

    @property
    def chain(self) -> Chain:
        """The chain connection, made on first use and bound to the database; raises
        ``NodeUnavailable`` if the node is down, ``DeploymentMismatch`` if it is another chain."""
        with self._lock:
            chain = self._connect()
            if not self._bound:
                from api.binding import bind  # (api.binding imports the relayer's models)

                bind(self.engine, chain)
                self._bound = True
            return chain

    def _connect(self) -> Chain:
        if self._chain is None:
            self._chain = connect(self.settings)
        return self._chain

    def check_chain(self) -> Chain:
        """The connection, if the node still serves its chain; else
        :class:`~chain.identity.ChainChanged`, and the connection is dropped so the next use of
        :attr:`chain` connects and binds anew. (Needs the node only, not the database.)"""
        with self._lock:
            chain = self._connect()
        try:
            chain.check_node()
        except ChainChanged:
            self.forget_chain(chain)
            raise
        return chain

    def forget_chain(self, chain: Chain) -> None:
        """Drop ``chain`` (if still ours): the next use of :attr:`chain` connects and binds."""
        with self._lock:
            if self._chain is chain:
                self._chain, self._bound = None, False


def build_services(settings: Settings | None = None, *, chain: Chain | None = None) -> Services:
    settings = settings or Settings()
    return Services(
        settings=settings,
        store=make_store(settings),
        engine=make_engine(settings.database_url),
        _chain=chain,
    )
