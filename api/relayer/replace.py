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
"""

from __future__ import annotations

import logging

from sqlalchemy import select
from sqlalchemy.orm import Session

from api.relayer.models import RelayBatch, RelayRequest, RelayStatus
from api.relayer.outbox import OutboxMoves
from chain.context import Chain
from chain.tx import decode_signed, replacement_fees

logger = logging.getLogger(__name__)


class BatchReplacing(OutboxMoves):
    """The fee bumps of :class:`api.relayer.worker.RelayWorker`'s settling part."""

    @staticmethod
    def _base_fee(chain: Chain) -> int:
        block = chain.sender.rpc("eth_getBlockByNumber", ["latest", False])
        return int(block.get("baseFeePerGas") or "0x0", 16)

    def _priced_out(self, session: Session, chain: Chain, tx_hash: str) -> bool:
        """Whether the base fee has outgrown the fee cap of the stored batch ``tx_hash``."""
        found = session.execute(
            select(RelayBatch.max_fee_per_gas).where(RelayBatch.tx_hash == tx_hash)
        ).first()
        if found is None:
            return False
        cap = found.max_fee_per_gas
        if cap is None:  # stored before migration 0012: read from its bytes
            raw = session.scalar(select(RelayBatch.raw_tx).where(RelayBatch.tx_hash == tx_hash))
            cap = int(decode_signed(raw)["maxFeePerGas"])
        return cap < self._base_fee(chain)

    def _replace_batch(self, session: Session, chain: Chain, rows: list[RelayRequest]) -> bool:
        """Sign the rows' batch again with raised fees, store it and broadcast it; False when
        it cannot be (the fee ceiling is reached, or its key is no longer configured)."""
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
        fees = replacement_fees(old, chain.sender.fees(), ceiling=ceiling)
        if fees is None:
            logger.warning(
                "relay batch %s: priced out, and its fees cannot be raised under the ceiling "
                "of %d wei per gas; waiting for the base fee to come down",
                tx_hash,
                ceiling,
            )
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
            )
        )
        for row in rows:
            row.permit_tx_hash = new_permit.get(row.permit_tx_hash or "", row.permit_tx_hash)
        self._move(session, rows, status=RelayStatus.SENDING.value, tx_hash=signed.hash)
        session.commit()  # stored before it exists anywhere else, as the first one
        logger.warning(
            "relay batch %s priced out (cap %d); replaced by %s (cap %d, tip %d)",
            tx_hash,
            old["maxFeePerGas"],
            signed.hash,
            fees["maxFeePerGas"],
            fees["maxPriorityFeePerGas"],
        )
        self._broadcast_batch(session, chain, rows)
        return True
