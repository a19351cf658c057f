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
  undelivered orders, and after settlement: rebates, claim refunds, commissions, supplier, fee);
- ``close_out`` — from the pickup deadline on, the no-shows of each group received short (once,
  when the deadline passes, before settling: ``NoShowsClosed`` says how many units did not come
  and what each gets of the short units left; that money is fixed by then and paid with the
  payouts; in a group received in full a no-show changes nothing: the goods waited);
- ``pay_cash_refunds`` — what the deal owes leaders back for the cash orders they booked
  (accounted apart from their own orders and commission).

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
from dataclasses import dataclass, field

from sqlalchemy import Engine

from api.keeper.feeds import IndexFeed, LogFeed
from chain import deal_rules
from chain import errors as chain_errors
from chain.clients import ClaimStatus, DealStatus
from chain.context import Chain

logger = logging.getLogger(__name__)

INTERVAL_SECONDS = 5.0
PAYOUT_CHUNK = 100  # accounts per pushPayouts transaction
REFUSED_RETRY_SECONDS = 3600  # a payee the token refused is pushed again after this (chain time)


@dataclass(frozen=True)
class KeeperAction:
    kind: str  # freeze | finalize_claim | settle | push_payouts | close_out | pay_cash_refunds
    deal_id: int
    accounts: tuple[str, ...] = ()
    reason: str = ""
    refs: tuple[str, ...] = ()  # pay_cash_refunds: the leader's cash orders

    def describe(self) -> str:
        who = f" {len(self.accounts)} account(s)" if self.accounts else ""
        return f"{self.kind} deal {self.deal_id}{who}: {self.reason}"


@dataclass
class KeeperReport:
    planned: list[KeeperAction] = field(default_factory=list)
    done: list[KeeperAction] = field(default_factory=list)
    skipped: list[tuple[KeeperAction, str]] = field(default_factory=list)


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
        self._previous_now: int | None = None  # the pass before (pickup deadlines crossed)
        self._wake: dict[int, int] = {}
        self._retry: set[int] = set()
        # Payees a payout push left owed (the token refused the transfer, e.g. a blacklisted
        # address: PayoutSkipped) -> chain time to try again: not on every pass, or the keeper
        # would send a transaction for them every few seconds forever (they can still withdraw).
        self._refused: dict[tuple[int, str], int] = {}
        # Deal -> the settlement time the escrow named when it refused a settle as too early
        # (SettlementTooEarly): it counts the last handover's dispute window, which no view
        # returns, so the keeper's own estimate can be early. Final once learned (handovers end
        # at the pickup deadline, before any estimate).
        self._settle_at: dict[int, int] = {}
        self.looked_at: list[int] = []  # the deals the last plan() looked at (for logs, tests)

    def now(self) -> int:
        return int(self.chain.w3.eth.get_block("latest")["timestamp"])

    def _due_deals(self, now: int) -> set[int]:
        changed = self.feed.changed()
        if changed is None or self._last_now is None:
            due = self.feed.every()
            self._refused.clear()  # the index was rebuilt (a chain reset?): try them again
            self._settle_at.clear()
        else:
            due = changed | self.feed.closing(self._last_now, now)
        due |= {d for d, at in self._wake.items() if at <= now} | self._retry
        self._previous_now, self._last_now = self._last_now, now
        if self.deal_ids is not None:
            due &= self.deal_ids
        return due

    def plan(self) -> list[KeeperAction]:
        """What is due now (reads only)."""
        escrow, now = self.escrow, self.now()
        due = self._due_deals(now)
        parties, claimants = self.feed.parties(due)
        cash = self.feed.cash(due)
        for deal_id, by_leader in cash.items():  # leaders with cash orders only are parties too
            parties.setdefault(deal_id, set()).update(by_leader)
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
            # Before settling: a close-out is taken only while the deal is not settled yet.
            actions += self._last_mile(deal_id, status, params, now, parties, cash)
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
                # (The last handover's window is not among the views: a settle tried too early
                # is refused with the true time, which the keeper then waits for.)
                settleable_at = max(
                    deal_rules.settleable_at(
                        delivery_deadline=params.delivery_deadline,
                        dispute_window=params.dispute_window,
                        last_receipt_at=totals.last_receipt_at,
                        pickup_deadline=params.pickup_deadline,
                    ),
                    self._settle_at.get(deal_id, 0),
                )
                if now < settleable_at:
                    wake.append(settleable_at)
                elif open_claims == 0:  # and no blocked batch (a freeze was planned above)
                    actions.append(KeeperAction("settle", deal_id, (), "dispute window over"))
                    settling = True
                if wake:
                    self._wake[deal_id] = min(wake)
            accounts = sorted(
                a
                for a in parties.get(deal_id, set()) | {params.supplier, escrow.fee_recipient()}
                if self._refused.get((deal_id, a), 0) <= now
            )
            refused = [t for (d, _), t in self._refused.items() if d == deal_id and t > now]
            if refused:  # look again when the first of them may be tried again
                self._wake[deal_id] = min(refused + [self._wake.get(deal_id, min(refused))])
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

    def _last_mile(
        self,
        deal_id: int,
        status: DealStatus,
        params: object,
        now: int,
        parties: dict[int, set[str]],
        cash: dict[int, dict[str, set[str]]],
    ) -> list[KeeperAction]:
        """No-shows closed out once the pickup deadline passed; cash refunds owed to leaders."""
        escrow, actions = self.escrow, []
        pickup = int(getattr(params, "pickup_deadline", 0) or 0)
        crossed = self._previous_now is None or self._previous_now < pickup
        if status == DealStatus.SUCCEEDED and now >= pickup and crossed:
            for leader in sorted(parties.get(deal_id, set())):
                # Only a group received short: its no-shows share the short units left (in a
                # full group a no-show changes no money, and the goods simply waited).
                info = escrow.leader_info(deal_id, leader)
                if info.received_at and escrow.shortfall(deal_id, leader).short:
                    actions.append(
                        KeeperAction("close_out", deal_id, (leader,), "pickup deadline passed")
                    )
        for leader, refs in sorted(cash.get(deal_id, {}).items()):
            due = tuple(
                r for r in sorted(refs) if escrow.cash_owed(deal_id, leader, bytes.fromhex(r[2:]))
            )
            if due:
                actions.append(
                    KeeperAction(
                        "pay_cash_refunds", deal_id, (leader,), "cash orders owed back", due
                    )
                )
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
                    again = self.now() + REFUSED_RETRY_SECONDS
                    for a in owed:
                        if self.escrow.owed(action.deal_id, a) > 0:
                            self._refused[(action.deal_id, a)] = again
                elif action.kind == "close_out":
                    self.escrow.close_out(action.deal_id, action.accounts[0], signer=signer)
                elif action.kind == "pay_cash_refunds":
                    self.escrow.pay_cash_refunds(
                        action.deal_id,
                        action.accounts[0],
                        [bytes.fromhex(r[2:]) for r in action.refs],
                        signer=signer,
                    )
                report.done.append(action)
                logger.info("keeper: %s", action.describe())
            except chain_errors.error_class("SettlementTooEarly") as exc:
                # The last handover's dispute window runs later than the keeper could see: wait
                # for the time the escrow named instead of trying again on every pass.
                at = int(exc.settleableAt)
                self._settle_at[action.deal_id] = at
                self._wake[action.deal_id] = min(at, self._wake.get(action.deal_id, at))
                self._retry.discard(action.deal_id)
                report.skipped.append((action, str(exc)))
                logger.info("keeper: settle of deal %d waits until %d", action.deal_id, at)
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
