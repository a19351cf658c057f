"""The outbox worker: sends accepted requests with the relayer key, once each, surviving restarts.

Which request next: the oldest due request that heads its signer's queue (no pending request of
the same signer has a lower forwarder nonce), so a signer's requests go out one at a time in nonce
order, and the next becomes eligible — in the same pass — once the one before it is settled. On
PostgreSQL the worker first claims the signer's queue (``SELECT ... FOR UPDATE SKIP LOCKED``,
:mod:`api.relayer.claims`): several service processes share one outbox and never work on the same
request; a signer whose queue another worker holds is skipped this pass.

Batches (issue 15): a pass takes up to ``max_batch`` queue heads (one per signer, so a signer's
requests still execute one at a time in nonce order), checks each right before sending (expired
→ ``failed``; forwarder nonce already spent → ``mined``, found by its ``ExecutedForwardRequest``
log; the target call simulated as the signer — as ``joinWithPermit`` for a join whose permit is
not on chain yet — a doomed one fails with the contract's named error, unsent), keeps the batch
under ``max_batch_gas`` (each request reserves its signed ``gas`` plus the 1/64 and the
forwarder's overhead, :mod:`api.relayer.gas`), then sends the joins' permits and one
``executeBatch`` with consecutive relayer nonces, without waiting between them. The batch
transaction is **signed and its hash and raw bytes committed on every row it carries**
(``sending``) before it is broadcast (``sent``). The background loop does not wait for the
receipt: the next pass sends the next batch and settles earlier ones whose receipts are in.
Checking and sending a batch: :mod:`api.relayer.send`; the rows' moves: :mod:`api.relayer.outbox`.

Settling a mined batch: :mod:`api.relayer.settle`.

``sending`` / ``sent`` rows after a restart: the stored hashes' receipts decide; without one, the
*same* raw transaction is broadcast again (same hash: it cannot land twice); only if the relayer's
nonce was taken by another transaction are its requests queued again (or found executed). A batch
whose fee cap the base fee outgrew is signed again with the same nonce and raised fees, every
transaction of that nonce kept until one is mined (:mod:`api.relayer.replace`).

On ``NodeUnavailable`` (node down, restarting) the rows keep their state, ``attempts`` grows and
the next attempt waits an exponential backoff. Nothing is ever sent twice: the forwarder nonce
makes a second execution impossible on chain, and the stored hash makes a second send needless.

A request failed before it was sent leaves its forwarder nonce unspent, so the signer's queued
requests with higher nonces can never execute: they are failed at once with
``previous_request_failed`` (naming the failed request), rather than left to expire; the signer
re-signs them (``prepare`` then hands out the freed nonce). A request that heads its queue while
the chain's nonce is below it (its predecessor was never accepted, or failed in a race with
``accept``) is failed with ``nonce_gap`` for the same reason. Requests whose nonce was spent by
another request (``nonce_used``) do not fail the later ones: their nonces are still good.

Documents prepared but never anchored are stored unpinned; :meth:`RelayWorker.collect_garbage`
(run by the background loop every ``GC_INTERVAL_SECONDS``) deletes them from an embedded store
once they are ``UNPINNED_TTL_SECONDS`` old — far past the lifetime of any request naming them.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any

from sqlalchemy import bindparam
from sqlalchemy.orm import Session

from api.binding import fail_requests
from api.db import session_factory
from api.db.wakeups import start_woken_loop
from api.relayer.claims import Claims
from api.relayer.gas import MAX_BATCH_GAS, MAX_BATCH_REQUESTS
from api.relayer.models import QUEUED_CHANNEL, RelayRequest, RelayStatus
from api.relayer.outbox import SENDING_UNUSED
from api.relayer.send import BatchSending
from api.relayer.settle import BatchSettling
from api.services import Services
from chain import errors as chain_errors
from chain.identity import ChainChanged
from traceability.ipfs import EmbeddedDocumentStore

logger = logging.getLogger(__name__)

# Set by the relay route after it commits a request, so the loop sends it without waiting a poll.
WAKE = threading.Event()
POLL_SECONDS = 1.0
IN_FLIGHT_POLL_SECONDS = 0.05
# Unpinned (prepared, never anchored) documents live this long: a prepared request expires after
# an hour (``api.relayer.prepare.REQUEST_TTL_SECONDS``), so a day leaves a wide margin.
UNPINNED_TTL_SECONDS = 24 * 3600.0
GC_INTERVAL_SECONDS = 3600.0


class RelayWorker(BatchSending, BatchSettling):
    """Processes due outbox rows; ``run_once`` is one pass (the loop and the tests call it)."""

    def __init__(
        self,
        services: Services,
        *,
        clock: Callable[[], float] = time.time,
        backoff_base: float = 0.5,
        backoff_max: float = 30.0,
        batch_size: int = 100,
        max_batch: int = MAX_BATCH_REQUESTS,
        max_batch_gas: int = MAX_BATCH_GAS,
        wait_receipts: bool = True,
        stop: threading.Event | None = None,
    ) -> None:
        """``stop``: once set, a pass takes no further request and a receipt is no longer awaited
        (the request stays ``sent`` in the outbox; the next start reconciles it).
        ``batch_size``: requests taken per pass; ``max_batch`` / ``max_batch_gas``: bounds of one
        ``executeBatch``; ``wait_receipts``: see :meth:`run_once`."""
        self.services = services
        self.stop = stop or threading.Event()
        self.sessions = session_factory(services.engine)
        self.clock = clock
        self.backoff_base = backoff_base
        self.backoff_max = backoff_max
        self.batch_size = batch_size
        self.max_batch = max_batch
        self.max_batch_gas = max_batch_gas
        self.wait_receipts = wait_receipts
        self.claims = Claims(services.engine)

    # ------------------------------------------------------------------ the pass

    def run_once(self, *, wait: bool | None = None) -> int:
        """One pass: settle the batches in flight, then send the due queue heads in batches;
        returns how many requests moved (sent, mined or failed).

        ``wait`` (default: the worker's ``wait_receipts``): wait for the receipts of what this
        pass sent and settle them before returning (the tests, the CLI); the background loop
        does not — it sends the next batch while the previous one is unmined, and settles it on
        a later pass.
        """
        wait = self.wait_receipts if wait is None else wait
        done = 0
        with self.sessions() as session:
            try:
                done += self._settle_in_flight(session, wait=False)
                seen: set[str] = set()  # requests taken this pass
                busy: set[str] = set()  # signers whose queue another worker holds
                while len(seen) < self.batch_size and not self.stop.is_set():
                    took, moved = self._one_batch(session, seen, busy)
                    done += moved
                    if not took:
                        break
                    if wait:
                        # A signer's next request heads its queue once this batch settles.
                        done += self._settle_in_flight(session, wait=True)
                if wait:
                    done += self._settle_in_flight(session, wait=True)
            except chain_errors.ReceiptWaitStopped as exc:
                session.rollback()
                logger.info("relay worker: stopping; %s parked as sent", exc.tx_hash)
            except ChainChanged as exc:
                session.rollback()
                self._chain_changed(session, exc)
        return done

    def in_flight(self) -> int:
        """Requests sent (or signed) and not settled yet."""
        with self.sessions() as session:
            # Ids only: the background loop asks after every pass, and loading the whole rows
            # (each with its batch's raw transaction and three JSON columns) just to count them
            # was a large part of the worker's CPU under the rush (issue 15).
            query = self._statement(
                "_in_flight_ids", lambda: self._in_flight_query().with_only_columns(RelayRequest.id)
            )
            return len(session.connection().execute(query).all())

    def _chain_changed(self, session: Session, exc: ChainChanged) -> None:
        """The node serves another chain now: the requests accepted for ours are never sent."""
        failed = fail_requests(
            session,
            only_key=exc.bound.key,
            message=f"accepted for {exc.bound.describe()}, but {exc}: it is never sent there; "
            "sign it again",
            args={"accepted_on": exc.bound.to_json(), "node_genesis_hash": exc.genesis_hash},
        )
        session.commit()
        logger.error("relay worker: %s; %d pending request(s) failed", exc, failed)

    def collect_garbage(self) -> int:
        """Delete unpinned documents older than ``UNPINNED_TTL_SECONDS`` (embedded store only).

        kubo collects its own unpinned blocks (``ipfs repo gc`` / ``--enable-gc``); other
        stores are left alone. Returns the number of blocks deleted.
        """
        store = self.services.store
        if not isinstance(store, EmbeddedDocumentStore):
            return 0
        return store.gc(older_than=UNPINNED_TTL_SECONDS)

    # ------------------------------------------------------------------ sending a batch

    def _one_batch(self, session: Session, seen: set[str], busy: set[str]) -> tuple[bool, int]:
        """Claim up to ``max_batch`` queue heads, check them, send them in one ``executeBatch``.
        Returns (whether any head was taken, requests moved)."""
        session.rollback()  # a fresh read: other workers may have moved rows meanwhile
        try:
            relayers: tuple[object, ...] = self.services.chain.relayers
        except chain_errors.ChainError:  # not connected: the send below retries with backoff
            relayers = (None,)
        # (id, signer) only: the rows are read whole under the claims below (each row's three
        # JSON columns decoded twice a batch had been ~2 % of the service under the rush).
        candidates = (
            session.connection()
            .execute(
                self._statement(
                    "_candidates",
                    lambda: (
                        self._heads(set(), set())
                        .where(
                            RelayRequest.status == RelayStatus.QUEUED.value,
                            RelayRequest.id.not_in(bindparam("seen", expanding=True)),
                            RelayRequest.signer.not_in(bindparam("busy", expanding=True)),
                        )
                        .limit(bindparam("limit"))
                        .with_only_columns(RelayRequest.id, RelayRequest.signer)
                    ),
                ),
                {"seen": list(seen), "busy": list(busy), "limit": self.max_batch * len(relayers)},
            )
            .all()
        )
        if not candidates:
            return False, 0
        if len(relayers) > 1:
            # A key pool: this batch is the lane with the most due heads (oldest first), so a
            # batch is as full as with one key (split over every lane, each pass sent as many
            # small batches: more transactions and receipts for the same requests). The other
            # lanes' heads stay unseen: a later batch of this pass takes them.
            by_lane: dict[str, list[Any]] = {}
            chain = self.services.chain
            for row in candidates:
                by_lane.setdefault(chain.relayer_for(row.signer).address, []).append(row)
            candidates = max(by_lane.values(), key=len)[: self.max_batch]
        seen.update(row.id for row in candidates)
        with self.claims.signers([row.signer for row in candidates]) as held:
            claimed = [row.id for row in candidates if row.signer in held]
            busy.update(row.signer for row in candidates if row.signer not in held)
            # Re-read under the claims: another worker may have just settled them.
            session.rollback()
            rows = (
                session.scalars(
                    self._statement(
                        "_claimed_rows",
                        lambda: (
                            self._heads(set(), set())
                            .where(
                                RelayRequest.id.in_(bindparam("ids", expanding=True)),
                                RelayRequest.status == RelayStatus.QUEUED.value,
                            )
                            .options(*SENDING_UNUSED)
                            .execution_options(populate_existing=True)
                        ),
                    ),
                    {"ids": claimed},
                ).all()
                if claimed
                else []
            )
            if not rows:
                return True, 0
            return True, self._guarded(session, rows, lambda: self._check_and_send(session, rows))


def start_background(services: Services) -> Callable[[], None]:
    """Run the worker in a daemon thread; returns a function that stops and joins it."""
    stop = threading.Event()
    # Pipelined: a pass sends the next batch while earlier ones are unmined, and settles them
    # on a later pass (polled every IN_FLIGHT_POLL_SECONDS while any is in flight).
    worker = RelayWorker(services, stop=stop, wait_receipts=False)
    next_gc = time.monotonic()  # once at start, then every GC_INTERVAL_SECONDS

    def one_pass(_: threading.Event) -> float:
        nonlocal next_gc
        busy = False
        try:
            busy = worker.run_once() > 0 or worker.in_flight() > 0
        except Exception:  # keep the loop alive; the row stays pending and is retried
            logger.exception("relay worker pass failed")
        if time.monotonic() >= next_gc:
            next_gc = time.monotonic() + GC_INTERVAL_SECONDS
            try:
                worker.collect_garbage()
            except Exception:  # a full disk or a bad block must not stop the relayer
                logger.exception("garbage collection of unpinned documents failed")
        return IN_FLIGHT_POLL_SECONDS if busy else POLL_SECONDS

    # Requests accepted by another process (serve --no-background, a second serve) wake us too.
    return start_woken_loop(
        "relay-worker",
        one_pass,
        engine=services.engine,
        channel=QUEUED_CHANNEL,
        wake=WAKE,
        interval=POLL_SECONDS,
        stop=stop,
    )


__all__ = ["WAKE", "RelayStatus", "RelayWorker", "start_background"]
