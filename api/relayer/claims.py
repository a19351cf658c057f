"""Cross-process exclusion for outbox workers: several service processes on one PostgreSQL outbox.

Two locks, both rows of ``relay_locks`` held by a transaction on a connection of their own (so the
worker's own session can commit progress on the request rows without releasing them):

``signer:<address>`` — claimed with ``SELECT ... FOR UPDATE SKIP LOCKED``
    The unit of work is a signer's queue, not one request: a signer's requests must execute one
    at a time in forwarder-nonce order (and a join's permit *sets* the allowance the join then
    spends, so two of one signer's joins must not interleave). A worker that cannot take the lock
    skips the signer this pass; whoever holds it sends that signer's requests. Two workers thus
    never work on — let alone send — the same request.
``relayer:<address>`` — taken with a blocking ``SELECT ... FOR UPDATE``, briefly
    Held from reading the relayer account's pending nonce to handing the signed transaction to
    the node, so two workers never sign two transactions with one relayer nonce.

A worker that dies loses its connection and PostgreSQL releases its locks; the next worker then
reconciles the request from its stored state as after any crash (:mod:`api.relayer.worker`).

SQLite has a single writer and the service runs one worker per database file: both locks are
no-ops there (the outbox behaves as before). The relayer lock is also taken within the process,
whatever the database: the relay worker and the bundler's worker (:mod:`api.bundler.worker`) sign
with the same relayer account from two threads.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import Connection, Engine, select
from sqlalchemy.dialects.postgresql import insert as pg_insert

from api.relayer.models import RelayLock

# One lock per relayer address within this process (threads of one service share the account).
_PROCESS_LOCKS: dict[str, threading.Lock] = {}
_PROCESS_LOCKS_GUARD = threading.Lock()


def _process_lock(name: str) -> threading.Lock:
    with _PROCESS_LOCKS_GUARD:
        return _PROCESS_LOCKS.setdefault(name, threading.Lock())


class Claims:
    """The two locks above, for one database engine."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.enabled = engine.dialect.name == "postgresql"
        self._known: set[str] = set()  # lock rows this process knows exist

    @contextmanager
    def signer(self, address: str) -> Iterator[bool]:
        """Try to claim ``address``'s queue; yields False when another worker holds it."""
        if not self.enabled:
            yield True
            return
        with self._locked(f"signer:{address}", skip_locked=True) as held:
            yield held

    @contextmanager
    def signers(self, addresses: list[str]) -> Iterator[set[str]]:
        """Try to claim several signers' queues at once (a batch's): one connection and one
        ``SELECT ... FOR UPDATE SKIP LOCKED`` for all of them; yields the addresses claimed."""
        if not self.enabled:
            yield set(addresses)
            return
        names = {f"signer:{a}": a for a in addresses}
        unknown = [n for n in names if n not in self._known]
        if unknown:
            with self.engine.begin() as conn:
                conn.execute(
                    pg_insert(RelayLock)
                    .values([{"name": n} for n in unknown])
                    .on_conflict_do_nothing()
                )
            self._known.update(unknown)
        with self.engine.connect() as conn, conn.begin():
            query = (
                select(RelayLock.name)
                .where(RelayLock.name.in_(list(names)))
                .with_for_update(skip_locked=True)
            )
            yield {names[n] for n in conn.execute(query).scalars().all()}

    @contextmanager
    def relayer(self, address: str) -> Iterator[None]:
        """Own the relayer account's next nonce (waits for another worker to hand its tx over)."""
        with _process_lock(f"relayer:{address}"):
            if not self.enabled:
                yield
                return
            with self._locked(f"relayer:{address}", skip_locked=False):
                yield

    @contextmanager
    def _locked(self, name: str, *, skip_locked: bool) -> Iterator[bool]:
        self._ensure_row(name)
        # The transaction stays open while the caller works: that is what holds the lock.
        with self.engine.connect() as conn, conn.begin():
            query = select(RelayLock.name).where(RelayLock.name == name)
            query = query.with_for_update(skip_locked=skip_locked)
            yield conn.execute(query).first() is not None

    def _ensure_row(self, name: str) -> None:
        """Create the lock row once (a concurrent creator is fine: ON CONFLICT DO NOTHING)."""
        if name in self._known:
            return
        with self.engine.begin() as conn:
            _insert_ignore(conn, name)
        self._known.add(name)


def _insert_ignore(conn: Connection, name: str) -> None:
    conn.execute(pg_insert(RelayLock).values(name=name).on_conflict_do_nothing())


__all__ = ["Claims"]
