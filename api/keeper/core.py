"""The keeper: settles due deals and pushes payouts, so no one has to act to be paid.

Each pass reads the chain (the source of truth; the index may lag) and plans, per deal:

- ``freeze`` — an open or succeeded deal selling a recalled / non-compliant batch that is not
  frozen yet. The recall's own transaction freezes such deals (the registry notifies the
  escrow); this is the recovery path when that notification failed (``EscrowNotificationFailed``)
  or the deal's escrow was not registered;
- ``finalize_claim`` — a claim the supplier left unanswered past the answer window (the buyer
  wins by default);
- ``settle`` — a succeeded deal past its delivery deadline and its last dispute window, with no
  open claim and no blocked batch;
- ``push_payouts`` — every account the deal owes now (failed or frozen deals' refunds,
  undelivered orders, and after settlement: rebates, claim refunds, commissions, supplier, fee).

Which deals a pass looks at comes from the index in the service (:class:`IndexFeed`; the indexer
runs beside it) or from the escrow's logs read incrementally (:class:`LogFeed`, for
``tuanchain keeper`` alone): only deals with new events, a join or delivery deadline passed since
the last pass, a time noted earlier (a settlement or answer deadline), or an action planned last
pass. A pass costs in proportion to what is due, not to every deal ever listed.

``plan()`` only reads (``tuanchain keeper --dry-run`` prints it); ``run_once()`` executes it with
the keeper account. All three calls are permissionless on chain, and every one is simulated
before sending, so a plan made stale by someone else's transaction is skipped, not failed.
"""

from __future__ import annotations

import logging
import threading
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field

from eth_utils import event_abi_to_log_topic
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session
from web3 import Web3

from api.background import start_loop
from api.db import models as m
from api.services import Services
from chain import deal_rules
from chain import errors as chain_errors
from chain.clients import ClaimStatus, DealStatus
from chain.context import Chain

logger = logging.getLogger(__name__)

INTERVAL_SECONDS = 5.0
PAYOUT_CHUNK = 100  # accounts per pushPayouts transaction


@dataclass(frozen=True)
class KeeperAction:
    kind: str  # freeze | finalize_claim | settle | push_payouts
    deal_id: int
    accounts: tuple[str, ...] = ()
    reason: str = ""

    def describe(self) -> str:
        who = f" {len(self.accounts)} account(s)" if self.accounts else ""
        return f"{self.kind} deal {self.deal_id}{who}: {self.reason}"


@dataclass
class KeeperReport:
    planned: list[KeeperAction] = field(default_factory=list)
    done: list[KeeperAction] = field(default_factory=list)
    skipped: list[tuple[KeeperAction, str]] = field(default_factory=list)


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
            for table in (m.Deal, m.OrderEvent, m.Receipt, m.ClaimEvent, m.DealOutcome, m.Payout):
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
                    )
                )
            )

    def every(self) -> set[int]:
        with Session(self.engine) as session:
            return set(session.scalars(select(m.Deal.deal_id)))

    def parties(self, deal_ids: set[int]) -> tuple[dict[int, set[str]], dict[int, set[str]]]:
        """Per deal: buyers and leaders, and claimants."""
        parties: dict[int, set[str]] = defaultdict(set)
        claimants: dict[int, set[str]] = defaultdict(set)
        with Session(self.engine) as session:
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
        self._deadlines: dict[int, tuple[int, int]] = {}  # deal -> (join, delivery)
        self._parties: dict[int, set[str]] = defaultdict(set)
        self._claimants: dict[int, set[str]] = defaultdict(set)
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
                    self._deadlines[deal_id] = (params.join_deadline, params.delivery_deadline)
                    for batch_id in params.batch_ids:
                        self._deals_of_batch[bytes(batch_id)].add(deal_id)
                elif name == "Joined":
                    self._parties[deal_id].update(_address(t) for t in topics[2:4])
                elif name == "ClaimFiled":
                    self._claimants[deal_id].add(_address(topics[2]))
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


def _address(topic: bytes) -> str:
    return Web3.to_checksum_address(topic[-20:])


class Keeper:
    def __init__(
        self, chain: Chain, *, deal_ids: set[int] | None = None, index: Engine | None = None
    ) -> None:
        """``deal_ids`` limits the keeper to those deals (default: every deal); ``index``: read
        which deals to look at from it (else from the escrow's logs, see :class:`LogFeed`)."""
        self.chain = chain
        self.deal_ids = deal_ids
        self.escrow = chain.clients.escrow
        self.feed: IndexFeed | LogFeed = IndexFeed(index) if index is not None else LogFeed(chain)
        # A pass looks only at deals where something may be due: new events, a deadline passed
        # since the last pass, a time noted earlier (settlement, an answer window), or an action
        # planned last pass (stale plans are re-checked).
        self._last_now: int | None = None
        self._wake: dict[int, int] = {}
        self._retry: set[int] = set()
        self.looked_at: list[int] = []  # the deals the last plan() looked at (for logs, tests)

    def now(self) -> int:
        return int(self.chain.w3.eth.get_block("latest")["timestamp"])

    def _due_deals(self, now: int) -> set[int]:
        changed = self.feed.changed()
        if changed is None or self._last_now is None:
            due = self.feed.every()
        else:
            due = changed | self.feed.closing(self._last_now, now)
        due |= {d for d, at in self._wake.items() if at <= now} | self._retry
        self._last_now = now
        if self.deal_ids is not None:
            due &= self.deal_ids
        return due

    def plan(self) -> list[KeeperAction]:
        """What is due now (reads only)."""
        escrow, now = self.escrow, self.now()
        due = self._due_deals(now)
        parties, claimants = self.feed.parties(due)
        actions: list[KeeperAction] = []
        self._retry = set()
        self.looked_at = sorted(due)
        for deal_id in self.looked_at:
            self._wake.pop(deal_id, None)
            status = escrow.deal_status(deal_id)
            if status == DealStatus.NONE:
                continue
            params = escrow.deal_params(deal_id)
            blocked = []
            if status in (DealStatus.OPEN, DealStatus.SUCCEEDED):
                blocked = [
                    b
                    for b in params.batch_ids
                    if self.chain.clients.registry.batch_status(b).name
                    in ("RECALLED", "NON_COMPLIANT")
                ]
            if blocked:
                # Frozen now, refunded by a later pass (the freeze changes what is owed).
                actions.append(
                    KeeperAction("freeze", deal_id, (), "batch recalled: notification missed")
                )
                self._retry.add(deal_id)
                continue
            if status == DealStatus.OPEN:
                continue
            settling = False
            planned = len(actions)
            if status == DealStatus.SUCCEEDED:
                totals = escrow.deal_totals(deal_id)
                open_claims = totals.open_claims
                wake = []
                for buyer in sorted(claimants.get(deal_id, ())):
                    claim = escrow.claim(deal_id, buyer)
                    if claim.status != ClaimStatus.FILED:
                        continue
                    if now >= claim.filed_at + params.answer_window:
                        actions.append(
                            KeeperAction(
                                "finalize_claim", deal_id, (buyer,), "supplier did not answer"
                            )
                        )
                        open_claims -= 1  # finalized first, in this same pass
                    else:
                        wake.append(claim.filed_at + params.answer_window)
                settleable_at = deal_rules.settleable_at(
                    delivery_deadline=params.delivery_deadline,
                    dispute_window=params.dispute_window,
                    last_receipt_at=totals.last_receipt_at,
                )
                if now < settleable_at:
                    wake.append(settleable_at)
                elif open_claims == 0:  # and no blocked batch (a freeze was planned above)
                    actions.append(KeeperAction("settle", deal_id, (), "dispute window over"))
                    settling = True
                if wake:
                    self._wake[deal_id] = min(wake)
            accounts = sorted(
                parties.get(deal_id, set()) | {params.supplier, escrow.fee_recipient()}
            )
            if settling:
                # owed() cannot see past a settlement not yet made: offer everyone with a stake;
                # execute() drops those owed nothing once the deal is settled.
                owed = accounts
            else:
                owed = [a for a in accounts if escrow.owed(deal_id, a) > 0]
            if owed:
                reason = {
                    DealStatus.FAILED: "deal failed: refunds",
                    DealStatus.FROZEN: "batch recalled: refunds",
                    DealStatus.SETTLED: "settled: payouts",
                }.get(status, "settled: payouts" if settling else "refunds due")
                for i in range(0, len(owed), PAYOUT_CHUNK):
                    actions.append(
                        KeeperAction(
                            "push_payouts", deal_id, tuple(owed[i : i + PAYOUT_CHUNK]), reason
                        )
                    )
            if len(actions) > planned:
                self._retry.add(deal_id)
        return actions

    def execute(
        self, actions: list[KeeperAction], *, stop: threading.Event | None = None
    ) -> KeeperReport:
        """Send the actions in order; a ``stop`` set meanwhile ends the pass after the current one
        (whose receipt is awaited: the next pass would otherwise plan it again)."""
        report = KeeperReport(planned=list(actions))
        signer = self.chain.keeper
        for action in actions:
            if stop is not None and stop.is_set():
                break
            try:
                if action.kind == "freeze":
                    self.escrow.freeze(action.deal_id, signer=signer)
                elif action.kind == "finalize_claim":
                    self.escrow.finalize_unanswered_claim(
                        action.deal_id, action.accounts[0], signer=signer
                    )
                elif action.kind == "settle":
                    self.escrow.settle(action.deal_id, signer=signer)
                elif action.kind == "push_payouts":
                    owed = [a for a in action.accounts if self.escrow.owed(action.deal_id, a) > 0]
                    if not owed:
                        report.skipped.append((action, "nothing owed any more"))
                        continue
                    self.escrow.push_payouts(action.deal_id, owed, signer=signer)
                report.done.append(action)
                logger.info("keeper: %s", action.describe())
            except chain_errors.ContractRevert as exc:
                # Someone else got there first (settled, withdrew): the plan was stale.
                report.skipped.append((action, str(exc)))
                logger.info("keeper: skipped %s (%s)", action.describe(), exc)
        return report

    def run_once(
        self, *, dry_run: bool = False, stop: threading.Event | None = None
    ) -> KeeperReport:
        actions = self.plan()
        if dry_run:
            return KeeperReport(planned=actions)
        return self.execute(actions, stop=stop)


def start_background(
    services: Services, *, interval: float = INTERVAL_SECONDS
) -> Callable[[], None]:
    """Run the keeper every ``interval`` seconds in a daemon thread; returns the stop function."""
    keeper: Keeper | None = None

    def one_pass(stop: threading.Event) -> None:
        nonlocal keeper
        try:
            services.check_chain()  # never act on another chain than the index's
            if keeper is None or keeper.chain is not services.chain:
                keeper = Keeper(services.chain, index=services.engine)
            keeper.run_once(stop=stop)
        except chain_errors.ChainError as exc:
            logger.warning("keeper pass failed: %s", exc)

    return start_loop("keeper", one_pass, interval=interval)
