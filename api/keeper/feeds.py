"""Where the keeper learns which deals may have something due: the index (:class:`IndexFeed`, the
service's keeper, beside the indexer) or the escrow's logs read incrementally (:class:`LogFeed`,
``tuanchain keeper`` alone). Both answer the same questions at a cost in proportion to what
changed: deals with new events, deals whose deadlines fall in a time range, and each deal's
buyers, leaders, fee recipient and claimants."""

from __future__ import annotations

from collections import defaultdict

from eth_utils import event_abi_to_log_topic
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session
from web3 import Web3

from api.db import models as m
from chain.context import Chain


class IndexFeed:
    """What the keeper needs to know about deals, read from the index (the service's keeper:
    the indexer runs beside it). Each query costs in proportion to what changed or is asked."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._seen: int | None = None  # index rows up to this block were looked at

    def changed(self) -> set[int] | None:
        """Deals with an index row newer than the last call (None: the first call, or the
        index went back, e.g. rebuilt: every deal is to be looked at)."""
        with Session(self.engine) as session:
            state = session.get(m.IndexerState, "main")
            # Rows above the final block may still be replaced by a re-org: read them again.
            mark = state.final_block if state else 0
            seen, self._seen = self._seen, mark
            if seen is None or (state is not None and state.last_block < seen):
                return None
            ids: set[int] = set()
            for table in (
                m.Deal,
                m.OrderEvent,
                m.Receipt,
                m.ClaimEvent,
                m.DealOutcome,
                m.Payout,
                m.PickupEvent,
                m.CashOrderEvent,
            ):
                ids.update(
                    session.scalars(
                        select(table.deal_id).where(table.block_number > seen).distinct()  # type: ignore[attr-defined]
                    )
                )
            # A recalled or non-compliant batch: its deals may need a freeze.
            blocked = select(m.BatchStatusEvent.batch_id).where(
                m.BatchStatusEvent.block_number > seen
            )
            ids.update(
                session.scalars(
                    select(m.DealBatch.deal_id).where(m.DealBatch.batch_id.in_(blocked)).distinct()
                )
            )
            return ids

    def closing(self, after: int | None, until: int) -> set[int]:
        """Deals whose join or delivery deadline falls in ``(after, until]`` (any before
        ``until`` when ``after`` is None): their state changes with time alone."""
        deal = m.Deal
        lower = -1 if after is None else after
        with Session(self.engine) as session:
            return set(
                session.scalars(
                    select(deal.deal_id).where(
                        ((deal.join_deadline > lower) & (deal.join_deadline <= until))
                        | ((deal.delivery_deadline > lower) & (deal.delivery_deadline <= until))
                        | ((deal.pickup_deadline > lower) & (deal.pickup_deadline <= until))
                    )
                )
            )

    def every(self) -> set[int]:
        with Session(self.engine) as session:
            return set(session.scalars(select(m.Deal.deal_id)))

    def parties(self, deal_ids: set[int]) -> tuple[dict[int, set[str]], dict[int, set[str]]]:
        """Per deal: buyers, leaders and its fee recipient, and claimants."""
        parties: dict[int, set[str]] = defaultdict(set)
        claimants: dict[int, set[str]] = defaultdict(set)
        with Session(self.engine) as session:
            # The fee goes to the recipient the deal was listed with, not the escrow's current one.
            for deal_id, fee_recipient in session.execute(
                select(m.Deal.deal_id, m.Deal.fee_recipient).where(m.Deal.deal_id.in_(deal_ids))
            ):
                parties[deal_id].add(fee_recipient)
            for deal_id, buyer, leader in session.execute(
                select(m.OrderEvent.deal_id, m.OrderEvent.buyer, m.OrderEvent.leader)
                .where(m.OrderEvent.deal_id.in_(deal_ids), m.OrderEvent.kind == "join")
                .distinct()
            ):
                parties[deal_id].update((buyer, leader))
            for deal_id, buyer in session.execute(
                select(m.ClaimEvent.deal_id, m.ClaimEvent.buyer)
                .where(m.ClaimEvent.deal_id.in_(deal_ids), m.ClaimEvent.status == "filed")
                .distinct()
            ):
                claimants[deal_id].add(buyer)
        return parties, claimants

    def cash(self, deal_ids: set[int]) -> dict[int, dict[str, set[str]]]:
        """Per deal and leader: the beneficiary references of their cash orders."""
        cash: dict[int, dict[str, set[str]]] = defaultdict(lambda: defaultdict(set))
        with Session(self.engine) as session:
            for deal_id, leader, ref in session.execute(
                select(
                    m.CashOrderEvent.deal_id,
                    m.CashOrderEvent.leader,
                    m.CashOrderEvent.beneficiary_ref,
                )
                .where(m.CashOrderEvent.deal_id.in_(deal_ids), m.CashOrderEvent.kind == "booked")
                .distinct()
            ):
                cash[deal_id][leader].add(ref)
        return cash


class LogFeed:
    """The same facts from the escrow's logs, read incrementally (one ``eth_getLogs`` per pass
    over the blocks since the last one): for a keeper with no index beside it
    (``tuanchain keeper``, library use). Every deal event but the admin ones has the deal id
    as its first indexed argument; ``Joined`` and ``ClaimFiled`` name the buyer (and leader).
    The registry's recall events name the batch, whose deals may need a freeze."""

    def __init__(self, chain: Chain) -> None:
        self.chain = chain
        escrow = chain.clients.escrow
        registry = chain.clients.registry
        self._topics = {
            bytes(event_abi_to_log_topic(e)): e["name"]
            for e in escrow.contract.abi
            if e.get("type") == "event"
        }
        self._recall_topics = {
            bytes(event_abi_to_log_topic(e))
            for e in registry.contract.abi
            if e.get("type") == "event"
            and e["name"] in ("BatchRecalled", "BatchMarkedNonCompliant")
        }
        self._deals_of_batch: dict[bytes, set[int]] = defaultdict(set)
        self._next_block = chain.deployment.contracts["GroupBuyEscrow"].block
        self._deadlines: dict[int, tuple[int, ...]] = {}  # deal -> (join, delivery, pickup)
        self._parties: dict[int, set[str]] = defaultdict(set)
        self._claimants: dict[int, set[str]] = defaultdict(set)
        self._cash: dict[int, dict[str, set[str]]] = defaultdict(lambda: defaultdict(set))
        self._first = True

    def changed(self) -> set[int] | None:
        escrow = self.chain.clients.escrow
        head = self.chain.w3.eth.block_number
        ids: set[int] = set()
        if head >= self._next_block:
            logs = self.chain.w3.eth.get_logs(
                {
                    "address": [escrow.address, self.chain.clients.registry.address],
                    "fromBlock": self._next_block,
                    "toBlock": head,
                }
            )
            for log in logs:
                if log["topics"] and bytes(log["topics"][0]) in self._recall_topics:
                    ids.update(self._deals_of_batch.get(bytes(log["topics"][1]), ()))
                    continue
                topics = [bytes(t) for t in log["topics"]]
                name = self._topics.get(topics[0]) if topics else None
                if name is None or len(topics) < 2 or name in ("TokenAllowed", "FeeRecipientSet"):
                    continue
                if name.startswith("Role"):
                    continue
                deal_id = int.from_bytes(topics[1])
                ids.add(deal_id)
                if name == "DealCreated":
                    params = escrow.deal_params(deal_id)
                    # The deal's own fee recipient (the escrow's may change later): in the data.
                    created = escrow.contract.events.DealCreated().process_log(log)
                    self._parties[deal_id].add(str(created["args"]["feeRecipient"]))
                    self._deadlines[deal_id] = (
                        params.join_deadline,
                        params.delivery_deadline,
                        int(params.pickup_deadline or params.delivery_deadline),
                    )
                    for batch_id in params.batch_ids:
                        self._deals_of_batch[bytes(batch_id)].add(deal_id)
                elif name == "Joined":
                    self._parties[deal_id].update(_address(t) for t in topics[2:4])
                elif name == "ClaimFiled":
                    self._claimants[deal_id].add(_address(topics[2]))
                elif name == "CashOrderBooked":  # (dealId, leader, beneficiaryRef)
                    leader = _address(topics[2])
                    self._parties[deal_id].add(leader)
                    self._cash[deal_id][leader].add("0x" + topics[3].hex())
            self._next_block = head + 1
        if self._first:
            self._first = False
            return None
        return ids

    def closing(self, after: int | None, until: int) -> set[int]:
        lower = -1 if after is None else after
        return {d for d, times in self._deadlines.items() if any(lower < t <= until for t in times)}

    def every(self) -> set[int]:
        return set(self._deadlines)

    def parties(self, deal_ids: set[int]) -> tuple[dict[int, set[str]], dict[int, set[str]]]:
        return (
            {d: self._parties[d] for d in deal_ids if d in self._parties},
            {d: self._claimants[d] for d in deal_ids if d in self._claimants},
        )

    def cash(self, deal_ids: set[int]) -> dict[int, dict[str, set[str]]]:
        return {d: self._cash[d] for d in deal_ids if d in self._cash}


def _address(topic: bytes) -> str:
    return Web3.to_checksum_address(topic[-20:])
