"""One deal's aggregates folded from its actions, as ``GroupBuyEscrow`` books them.

:class:`DealBook` replays a deal's joins, cancels, receipts (short ones included), handovers,
no-shows, cash orders, claims and recalls into the totals the escrow keeps, using the rules of
:mod:`chain.deal_rules` (status, tiers, commission, settlement, what each account is owed).
``tests/chain/test_deal_rules.py`` holds it to the contract on anvil. Apart from the rules
because only that differential test folds whole deals; every reader takes single rules.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from chain.deal_rules import (
    DealStatus,
    HandoverSkip,
    Settlement,
    buyer_owed,
    commission,
    commission_bps_at,
    commission_pairs,
    deal_status,
    delivered,
    handover_fits,
    no_show_refund,
    pending_units,
    price_pairs,
    settleable_at,
    settlement,
    shortfall,
    top_price,
    unit_price_at,
)


@dataclass(frozen=True)
class DealTerms:
    """What a deal was listed with (``DealParams``), plus its fee recipient."""

    price_tiers: tuple[tuple[int, int], ...]
    min_total_quantity: int
    max_total_quantity: int
    per_buyer_limit: int
    join_deadline: int
    delivery_deadline: int
    dispute_window: int
    answer_window: int
    commission_bps: int
    commission_tiers: tuple[tuple[int, int], ...] = ()
    platform_fee_bps: int = 0
    supplier: str = ""
    fee_recipient: str = ""
    pickup_deadline: int | None = None  # None: the delivery deadline
    cash_cap_per_leader: int = 0

    @classmethod
    def of(cls, params: Any, *, fee_recipient: str = "") -> DealTerms:
        """From ``chain.clients.DealParams`` (or anything with its field names)."""
        return cls(
            price_tiers=tuple(price_pairs(params.price_tiers)),
            min_total_quantity=int(params.min_total_quantity),
            max_total_quantity=int(params.max_total_quantity),
            per_buyer_limit=int(params.per_buyer_limit),
            join_deadline=int(params.join_deadline),
            delivery_deadline=int(params.delivery_deadline),
            dispute_window=int(params.dispute_window),
            answer_window=int(params.answer_window),
            commission_bps=int(params.commission_bps),
            commission_tiers=tuple(commission_pairs(params.commission_tiers)),
            platform_fee_bps=int(params.platform_fee_bps),
            supplier=str(params.supplier),
            fee_recipient=fee_recipient,
            pickup_deadline=(
                int(params.pickup_deadline)
                if getattr(params, "pickup_deadline", None) is not None
                else int(params.delivery_deadline)
            ),
            cash_cap_per_leader=int(getattr(params, "cash_cap_per_leader", 0) or 0),
        )

    @property
    def top_price(self) -> int:
        return top_price(self.price_tiers)


@dataclass
class OrderState:
    leader: str
    quantity: int = 0
    upheld_quantity: int = 0
    paid_out: bool = False
    claimed_quantity: int = 0
    picked_up: int = 0
    short_quantity: int = 0
    picked_up_at: int = 0  # 0: not handed over (待提货)


@dataclass
class CashOrderState:
    """A cash order a leader booked (refunds go back to the leader, accounted apart)."""

    quantity: int = 0
    picked_up: int = 0
    short_quantity: int = 0
    picked_up_at: int = 0
    paid_out: bool = False


@dataclass
class LeaderState:
    quantity: int = 0
    delivered: int | None = None  # set by a short receipt only (else all units count)
    short_refund_per_unit: int = 0
    refunded_quantity: int = 0
    received_at: int = 0
    commission_bps: int = 0
    commission: int = 0
    paid_out: bool = False
    handed_over: int = 0
    short_assigned: int = 0
    cash_quantity: int = 0
    cash_refunded: int = 0
    closed_out: bool = False


@dataclass
class DealBook:
    """A deal's aggregates, folded from its actions as the escrow books them.

    Applies effects only (the contract already refused what was invalid): feed it the actions
    that succeeded on chain (or the index's events) in order, and read what the contract's views
    would return."""

    terms: DealTerms
    total_quantity: int = 0
    received_quantity: int = 0
    refunded_quantity: int = 0
    commission_total: int = 0
    last_receipt_at: int = 0
    frozen: bool = False
    settled: bool = False
    supplier_amount: int = 0
    platform_fee: int = 0
    supplier_paid: bool = False
    fee_paid: bool = False
    short_dust: int = 0
    orders: dict[str, OrderState] = field(default_factory=dict)
    leaders: dict[str, LeaderState] = field(default_factory=dict)
    cash: dict[tuple[str, str], CashOrderState] = field(default_factory=dict)
    last_pickup_at: int = 0

    # --- actions
    def join(self, buyer: str, leader: str, quantity: int) -> None:
        order = self.orders.setdefault(buyer, OrderState(leader))
        order.leader = leader
        order.quantity += quantity
        self.leaders.setdefault(leader, LeaderState()).quantity += quantity
        self.total_quantity += quantity

    def cancel(self, buyer: str) -> None:
        order = self.orders.pop(buyer)
        self.leaders[order.leader].quantity -= order.quantity
        self.total_quantity -= order.quantity

    def confirm_receipt(self, leader: str, at: int, received: int | None = None) -> None:
        """A leader's receipt of ``received`` units (None: all the group ordered)."""
        info = self.leaders[leader]
        price = self.unit_price
        units = info.quantity if received is None else delivered(info.quantity, received)
        if units < info.quantity:
            info.delivered = units
            info.short_refund_per_unit, dust = shortfall(info.quantity, units, price)
            self.short_dust += dust
        info.commission_bps = commission_bps_at(
            self.terms.commission_tiers, self.terms.commission_bps, units
        )
        info.commission = commission(units, price, info.commission_bps)
        info.received_at = at
        self.received_quantity += units
        self.commission_total += info.commission
        self.last_receipt_at = at

    # --- the last mile (GroupBuyLastMile)
    def pending(self, leader: str) -> tuple[int, int]:
        """(units of the group not handed over, short units not yet assigned)."""
        info = self.leaders[leader]
        return pending_units(
            info.quantity, self.delivered_units(leader), info.handed_over, info.short_assigned
        )

    def handover_refusal(
        self, buyer: str, leader: str, taken: int, *, now: int, expiry: int | None = None
    ) -> HandoverSkip | None:
        """Why the escrow would skip this handover (the signature aside), or None."""
        if expiry is not None and now >= expiry:
            return "expired"
        order = self.orders.get(buyer)
        if order is None or order.quantity == 0:
            return "no_order"
        if order.leader != leader:
            return "wrong_leader"
        if order.picked_up_at:
            return "already_picked_up"
        return self._fit(leader, order.quantity, taken, order.claimed_quantity)

    def _fit(self, leader: str, ordered: int, taken: int, claimed: int) -> HandoverSkip | None:
        no_shows, unassigned = self.pending(leader)
        fits = handover_fits(
            ordered=ordered, taken=taken, claimed=claimed, no_shows=no_shows, unassigned=unassigned
        )
        return None if fits else "invalid_quantity"

    def _assign(self, leader: str, taken: int, short: int) -> None:
        info, price = self.leaders[leader], self.unit_price
        short_group = info.delivered is not None
        before = no_show_refund(*self.pending(leader), price)[1] if short_group else 0
        info.handed_over += taken
        info.short_assigned += short
        if short_group:
            self.short_dust += no_show_refund(*self.pending(leader), price)[1] - before

    def hand_over(self, buyer: str, taken: int, at: int) -> None:
        """A handover the escrow recorded (HandedOver)."""
        order = self.orders[buyer]
        order.picked_up, order.short_quantity = taken, order.quantity - taken
        order.picked_up_at = at
        self._assign(order.leader, taken, order.short_quantity)
        self.last_pickup_at = at

    def book_cash(self, leader: str, ref: str, quantity: int) -> None:
        self.cash.setdefault((leader, ref), CashOrderState()).quantity += quantity
        info = self.leaders.setdefault(leader, LeaderState())
        info.quantity += quantity
        info.cash_quantity += quantity
        self.total_quantity += quantity

    def cash_refusal(self, leader: str, ref: str, taken: int) -> HandoverSkip | None:
        order = self.cash.get((leader, ref))
        if order is None or order.quantity == 0:
            return "no_order"
        if order.picked_up_at:
            return "already_picked_up"
        return self._fit(leader, order.quantity, taken, 0)

    def hand_over_cash(self, leader: str, ref: str, taken: int, at: int) -> None:
        order = self.cash[(leader, ref)]
        order.picked_up, order.short_quantity = taken, order.quantity - taken
        order.picked_up_at = at
        self._assign(leader, taken, order.short_quantity)
        self.last_pickup_at = at

    def no_show_refund_per_unit(self, leader: str) -> int:
        """``shortfall``'s refundPerUnit: what each unit not handed over gets back (short groups)."""
        if self.leaders[leader].delivered is None:
            return 0
        return no_show_refund(*self.pending(leader), self.unit_price)[0]

    def _short_refund(self, leader: str, quantity: int, picked_up_at: int, short: int) -> int:
        if picked_up_at:
            return short * self.unit_price
        return quantity * self.no_show_refund_per_unit(leader)

    def cash_owed(self, leader: str, ref: str, now: int) -> int:
        """``cashOwed``: a cash order's refund owed back to its leader (the buyer's rules)."""
        order = self.cash.get((leader, ref))
        if order is None:
            return 0
        info = self.leaders.get(leader)
        status = self.status(now)
        received = bool(info and info.received_at)
        return buyer_owed(
            status=status,
            now=now,
            delivery_deadline=self.terms.delivery_deadline,
            top_price=self.terms.top_price,
            unit_price=self.unit_price,
            quantity=order.quantity,
            paid_out=order.paid_out,
            leader_received=received,
            short_refund=self._short_refund(
                leader, order.quantity, order.picked_up_at, order.short_quantity
            )
            if received
            else 0,
        )

    def collect_cash(self, leader: str, refs: list[str], now: int) -> int:
        """``payCashRefunds``: what the cash orders ``refs`` are owed, marked paid."""
        total = 0
        for ref in refs:
            due = self.cash_owed(leader, ref, now)
            if due:
                self.cash[(leader, ref)].paid_out = True
                total += due
        if leader in self.leaders:
            self.leaders[leader].cash_refunded += total
        return total

    def delivered_units(self, leader: str) -> int:
        """Units of the leader's group that count as delivered (``_delivered``)."""
        info = self.leaders[leader]
        return info.quantity if info.delivered is None else info.delivered

    def claimable(self, buyer: str) -> int:
        """Units a quality claim may still cover (``fileClaim``): the units handed over, or
        while not handed over the whole order in a group received in full (none in a short
        group: which units were short is settled at pickup)."""
        order = self.orders[buyer]
        if order.picked_up_at:
            units = order.picked_up
        elif self.leaders[order.leader].delivered is not None:
            return 0
        else:
            units = order.quantity
        return units - order.claimed_quantity

    def file_claim(self, buyer: str, quantity: int) -> None:
        self.orders[buyer].claimed_quantity += quantity

    def uphold_claim(self, buyer: str, quantity: int) -> None:
        """A claim upheld (accepted, arbitrated for the buyer, or unanswered)."""
        order = self.orders[buyer]
        info = self.leaders[order.leader]
        order.upheld_quantity += quantity
        info.refunded_quantity += quantity
        new = commission(
            self.delivered_units(order.leader) - info.refunded_quantity,
            self.unit_price,
            info.commission_bps,
        )
        self.commission_total += new - info.commission
        info.commission = new
        self.refunded_quantity += quantity

    def freeze(self) -> None:
        self.frozen = True

    def is_live(self, now: int) -> bool:
        """``GroupBuyDeals.isLive``: a recall of one of its batches freezes the deal at once
        (open or succeeded; a failed deal already refunds everyone in full)."""
        return self.status(now) in (DealStatus.OPEN, DealStatus.SUCCEEDED)

    def settle(self) -> Settlement:
        split = settlement(
            price_tiers=self.terms.price_tiers,
            total_quantity=self.total_quantity,
            received_quantity=self.received_quantity,
            refunded_quantity=self.refunded_quantity,
            commission_total=self.commission_total,
            platform_fee_bps=self.terms.platform_fee_bps,
            short_dust=self.short_dust,
        )
        self.settled = True
        self.platform_fee = split.platform_fee
        self.supplier_amount = split.supplier_amount
        return split

    def collect(self, account: str, now: int) -> int:
        """``withdraw`` / a pushed payout: everything owed to ``account``, marked paid."""
        amount = self.owed(account, now)
        status = self.status(now)
        order = self.orders.get(account)
        if order is not None and self._buyer_owed(order, status, now):
            order.paid_out = True
        if status == DealStatus.SETTLED:
            info = self.leaders.get(account)
            if info is not None and info.received_at and not info.paid_out:
                info.paid_out = True
            if account == self.terms.supplier:
                self.supplier_paid = True
            if account == self.terms.fee_recipient:
                self.fee_paid = True
        return amount

    # --- views
    def status(self, now: int) -> DealStatus:
        return deal_status(
            now=now,
            join_deadline=self.terms.join_deadline,
            total_quantity=self.total_quantity,
            min_total_quantity=self.terms.min_total_quantity,
            frozen=self.frozen,
            settled=self.settled,
        )

    @property
    def unit_price(self) -> int:
        """``finalUnitPrice``: the price at the deal's current volume."""
        return unit_price_at(self.terms.price_tiers, self.total_quantity)

    @property
    def settleable_at(self) -> int:
        return settleable_at(
            delivery_deadline=self.terms.delivery_deadline,
            dispute_window=self.terms.dispute_window,
            last_receipt_at=self.last_receipt_at,
            pickup_deadline=self.terms.pickup_deadline,
            last_pickup_at=self.last_pickup_at,
        )

    def _buyer_owed(self, order: OrderState, status: DealStatus, now: int) -> int:
        leader = self.leaders.get(order.leader)
        return buyer_owed(
            status=status,
            now=now,
            delivery_deadline=self.terms.delivery_deadline,
            top_price=self.terms.top_price,
            unit_price=self.unit_price,
            quantity=order.quantity,
            upheld_quantity=order.upheld_quantity,
            paid_out=order.paid_out,
            leader_received=bool(leader and leader.received_at),
            short_refund=self._short_refund(
                order.leader, order.quantity, order.picked_up_at, order.short_quantity
            )
            if leader and leader.received_at
            else 0,
        )

    def owed(self, account: str, now: int) -> int:
        """``GroupBuyEscrow.owed``: the buyer's part, and after settlement the leader's
        commission, the supplier amount and the platform fee that are not paid yet."""
        status = self.status(now)
        order = self.orders.get(account)
        amount = self._buyer_owed(order, status, now) if order is not None else 0
        if status == DealStatus.SETTLED:
            info = self.leaders.get(account)
            if info is not None and info.received_at and not info.paid_out:
                amount += info.commission
            if account == self.terms.supplier and not self.supplier_paid:
                amount += self.supplier_amount
            if account == self.terms.fee_recipient and not self.fee_paid:
                amount += self.platform_fee
        return amount
