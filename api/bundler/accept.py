"""Accept a user operation into the bundler's outbox — or refuse it, with its ERC-7769 code.

``eth_sendUserOperation`` runs, in order:

1. shape: the entry point is the one we serve (v0.8, -32602 otherwise) and the operation parses
   (every field present, hex quantities in range: -32602);
2. the same operation (same userOpHash) already accepted and pending or mined: its hash again
   (a client retry). One failed for ``chain_changed`` is refused: signed for a chain that is gone,
   where the same chain id could make it valid again (-32500, sign it again);
3. fees: ``maxFeePerGas`` at least the latest base fee (else it would wait for ever: -32602);
4. nonce: the sequence the EntryPoint expects after the sender's pending operations (contiguous,
   as the EntryPoint executes them); a lower one is a replay (-32500, ``AA25``-like), a higher one
   a gap (-32500); one held by another pending operation, -32602 (no replacement);
5. validation, simulated: ``handleOps`` of the sender's pending operations then this one,
   ``eth_call``-ed from the bundler account; the EntryPoint's refusal (factory, account signature,
   paymaster policy, prefund, time range) maps to its code (:mod:`api.bundler.errors`);
6. execution, simulated: the account's calls as the EntryPoint will make them (for an operation
   next in line; one queued behind others would be judged on a state that is not yet there);
   a revert is -32521 with the contract's named error.

Only then is the row committed (``queued``) and the worker woken. Two API processes accepting one
nonce at once: the unique index on a pending (sender, nonce) lets one in; the other answers -32602.
"""

from __future__ import annotations

import logging
import uuid
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from api.binding import CHAIN_CHANGED
from api.bundler import errors as rpc
from api.bundler.models import PENDING_OP_STATUSES, QUEUED_CHANNEL, OpStatus, UserOperationRow
from api.db.wakeups import notify
from chain.aa.bundling import ExecutionReverted, ValidationRejected, checksum, split_nonce
from chain.aa.entrypoint import ENTRYPOINT_V08
from chain.aa.userop import UserOperation
from chain.context import Chain

logger = logging.getLogger(__name__)


def parse_entry_point(value: Any) -> str:
    try:
        entry_point = checksum(str(value))
    except (TypeError, ValueError):
        raise rpc.RpcError(rpc.INVALID_PARAMS, f"invalid entry point address {value!r}") from None
    if entry_point != ENTRYPOINT_V08:
        raise rpc.RpcError(
            rpc.INVALID_PARAMS,
            f"unsupported entry point {entry_point}; this bundler serves {ENTRYPOINT_V08} (v0.8)",
            supported=[ENTRYPOINT_V08],
        )
    return entry_point


def parse_user_operation(value: Any) -> UserOperation:
    if not isinstance(value, dict):
        raise rpc.RpcError(rpc.INVALID_PARAMS, "the user operation must be a JSON object")
    try:
        return UserOperation.from_rpc(value)
    except KeyError as exc:
        raise rpc.RpcError(rpc.INVALID_PARAMS, f"missing user operation field {exc}") from None
    except (TypeError, ValueError, AttributeError) as exc:
        raise rpc.RpcError(rpc.INVALID_PARAMS, f"invalid user operation: {exc}") from None


def pending_of(session: Session, sender: str, nonce_key: int) -> list[UserOperationRow]:
    """The sender's pending operations under one nonce key, in sequence order."""
    return list(
        session.scalars(
            select(UserOperationRow)
            .where(
                UserOperationRow.sender == sender,
                UserOperationRow.nonce_key == str(nonce_key),
                UserOperationRow.status.in_([s.value for s in PENDING_OP_STATUSES]),
            )
            .order_by(UserOperationRow.nonce_seq)
        ).all()
    )


def by_hash(session: Session, user_op_hash: str) -> UserOperationRow | None:
    """The latest row of ``user_op_hash`` (re-submissions of a failed operation make more)."""
    return session.scalars(
        select(UserOperationRow)
        .where(UserOperationRow.user_op_hash == user_op_hash)
        .order_by(UserOperationRow.created_at.desc())
    ).first()


def check(chain: Chain, op: UserOperation, pending: list[UserOperationRow]) -> None:
    """Checks 3–6 of the module docstring; raises :class:`~api.bundler.errors.RpcError`."""
    bundling = chain.bundling
    base_fee = bundling.base_fee()
    if op.max_fee_per_gas < base_fee:
        raise rpc.RpcError(
            rpc.INVALID_PARAMS,
            f"maxFeePerGas {op.max_fee_per_gas} is below the base fee {base_fee}",
            baseFee=hex(base_fee),
        )
    if op.max_priority_fee_per_gas > op.max_fee_per_gas:
        raise rpc.RpcError(rpc.INVALID_PARAMS, "maxPriorityFeePerGas exceeds maxFeePerGas")
    key, seq = split_nonce(op.nonce)
    on_chain = bundling.nonce_sequence(op.sender, key)
    expected = max([on_chain, *(row.nonce_seq + 1 for row in pending)])
    if seq < on_chain:
        raise rpc.RpcError(
            rpc.REJECTED_BY_ENTRY_POINT,
            f"AA25 invalid account nonce: sequence {seq} of {op.sender} is already used "
            f"(next on chain: {on_chain})",
            aaCode="AA25",
            expectedNonce=hex(key << 64 | expected),
        )
    holder = next((row for row in pending if row.nonce_seq == seq), None)
    if holder is not None:
        raise rpc.RpcError(
            rpc.INVALID_PARAMS,
            f"nonce {hex(op.nonce)} of {op.sender} is held by pending operation "
            f"{holder.user_op_hash}; replacing operations is not supported",
            pending=holder.user_op_hash,
        )
    if seq > expected:
        raise rpc.RpcError(
            rpc.REJECTED_BY_ENTRY_POINT,
            f"AA25 invalid account nonce: sequence {seq} of {op.sender} leaves a gap (next: "
            f"{expected}, after {len(pending)} pending operation(s))",
            aaCode="AA25",
            expectedNonce=hex(key << 64 | expected),
        )
    before = [UserOperation.from_rpc(row.user_operation) for row in pending]
    try:
        bundling.simulate_validation([*before, op], bundler=chain.relayer.address)
    except ValidationRejected as exc:
        if exc.op_index < len(before):
            raise rpc.RpcError(
                rpc.REJECTED_BY_ENTRY_POINT,
                f"a pending operation of {op.sender} ({pending[exc.op_index].user_op_hash}) "
                f"no longer validates ({exc}); wait for it to fail, then send again",
                pending=pending[exc.op_index].user_op_hash,
            ) from None
        raise rpc.rejected(exc) from None
    if not before:
        try:
            bundling.simulate_execution(op)
        except ExecutionReverted as exc:
            raise rpc.execution_reverted(exc) from None


def accept(
    session: Session, chain: Chain, op_json: Any, entry_point: Any
) -> tuple[UserOperationRow, bool]:
    """Check and store an operation; returns (row, created). A re-submission returns its row."""
    parse_entry_point(entry_point)
    op = parse_user_operation(op_json)
    op_hash = "0x" + chain.bundling.user_op_hash(op).hex()
    existing = by_hash(session, op_hash)
    if existing is not None and (existing.pending or existing.status == OpStatus.MINED):
        return existing, False
    if existing is not None and existing.error_code == CHAIN_CHANGED:
        raise rpc.RpcError(
            rpc.REJECTED_BY_ENTRY_POINT,
            f"this operation was accepted for another chain ({op_hash}); sign it again",
            previous=existing.id,
        )
    key, seq = split_nonce(op.nonce)
    pending = pending_of(session, op.sender, key)
    check(chain, op, pending)
    row = UserOperationRow(
        id=str(uuid.uuid4()),
        user_op_hash=op_hash,
        entry_point=ENTRYPOINT_V08,
        sender=op.sender,
        nonce=str(op.nonce),
        nonce_key=str(key),
        nonce_seq=seq,
        user_operation=op.to_rpc(),
        chain_key=chain.identity.key,
        accepted_block=chain.bundling.block_number(),
        status=OpStatus.QUEUED.value,
    )
    session.add(row)
    try:
        session.flush()
        notify(session.connection(), QUEUED_CHANNEL)  # a worker in another process (PostgreSQL)
        session.commit()  # on disk before anything is sent: an accepted operation is never lost
    except IntegrityError:
        session.rollback()
        raise rpc.RpcError(
            rpc.INVALID_PARAMS,
            f"nonce {hex(op.nonce)} of {op.sender} was taken at the same moment by another "
            "operation (accepted by another API process)",
        ) from None
    logger.info("accepted user operation %s from %s (nonce %s)", op_hash, op.sender, hex(op.nonce))
    return row, True
