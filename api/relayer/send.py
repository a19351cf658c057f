"""Sending a batch: the queue heads checked right before sending, then their permits and one
``executeBatch``, signed with consecutive relayer nonces and committed before broadcast.

The checks, per head, against the chain as it is now (read for the whole batch in one JSON-RPC
batch): expired → ``failed``; forwarder nonce already spent → ``mined``, found by its
``ExecutedForwardRequest`` log; the target call simulated as the signer — as ``joinWithPermit``
for a join whose permit is not on chain yet — a doomed one fails with the contract's named
error, unsent. The batch stays under ``max_batch_gas`` (each request reserves its signed ``gas``
plus the 1/64 and the forwarder's overhead, :mod:`api.relayer.gas`).
"""

from __future__ import annotations

import logging
from typing import Any

from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from api.binding import CHAIN_CHANGED
from api.relayer.claims import Claims
from api.relayer.gas import (
    BATCH_BASE_GAS,
    MAX_REQUEST_GAS,
    PERMIT_BATCH_BASE_GAS,
    PERMIT_GAS,
    PERMIT_IN_BATCH_GAS,
    request_gas_in_batch,
)
from api.relayer.models import RelayBatch, RelayRequest, RelayStatus
from api.relayer.outbox import OutboxMoves
from api.relayer.permits import with_permit_calldata
from chain import errors as chain_errors
from chain.context import Chain, Signer
from chain.eip712 import Signature, forward_request_data
from chain.tx import decode_uint

logger = logging.getLogger(__name__)


class BatchSending(OutboxMoves):
    """The sending part of :class:`api.relayer.worker.RelayWorker` (which sets ``claims`` and
    ``max_batch_gas``)."""

    claims: Claims
    max_batch_gas: int

    def _check_and_send(self, session: Session, rows: list[RelayRequest]) -> int:
        chain = self.services.check_chain()  # right before anything is signed: still our chain?
        chain = self.services.chain  # (connected and bound)
        sender, forwarder, token = chain.sender, chain.clients.forwarder, chain.clients.token
        # The reads every check needs, for the whole batch in one JSON-RPC batch (one round trip
        # instead of two per request): the clock, each signer's forwarder nonce and, for a join,
        # its permit owner's token nonce.
        calls = [("eth_getBlockByNumber", ["latest", False])]
        for row in rows:
            calls.append(forwarder.view_call("nonces", row.signer))
            if row.permit is not None and row.permit_signature:
                calls.append(token.view_call("nonces", row.permit["message"]["owner"]))
        answers = iter(_raise_errors(sender.rpc_batch(calls)))
        now = int(next(answers)["timestamp"], 16)
        moved = 0
        checked: list[tuple[RelayRequest, Any, bool, bytes]] = []
        for row in rows:
            on_chain = decode_uint(next(answers))
            permit_pending = False
            if row.permit is not None and row.permit_signature:
                permit_pending = decode_uint(next(answers)) == int(row.permit["message"]["nonce"])
            request = self._check(session, chain, row, now=now, on_chain=on_chain)
            if request is None:
                moved += 1  # settled without sending (failed, or executed elsewhere)
                continue
            # The target's own checks: the forwarder would only say FailedCall(). A join whose
            # permit is not on chain yet is simulated as joinWithPermit (the permit is sent
            # right before the batch).
            data = self._join_with_permit(chain, row) if permit_pending else request[5]
            checked.append((row, request, permit_pending, data))
        simulations = sender.rpc_batch(
            [
                forwarder.simulate_call(sender=row.signer, target=row.target, data=data)
                for row, _, _, data in checked
            ]
        )
        # One executeBatch per lane of the relayer's key pool (Chain.relayer_for: a signer always
        # on the same key), each bounded in gas and signed with its own key's next nonces.
        lanes: dict[str, tuple[Signer, list[tuple[RelayRequest, Any, bool]], int]] = {}
        for (row, request, permit_pending, _), outcome in zip(checked, simulations, strict=True):
            if isinstance(outcome, chain_errors.ContractRevert):
                self._fail_revert(session, row, outcome)  # doomed now: failed unsent, named
                moved += 1
                continue
            if isinstance(outcome, Exception):
                raise outcome
            relayer = chain.relayer_for(row.signer)
            _, ready, gas = lanes.get(relayer.address, (relayer, [], BATCH_BASE_GAS))
            cost = request_gas_in_batch(request[3])
            if ready and gas + cost > self.max_batch_gas:
                continue  # bounded gas: it waits for the next batch (still queued, still due)
            ready.append((row, request, permit_pending))
            lanes[relayer.address] = (relayer, ready, gas + cost)
        for relayer, ready, gas in lanes.values():
            self._send(session, chain, ready, gas=gas, relayer=relayer)
            moved += len(ready)
        return moved

    def _check(
        self, session: Session, chain: Chain, row: RelayRequest, *, now: int, on_chain: int
    ) -> Any | None:
        """A queued head's checks right before sending, given the chain's clock and the signer's
        forwarder nonce: its ForwardRequestData, or None when the request was settled here."""
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
            return None
        if on_chain > row.nonce:
            self._executed_elsewhere(session, chain, row)
            return None
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
            return None
        if row.deadline <= now:
            self._fail(session, row, "expired", f"the request expired at {row.deadline}")
            return None
        request = forward_request_data(row.typed_data, row.signature)
        if request[3] > MAX_REQUEST_GAS:
            # Accept refuses these; a row accepted before that rule is failed, not sent.
            self._fail(
                session,
                row,
                "gas_too_high",
                f"the request asks {request[3]} gas, above the relayer's {MAX_REQUEST_GAS}",
            )
            return None
        return request

    @staticmethod
    def _join_with_permit(chain: Chain, row: RelayRequest) -> bytes:
        assert row.permit is not None and row.permit_signature
        escrow = chain.clients.escrow
        function, _, args = escrow.decode_call(
            forward_request_data(row.typed_data, row.signature)[5]
        )
        parts = Signature.from_bytes(row.permit_signature)
        return with_permit_calldata(
            escrow, function, args, int(row.permit["message"]["deadline"]), parts
        )

    def _send(
        self,
        session: Session,
        chain: Chain,
        ready: list[tuple[RelayRequest, Any, bool]],
        *,
        gas: int,
        relayer: Signer,
    ) -> None:
        """Permits first (one ``permitAll`` for all, or one transaction each on a deployment
        without the PermitBatcher), then one ``executeBatch``, each signed with the next relayer
        nonce of ``relayer`` (the lane's key) and not waiting for receipts (the node orders one
        sender's transactions by nonce).

        The batch transaction is signed, its hash committed on every row it carries
        (``sending``) and its raw bytes once (``relay_batches``) before it is broadcast; a permit's hash is committed before it is
        broadcast (a lost permit is harmless: its token nonce says whether it ran, and the join
        then fails on its allowance, named)."""
        sender = chain.sender
        forwarder, token = chain.clients.forwarder, chain.clients.token
        rows = [row for row, _, _ in ready]
        # Another worker process must not sign with the same relayer nonces before ours are sent.
        with self.claims.relayer(relayer.address):
            fees, head = sender.fees_at_head()
            nonce = sender.pending_nonce(relayer.address)
            permits = []
            batcher = chain.clients.permit_batcher
            with_permit = [row for row, _, permit_pending in ready if permit_pending]
            if batcher is not None and with_permit:
                # One permitAll for the batch's permits (a failing one is skipped, not fatal).
                data = batcher.permit_all_calldata(
                    [(token.address, r.permit["message"], r.permit_signature) for r in with_permit]  # type: ignore[index,misc]
                )
                signed = sender.sign(
                    relayer,
                    to=batcher.address,
                    data=data,
                    gas=PERMIT_BATCH_BASE_GAS + PERMIT_IN_BATCH_GAS * len(with_permit),
                    nonce=nonce,
                    fees=fees,
                )
                self._move(session, with_permit, permit_tx_hash=signed.hash)
                permits.append(signed.raw)
                nonce += 1
            for row, _, permit_pending in ready if batcher is None else []:
                if permit_pending:
                    assert row.permit is not None and row.permit_signature
                    signed = sender.sign(
                        relayer,
                        to=token.address,
                        data=token.permit_calldata(row.permit["message"], row.permit_signature),
                        gas=PERMIT_GAS,
                        nonce=nonce,
                        fees=fees,
                    )
                    row.permit_tx_hash = signed.hash
                    permits.append(signed.raw)
                    nonce += 1
            if permits:
                session.commit()
                for raw in permits:
                    try:
                        sender.broadcast(raw)
                    except chain_errors.AlreadyKnown:
                        pass
            # Invalid requests (a signature, deadline or nonce that no longer holds) are skipped
            # with their nonce unspent rather than sinking the batch: the refund receiver is the
            # relayer (no request carries ETH, so nothing is ever refunded).
            data = forwarder.calldata(
                "executeBatch", [request for _, request, _ in ready], relayer.address
            )
            signed = sender.sign(
                relayer,
                to=forwarder.address,
                data=data,
                gas=gas + 16 * len(data),
                nonce=nonce,
                fees=fees,
            )
            # The bytes once for the batch (not on each of its rows), in the same commit: one
            # INSERT (an identical transaction stored already has these very bytes: its hash is
            # theirs), not the ORM's merge, whose SELECT and unit of work were ~2 % of the
            # service under the rush (issue 15).
            session.execute(
                _store_batch(session),
                {
                    "tx_hash": signed.hash,
                    "raw_tx": signed.raw,
                    "max_fee_per_gas": fees["maxFeePerGas"],
                    "permits_raw": permits or None,
                    "sent_block": head,
                    "sent_at": self.clock(),
                },
            )
            self._move(
                session,
                rows,
                status=RelayStatus.SENDING.value,
                tx_hash=signed.hash,
                relayer_nonce=signed.nonce,
            )
            session.commit()  # the hash is on disk before the transaction can exist elsewhere
            self._broadcast_batch(session, chain, rows, signed.raw)
        logger.info(
            "relay batch %s: %d request(s), %d permit(s)", signed.hash, len(rows), len(permits)
        )


def _store_batch(session: Session) -> Any:
    """``INSERT`` of a batch's bytes that leaves a row already there alone, for the session's
    database (the statement built once per dialect)."""
    name = session.get_bind().dialect.name
    statement = _STORE_BATCH.get(name)
    if statement is None:
        table = RelayBatch.__table__
        dialect_insert = pg_insert if name == "postgresql" else sqlite_insert
        statement = _STORE_BATCH[name] = dialect_insert(table).on_conflict_do_nothing()
    return statement


_STORE_BATCH: dict[str, Any] = {}


def _raise_errors(answers: list[Any]) -> list[Any]:
    """The answers of a batch of reads that must all succeed (a read's error is raised)."""
    for answer in answers:
        if isinstance(answer, Exception):
            raise answer
    return answers
