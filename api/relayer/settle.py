"""Settling batches in flight: each request of a mined ``executeBatch`` from its logs.

Settling a mined batch, per request, from the forwarder's ``ExecutedForwardRequest`` logs:
``success=true`` → ``mined``; ``success=false`` → ``failed`` with the target's named error, read
from a ``debug_traceTransaction`` call trace (the call as executed, after the batch's earlier
requests: ``DealFull`` when the deal filled inside the batch), else from a replay on the parent
block — its nonce is spent, so the signer's later requests stay valid; no log → the forwarder
skipped it as invalid (the refund receiver is the relayer, so an invalid request never sinks the
batch; its nonce stays unspent): the forwarder's own error (``ERC2771ForwarderInvalidSigner``,
``...ExpiredRequest``) fails it, or it is queued again if it is valid now. A batch that
reverted as a whole (out of gas) is queued again, and failed after ``MAX_BATCH_ATTEMPTS``.

A batch signed but perhaps never broadcast (a crash between the commit and the send) is
broadcast again, the same bytes.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Mapping
from typing import Any

from sqlalchemy import bindparam
from sqlalchemy.orm import Session

from api.relayer.claims import Claims
from api.relayer.gas import MAX_BATCH_ATTEMPTS
from api.relayer.models import RelayBatch, RelayRequest, RelayStatus
from api.relayer.outbox import SETTLING_UNUSED
from api.relayer.replace import BatchReplacing
from chain import errors as chain_errors
from chain.context import Chain
from chain.tx import at_ceiling, quantity, replacement_due

logger = logging.getLogger(__name__)


class BatchSettling(BatchReplacing):
    """The settling part of :class:`api.relayer.worker.RelayWorker` (which sets ``claims`` and
    ``stop``)."""

    claims: Claims
    stop: threading.Event

    def _settle_in_flight(self, session: Session, *, wait: bool) -> int:
        """Settle the batches sent (or signed) earlier whose receipts are in; with ``wait``,
        wait for each. A batch signed but perhaps never broadcast (a crash) is broadcast again,
        the same bytes."""
        session.rollback()
        # Plain (id, signer) pairs by batch: after each rollback below, reading an attribute of
        # an expired row would cost a SELECT of its own (profiled: most of a pass's time).
        # A batch whole, once any of its rows is due: a failed step backs each row off by its
        # own attempts, and the rows of one transaction settle together (a part re-queued on
        # NonceTooLow took the batch's stored bytes with it, stranding the rest).
        batches: dict[str, list[tuple[str, str]]] = {}
        statuses: dict[str, set[str]] = {}
        marks: dict[str, tuple[int | None, int | None, float | None, float | None]] = {}
        due: set[str] = set()
        now = self.clock()
        for row_id, signer, tx_hash, status, due_at, *mark in session.connection().execute(
            self._statement(
                "_in_flight_members",
                lambda: (
                    self._in_flight_query(due_only=False)
                    .outerjoin(RelayBatch, RelayBatch.tx_hash == RelayRequest.tx_hash)
                    .with_only_columns(
                        RelayRequest.id,
                        RelayRequest.signer,
                        RelayRequest.tx_hash,
                        RelayRequest.status,
                        RelayRequest.next_attempt_at,
                        RelayBatch.max_fee_per_gas,
                        RelayBatch.sent_block,
                        RelayBatch.sent_at,
                        RelayBatch.at_ceiling_since,
                    )
                ),
            )
        ):
            batches.setdefault(tx_hash or row_id, []).append((row_id, signer))
            statuses.setdefault(tx_hash or row_id, set()).add(status)
            marks[tx_hash or row_id] = tuple(mark)  # type: ignore[assignment]
            if due_at <= now:
                due.add(tx_hash or row_id)
        head: list[tuple[int, int]] = []  # the latest block's (number, base fee), read once
        moved = 0
        for tx_hash, members in batches.items():
            if self.stop.is_set():
                break
            if tx_hash not in due:
                continue
            if (
                not wait
                and statuses[tx_hash] == {RelayStatus.SENT.value}
                and self._pending(tx_hash, marks[tx_hash], head)
            ):
                # Broadcast, known to the node, not mined yet, not due for a replacement:
                # nothing to do this poll (what _settle_batch would conclude), without claiming
                # and loading its rows.
                continue
            with self.claims.signers([signer for _, signer in members]) as held:
                if not all(signer in held for _, signer in members):
                    continue  # another worker is settling it
                session.rollback()
                ids = [row_id for row_id, _ in members]
                batch = list(
                    session.scalars(
                        self._statement(
                            "_in_flight_rows",
                            lambda: (
                                self._in_flight_query(due_only=False)
                                .where(RelayRequest.id.in_(bindparam("ids", expanding=True)))
                                .options(*SETTLING_UNUSED)
                                .execution_options(populate_existing=True)
                            ),
                        ),
                        {"ids": ids},
                    ).all()
                )
                if not batch or any(r.tx_hash != tx_hash for r in batch):
                    continue
                moved += self._guarded(
                    session, batch, lambda b=batch: self._settle_batch(session, b, wait=wait)
                )
        return moved

    def _pending(
        self,
        tx_hash: str,
        mark: tuple[int | None, int | None, float | None, float | None],
        head: list[tuple[int, int]],
    ) -> bool:
        """Whether the node holds ``tx_hash`` unmined and it is not due for a replacement
        (``mark``: its stored fee cap, ``sent_block``, ``sent_at``, ``at_ceiling_since``;
        ``head``: the latest block's number and base fee, read here once for the pass). False
        when mined, unknown, due for a replacement or unreadable: the full settling path then
        decides."""
        fee_cap, sent_block, sent_at, at_ceiling_since = mark
        if fee_cap is None or sent_block is None:
            return False  # stored before these were: the full path reads or sets them
        try:
            chain = self.services.chain
            if not head:
                head.append(chain.sender.head())
            settings = self.services.settings
            reason = replacement_due(
                max_fee_per_gas=fee_cap,
                base_fee=head[0][1],
                sent_block=sent_block,
                head=head[0][0],
                sent_at=sent_at,
                now=self.clock(),
                after_blocks=settings.relayer_replace_after_blocks,
                after_seconds=settings.relayer_replace_after_seconds,
            )
            if reason == "priced_out" or (
                reason == "outbid"
                and (
                    at_ceiling_since is None
                    or not at_ceiling(fee_cap, settings.relayer_max_fee_per_gas)
                )
            ):
                return False
            return chain.sender.raw_receipt(tx_hash) is None and chain.sender.known(tx_hash)
        except chain_errors.ChainError:
            return False

    def _settle_batch(self, session: Session, rows: list[RelayRequest], *, wait: bool) -> int:
        self.services.check_chain()
        chain = self.services.chain
        tx_hash = rows[0].tx_hash
        assert tx_hash
        mined = self._mined_in_series(session, chain, tx_hash)
        if mined is not None and mined[0] != tx_hash:
            # An earlier fee of the batch was mined, not its replacement: settled from it.
            logger.info("relay batch %s mined as %s", tx_hash, mined[0])
            self._move(session, rows, tx_hash=mined[0])
            tx_hash = mined[0]
        receipt = mined[1] if mined is not None else None
        reason = self._replacement_due(session, chain, tx_hash) if receipt is None else None
        replaced = False
        if reason is not None:
            # Priced out, or outbid for too long: replaced (api.relayer.replace) ...
            replaced = self._replace_batch(session, chain, rows, reason)
            if not replaced and reason == "priced_out":
                # ... unless at the fee ceiling (flagged): no block takes it, it waits (asked
                # again next poll); outbid at the ceiling, it stays as it is (below).
                return 0
        if reason is not None and replaced:
            if any(r.status != RelayStatus.SENT for r in rows):
                return len(rows)  # some went back to the queue or were found executed
            tx_hash = rows[0].tx_hash
            assert tx_hash
        if receipt is None:
            if any(r.status == RelayStatus.SENDING for r in rows) or not chain.sender.known(
                tx_hash
            ):
                # Signed and committed, perhaps never broadcast (or dropped): the same bytes again.
                logger.info("relay batch %s not mined; broadcasting it again", tx_hash)
                self._broadcast_batch(session, chain, rows)
                if any(r.status != RelayStatus.SENT for r in rows):
                    return len(rows)  # some went back to the queue or were found executed
            if not wait:
                return 0
            chain.sender.wait(tx_hash, stop=self.stop)
            receipt = chain.sender.raw_receipt(tx_hash)
            assert receipt is not None  # mined: the node has it
        self._settle(session, chain, rows, receipt)
        return len(rows)

    def _settle(
        self,
        session: Session,
        chain: Chain,
        rows: list[RelayRequest],
        receipt: Mapping[str, Any],
    ) -> None:
        """Each request of a mined batch: executed (``mined``), its call failed (``failed`` with
        the target's named error: its nonce is spent, the signer's later requests stay valid),
        or skipped as invalid (nonce unspent: re-checked). ``receipt``: the node's JSON."""
        block, status = quantity(receipt["blockNumber"]), quantity(receipt["status"])
        tx_hash = rows[0].tx_hash
        assert tx_hash
        forwarder = chain.clients.forwarder
        outcomes = forwarder.executions_in(receipt) if status == 1 else {}
        mined = [row for row in rows if outcomes.get((row.signer, row.nonce)) is True]
        for row in rows:
            success = outcomes.get((row.signer, row.nonce))
            if success is True:
                logger.info("relay %s mined in block %d (%s)", row.id, block, row.tx_hash)
                continue  # moved together below
            row.block_number = block
            if success is False:
                self._fail_inside(session, chain, row, block)
            elif status != 1 and row.attempts + 1 >= MAX_BATCH_ATTEMPTS:
                self._fail(
                    session, row, "transaction_failed", f"transaction {row.tx_hash} reverted"
                )
            else:
                self._skipped(session, chain, row, reverted=status != 1)
        self._move(session, mined, status=RelayStatus.MINED.value, raw_tx=None, block_number=block)
        # Every row left this transaction (mined, failed or queued again): its bytes are done.
        self._forget_batch(session, tx_hash)
        session.commit()  # the mined ones at once (the others committed as they settled)

    def _skipped(
        self, session: Session, chain: Chain, row: RelayRequest, *, reverted: bool
    ) -> None:
        """Not executed by its batch (skipped as invalid, or the whole transaction reverted)."""
        forwarder = chain.clients.forwarder
        if forwarder.nonces(row.signer) > row.nonce:
            self._executed_elsewhere(session, chain, row)
            return
        if not reverted and not forwarder.verify(row.typed_data, row.signature):
            # The forwarder's own reason (ERC2771ForwarderExpiredRequest / ...InvalidSigner).
            try:
                forwarder.check_execute(
                    row.typed_data, row.signature, relayer=chain.relayer.address
                )
            except chain_errors.ContractRevert as exc:
                self._fail_revert(session, row, exc)
                return
        # Valid now (or the batch ran out of gas): queued again, signed anew on a later pass.
        self._backoff(row, f"not executed by {row.tx_hash}" + (" (reverted)" if reverted else ""))
        self._unsent(session, chain, row)
