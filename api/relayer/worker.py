"""The outbox worker: sends accepted requests with the relayer key, once each, surviving restarts.

Which request next: the oldest due request that heads its signer's queue (no pending request of
the same signer has a lower forwarder nonce), so a signer's requests go out one at a time in nonce
order, and the next becomes eligible — in the same pass — once the one before it is settled. On
PostgreSQL the worker first claims the signer's queue (``SELECT ... FOR UPDATE SKIP LOCKED``,
:mod:`api.relayer.claims`): several service processes share one outbox and never work on the same
request; a signer whose queue another worker holds is skipped this pass.

Per request:

``queued``
    expired → ``failed``; forwarder nonce already spent → ``mined`` (someone relayed it: its
    ``ExecutedForwardRequest`` log names the tx); for a join, the permit is submitted first (unless
    its token nonce is spent); the target call is simulated as the signer (a request that became
    doomed — the deal closed meanwhile — fails with the contract's named error, unsent); then the
    relayer's ``execute`` transaction is **signed and its hash and raw bytes committed**
    (``sending``) before it is broadcast (``sent``), and its receipt decides ``mined`` / ``failed``.
``sending`` / ``sent`` (a restart, or a receipt that did not come)
    the stored hash's receipt, if any, decides; else a spent forwarder nonce means it executed;
    else the *same* raw transaction is broadcast again (same hash: it cannot land twice). Only if
    the relayer's nonce was taken by another transaction is the request re-signed.

On ``NodeUnavailable`` (node down, restarting) the request keeps its state, ``attempts`` grows and
the next attempt waits an exponential backoff. Nothing is ever sent twice: the forwarder nonce
makes a second execution impossible on chain, and the stored hash makes a second send needless.

A failed request leaves its forwarder nonce unspent (the forwarder reverts as a whole), so the
signer's queued requests with higher nonces can never execute: they are failed at once with
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
from collections.abc import Callable, Mapping
from typing import Any

from sqlalchemy import and_, exists, select
from sqlalchemy.orm import Session, aliased

from api.binding import CHAIN_CHANGED, fail_requests
from api.db import session_factory
from api.relayer.claims import Claims
from api.relayer.models import PENDING_STATUSES, RelayRequest, RelayStatus
from api.services import Services
from chain import errors as chain_errors
from chain.context import Chain
from chain.eip712 import forward_request_data
from chain.identity import ChainChanged
from traceability.ipfs import EmbeddedDocumentStore

logger = logging.getLogger(__name__)

# Set by the relay route after it commits a request, so the loop sends it without waiting a poll.
WAKE = threading.Event()
POLL_SECONDS = 1.0
# Unpinned (prepared, never anchored) documents live this long: a prepared request expires after
# an hour (``api.actions.REQUEST_TTL_SECONDS``), so a day leaves a wide margin.
UNPINNED_TTL_SECONDS = 24 * 3600.0
GC_INTERVAL_SECONDS = 3600.0


def json_safe(value: Any) -> Any:
    if isinstance(value, bytes | bytearray):
        return "0x" + bytes(value).hex()
    if isinstance(value, dict):
        return {k: json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [json_safe(v) for v in value]
    if isinstance(value, int) and abs(value) >= 2**53:
        return str(value)  # JSON numbers lose precision past 2^53
    return value


class RelayWorker:
    """Processes due outbox rows; ``run_once`` is one pass (the loop and the tests call it)."""

    def __init__(
        self,
        services: Services,
        *,
        clock: Callable[[], float] = time.time,
        backoff_base: float = 0.5,
        backoff_max: float = 30.0,
        batch_size: int = 100,
        stop: threading.Event | None = None,
    ) -> None:
        """``stop``: once set, a pass takes no further request and a receipt is no longer awaited
        (the request stays ``sent`` in the outbox; the next start reconciles it)."""
        self.services = services
        self.stop = stop or threading.Event()
        self.sessions = session_factory(services.engine)
        self.clock = clock
        self.backoff_base = backoff_base
        self.backoff_max = backoff_max
        self.batch_size = batch_size
        self.claims = Claims(services.engine)

    # ------------------------------------------------------------------ the pass

    def run_once(self) -> int:
        """Process every due request once (in nonce order per signer); returns how many moved.

        A request is processed at most once per pass; a signer's next request is taken in the
        same pass when the one before it settled (mined or failed).
        """
        done = 0
        seen: set[str] = set()  # requests processed this pass
        busy: set[str] = set()  # signers whose queue another worker holds
        with self.sessions() as session:
            while len(seen) < self.batch_size and not self.stop.is_set():
                session.rollback()  # a fresh read: other workers may have moved rows meanwhile
                row = session.scalars(self._heads(seen, busy).limit(1)).first()
                if row is None:
                    break
                seen.add(row.id)
                with self.claims.signer(row.signer) as claimed:
                    if not claimed:
                        busy.add(row.signer)
                        continue
                    # Re-read under the claim: another worker may have just settled it.
                    session.rollback()
                    row = session.scalars(
                        self._heads(set(), set())
                        .where(RelayRequest.id == row.id)
                        .execution_options(populate_existing=True)
                    ).first()
                    if row is None:
                        continue
                    try:
                        # Right before anything is signed: is the node still our chain?
                        self.services.check_chain()
                        self._process(session, self.services.chain, row)
                        done += 1
                    except chain_errors.ReceiptWaitStopped as exc:
                        # A stop was requested while a transaction of this request was unmined.
                        session.rollback()
                        logger.info(
                            "relay %s: stopping; parked while %s is pending", row.id, exc.tx_hash
                        )
                        break
                    except ChainChanged as exc:
                        session.rollback()
                        self._chain_changed(session, exc)
                        break  # the next pass connects (and binds) to what the node serves now
                    except chain_errors.NodeUnavailable as exc:
                        self._retry_later(session, row, exc)
                        break  # the node is down: the other rows would fail the same way
                    except Exception as exc:  # NodeRejected, TransactionTimeout, a bug: retry later
                        if not isinstance(exc, chain_errors.ChainError):
                            logger.exception("relay %s: unexpected error", row.id)
                        self._retry_later(session, row, exc)
        return done

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

    def _heads(self, seen: set[str], busy: set[str]) -> Any:
        """Due pending requests that head their signer's queue, oldest first."""
        pending = [s.value for s in PENDING_STATUSES]
        earlier = aliased(RelayRequest)
        query = select(RelayRequest).where(
            RelayRequest.status.in_(pending),
            RelayRequest.next_attempt_at <= self.clock(),
            ~exists().where(
                and_(
                    earlier.signer == RelayRequest.signer,
                    earlier.status.in_(pending),
                    earlier.nonce < RelayRequest.nonce,
                )
            ),
        )
        if seen:
            query = query.where(RelayRequest.id.not_in(seen))
        if busy:
            query = query.where(RelayRequest.signer.not_in(busy))
        return query.order_by(RelayRequest.created_at, RelayRequest.nonce)

    def collect_garbage(self) -> int:
        """Delete unpinned documents older than ``UNPINNED_TTL_SECONDS`` (embedded store only).

        kubo collects its own unpinned blocks (``ipfs repo gc`` / ``--enable-gc``); other
        stores are left alone. Returns the number of blocks deleted.
        """
        store = self.services.store
        if not isinstance(store, EmbeddedDocumentStore):
            return 0
        return store.gc(older_than=UNPINNED_TTL_SECONDS)

    def _retry_later(self, session: Session, row: RelayRequest, exc: Exception) -> None:
        session.rollback()
        row.attempts += 1
        delay = min(self.backoff_max, self.backoff_base * 2 ** (row.attempts - 1))
        row.next_attempt_at = self.clock() + delay
        row.last_attempt_error = f"{type(exc).__name__}: {exc}"[:2000]
        session.commit()
        logger.warning(
            "relay %s: %s; attempt %d, retrying in %.1f s", row.id, exc, row.attempts, delay
        )

    # ------------------------------------------------------------------ one request

    def _process(self, session: Session, chain: Chain, row: RelayRequest) -> None:
        if row.chain_key != chain.identity.key:
            # Accepted for another chain (by a process bound to it): never sent to this one.
            self._fail(
                session,
                row,
                CHAIN_CHANGED,
                f"accepted for another chain than {chain.identity.describe()}, which the node "
                "serves now: it is never sent there; sign it again",
                {"node": chain.identity.to_json()},
            )
            return
        pending_send = row.status in (RelayStatus.SENDING, RelayStatus.SENT) and row.tx_hash
        if pending_send and self._reconcile(session, chain, row):
            return
        forwarder = chain.clients.forwarder
        on_chain = forwarder.nonces(row.signer)
        if on_chain > row.nonce:
            self._executed_elsewhere(session, chain, row)
            return
        if on_chain < row.nonce:
            # Heads its queue, yet an earlier nonce is unspent and no request of ours holds it.
            self._fail(
                session,
                row,
                "nonce_gap",
                f"nonce {on_chain} of {row.signer} was never executed (its request failed or was "
                f"never accepted), so nonce {row.nonce} cannot execute: sign the request again",
                {"expected_nonce": on_chain},
            )
            return
        now = chain.sender.chain_time()
        if row.deadline <= now:
            self._fail(session, row, "expired", f"the request expired at {row.deadline}")
            return
        if row.permit is not None and row.permit_signature:
            self._submit_permit(session, chain, row)
        request = forward_request_data(row.typed_data, row.signature)
        execute = forwarder.calldata("execute", request)
        try:
            # The target's own checks first: the forwarder would only say FailedCall().
            forwarder.simulate(sender=row.signer, target=row.target, data=request[5])
            gas = chain.sender.estimate_gas(
                {"from": chain.relayer.address, "to": forwarder.address, "data": execute}
            )
        except chain_errors.ContractRevert as exc:
            self._fail_revert(session, row, exc)
            return
        # Another worker process must not sign with the same relayer nonce before ours is sent.
        with self.claims.relayer(chain.relayer.address):
            signed = chain.sender.sign(chain.relayer, to=forwarder.address, data=execute, gas=gas)
            row.status = RelayStatus.SENDING.value
            row.raw_tx, row.tx_hash, row.relayer_nonce = signed.raw, signed.hash, signed.nonce
            session.commit()  # the hash is on disk before the transaction can exist anywhere else
            sent = self._broadcast(session, chain, row)
        if sent:
            self._await_receipt(session, chain, row)

    def _broadcast(self, session: Session, chain: Chain, row: RelayRequest) -> bool:
        """Hand the stored transaction to the node; False when it must be signed again."""
        assert row.raw_tx and row.tx_hash
        try:
            chain.sender.broadcast(row.raw_tx)
        except chain_errors.AlreadyKnown:
            pass  # our identical transaction is in the pool already
        except chain_errors.NonceTooLow:
            # The relayer nonce went to another transaction and ours never landed (checked by
            # _reconcile before coming here): this one can never be mined; sign again later.
            logger.warning(
                "relay %s: relayer nonce %s reused; re-signing", row.id, row.relayer_nonce
            )
            row.status, row.raw_tx, row.tx_hash = RelayStatus.QUEUED.value, None, None
            session.commit()
            return False
        if row.status != RelayStatus.SENT:
            row.status = RelayStatus.SENT.value
            session.commit()
        return True

    def _await_receipt(self, session: Session, chain: Chain, row: RelayRequest) -> None:
        assert row.tx_hash
        try:
            # On a stop the row stays as it is, its transaction's hash stored: the next start
            # reconciles it.
            receipt = chain.sender.wait(row.tx_hash, stop=self.stop)
        except chain_errors.ReceiptWaitStopped:
            logger.info("relay %s: stopping; %s parked as sent", row.id, row.tx_hash)
            return
        self._finish(session, chain, row, receipt)

    def _reconcile(self, session: Session, chain: Chain, row: RelayRequest) -> bool:
        """A ``sending``/``sent`` row after a restart or a timeout; True when it is settled now."""
        receipt = chain.sender.receipt(row.tx_hash) if row.tx_hash else None
        if receipt is not None:
            self._finish(session, chain, row, receipt)
            return True
        if chain.clients.forwarder.nonces(row.signer) > row.nonce:
            self._executed_elsewhere(session, chain, row)
            return True
        if row.raw_tx:
            logger.info(
                "relay %s: %s not mined; broadcasting the same transaction", row.id, row.tx_hash
            )
            if self._broadcast(session, chain, row):
                self._await_receipt(session, chain, row)
            return row.status != RelayStatus.QUEUED
        return False

    def _finish(
        self, session: Session, chain: Chain, row: RelayRequest, receipt: Mapping[str, Any]
    ) -> None:
        row.block_number = int(receipt["blockNumber"])
        if receipt["status"] == 1:
            row.status = RelayStatus.MINED.value
            row.raw_tx = None
            session.commit()
            logger.info("relay %s mined in block %d (%s)", row.id, row.block_number, row.tx_hash)
            return
        # Replay the inner call as the signer on the parent block for the named error.
        request = forward_request_data(row.typed_data, row.signature)
        try:
            chain.clients.forwarder.simulate(
                sender=row.signer, target=row.target, data=request[5], block=row.block_number - 1
            )
        except chain_errors.ContractRevert as exc:
            self._fail_revert(session, row, exc)
            return
        self._fail(session, row, "transaction_failed", f"transaction {row.tx_hash} reverted")

    def _executed_elsewhere(self, session: Session, chain: Chain, row: RelayRequest) -> None:
        """The forwarder nonce is spent: find the execution (ours or another relayer's)."""
        execution = chain.clients.forwarder.execution_of(
            row.signer,
            row.nonce,
            from_block=chain.deployment.contracts["TuanchainForwarder"].block,
        )
        if execution is not None:
            row.tx_hash, row.block_number = execution
            row.status = RelayStatus.MINED.value
            row.raw_tx = None
            session.commit()
            logger.info("relay %s was executed by %s", row.id, row.tx_hash)
            return
        self._fail(
            session,
            row,
            "nonce_used",
            f"nonce {row.nonce} of {row.signer} was used by another request",
        )

    def _submit_permit(self, session: Session, chain: Chain, row: RelayRequest) -> None:
        """Submit the join's permit unless its token nonce is already spent (then it is done)."""
        assert row.permit is not None and row.permit_signature
        token = chain.clients.token
        message = row.permit["message"]
        if token.nonces(message["owner"]) != int(message["nonce"]):
            return
        data = token.permit_calldata(message, row.permit_signature)
        try:
            gas = chain.sender.estimate_gas(
                {"from": chain.relayer.address, "to": token.address, "data": data}
            )
        except chain_errors.ContractRevert as exc:
            logger.info("relay %s: permit not submitted (%s); the join decides", row.id, exc)
            return
        with self.claims.relayer(chain.relayer.address):
            signed = chain.sender.sign(chain.relayer, to=token.address, data=data, gas=gas)
            row.permit_tx_hash = signed.hash
            session.commit()
            chain.sender.broadcast(signed.raw)
        # ReceiptWaitStopped on a stop: the join is not simulated without its permit.
        chain.sender.wait(signed.hash, stop=self.stop)

    # ------------------------------------------------------------------ final states

    def _fail(
        self,
        session: Session,
        row: RelayRequest,
        code: str,
        message: str,
        args: dict[str, Any] | None = None,
    ) -> None:
        row.status = RelayStatus.FAILED.value
        row.error_code, row.error_message, row.error_args = code, message, args
        row.raw_tx = None
        # A failed request's forwarder nonce stays unspent (the forwarder reverts as a whole), so
        # the signer's later requests are stuck — unless another request spent that nonce.
        if (
            code not in ("nonce_used", CHAIN_CHANGED)  # (the nonce is another chain's)
            and self.services.chain.clients.forwarder.nonces(row.signer) <= row.nonce
        ):
            self._fail_later_requests(session, row)
        session.commit()
        logger.info("relay %s failed: %s", row.id, message)

    @staticmethod
    def _fail_later_requests(session: Session, failed: RelayRequest) -> None:
        """Fail the signer's queued requests behind ``failed`` (same commit as its failure).

        Only ``queued`` ones: a request is signed and sent only once it heads its queue, so none
        behind ``failed`` can be ``sending``/``sent`` (if one were, its receipt would decide).
        """
        later = session.scalars(
            select(RelayRequest).where(
                RelayRequest.signer == failed.signer,
                RelayRequest.status == RelayStatus.QUEUED.value,
                RelayRequest.nonce > failed.nonce,
            )
        ).all()
        for other in later:
            other.status = RelayStatus.FAILED.value
            other.error_code = "previous_request_failed"
            other.error_message = (
                f"request {failed.id} (nonce {failed.nonce}) of {failed.signer} failed "
                f"({failed.error_code}), so nonce {other.nonce} can never execute: sign it again"
            )
            other.error_args = {"previous": failed.id, "previous_error": failed.error_code}
            logger.info("relay %s failed: its predecessor %s failed", other.id, failed.id)

    def _fail_revert(
        self, session: Session, row: RelayRequest, exc: chain_errors.ContractRevert
    ) -> None:
        self._fail(session, row, exc.name or type(exc).__name__, str(exc), json_safe(exc.args))


def start_background(services: Services) -> Callable[[], None]:
    """Run the worker in a daemon thread; returns a function that stops and joins it."""
    stop = threading.Event()
    worker = RelayWorker(services, stop=stop)

    def loop() -> None:
        next_gc = time.monotonic()  # once at start, then every GC_INTERVAL_SECONDS
        while not stop.is_set():
            try:
                worker.run_once()
            except Exception:  # keep the loop alive; the row stays pending and is retried
                logger.exception("relay worker pass failed")
            if time.monotonic() >= next_gc:
                next_gc = time.monotonic() + GC_INTERVAL_SECONDS
                try:
                    worker.collect_garbage()
                except Exception:  # a full disk or a bad block must not stop the relayer
                    logger.exception("garbage collection of unpinned documents failed")
            WAKE.wait(POLL_SECONDS)
            WAKE.clear()

    thread = threading.Thread(target=loop, name="relay-worker", daemon=True)
    thread.start()

    def stop_worker() -> None:
        stop.set()
        WAKE.set()
        thread.join(timeout=30)

    return stop_worker


__all__ = ["WAKE", "RelayStatus", "RelayWorker", "start_background"]
