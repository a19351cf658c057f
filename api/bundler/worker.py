"""The bundler's worker: bundles accepted user operations with ``handleOps``, once each.

Each pass takes the oldest due operation heading its sender's queue (no pending operation of the
same sender and nonce key with a lower sequence) and bundles it alone — one operation per
``handleOps``, so one operation's refusal never takes others down, and its receipt is its own. The
bundler account is the relayer's; it is also the beneficiary the EntryPoint repays.

``queued``
    accepted for another chain → ``failed`` (``chain_changed``); its nonce already used on chain →
    ``mined`` if its ``UserOperationEvent`` is found (someone else bundled it), else ``failed``
    (``nonce_used``); validation simulated again (the paymaster's limits, a deal closed...): a
    refusal → ``failed`` with the EntryPoint's reason; then the ``handleOps`` transaction is
    **signed and its hash and raw bytes committed** (``sending``) before it is broadcast
    (``sent``), and its receipt's ``UserOperationEvent`` decides ``mined`` (with ``success``: its
    calls may still have reverted, as on any bundler). A bundle that reverted on chain while its
    operation's nonce is still unused — it passed the simulations and the EntryPoint refused it
    in the block (an account that validates only under ``eth_call``) — fails the operation
    (``rejected``): bundled again, it would cost the bundler key one reverted transaction a pass,
    for ever.
``sending`` / ``sent`` (a restart, or a receipt that did not come)
    the stored hash's receipt decides; else a used nonce means it executed (found by its event);
    else the *same* raw transaction is broadcast again (same hash: it cannot land twice). Only if
    the bundler's nonce went to another transaction is the operation signed again.

An operation whose ``maxFeePerGas`` has fallen below the base fee since it was accepted waits
(backoff) rather than being bundled at the bundler's loss.

Fee replacement (the relayer's rule, one place: :func:`chain.tx.replacement_due`,
:func:`chain.tx.replacement_fees`). The EntryPoint repays the bundler at most what the operation
offered a gas, so the bundle is signed at the node's fees *capped by the operation's*
(``maxFeePerGas``, ``maxPriorityFeePerGas``), leaving the rest of the offer for a replacement.
A bundle still unmined — priced out by the base fee, or outbid for
``TUANCHAIN_RELAYER_REPLACE_AFTER_BLOCKS`` blocks and ``..._SECONDS`` seconds — is signed again
with the same bundler nonce and both fees raised >= 10 %, *up to the operation's own fees*: the
bundler never pays more a gas than it is repaid. When the operation's offer is spent, the
bundle's nonce is freed by a **cancellation** (a 21,000-gas transfer of nothing to itself, the
same nonce, fees raised >= 10 % under ``TUANCHAIN_RELAYER_MAX_FEE_PER_GAS``: a few cents, not a
``handleOps``' gas at a loss) — the bundler account is the relayer's, and one stuck nonce would
hold every later relay batch and bundle behind it. Whichever transaction of that nonce is mined
decides: the bundle → ``mined``; the cancellation → ``failed`` ``underpriced`` (sign the operation
again with higher fees; its nonce is unused). Every earlier hash of the nonce is kept
(``earlier_tx_hashes``) and looked up, after a restart too. A cancellation at the ceiling is
flagged (``at_ceiling_since``, logged once, shown on the dashboard) and left for a person.

``NodeUnavailable`` keeps the row as it is and retries with exponential backoff. The relayer
account's nonce is shared with the relay worker: signing happens under the same relayer claim
(:class:`api.relayer.claims.Claims`), so the two never sign one nonce twice.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any

from hexbytes import HexBytes
from sqlalchemy import and_, exists, select
from sqlalchemy.orm import Session, aliased

from api.background import backoff_seconds
from api.binding import CHAIN_CHANGED, fail_requests
from api.bundler.errors import code_of_rejection, rejection_data
from api.bundler.models import PENDING_OP_STATUSES, QUEUED_CHANNEL, OpStatus, UserOperationRow
from api.db import session_factory
from api.db.wakeups import start_woken_loop
from api.relayer.claims import Claims
from api.services import Services
from chain import errors as chain_errors
from chain.aa.bundling import BundleOutcome, ValidationRejected
from chain.aa.userop import UserOperation
from chain.context import Chain
from chain.identity import ChainChanged
from chain.tx import bumped, decode_signed, replacement_due, replacement_fees

logger = logging.getLogger(__name__)

WAKE = threading.Event()
POLL_SECONDS = 1.0


class BundlerWorker:
    """Processes due operations; ``run_once`` is one pass (the loop and the tests call it)."""

    def __init__(
        self,
        services: Services,
        *,
        clock: Callable[[], float] = time.time,
        backoff_base: float = 0.5,
        backoff_max: float = 30.0,
        batch_size: int = 100,
        stop: threading.Event | None = None,
        wait_receipts: bool = True,
    ) -> None:
        """``wait_receipts``: wait for a sent bundle's receipt (up to the sender's timeout);
        False: leave it ``sent`` and look again on a later pass."""
        self.services = services
        self.wait_receipts = wait_receipts
        self.stop = stop or threading.Event()
        self.sessions = session_factory(services.engine)
        self.clock = clock
        self.backoff_base = backoff_base
        self.backoff_max = backoff_max
        self.batch_size = batch_size
        self.claims = Claims(services.engine)

    def run_once(self) -> int:
        """Process every due operation once (a sender's next one in the same pass once the one
        before it settled); returns how many were processed."""
        done = 0
        seen: set[str] = set()
        busy: set[str] = set()
        with self.sessions() as session:
            while len(seen) < self.batch_size and not self.stop.is_set():
                session.rollback()
                row = session.scalars(self._heads(seen, busy).limit(1)).first()
                if row is None:
                    break
                seen.add(row.id)
                # The sender's queue, claimed like a relay signer's (PostgreSQL; SQLite: no-op).
                with self.claims.signer(f"op:{row.sender}") as claimed:
                    if not claimed:
                        busy.add(row.sender)
                        continue
                    session.rollback()
                    row = session.scalars(
                        self._heads(set(), set())
                        .where(UserOperationRow.id == row.id)
                        .execution_options(populate_existing=True)
                    ).first()
                    if row is None:
                        continue
                    try:
                        self.services.check_chain()
                        self._process(session, self.services.chain, row)
                        done += 1
                    except chain_errors.ReceiptWaitStopped:
                        session.rollback()
                        break
                    except ChainChanged as exc:
                        session.rollback()
                        failed = fail_requests(
                            session,
                            only_key=exc.bound.key,
                            message=f"accepted for {exc.bound.describe()}, but {exc}: never "
                            "bundled there; sign it again",
                            args={"accepted_on": exc.bound.to_json()},
                        )
                        session.commit()
                        logger.error("bundler: %s; %d pending operation(s) failed", exc, failed)
                        break
                    except chain_errors.NodeUnavailable as exc:
                        self._retry_later(session, row, exc)
                        break
                    except Exception as exc:  # NodeRejected, TransactionTimeout, a bug
                        if not isinstance(exc, chain_errors.ChainError):
                            logger.exception("user operation %s: unexpected error", row.id)
                        self._retry_later(session, row, exc)
        return done

    def _heads(self, seen: set[str], busy: set[str]) -> Any:
        pending = [s.value for s in PENDING_OP_STATUSES]
        earlier = aliased(UserOperationRow)
        query = select(UserOperationRow).where(
            UserOperationRow.status.in_(pending),
            UserOperationRow.next_attempt_at <= self.clock(),
            ~exists().where(
                and_(
                    earlier.sender == UserOperationRow.sender,
                    earlier.nonce_key == UserOperationRow.nonce_key,
                    earlier.status.in_(pending),
                    earlier.nonce_seq < UserOperationRow.nonce_seq,
                )
            ),
        )
        if seen:
            query = query.where(UserOperationRow.id.not_in(seen))
        if busy:
            query = query.where(UserOperationRow.sender.not_in(busy))
        return query.order_by(UserOperationRow.created_at, UserOperationRow.nonce_seq)

    def _retry_later(self, session: Session, row: UserOperationRow, exc: Exception) -> None:
        session.rollback()
        row.attempts += 1
        delay = backoff_seconds(row.attempts, self.backoff_base, self.backoff_max)
        row.next_attempt_at = self.clock() + delay
        row.last_attempt_error = f"{type(exc).__name__}: {exc}"[:2000]
        session.commit()
        logger.warning("user operation %s: %s; retrying in %.1f s", row.id, exc, delay)

    # ------------------------------------------------------------------ one operation

    def _process(self, session: Session, chain: Chain, row: UserOperationRow) -> None:
        if row.chain_key != chain.identity.key:
            self._fail(
                session,
                row,
                CHAIN_CHANGED,
                f"accepted for another chain than {chain.identity.describe()}, which the node "
                "serves now: never bundled there; sign it again",
                {"node": chain.identity.to_json()},
            )
            return
        bundling = chain.bundling
        op_hash = bytes.fromhex(row.user_op_hash[2:])
        if row.status in (OpStatus.SENDING, OpStatus.SENT) and row.tx_hash:
            for tx_hash in [*(row.earlier_tx_hashes or []), row.tx_hash]:
                outcome = bundling.outcome(tx_hash, op_hash)
                if outcome is not None:
                    self._mined(session, row, outcome)
                    return
                if bundling.is_mined(tx_hash):
                    # Mined without our operation: our cancellation, someone bundled it first
                    # (the nonce check below finds its event), or the EntryPoint refused it.
                    if self._unbundled(session, chain, row, tx_hash):
                        return
                    break
        if bundling.nonce_sequence(row.sender, int(row.nonce_key)) > row.nonce_seq:
            found = bundling.find_event(op_hash, from_block=row.accepted_block)
            if found is not None:
                self._mined(session, row, found)
            else:
                self._fail(
                    session,
                    row,
                    "nonce_used",
                    f"nonce {hex(int(row.nonce))} of {row.sender} was used by another operation",
                )
            return
        if row.status in (OpStatus.SENDING, OpStatus.SENT) and row.raw_tx:
            # Priced out or outbid: replaced first (else broadcast again as it is, waited for).
            self._replace_if_due(session, chain, row)
            if (
                not self.wait_receipts
                and row.status == OpStatus.SENT
                and chain.sender.known(row.tx_hash or "")
            ):
                return  # in the node's pool, not mined: looked at again next pass
            if self._broadcast(session, chain, row):
                self._await(session, chain, row)
            return
        op = UserOperation.from_rpc(row.user_operation)
        base_fee = bundling.base_fee()
        if op.max_fee_per_gas < base_fee:
            # The EntryPoint repays at most maxFeePerGas a gas; the bundle pays the base fee:
            # bundled now, the difference is the bundler's. It waits for the fee to come down.
            self._retry_later(
                session,
                row,
                ValueError(f"maxFeePerGas {op.max_fee_per_gas} is below the base fee {base_fee}"),
            )
            return
        with self.claims.relayer(chain.relayer.address):
            try:
                market, head = chain.sender.fees_at_head()
                signed = bundling.sign_bundle([op], bundler=chain.relayer, market=market)
            except ValidationRejected as exc:
                self._fail(
                    session,
                    row,
                    "rejected",
                    f"the EntryPoint refuses it now: {exc}",
                    {"rpcCode": code_of_rejection(exc), **rejection_data(exc)},
                )
                return
            row.status = OpStatus.SENDING.value
            row.raw_tx, row.tx_hash, row.bundler_nonce = signed.raw, signed.hash, signed.nonce
            row.sent_block, row.sent_at = head, self.clock()
            row.earlier_tx_hashes = row.at_ceiling_since = None
            session.commit()  # the hash is on disk before the transaction exists anywhere else
            sent = self._broadcast(session, chain, row)
        if sent:
            self._await(session, chain, row)

    def _broadcast(self, session: Session, chain: Chain, row: UserOperationRow) -> bool:
        assert row.raw_tx
        try:
            chain.sender.broadcast(row.raw_tx)
        except chain_errors.AlreadyKnown:
            pass
        except chain_errors.NonceTooLow:
            if any(
                chain.bundling.is_mined(h) for h in [*(row.earlier_tx_hashes or []), row.tx_hash]
            ):
                # This one (mined since the pass looked) or an earlier fee of its nonce: the next
                # pass settles it (a cancellation mined fails the operation, not queues it again).
                return False
            logger.warning("user operation %s: bundler nonce reused; re-signing", row.id)
            self._requeue(session, row)
            return False
        if row.status != OpStatus.SENT:
            row.status = OpStatus.SENT.value
            session.commit()
        return True

    def _await(self, session: Session, chain: Chain, row: UserOperationRow) -> None:
        assert row.tx_hash
        if not self.wait_receipts and not chain.bundling.is_mined(row.tx_hash):
            return  # still sent: a later pass looks again (and replaces it when due)
        chain.sender.wait(row.tx_hash, stop=self.stop)
        outcome = chain.bundling.outcome(row.tx_hash, bytes.fromhex(row.user_op_hash[2:]))
        if outcome is None:
            # Mined without a UserOperationEvent of ours: not bundled after all; look again.
            self._unbundled(session, chain, row, row.tx_hash)
            return
        self._mined(session, row, outcome)

    def _requeue(self, session: Session, row: UserOperationRow) -> None:
        """Its bundle can no longer be mined: bundled again on a later pass."""
        row.status, row.raw_tx, row.tx_hash = OpStatus.QUEUED.value, None, None
        row.earlier_tx_hashes = row.at_ceiling_since = None
        session.commit()

    def _unbundled(
        self, session: Session, chain: Chain, row: UserOperationRow, tx_hash: str
    ) -> bool:
        """``tx_hash``, of the row's bundler nonce, was mined without its operation: failed
        ``underpriced`` when it is our cancellation (True), ``rejected`` when the bundle reverted
        with its nonce unused (True); else queued again (False: someone else may have bundled
        it — the nonce check finds its event)."""
        mined = chain.sender.rpc("eth_getTransactionByHash", [tx_hash]) or {}
        if str(mined.get("to") or "").lower() == str(mined.get("from") or "-").lower():
            op = UserOperation.from_rpc(row.user_operation)
            self._fail(
                session,
                row,
                "underpriced",
                "its bundle waited unmined with the fees the operation offers "
                f"(maxFeePerGas {op.max_fee_per_gas}, maxPriorityFeePerGas "
                f"{op.max_priority_fee_per_gas}), and the bundler pays no more than it is "
                "repaid: not bundled; sign it again with higher fees",
                {
                    "maxFeePerGas": op.max_fee_per_gas,
                    "maxPriorityFeePerGas": op.max_priority_fee_per_gas,
                    "transactionHash": tx_hash,
                },
            )
            return True
        row.tx_hash = tx_hash
        if self._refused_on_chain(session, chain, row):
            return True
        self._requeue(session, row)
        return False

    def _replace_if_due(self, session: Session, chain: Chain, row: UserOperationRow) -> bool:
        """Replace the row's unmined transaction when it is due (priced out or outbid): its
        bundle with higher fees within the operation's offer, else a cancellation of its nonce.
        True when replaced (the row holds the new transaction, ``sending``)."""
        assert row.raw_tx and row.tx_hash
        old = decode_signed(row.raw_tx)
        number, base_fee = chain.sender.head()
        if row.sent_block is None:  # stored before migration 0015: counted from now
            row.sent_block, row.sent_at = number, self.clock()
            session.commit()
        settings = self.services.settings
        ceiling = settings.relayer_max_fee_per_gas
        reason = replacement_due(
            max_fee_per_gas=old["maxFeePerGas"],
            base_fee=base_fee,
            sent_block=row.sent_block,
            head=number,
            sent_at=row.sent_at,
            now=self.clock(),
            after_blocks=settings.relayer_replace_after_blocks,
            after_seconds=settings.relayer_replace_after_seconds,
        )
        if reason is None:
            return False
        if reason == "outbid" and (
            int(chain.sender.rpc("eth_getTransactionCount", [old["sender"], "latest"]), 16)
            < old["nonce"]
        ):
            # Behind an earlier unmined nonce of the shared key (a relay batch, another bundle):
            # not outbid, raising its fees would not help; its wait counted again from now.
            row.sent_block, row.sent_at = number, self.clock()
            session.commit()
            return False
        relayer = next((a for a in chain.relayers if a.address == old["sender"]), None)
        if relayer is None:
            logger.error("bundle %s: its key %s is not configured", row.tx_hash, old["sender"])
            return False
        market, head = chain.sender.fees_at_head()
        op = UserOperation.from_rpc(row.user_operation)
        cancelling = HexBytes(old["to"]).to_0x_hex() == old["sender"].lower()
        fees = None
        if not cancelling:  # raised within what the operation offers (and the ceiling)
            fees = replacement_fees(old, market, ceiling=min(ceiling, op.max_fee_per_gas))
            if fees is not None:
                tip = min(fees["maxPriorityFeePerGas"], op.max_priority_fee_per_gas)
                if tip < bumped(old["maxPriorityFeePerGas"]):
                    fees = None  # the tip the operation offers is spent
                else:
                    fees["maxPriorityFeePerGas"] = tip
        with self.claims.relayer(relayer.address):
            if fees is not None:
                signed = chain.sender.resign(relayer, row.raw_tx, fees)
                what = "bundle replaced"
            else:
                fees = replacement_fees(old, market, ceiling=ceiling)
                if fees is None:
                    if row.at_ceiling_since is None:
                        row.at_ceiling_since = self.clock()
                        session.commit()
                        logger.warning(
                            "user operation %s: bundle %s %s and cannot be replaced under the "
                            "ceiling of %d wei per gas (TUANCHAIN_RELAYER_MAX_FEE_PER_GAS); "
                            "left waiting, flagged for the operator",
                            row.user_op_hash,
                            row.tx_hash,
                            reason.replace("_", " "),
                            ceiling,
                        )
                    return False
                signed = chain.sender.sign(
                    relayer, to=relayer.address, gas=21_000, nonce=old["nonce"], fees=fees
                )
                what = (
                    "cancellation"
                    if cancelling
                    else "bundle cancelled (the operation's fees spent)"
                )
            row.earlier_tx_hashes = [*(row.earlier_tx_hashes or []), row.tx_hash]
            row.status = OpStatus.SENDING.value
            row.raw_tx, row.tx_hash = signed.raw, signed.hash
            row.sent_block, row.sent_at, row.at_ceiling_since = head, self.clock(), None
            session.commit()  # stored with the earlier ones before it exists anywhere else
        logger.warning(
            "user operation %s: %s %s (cap %d, tip %d): %s by %s",
            row.user_op_hash,
            row.earlier_tx_hashes[-1],
            reason.replace("_", " "),
            old["maxFeePerGas"],
            old["maxPriorityFeePerGas"],
            what,
            signed.hash,
        )
        return True

    def _refused_on_chain(self, session: Session, chain: Chain, row: UserOperationRow) -> bool:
        """Fail ``row`` if its own bundle reverted while its nonce is still unused (True)."""
        assert row.tx_hash
        bundling = chain.bundling
        if not bundling.reverted(row.tx_hash):
            return False
        if bundling.nonce_sequence(row.sender, int(row.nonce_key)) > row.nonce_seq:
            return False  # someone else's bundle took it first: the nonce check finds its event
        self._fail(
            session,
            row,
            "rejected",
            "the EntryPoint refused it on chain although it passed simulation (bundle "
            f"{row.tx_hash} reverted); not bundled again",
            {"transactionHash": row.tx_hash},
        )
        return True

    def _mined(self, session: Session, row: UserOperationRow, outcome: BundleOutcome) -> None:
        row.status = OpStatus.MINED.value
        row.tx_hash = outcome.tx_hash
        row.block_number = outcome.block_number
        row.block_hash = outcome.block_hash
        row.success = outcome.event.success
        row.actual_gas_cost = str(outcome.event.actual_gas_cost)
        row.actual_gas_used = str(outcome.event.actual_gas_used)
        row.revert_reason = outcome.revert_reason or None
        row.raw_tx = row.earlier_tx_hashes = row.at_ceiling_since = None
        session.commit()
        logger.info(
            "user operation %s mined in %s (success=%s)",
            row.user_op_hash,
            row.tx_hash,
            row.success,
        )

    def _fail(
        self,
        session: Session,
        row: UserOperationRow,
        code: str,
        message: str,
        args: dict[str, Any] | None = None,
    ) -> None:
        row.status = OpStatus.FAILED.value
        row.error_code, row.error_message, row.error_args = code, message, args
        row.raw_tx = row.earlier_tx_hashes = row.at_ceiling_since = None
        session.commit()
        logger.info("user operation %s failed: %s", row.user_op_hash, message)


def start_background(services: Services) -> Callable[[], None]:
    """Run the worker in a daemon thread until the returned function is called."""
    stop = threading.Event()
    # Not waiting for receipts: a bundle stuck unmined (until replaced) must not hold the loop
    # and every other sender's operations for the sender's timeout; a pass looks again.
    worker = BundlerWorker(services, stop=stop, wait_receipts=False)

    def one_pass(_: threading.Event) -> None:
        worker.run_once()

    # Operations accepted by another process (serve --no-background, a second serve) wake us too.
    return start_woken_loop(
        "bundler-worker",
        one_pass,
        engine=services.engine,
        channel=QUEUED_CHANNEL,
        wake=WAKE,
        interval=POLL_SECONDS,
        stop=stop,
        join_timeout=10,
    )
