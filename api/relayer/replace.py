"""A batch the base fee priced out: signed again with the same relayer nonce and raised fees.

A batch is sent with the fee cap of its moment (:meth:`chain.tx.TxSender.fees`: twice the base
fee plus the tip). Should the base fee outgrow that cap before it is mined, no block takes it:
geth keeps it pending, anvil drops it (and refuses the same bytes again), so it would wait — and
its requests with it — forever. Settling finds such a batch (its cap below the latest base fee)
and *replaces* it: the same transaction (nonce, calldata, gas) signed with both fees raised by
the pool's bump at least (:data:`chain.tx.REPLACEMENT_BUMP_PERCENT`) and to the market's, the cap
never above ``TUANCHAIN_RELAYER_MAX_FEE_PER_GAS`` (at the ceiling the batch waits for the base
fee to come down). The permits sent right before it (lower nonces, the same old fees) are signed
again with it, those not mined yet.

Nothing runs twice: every transaction of a batch has the same relayer nonce, so at most one of
them is mined. Each is stored (``relay_batches``, their ``series`` the first one's hash) in the
commit that moves the rows to the new hash (``sending``), before it is broadcast; settling looks
for the receipt of every one of them (:meth:`api.relayer.outbox.OutboxMoves._mined_in_series`),
after a restart too.

A batch can also be *outbid*: its cap covers the base fee, but blocks go to transactions tipping
more (a busy chain), and it waits unmined for ever. Each stored transaction remembers the latest
block and the worker's clock when it was signed (``sent_block``, ``sent_at``); one still unmined
``TUANCHAIN_RELAYER_REPLACE_AFTER_BLOCKS`` blocks (3) **and** ``..._SECONDS`` seconds (30) later
is replaced the same way (:func:`chain.tx.replacement_due`), and its replacement waits as long
again before the next raise. A batch waiting behind an earlier, unmined nonce of its key
(another batch, a bundle: the key is shared) is not outbid — raising its fees would not help —
and its wait is counted again from then. When no raise fits under the ceiling
(:func:`chain.tx.at_ceiling`) the batch is flagged once (``at_ceiling_since``, logged as a
warning and shown on the operator's dashboard: :mod:`api.queries.stuck`) and left as it is,
neither replaced nor asked again each poll, until the ceiling is raised: a person raises it or
waits for quieter blocks.
"""

from __future__ import annotations

import logging

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from api.relayer.models import RelayBatch, RelayRequest, RelayStatus
from api.relayer.outbox import OutboxMoves
from chain.context import Chain
from chain.tx import at_ceiling, decode_signed, replacement_due, replacement_fees

logger = logging.getLogger(__name__)


class BatchReplacing(OutboxMoves):
    """The fee bumps of :class:`api.relayer.worker.RelayWorker`'s settling part."""

    def _replacement_due(self, session: Session, chain: Chain, tx_hash: str) -> str | None:
        """Why the stored batch ``tx_hash`` (unmined) must be replaced now, or None
        (:func:`chain.tx.replacement_due`: ``priced_out`` or ``outbid``). A batch outbid at the
        fee ceiling, flagged already, is not due while the ceiling stays where it is: nothing
        can be done for it but wait."""
        found = session.execute(
            select(
                RelayBatch.max_fee_per_gas,
                RelayBatch.sent_block,
                RelayBatch.sent_at,
                RelayBatch.at_ceiling_since,
            ).where(RelayBatch.tx_hash == tx_hash)
        ).first()
        if found is None:
            return None
        cap = found.max_fee_per_gas
        if cap is None:  # stored before migration 0012: read from its bytes
            raw = session.scalar(select(RelayBatch.raw_tx).where(RelayBatch.tx_hash == tx_hash))
            cap = int(decode_signed(raw)["maxFeePerGas"])
        number, base_fee = chain.sender.head()
        if found.sent_block is None:  # stored before migration 0015: counted from now
            session.execute(
                update(RelayBatch)
                .where(RelayBatch.tx_hash == tx_hash)
                .values(sent_block=number, sent_at=self.clock())
            )
            session.commit()
        settings = self.services.settings
        reason = replacement_due(
            max_fee_per_gas=cap,
            base_fee=base_fee,
            sent_block=found.sent_block,
            head=number,
            sent_at=found.sent_at,
            now=self.clock(),
            after_blocks=settings.relayer_replace_after_blocks,
            after_seconds=settings.relayer_replace_after_seconds,
        )
        if (
            reason == "outbid"
            and found.at_ceiling_since is not None
            and at_ceiling(cap, settings.relayer_max_fee_per_gas)
        ):
            return None  # flagged, and the ceiling is still where it was
        if reason == "outbid":
            batch = session.execute(
                select(RelayBatch.raw_tx, RelayBatch.permits_raw).where(
                    RelayBatch.tx_hash == tx_hash
                )
            ).one()
            signed = [decode_signed(raw) for raw in [*(batch.permits_raw or []), batch.raw_tx]]
            if self._behind(session, chain, signed[-1]["sender"], min(t["nonce"] for t in signed)):
                session.execute(
                    update(RelayBatch)
                    .where(RelayBatch.tx_hash == tx_hash)
                    .values(sent_block=number, sent_at=self.clock())
                )
                session.commit()
                return None
        return reason

    @staticmethod
    def _behind(session: Session, chain: Chain, sender: str, nonce: int) -> bool:
        """Whether a transaction of ``sender`` with a lower ``nonce`` is still unmined: one
        waiting behind it is not outbid (raising its fees would not help; the one ahead is
        replaced by its own owner, a batch or a bundle), its wait counted again from now."""
        mined = int(chain.sender.rpc("eth_getTransactionCount", [sender, "latest"]), 16)
        return mined < nonce

    def _flag_at_ceiling(self, session: Session, tx_hash: str, reason: str, ceiling: int) -> None:
        """Mark the batch as due for a replacement the ceiling forbids (logged once)."""
        flagged = session.execute(
            update(RelayBatch)
            .where(RelayBatch.tx_hash == tx_hash, RelayBatch.at_ceiling_since.is_(None))
            .values(at_ceiling_since=self.clock())
        ).rowcount
        session.commit()
        if flagged:
            logger.warning(
                "relay batch %s: %s, and its fees cannot be raised under the ceiling of %d wei "
                "per gas (TUANCHAIN_RELAYER_MAX_FEE_PER_GAS); left waiting, flagged for the "
                "operator",
                tx_hash,
                reason.replace("_", " "),
                ceiling,
            )

    def _replace_batch(
        self, session: Session, chain: Chain, rows: list[RelayRequest], reason: str = "priced_out"
    ) -> bool:
        """Sign the rows' batch again with raised fees, store it and broadcast it; False when
        it cannot be (the fee ceiling is reached: flagged, or its key is no longer configured).
        ``reason``: why (:func:`chain.tx.replacement_due`)."""
        tx_hash = rows[0].tx_hash
        assert tx_hash
        batch = session.get(RelayBatch, tx_hash)
        assert batch is not None, f"no stored bytes for batch {tx_hash}"
        old = decode_signed(batch.raw_tx)
        relayer = next((a for a in chain.relayers if a.address == old["sender"]), None)
        if relayer is None:
            logger.error("relay batch %s: its key %s is not configured", tx_hash, old["sender"])
            return False
        ceiling = self.services.settings.relayer_max_fee_per_gas
        market, head = chain.sender.fees_at_head()
        fees = replacement_fees(old, market, ceiling=ceiling)
        if fees is None:
            assert at_ceiling(old["maxFeePerGas"], ceiling)
            self._flag_at_ceiling(session, tx_hash, reason, ceiling)
            return False
        # The permits sent with it whose nonces are not mined yet, at the same new fees.
        mined_count = int(
            chain.sender.rpc("eth_getTransactionCount", [relayer.address, "latest"]), 16
        )
        permits, new_permit = [], {}
        for raw in batch.permits_raw or []:
            permit = decode_signed(raw)
            if permit["nonce"] >= mined_count:
                signed_permit = chain.sender.resign(relayer, raw, fees)
                new_permit[permit["hash"]] = signed_permit.hash
                permits.append(signed_permit.raw)
        signed = chain.sender.resign(relayer, batch.raw_tx, fees)
        session.add(
            RelayBatch(
                tx_hash=signed.hash,
                raw_tx=signed.raw,
                series=batch.series or batch.tx_hash,
                max_fee_per_gas=fees["maxFeePerGas"],
                permits_raw=permits or None,
                sent_block=head,
                sent_at=self.clock(),
            )
        )
        for row in rows:
            row.permit_tx_hash = new_permit.get(row.permit_tx_hash or "", row.permit_tx_hash)
        self._move(session, rows, status=RelayStatus.SENDING.value, tx_hash=signed.hash)
        session.commit()  # stored before it exists anywhere else, as the first one
        logger.warning(
            "relay batch %s %s (cap %d); replaced by %s (cap %d, tip %d)",
            tx_hash,
            reason.replace("_", " "),
            old["maxFeePerGas"],
            signed.hash,
            fees["maxFeePerGas"],
            fees["maxPriorityFeePerGas"],
        )
        self._broadcast_batch(session, chain, rows)
        return True
