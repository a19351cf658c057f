"""The keeper: settles due deals and pushes payouts, so no one has to act to be paid.

Each pass reads the chain (the source of truth; the index may lag) and plans, per deal:

- ``finalize_claim`` — a claim the supplier left unanswered past the answer window (the buyer
  wins by default);
- ``settle`` — a succeeded deal past its delivery deadline and its last dispute window, with no
  open claim and no blocked batch;
- ``push_payouts`` — every account the deal owes now (failed or frozen deals' refunds,
  undelivered orders, and after settlement: rebates, claim refunds, commissions, supplier, fee).

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
    kind: str  # finalize_claim | settle | push_payouts
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


class Keeper:
    def __init__(self, chain: Chain, *, deal_ids: set[int] | None = None) -> None:
        """``deal_ids`` limits the keeper to those deals (default: every deal)."""
        self.chain = chain
        self.deal_ids = deal_ids
        self.escrow = chain.clients.escrow
        # Deals whose every payout is done: never looked at again by this process.
        self._finished: set[int] = set()

    def _participants(self) -> tuple[dict[int, set[str]], dict[int, set[str]]]:
        """Per deal: buyers and leaders (from ``Joined``) and claimants (from ``ClaimFiled``)."""
        start = self.chain.deployment.contracts["GroupBuyEscrow"].block
        parties: dict[int, set[str]] = defaultdict(set)
        claimants: dict[int, set[str]] = defaultdict(set)
        for log in self.escrow.get_events("Joined", from_block=start):
            deal = int(log["args"]["dealId"])
            parties[deal].update((log["args"]["buyer"], log["args"]["leader"]))
        for log in self.escrow.get_events("ClaimFiled", from_block=start):
            claimants[int(log["args"]["dealId"])].add(log["args"]["buyer"])
        return parties, claimants

    def now(self) -> int:
        return int(self.chain.w3.eth.get_block("latest")["timestamp"])

    def plan(self) -> list[KeeperAction]:
        """What is due now (reads only)."""
        escrow, now = self.escrow, self.now()
        parties, claimants = self._participants()
        actions: list[KeeperAction] = []
        for deal_id in range(1, escrow.deal_count() + 1):
            if deal_id in self._finished or (
                self.deal_ids is not None and deal_id not in self.deal_ids
            ):
                continue
            status = escrow.deal_status(deal_id)
            if status == DealStatus.OPEN:
                continue
            params = escrow.deal_params(deal_id)
            settling = False
            if status == DealStatus.SUCCEEDED:
                totals = escrow.deal_totals(deal_id)
                open_claims = totals.open_claims
                for buyer in sorted(claimants.get(deal_id, ())):
                    claim = escrow.claim(deal_id, buyer)
                    if (
                        claim.status == ClaimStatus.FILED
                        and now >= claim.filed_at + params.answer_window
                    ):
                        actions.append(
                            KeeperAction(
                                "finalize_claim", deal_id, (buyer,), "supplier did not answer"
                            )
                        )
                        open_claims -= 1  # finalized first, in this same pass
                settleable_at = deal_rules.settleable_at(
                    delivery_deadline=params.delivery_deadline,
                    dispute_window=params.dispute_window,
                    last_receipt_at=totals.last_receipt_at,
                )
                if now >= settleable_at and open_claims == 0:
                    blocked = [
                        b
                        for b in params.batch_ids
                        if self.chain.clients.registry.batch_status(b).name
                        in ("RECALLED", "NON_COMPLIANT")
                    ]
                    if not blocked:
                        actions.append(KeeperAction("settle", deal_id, (), "dispute window over"))
                        settling = True
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
            elif status in (DealStatus.SETTLED, DealStatus.FAILED, DealStatus.FROZEN):
                self._finished.add(deal_id)
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
                if action.kind == "finalize_claim":
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
    stop = threading.Event()

    def loop() -> None:
        keeper: Keeper | None = None
        while not stop.is_set():
            try:
                services.check_chain()  # never act on another chain than the index's
                if keeper is None or keeper.chain is not services.chain:
                    keeper = Keeper(services.chain)
                keeper.run_once(stop=stop)
            except chain_errors.ChainError as exc:
                logger.warning("keeper pass failed: %s", exc)
            except Exception:
                logger.exception("keeper pass failed")
            stop.wait(interval)

    thread = threading.Thread(target=loop, name="keeper", daemon=True)
    thread.start()

    def stop_keeper() -> None:
        stop.set()
        thread.join(timeout=30)

    return stop_keeper
