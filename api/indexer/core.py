"""The indexer: chain logs → SQL rows, resumable, idempotent, re-org safe, rebuildable.

One :meth:`Indexer.sync` pass:
1. **Re-org check.** The hash of the last indexed block is compared with the node's block at
   that height. On a mismatch (or a chain now shorter), the stored hashes of earlier indexed
   blocks are walked back to the newest one the node still agrees with: the fork point. Every
   row above it is deleted (rows carry their block number) and indexing resumes from there.
2. **Catch up** from ``last_block + 1`` to the head in ranges of ``range_size`` blocks: one
   ``eth_getLogs`` per range, one database transaction per range that inserts the rows, the
   hashes of the blocks that carried logs (plus the range's last block) and the new
   ``last_block``. Logs already present (same tx hash and log index) are skipped, so a replay
   changes nothing. A crash between ranges loses nothing: the next pass resumes. A range read
   across a re-org (its logs of one branch, its block hashes of another) is not stored: the pass
   ends there and the next one's re-org check starts over.
3. **Enrich** (documents, manifests, metadata, cold chain); store misses are retried later.

Blocks newer than ``head - confirmations`` are indexed but provisional: their hashes are kept so
a re-org there is undone. With ``confirmations = 0`` (anvil) the same hash check still runs.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Engine, Table, delete, insert, select
from sqlalchemy.orm import Session

from api.binding import bind
from api.db import init_db, session_factory
from api.db import models as m
from api.db.party_statuses import refresh_party_statuses, touched
from api.indexer.bulk import bulk_insert
from api.indexer.changes import notify_index_change
from api.indexer.enrich import Enricher, EnrichStats
from api.indexer.handlers import rows_for
from api.indexer.logs import BlockHeader, DecodedLog, LogSource, args_json
from chain.context import Chain
from traceability.ipfs import DocumentStore

logger = logging.getLogger(__name__)


DEFAULT_RANGE_SIZE = 2_000
# Hashes kept below the final block (deep enough for any re-org a chain we index would have).
KEEP_FINAL_HASHES = 256


@dataclass
class SyncResult:
    from_block: int
    to_block: int
    head: int
    logs: int
    rows: int
    reorg_from: int | None
    enrich: EnrichStats | None


class BranchSwitched(Exception):
    """The node switched branches while a block range was being read (a re-org in between)."""


def _check_one_branch(
    before: BlockHeader | None,
    headers: dict[int, BlockHeader],
    logs: list[DecodedLog],
    to_block: int,
) -> None:
    """Whether the logs and the block hashes of a range were read from one branch of the chain."""
    after = headers.get(to_block)
    if before is None or after is None or before.hash != after.hash:
        raise BranchSwitched(f"block {to_block} changed while its range was read")
    for log in logs:
        header = headers.get(log.block_number)
        if header is None or header.hash != log.block_hash:
            raise BranchSwitched(
                f"log {log.tx_hash}:{log.log_index} is of block {log.block_hash}, "
                f"the node's block {log.block_number} is now "
                f"{header.hash if header else 'gone'}"
            )


class Indexer:
    """Indexes one deployment's registry and escrow into ``engine``'s tables."""

    def __init__(
        self,
        *,
        engine: Engine,
        chain: Chain,
        store: DocumentStore,
        confirmations: int = 0,
        range_size: int = DEFAULT_RANGE_SIZE,
        name: str = "main",
    ) -> None:
        self.engine = engine
        self.chain = chain
        self.source = LogSource(chain.w3, chain.clients)
        self.enricher = Enricher(store)
        self.confirmations = confirmations
        self.range_size = range_size
        self.name = name
        self.sessions = session_factory(engine)
        self._dirty_batches: set[str] = set()
        self.start_block = min(c.block for c in chain.deployment.contracts.values())
        init_db(engine)
        # An index of another chain (or written under other formats) is emptied first.
        bind(engine, chain)

    # ------------------------------------------------------------------ state

    def _state(self, session: Session) -> m.IndexerState:
        state = session.get(m.IndexerState, self.name)
        if state is None:
            state = m.IndexerState(
                name=self.name,
                chain_id=self.chain.chain_id,
                start_block=self.start_block,
                last_block=self.start_block - 1,
                head_block=0,
                version=0,
            )
            session.add(state)
            session.flush()
        return state

    def last_block(self) -> int:
        with self.sessions() as session:
            state = session.get(m.IndexerState, self.name)
            return state.last_block if state else self.start_block - 1

    # ------------------------------------------------------------------ re-orgs

    def _fork_point(self, session: Session, last_block: int) -> int | None:
        """None if the index agrees with the node at ``last_block``; else the fork point."""
        stored = session.get(m.IndexedBlock, last_block)
        if stored is None or last_block < self.start_block:
            return None
        header = self.source.header(last_block)
        if header is not None and header.hash == stored.hash:
            return None
        candidates = session.scalars(
            select(m.IndexedBlock)
            .where(m.IndexedBlock.number < last_block)
            .order_by(m.IndexedBlock.number.desc())
        )
        for block in candidates:
            header = self.source.header(block.number)
            if header is not None and header.hash == block.hash:
                return block.number
        return self.start_block - 1

    def _rollback_to(self, session: Session, fork: int) -> None:
        self._dirty_batches.update(
            session.scalars(
                select(m.AnchoredEvent.batch_id).where(m.AnchoredEvent.block_number > fork)
            ).all()
        )
        parties = session.execute(
            select(m.PartyEvent.kind, m.PartyEvent.account)
            .where(m.PartyEvent.block_number > fork)
            .distinct()
        ).all()
        for table in m.LOG_TABLES:
            session.execute(delete(table).where(table.block_number > fork))  # type: ignore[attr-defined]
        session.execute(delete(m.IndexedBlock).where(m.IndexedBlock.number > fork))
        # Their standing from the decisions left (one before the fork, or none).
        refresh_party_statuses(session, [(k, a) for k, a in parties])
        # Merkle leaves of surviving roots were derived rows: keep; verification is per row.
        state = self._state(session)
        state.last_block = fork
        state.version += 1

    # ------------------------------------------------------------------ catching up

    def _ingest(self, session: Session, from_block: int, to_block: int) -> tuple[int, int]:
        # The range's last block before and after eth_getLogs, and each log's block hash against
        # the block read after: a branch switch in between raises BranchSwitched (the range's
        # transaction rolls back), never orphaned logs stored under the new branch's hashes.
        before = self.source.header(to_block)
        logs = self.source.logs(from_block, to_block)
        numbers = sorted({log.block_number for log in logs} | {to_block})
        headers = self.source.headers(numbers)
        _check_one_branch(before, headers, logs, to_block)
        # What a previous (interrupted or replayed) pass already stored in this range.
        existing = {
            (str(tx), int(i))
            for tx, i in session.execute(
                select(m.RawLog.tx_hash, m.RawLog.log_index).where(
                    m.RawLog.block_number.between(from_block, to_block)
                )
            ).all()
        }
        rows = 0
        raw_logs: list[dict[str, Any]] = []
        # Rows by table and column set: one multi-row INSERT each (the ORM's unit of work,
        # row by row, and a merge per block hash were most of the time: issue 15).
        inserts: dict[tuple[Table, tuple[str, ...]], list[dict[str, Any]]] = {}
        for log in logs:
            if (log.tx_hash, log.log_index) in existing:
                continue
            header = headers.get(log.block_number)
            block_time = header.time if header else datetime.now(UTC)
            raw_logs.append(
                {
                    "block_number": log.block_number,
                    "tx_hash": log.tx_hash,
                    "log_index": log.log_index,
                    "block_time": block_time,
                    "address": log.address,
                    "event": log.event,
                    "args": args_json(log.args),
                }
            )
            for row in rows_for(log, block_time):
                inserts.setdefault((row.table, tuple(row.values)), []).append(row.values)
                rows += 1
        bulk_insert(session, m.RawLog.__table__, raw_logs)  # type: ignore[arg-type]
        parties: set[tuple[str, str]] = set()
        for (table, _), values in inserts.items():
            bulk_insert(session, table, values)
            if table is m.PartyEvent.__table__:
                parties |= touched(values)
        refresh_party_statuses(session, parties)
        hashes = [
            {"number": n, "hash": headers[n].hash} for n in numbers if headers.get(n) is not None
        ]
        if hashes:
            # Replaces the hashes a replayed range stored before (same blocks, same chain).
            session.execute(
                delete(m.IndexedBlock).where(
                    m.IndexedBlock.number.in_([h["number"] for h in hashes])
                )
            )
            session.execute(insert(m.IndexedBlock.__table__), hashes)
        return len(logs), rows

    def sync(
        self,
        *,
        enrich: bool = True,
        max_ranges: int | None = None,
        stop: threading.Event | None = None,
    ) -> SyncResult:
        """One pass: re-org check, catch up to the head, enrich. Returns what it did.

        ``stop`` set: the pass ends after the block range in hand (each is one transaction)."""
        head = self.source.head()
        # Each range's last block's time goes in with the range (not only after the pass): a
        # reader who sees a block indexed sees the chain time of that block (deadlines, order
        # states), never a time before it.
        header = self.source.header(head) if head >= 0 else None
        reorg_from: int | None = None
        total_logs = total_rows = 0
        with self.sessions.begin() as session:
            state = self._state(session)
            fork = self._fork_point(session, state.last_block)
            if fork is not None:
                logger.warning(
                    "re-org: index at block %d disagrees with the node; rolling back to %d",
                    state.last_block,
                    fork,
                )
                reorg_from = fork
                self._rollback_to(session, fork)
            first = state.last_block + 1
        start = first
        ranges = 0
        while start <= head and (max_ranges is None or ranges < max_ranges):
            if stop is not None and stop.is_set():
                break
            end = min(head, start + self.range_size - 1)
            try:
                with self.sessions.begin() as session:
                    n_logs, n_rows = self._ingest(session, start, end)
                    state = self._state(session)
                    state.last_block = end
                    state.head_block = head
                    at = header if end == head else self.source.header(end)
                    state.head_time = at.time if at else state.head_time
                    state.updated_at = datetime.now(UTC)
                    if n_rows:
                        state.version += 1
                    self._prune(session, head)
            except BranchSwitched as exc:
                # Nothing of the range was stored; the next pass's re-org check starts over.
                logger.warning("blocks %d..%d: %s; reading them again", start, end, exc)
                break
            total_logs += n_logs
            total_rows += n_rows
            logger.info("indexed blocks %d..%d: %d logs, %d rows", start, end, n_logs, n_rows)
            start = end + 1
            ranges += 1
        stats = None
        with self.sessions.begin() as session:
            state = self._state(session)
            state.head_block = head
            state.final_block = max(0, min(state.last_block, head - self.confirmations))
            state.head_time = header.time if header else None
            version_before = state.version
            if enrich:
                stats = self.enricher.run(session)
                dirty, self._dirty_batches = self._dirty_batches, set()
                for batch_id in dirty - (stats.touched_batches or set()):
                    self.enricher.cold_chain(session, batch_id)
                if stats.leaves or stats.touched_batches or dirty:
                    state.version += 1
            changed = state.version != version_before
        if total_rows or reorg_from is not None or changed:
            notify_index_change()
        return SyncResult(first, start - 1, head, total_logs, total_rows, reorg_from, stats)

    def _prune(self, session: Session, head: int) -> None:
        """Forget hashes of blocks far below the final block (they can no longer re-org)."""
        final = head - self.confirmations
        session.execute(
            delete(m.IndexedBlock).where(m.IndexedBlock.number < final - KEEP_FINAL_HASHES)
        )

    def sync_until_idle(self, *, stop: threading.Event | None = None) -> SyncResult:
        """Sync until a pass finds nothing new (the head may move while indexing), or ``stop``."""
        while True:
            result = self.sync(stop=stop)
            if result.to_block >= result.head or (stop is not None and stop.is_set()):
                return result

    def rebuild(self, *, stop: threading.Event | None = None) -> SyncResult:
        """Drop every indexed row and index again from the deployment block."""
        with self.sessions.begin() as session:
            for table in m.LOG_TABLES:
                session.execute(delete(table))
            session.execute(delete(m.IndexedBlock))
            session.execute(delete(m.IndexerState).where(m.IndexerState.name == self.name))
        notify_index_change()
        return self.sync_until_idle(stop=stop)
