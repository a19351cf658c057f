"""The outbox rows' queries and state transitions, shared by sending and settling.

Which rows a pass looks at (``_heads``: due requests heading their signer's queue;
``_in_flight_query``: batches signed or sent, not settled), and the moves every
step may end in: ``failed`` with a named error (and the signer's queued requests behind it,
``previous_request_failed``), ``mined`` by an execution found on chain, ``queued`` again, a retry
later with backoff, and a stored batch transaction handed to the node (``sending`` → ``sent``).
See :mod:`api.relayer.worker` for the guarantees these moves keep.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from functools import lru_cache
from typing import Any

from sqlalchemy import and_, bindparam, delete, exists, select, update
from sqlalchemy.orm import Session, aliased, defer
from sqlalchemy.orm.attributes import set_committed_value

from api.background import backoff_seconds
from api.binding import CHAIN_CHANGED
from api.relayer.models import PENDING_VALUES, RelayBatch, RelayRequest, RelayStatus, utcnow
from api.services import Services
from chain import errors as chain_errors
from chain.context import Chain
from chain.eip712 import forward_request_data
from chain.identity import ChainChanged
from chain.jsonable import json_safe

logger = logging.getLogger(__name__)

# Columns the worker's hot reads leave unloaded (loaded on access, should a rare path need one):
# decoding the JSON columns of every row of every batch, twice, was ~6 % of the service's time
# under the rush (issue 15). Sending needs the signed payloads, not ``details``; settling needs
# none of the payloads (only a failed or skipped request reads them again).
SENDING_UNUSED = (defer(RelayRequest.details), defer(RelayRequest.raw_tx))
SETTLING_UNUSED = (
    *SENDING_UNUSED,
    defer(RelayRequest.typed_data),
    defer(RelayRequest.permit),
    defer(RelayRequest.error_args),
)


@lru_cache(maxsize=16)
def _move_statement(names: tuple[str, ...]) -> Any:
    """``UPDATE relay_requests SET <name> = :new_<name>... WHERE id = :row_id``, built once per
    set of names."""
    table = RelayRequest.__table__
    return (
        update(table)
        .where(table.c.id == bindparam("row_id"))
        .values({name: bindparam(f"new_{name}") for name in names})
    )


# A batch's fees (api.relayer.replace) and their bytes, by statements built once.
_SERIES_OF = select(RelayBatch.series).where(RelayBatch.tx_hash == bindparam("tx_hash"))
_SERIES = (
    select(RelayBatch.tx_hash)
    .where((RelayBatch.tx_hash == bindparam("first")) | (RelayBatch.series == bindparam("first")))
    .order_by(RelayBatch.created_at)
)
_FORGET = delete(RelayBatch).where(RelayBatch.tx_hash.in_(bindparam("hashes", expanding=True)))


class OutboxMoves:
    """Reads and moves outbox rows; the caller's session commits where each move says.

    A part of :class:`api.relayer.worker.RelayWorker` (which sets these attributes); the
    sending and settling parts build on it. The tests subclass the worker and override
    ``_broadcast_batch`` to crash at that point, so the moves stay methods of the worker.
    """

    services: Services
    clock: Callable[[], float]
    backoff_base: float
    backoff_max: float

    # ------------------------------------------------------------------ queries

    def _heads(self, seen: set[str], busy: set[str]) -> Any:
        """Due pending requests that head their signer's queue, oldest first."""
        query = self.__dict__.get("_heads_query")
        if query is None:
            # Built once per worker (building it twice a batch was ~2 % of the service under
            # the rush, issue 15); the clock is read when the statement runs.
            pending = list(PENDING_VALUES)
            earlier = aliased(RelayRequest)
            query = self.__dict__["_heads_query"] = select(RelayRequest).where(
                RelayRequest.status.in_(pending),
                RelayRequest.next_attempt_at <= bindparam("now", callable_=lambda: self.clock()),
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

    def _statement(self, name: str, build: Callable[[], Any]) -> Any:
        """A statement of this worker's, built once (issue 15, eighth pass: building a
        worker's statements — a select, its where clauses, options and cache key — on every
        batch had cost as much as running them: ~3 ms of a 30-request batch's ~11 ms of
        database work on SQLite). What varies per run is a bound parameter: the clock as
        ``now`` (read when it runs), a list of ids as an expanding ``ids``."""
        statement = self.__dict__.get(name)
        if statement is None:
            statement = self.__dict__[name] = build()
        return statement

    def _in_flight_query(self, *, due_only: bool = True) -> Any:
        """Rows of batches signed or sent, not settled (``due_only``: those due now)."""

        def build() -> Any:
            query = select(RelayRequest).where(
                RelayRequest.status.in_([RelayStatus.SENDING.value, RelayStatus.SENT.value])
            )
            if due_only:
                query = query.where(
                    RelayRequest.next_attempt_at <= bindparam("now", callable_=lambda: self.clock())
                )
            return query.order_by(RelayRequest.relayer_nonce, RelayRequest.created_at)

        return self._statement(f"_in_flight_query_{due_only}", build)

    # ------------------------------------------------------------------ a batch's moves

    @staticmethod
    def _move(session: Session, rows: list[RelayRequest], **values: Any) -> None:
        """Set the same ``values`` on every row of a batch, in the caller's commit: one Core
        ``UPDATE ... WHERE id = ?`` run for all the rows at once (executemany, as the ORM's
        flush ran it, with ``updated_at`` as the ORM would set it), and the loaded objects given
        the values as they are now stored. The ORM's unit of work around it, for 20-30 rows per
        move and four moves per batch, was ~5 % of the service under the rush (issue 15). (One
        ``UPDATE ... WHERE id IN (...)`` instead had the worker write ~65 % more bytes per join
        on SQLite, measured; likely the statement journal SQLite keeps for a statement that may
        change several rows under a unique index.)"""
        if not rows:
            return
        values["updated_at"] = utcnow()
        session.flush()  # the rows' other pending changes first, as a commit would order them
        session.execute(
            _move_statement(tuple(values)),
            [{"row_id": row.id, **{f"new_{k}": v for k, v in values.items()}} for row in rows],
        )
        for row in rows:
            for name, value in values.items():
                set_committed_value(row, name, value)

    # ------------------------------------------------------------------ retries

    def _backoff(self, row: RelayRequest, error: str) -> float:
        """One more attempt on ``row``, due after the backoff; returns the delay."""
        row.attempts += 1
        delay = backoff_seconds(row.attempts, self.backoff_base, self.backoff_max)
        row.next_attempt_at = self.clock() + delay
        row.last_attempt_error = error[:2000]
        return delay

    def _retry_later(self, session: Session, rows: list[RelayRequest], exc: Exception) -> None:
        session.rollback()
        for row in rows:
            delay = self._backoff(row, f"{type(exc).__name__}: {exc}")
            logger.warning(
                "relay %s: %s; attempt %d, retrying in %.1f s", row.id, exc, row.attempts, delay
            )
        session.commit()

    def _guarded(self, session: Session, rows: list[RelayRequest], step: Callable[[], int]) -> int:
        """Run one step on ``rows``; a node or send error leaves them as they are, to retry
        later with backoff (their stored state says what was sent)."""
        try:
            return step()
        except (chain_errors.ReceiptWaitStopped, ChainChanged):
            raise
        except Exception as exc:  # NodeUnavailable, NodeRejected, TransactionTimeout, a bug
            if not isinstance(exc, chain_errors.ChainError):
                logger.exception("relay batch of %d: unexpected error", len(rows))
            self._retry_later(session, rows, exc)
            return 0

    # ------------------------------------------------------------------ a stored batch

    def _broadcast_batch(
        self, session: Session, chain: Chain, rows: list[RelayRequest], raw: str | None = None
    ) -> None:
        """Hand the rows' stored batch transaction to the node (again, after a restart), after
        the permit transactions signed with it (lower nonces: the batch waits for them).

        ``raw``: its bytes, given by the sender that just signed and committed them (not read
        back: the ORM's get was ~1 % of the service under the rush, issue 15; that sender hands
        its permits over itself); None: the stored bytes, after their permits."""
        tx_hash = rows[0].tx_hash
        assert tx_hash and all(r.tx_hash == tx_hash for r in rows)
        if raw is None:
            batch = session.get(RelayBatch, tx_hash)
            assert batch is not None, f"no stored bytes for batch {tx_hash}"
            raw = batch.raw_tx
            for permit in batch.permits_raw or []:
                try:
                    chain.sender.broadcast(permit)
                except (chain_errors.AlreadyKnown, chain_errors.NonceTooLow):
                    pass  # in the pool already, or its nonce is mined (this permit or an earlier one)
        try:
            chain.sender.broadcast(raw)
        except chain_errors.AlreadyKnown:
            pass  # our identical transaction is in the pool already
        except chain_errors.NonceTooLow:
            mined = self._mined_in_series(session, chain, tx_hash)
            if mined is not None:
                # Another transaction of the batch's nonce (an earlier fee, or a replacement)
                # was mined: the rows settle from its receipt.
                self._move(session, rows, status=RelayStatus.SENT.value, tx_hash=mined[0])
                session.commit()
                return
            # The relayer nonce went to another transaction, none of ours: they can never be
            # mined.
            logger.warning("relay batch %s: relayer nonce reused; re-checking", rows[0].tx_hash)
            for row in rows:
                self._unsent(session, chain, row)
            self._forget_batch(session, tx_hash)
            session.commit()
            return
        self._move(session, rows, status=RelayStatus.SENT.value)
        session.commit()

    @staticmethod
    def _series(session: Session, tx_hash: str) -> list[str]:
        """The hashes of every stored transaction of the relayer nonce of ``tx_hash`` (the
        batch as first sent and its replacements, :mod:`api.relayer.replace`), oldest first;
        ``[tx_hash]`` when none is stored. (Hashes only: each row holds a batch's bytes.)"""
        # (Core statements built once, on the session's connection: plain columns, no objects.)
        connection = session.connection()
        found = connection.execute(_SERIES_OF, {"tx_hash": tx_hash}).first()
        if found is None:
            return [tx_hash]
        first = found.series or tx_hash
        return list(connection.scalars(_SERIES, {"first": first}).all())

    def _mined_in_series(
        self, session: Session, chain: Chain, tx_hash: str
    ) -> tuple[str, dict[str, Any]] | None:
        """(hash, receipt) of the transaction of ``tx_hash``'s relayer nonce that was mined —
        ``tx_hash`` itself or another fee of the same batch — or None (one of them at most:
        they share a nonce)."""
        hashes = self._series(session, tx_hash)
        receipts = chain.sender.rpc_batch([("eth_getTransactionReceipt", [h]) for h in hashes])
        for mined, receipt in zip(hashes, receipts, strict=True):
            if isinstance(receipt, Exception):
                raise receipt
            if isinstance(receipt, dict):
                return mined, receipt
        return None

    def _forget_batch(self, session: Session, tx_hash: str) -> None:
        """Delete a batch's stored bytes, every fee of it (in the caller's commit): none of its
        rows is pending on that transaction any more."""
        hashes = self._series(session, tx_hash)
        session.execute(_FORGET, {"hashes": hashes})

    def _unsent(self, session: Session, chain: Chain, row: RelayRequest) -> None:
        """A request whose transaction can no longer be mined: executed by someone, or queued
        again to be signed anew."""
        if chain.clients.forwarder.nonces(row.signer) > row.nonce:
            self._executed_elsewhere(session, chain, row)
            return
        row.status, row.raw_tx, row.tx_hash, row.relayer_nonce = (
            RelayStatus.QUEUED.value,
            None,
            None,
            None,
        )
        session.commit()

    def _executed_elsewhere(self, session: Session, chain: Chain, row: RelayRequest) -> None:
        """The forwarder nonce is spent: find the execution (ours or another relayer's)."""
        execution = chain.clients.forwarder.execution_of(
            row.signer,
            row.nonce,
            from_block=chain.deployment.contracts["TuanchainForwarder"].block,
        )
        if execution is not None:
            row.tx_hash, row.block_number, success = execution
            if not success:
                # Its call failed in that transaction (its nonce spent all the same): failed,
                # with the target's named error, as a failed call in our own batch.
                self._fail_inside(session, chain, row, row.block_number)
                return
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

    def _fail_inside(self, session: Session, chain: Chain, row: RelayRequest, block: int) -> None:
        """The forwarded call reverted inside the batch: its named error from a trace of the
        transaction (as executed, after the batch's earlier requests), else from a replay on the
        parent block."""
        assert row.tx_hash
        request = forward_request_data(row.typed_data, row.signature)
        forwarder = chain.clients.forwarder
        revert = forwarder.failed_call_in(
            row.tx_hash, sender=row.signer, target=row.target, data=request[5]
        )
        if revert is None:
            try:
                forwarder.simulate(
                    sender=row.signer, target=row.target, data=request[5], block=block - 1
                )
            except chain_errors.ContractRevert as exc:
                revert = exc
        if revert is not None:
            self._fail_revert(session, row, revert)
        else:
            self._fail(session, row, "transaction_failed", f"the call failed in {row.tx_hash}")

    def _fail_revert(
        self, session: Session, row: RelayRequest, exc: chain_errors.ContractRevert
    ) -> None:
        self._fail(
            session,
            row,
            exc.name or type(exc).__name__,
            str(exc),
            json_safe(exc.args, big_ints_as_text=True),
        )
