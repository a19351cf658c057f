"""The Python deal rules (:mod:`chain.deal_rules`) against the escrow on anvil, differentially.

Hypothesis draws a deal (price and commission tiers, quantities, windows, fee) and a life for it
(joins and cancels, an optional recall, the join deadline crossed at, before or after its exact
second, receipts (short ones too), claims upheld by the supplier or by default, settlement,
pushed payouts). After
every step the contract's views (``dealStatus``, ``finalUnitPrice``, ``owed`` for every account,
the totals and each leader's commission) must equal what :class:`DealBook` computes. Only steps the
contract accepts are drawn (the test checks the mirror's arithmetic, not the contract's
validation), so any revert fails the test.

One anvil per session (``tests/conftest.py``); each example runs between its own
``evm_snapshot`` / ``evm_revert``.
"""

from __future__ import annotations

from dataclasses import dataclass

import httpx
import pytest
from eth_account.signers.local import LocalAccount
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from web3 import Web3

from chain import deal_rules
from chain.accounts import dev_account
from chain.clients import Clients, CommissionTier, DealParams, PriceTier
from chain.deal_book import DealBook, DealTerms, LeaderState
from chain.deal_rules import DealStatus
from chain.eip712 import sign_typed_data
from chain.tx import TxSender

CID = bytes.fromhex("1220") + bytes(range(32))
CREDENTIALS_DIGEST = bytes(range(1, 33))  # SHA-256 of private credentials (any 32 bytes here)
GTIN = "09506000134352"
JOIN_WINDOW = 1_000
CASH_REFS = [Web3.keccak(text="salt-1|neighbour A"), Web3.keccak(text="salt-2|neighbour B")]


@dataclass
class Cast:
    clients: Clients
    w3: Web3
    sender: TxSender
    platform: LocalAccount
    supplier: LocalAccount
    leaders: list[LocalAccount]
    buyers: list[LocalAccount]
    batch_id: bytes
    fee_recipient: str


@pytest.fixture
def cast(w3: Web3, clients: Clients, tx_sender: TxSender) -> Cast:
    """Approved supplier and leaders, a registered batch, buyers with tokens and allowances."""
    platform, supplier = dev_account(0), dev_account(10)
    leaders = [dev_account(11), dev_account(12)]
    buyers = [dev_account(i) for i in range(13, 17)]
    registry, escrow, token = clients.registry, clients.escrow, clients.token
    registry.apply_as_supplier(CID, CREDENTIALS_DIGEST, signer=supplier)
    registry.approve_supplier(supplier.address, signer=platform)
    registry.assign_company_prefix("9506000", supplier.address, signer=platform)
    for leader in leaders:
        registry.apply_as_leader(CID, CREDENTIALS_DIGEST, signer=leader)
        registry.approve_leader(leader.address, signer=platform)
    batch_id = registry.register_batch(GTIN, "LOT-RULES", CID, signer=supplier)
    for account in [*buyers, *leaders]:  # leaders book cash orders
        token.mint(account.address, 10**15, signer=platform)
        token.approve(escrow.address, 2**256 - 1, signer=account)
    return Cast(
        clients,
        w3,
        tx_sender,
        platform,
        supplier,
        leaders,
        buyers,
        batch_id,
        escrow.fee_recipient(),
    )


@st.composite
def price_tiers(draw: st.DrawFn) -> list[PriceTier]:
    count = draw(st.integers(1, 4))
    price = draw(st.integers(2, 5_000_000))
    tiers = [PriceTier(0, price)]
    threshold = 0
    for _ in range(count - 1):
        threshold += draw(st.integers(1, 8))
        price = draw(st.integers(1, price - 1)) if price > 1 else 0
        if price == 0:
            break
        tiers.append(PriceTier(threshold, price))
    return tiers


@st.composite
def commission_tiers(draw: st.DrawFn, base_bps: int) -> list[CommissionTier]:
    tiers = []
    volume, bps = 0, base_bps
    for _ in range(draw(st.integers(0, 3))):
        if bps >= 2000:
            break
        volume += draw(st.integers(1, 6))
        bps = draw(st.integers(bps + 1, 2000))
        tiers.append(CommissionTier(volume, bps))
    return tiers


def _now(w3: Web3) -> int:
    return int(w3.eth.get_block("latest")["timestamp"])


def _mine_at(w3: Web3, timestamp: int) -> None:
    w3.provider.make_request("evm_setNextBlockTimestamp", [timestamp])  # type: ignore[arg-type]
    w3.provider.make_request("evm_mine", [])  # type: ignore[arg-type]


def _block_time(w3: Web3, receipt: object) -> int:
    return int(w3.eth.get_block(receipt["blockNumber"])["timestamp"])  # type: ignore[index]


def _views(cast: Cast, deal_id: int, calls: list[tuple[str, list[object]]]) -> list[list[int]]:
    """The escrow's views in one JSON-RPC batch, each as its 32-byte words (every view read here
    returns static types only). Through web3 one call costs ~35 ms on a loaded machine, and the
    test reads ~15 views per step."""
    escrow = cast.clients.escrow
    batch = [
        {
            "jsonrpc": "2.0",
            "id": i,
            "method": "eth_call",
            "params": [
                {"to": escrow.address, "data": "0x" + escrow.calldata(name, deal_id, *args).hex()},
                "latest",
            ],
        }
        for i, (name, args) in enumerate(calls)
    ]
    answers = sorted(
        httpx.post(cast.w3.provider.endpoint_uri, json=batch, timeout=30).json(),  # type: ignore[attr-defined]
        key=lambda a: a["id"],
    )
    out = []
    for answer in answers:
        data = bytes.fromhex(answer["result"][2:])
        out.append([int.from_bytes(data[i : i + 32]) for i in range(0, len(data), 32)])
    return out


def _check(cast: Cast, deal_id: int, book: DealBook) -> None:
    """Every view the mirror computes equals the contract's, at the latest block's time."""
    now = _now(cast.w3)
    accounts = [
        *(b.address for b in cast.buyers),
        *(leader.address for leader in cast.leaders),
        cast.supplier.address,
        cast.fee_recipient,
    ]
    status, price, totals, *rest = _views(
        cast,
        deal_id,
        [
            ("dealStatus", []),
            ("finalUnitPrice", []),
            ("dealTotals", []),
            *(("owed", [a]) for a in accounts),
            *(("leaderInfo", [leader.address]) for leader in cast.leaders),
            *(("shortfall", [leader.address]) for leader in cast.leaders),
            *(("cashOwed", [leader.address, ref]) for leader in cast.leaders for ref in CASH_REFS),
        ],
    )
    n, k = len(accounts), len(cast.leaders)
    owed, leader_infos = rest[:n], rest[n : n + k]
    shortfalls, cash_owed = rest[n + k : n + 2 * k], rest[n + 2 * k :]
    for leader, short in zip(cast.leaders, shortfalls, strict=True):
        if leader.address in book.leaders and book.leaders[leader.address].received_at:
            assert short[2] == book.no_show_refund_per_unit(leader.address)
    assert [c[0] for c in cash_owed] == [
        book.cash_owed(leader.address, "0x" + ref.hex(), now)
        for leader in cast.leaders
        for ref in CASH_REFS
    ]
    assert DealStatus(status[0]) == book.status(now)
    assert price[0] == book.unit_price
    assert dict(zip(accounts, (o[0] for o in owed), strict=True)) == {
        a: book.owed(a, now) for a in accounts
    }
    # DealTotals: total, received, refunded, commissionTotal, openClaims, lastReceiptAt,
    # supplierAmount, platformFee.
    assert [totals[i] for i in (0, 1, 2, 3, 5, 6, 7)] == [
        book.total_quantity,
        book.received_quantity,
        book.refunded_quantity,
        book.commission_total,
        book.last_receipt_at,
        book.supplier_amount,
        book.platform_fee,
    ]
    for leader, info in zip(cast.leaders, leader_infos, strict=True):
        # LeaderView: quantity, refundedQuantity, receivedAt, commissionBps, commission, paidOut.
        mirror = book.leaders.get(leader.address, LeaderState())
        assert (info[0], info[1], info[4], info[5]) == (
            mirror.quantity,
            mirror.refunded_quantity,
            mirror.commission,
            int(mirror.paid_out),
        )
        if info[2]:
            assert info[3] == mirror.commission_bps


def _join_phase(data: st.DataObject, cast: Cast, deal_id: int, book: DealBook) -> None:
    escrow, terms = cast.clients.escrow, book.terms
    for _ in range(data.draw(st.integers(0, 8), label="orders")):
        buyer = cast.buyers[data.draw(st.integers(0, len(cast.buyers) - 1), label="buyer")]
        order = book.orders.get(buyer.address)
        if order is not None and data.draw(st.integers(0, 4), label="cancel?") == 0:
            escrow.cancel(deal_id, signer=buyer)
            book.cancel(buyer.address)
            continue
        leader = (
            order.leader
            if order is not None
            else cast.leaders[
                data.draw(st.integers(0, len(cast.leaders) - 1), label="leader")
            ].address
        )
        room = min(
            terms.max_total_quantity - book.total_quantity,
            terms.per_buyer_limit - (order.quantity if order else 0),
        )
        if room <= 0:
            continue
        quantity = data.draw(st.integers(1, room), label="quantity")
        escrow.join(deal_id, quantity, leader, signer=buyer)
        book.join(buyer.address, leader, quantity)
    # Cash orders booked by leaders (线下支付): within the per-leader cap and the stock.
    for _ in range(data.draw(st.integers(0, 2), label="cash orders")):
        leader = cast.leaders[data.draw(st.integers(0, len(cast.leaders) - 1), label="cash by")]
        booked = book.leaders.get(leader.address, LeaderState()).cash_quantity
        room = min(
            terms.cash_cap_per_leader - booked, terms.max_total_quantity - book.total_quantity
        )
        if room <= 0:
            continue
        ref = CASH_REFS[data.draw(st.integers(0, 1), label="beneficiary")]
        quantity = data.draw(st.integers(1, room), label="cash quantity")
        escrow.book_cash_order(deal_id, quantity, ref, signer=leader)
        book.book_cash(leader.address, "0x" + ref.hex(), quantity)


def _delivery_phase(data: st.DataObject, cast: Cast, deal_id: int, book: DealBook) -> None:
    """Receipts by some leaders, then claims on their orders, upheld one way or the other."""
    escrow, w3 = cast.clients.escrow, cast.w3
    for leader in cast.leaders:
        info = book.leaders.get(leader.address)
        if info is None or info.quantity == 0 or not data.draw(st.booleans(), label="receive?"):
            continue
        # Short deliveries too: from nothing to more than ordered (which counts as ordered).
        received = data.draw(st.integers(0, info.quantity + 2), label="received")
        receipt = escrow.confirm_receipt(
            deal_id,
            cast.batch_id,
            Web3.keccak(text=f"receiving {deal_id} {leader.address}"),
            Web3.keccak(text="delivery note"),
            received_quantity=received,
            signer=leader,
        )
        book.confirm_receipt(leader.address, _block_time(w3, receipt), received)
        _check(cast, deal_id, book)
    _handover_phase(data, cast, deal_id, book)
    unanswered: list[tuple[str, int]] = []
    for buyer in cast.buyers:
        order = book.orders.get(buyer.address)
        if order is None or not book.leaders[order.leader].received_at:
            continue
        quantity = data.draw(st.integers(0, book.claimable(buyer.address)), label="claimed")
        if quantity == 0:
            continue
        escrow.file_claim(deal_id, quantity, CID, signer=buyer)
        book.file_claim(buyer.address, quantity)
        if data.draw(st.booleans(), label="supplier accepts?"):
            escrow.accept_claim(deal_id, buyer.address, signer=cast.supplier)
            book.uphold_claim(buyer.address, quantity)
        else:  # upheld by default below, once the answer window is over
            unanswered.append((buyer.address, quantity))
    if unanswered:
        _mine_at(w3, _now(w3) + book.terms.answer_window)
        for buyer_address, quantity in unanswered:
            escrow.finalize_unanswered_claim(deal_id, buyer_address, signer=cast.platform)
            book.uphold_claim(buyer_address, quantity)
        _check(cast, deal_id, book)


def _handover_phase(data: st.DataObject, cast: Cast, deal_id: int, book: DealBook) -> None:
    """Each received leader hands over some orders in one call, with the buyers' signatures
    (quantities from nothing to more than ordered: the escrow skips what does not fit, as the
    mirror predicts), then some of their cash orders."""
    escrow, w3 = cast.clients.escrow, cast.w3
    for leader in cast.leaders:
        info = book.leaders.get(leader.address)
        if info is None or not info.received_at:
            continue
        items, expected = [], []
        expiry = _now(w3) + 600
        for buyer in cast.buyers:
            order = book.orders.get(buyer.address)
            if order is None or not data.draw(st.booleans(), label="hand over?"):
                continue
            taken = data.draw(st.integers(0, order.quantity + 1), label="taken")
            typed = escrow.handover_typed_data(
                deal_id, buyer.address, leader.address, taken, expiry
            )
            items.append((buyer.address, taken, expiry, sign_typed_data(buyer, typed).signature))
            expected.append((buyer.address, taken))
        if items:
            receipt = escrow.hand_over(deal_id, items, signer=leader)
            at = _block_time(w3, receipt)
            recorded = {e["args"]["buyer"] for e in escrow.events_in(receipt, "HandedOver")}
            for buyer_address, taken in expected:  # in order: each one changes the aggregates
                refusal = book.handover_refusal(buyer_address, leader.address, taken, now=at)
                assert (buyer_address in recorded) == (refusal is None), refusal
                if refusal is None:
                    book.hand_over(buyer_address, taken, at)
        for ref in CASH_REFS:
            key = (leader.address, "0x" + ref.hex())
            if key not in book.cash or not data.draw(st.booleans(), label="cash handover?"):
                continue
            taken = data.draw(st.integers(0, book.cash[key].quantity), label="cash taken")
            refusal = book.cash_refusal(*key, taken)
            if refusal is None:
                receipt = escrow.hand_over_cash(deal_id, ref, taken, signer=leader)
                book.hand_over_cash(*key, taken, _block_time(w3, receipt))
        _check(cast, deal_id, book)


def _recall(cast: Cast, deal_id: int, book: DealBook) -> None:
    """The supplier recalls the batch: the registry's notification freezes a live deal in the
    same transaction; any other unsettled one (failed) is frozen by anyone afterwards."""
    receipt = cast.clients.registry.recall_batch(cast.batch_id, CID, signer=cast.supplier)
    if book.is_live(_block_time(cast.w3, receipt)):
        book.freeze()
    elif not book.settled:
        cast.clients.escrow.freeze(deal_id, signer=cast.platform)
        book.freeze()
    _check(cast, deal_id, book)


@settings(
    max_examples=25,
    # No shrinking: an example costs ~0.5 s of chain calls and shrinking one ran for minutes; the
    # failing example's draws are printed as they are (labelled steps), which reads well enough.
    phases=[Phase.explicit, Phase.reuse, Phase.generate],
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(data=st.data())
def test_mirror_matches_the_escrow(cast: Cast, data: st.DataObject) -> None:
    w3, escrow = cast.w3, cast.clients.escrow
    snapshot = w3.provider.make_request("evm_snapshot", [])["result"]  # type: ignore[arg-type]
    try:
        tiers = data.draw(price_tiers(), label="price tiers")
        base_bps = data.draw(st.integers(500, 2000), label="commission bps")
        minimum = data.draw(st.integers(1, 20), label="min quantity")
        now = _now(w3)
        delivery = now + JOIN_WINDOW + data.draw(st.integers(200, 2_000), label="delivery")
        params = DealParams(
            supplier=cast.supplier.address,
            token=cast.clients.token.address,
            price_tiers=tiers,
            min_total_quantity=minimum,
            max_total_quantity=data.draw(st.integers(minimum, 40), label="max quantity"),
            per_buyer_limit=data.draw(st.integers(1, 15), label="per buyer"),
            join_deadline=now + JOIN_WINDOW,
            delivery_deadline=delivery,
            dispute_window=data.draw(st.integers(1, 3_000), label="dispute window"),
            answer_window=data.draw(st.integers(1, 500), label="answer window"),
            commission_bps=base_bps,
            commission_tiers=data.draw(commission_tiers(base_bps), label="commission tiers"),
            platform_fee_bps=data.draw(st.integers(0, 1000), label="fee bps"),
            batch_ids=[cast.batch_id],
            pickup_deadline=delivery + data.draw(st.integers(0, 2_000), label="pickup window"),
            cash_cap_per_leader=data.draw(st.integers(0, 6), label="cash cap"),
        )
        deal_id = escrow.create_deal(params, signer=cast.platform)
        book = DealBook(DealTerms.of(params, fee_recipient=cast.fee_recipient))
        assert escrow.deal_params(deal_id) == params
        _check(cast, deal_id, book)

        _join_phase(data, cast, deal_id, book)
        _check(cast, deal_id, book)
        recall = data.draw(st.sampled_from(["never", "while open", "after closing"]))
        if recall == "while open":
            _recall(cast, deal_id, book)

        # The join deadline's exact second is where "open" ends: cross it at -1, 0 or +1.
        _mine_at(w3, params.join_deadline + data.draw(st.integers(-1, 1), label="at deadline"))
        _check(cast, deal_id, book)
        if _now(w3) < params.join_deadline:
            _mine_at(w3, params.join_deadline)
            _check(cast, deal_id, book)

        if book.status(_now(w3)) == DealStatus.SUCCEEDED:
            _delivery_phase(data, cast, deal_id, book)
        if recall == "after closing":
            _recall(cast, deal_id, book)

        # Past the delivery deadline (undelivered orders are refunded) and the dispute windows.
        offset = data.draw(st.integers(-1, 1), label="at settleable")
        _mine_at(w3, max(book.settleable_at + offset, _now(w3) + 1))
        _check(cast, deal_id, book)
        if _now(w3) < book.settleable_at:
            _mine_at(w3, book.settleable_at)
            _check(cast, deal_id, book)
        if book.status(_now(w3)) == DealStatus.SUCCEEDED:
            escrow.settle(deal_id, signer=cast.platform)
            book.settle()
            _check(cast, deal_id, book)

        payees = data.draw(
            st.lists(
                st.sampled_from(
                    [
                        *(b.address for b in cast.buyers),
                        *(leader.address for leader in cast.leaders),
                        cast.supplier.address,
                        cast.fee_recipient,
                    ]
                ),
                unique=True,
            ),
            label="paid",
        )
        if payees:
            receipt = escrow.push_payouts(deal_id, payees, signer=cast.platform)
            at = _block_time(w3, receipt)
            for account in payees:
                book.collect(account, at)
            _check(cast, deal_id, book)
        for leader in cast.leaders:  # cash refunds, pushed to the leaders who booked them
            due = [
                r for r in CASH_REFS if book.cash_owed(leader.address, "0x" + r.hex(), _now(w3) + 1)
            ]
            if due and data.draw(st.booleans(), label="pay cash?"):
                receipt = escrow.pay_cash_refunds(
                    deal_id, leader.address, due, signer=cast.platform
                )
                book.collect_cash(
                    leader.address, ["0x" + r.hex() for r in due], _block_time(w3, receipt)
                )
                _check(cast, deal_id, book)
    finally:
        w3.provider.make_request("evm_revert", [snapshot])  # type: ignore[arg-type]
        cast.sender.reset_all_nonces()


@pytest.mark.parametrize(
    ("tiers", "quantity", "index", "price", "following"),
    [
        ([(0, 100)], 0, 0, 100, None),
        ([(0, 100), (10, 80)], 9, 0, 100, (10, 80)),
        ([(0, 100), (10, 80)], 10, 1, 80, None),
        ([(0, 100), (10, 80), (20, 60)], 15, 1, 80, (20, 60)),
    ],
)
def test_tiers_fixed_values(
    tiers: list[tuple[int, int]],
    quantity: int,
    index: int,
    price: int,
    following: tuple[int, int] | None,
) -> None:
    """The fixed-value twin of the differential test: a threshold is reached at its own count."""
    assert deal_rules.tier_index(tiers, quantity) == index
    assert deal_rules.unit_price_at(tiers, quantity) == price
    assert deal_rules.next_tier(tiers, quantity) == following
    objects = [PriceTier(q, p) for q, p in tiers]
    assert deal_rules.unit_price_at(objects, quantity) == price
    assert deal_rules.next_tier(objects, quantity) == (PriceTier(*following) if following else None)


def test_commission_rate_and_status_words() -> None:
    tiers = [CommissionTier(5, 1200), CommissionTier(10, 1500)]
    assert [deal_rules.commission_bps_at(tiers, 1000, v) for v in (0, 4, 5, 9, 10, 99)] == [
        1000,
        1000,
        1200,
        1200,
        1500,
        1500,
    ]
    assert deal_rules.commission(3, 333, 1000) == 99  # rounded down: the supplier keeps dust
    assert set(deal_rules.DEAL_STATUS_LABELS) == {
        s.label for s in DealStatus if s is not DealStatus.NONE
    }
