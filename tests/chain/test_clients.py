"""Typed clients through a whole deal: join, receipt anchoring, claim, settlement, payouts."""

from __future__ import annotations

import pytest
from eth_account.signers.local import LocalAccount

from chain import errors
from chain.accounts import dev_account
from chain.clients import BatchStatus, ClaimStatus, DealStatus, PartyKind, PartyStatus

from .conftest import CID, CREDENTIALS_DIGEST, GTIN, TIER_PRICE, TOP_PRICE, Market, advance_time

BUYERS = [dev_account(12), dev_account(13), dev_account(14)]
QUANTITIES = [4, 4, 3]  # 11 units: the 10-unit tier (8 tUSD) is reached


def _fund(m: Market, buyer: LocalAccount, amount: int) -> None:
    m.clients.token.mint(buyer.address, amount, signer=dev_account(0))
    m.clients.token.approve(m.clients.escrow.address, amount, signer=buyer)


def test_registry_views(market: Market) -> None:
    registry = market.clients.registry
    party = registry.party(PartyKind.SUPPLIER, market.supplier.address)
    assert party.status == PartyStatus.APPROVED and party.profile_digest == CID[2:]
    assert party.credentials_digest == CREDENTIALS_DIGEST
    assert registry.is_approved_leader(market.leader.address)
    info = registry.batch_info(market.batch_id)
    assert (info.supplier, info.status, info.gtin14, info.lot) == (
        market.supplier.address,
        BatchStatus.ACTIVE,
        GTIN,
        "LOT-7",
    )
    assert registry.batch_supplier(market.batch_id) == market.supplier.address
    (event,) = registry.get_events("BatchRegistered", argument_filters={"batchId": market.batch_id})
    assert event["args"]["metadataCid"] == CID


def test_deal_params_round_trip(market: Market) -> None:
    params = market.clients.escrow.deal_params(market.deal_id)
    assert params.supplier == market.supplier.address
    assert [t.unit_price for t in params.price_tiers] == [TOP_PRICE, TIER_PRICE]
    assert params.batch_ids == [market.batch_id]
    assert market.clients.escrow.deal_status(market.deal_id) == DealStatus.OPEN
    assert market.clients.escrow.deal_count() == market.deal_id


def test_join_errors_are_named(market: Market) -> None:
    escrow, buyer = market.clients.escrow, BUYERS[0]
    _fund(market, buyer, 20 * TOP_PRICE)
    with pytest.raises(errors.PerBuyerLimitExceeded) as limit:
        escrow.join(market.deal_id, 11, market.leader.address, signer=buyer)
    assert limit.value.args == {
        "dealId": market.deal_id,
        "buyer": buyer.address,
        "requested": 11,
        "limit": 10,
    }
    with pytest.raises(errors.LeaderNotApproved):
        escrow.join(market.deal_id, 1, dev_account(15).address, signer=buyer)
    with pytest.raises(errors.ZeroQuantity):
        escrow.join(market.deal_id, 0, market.leader.address, signer=buyer)
    with pytest.raises(errors.DealNotSucceeded) as not_yet:
        escrow.settle(market.deal_id, signer=dev_account(2))
    assert not_yet.value.status == DealStatus.OPEN


def test_whole_deal_settles_and_pays_everyone(market: Market) -> None:
    m, escrow, token, registry = (
        market,
        market.clients.escrow,
        market.clients.token,
        market.clients.registry,
    )
    start_block = m.w3.eth.block_number
    for buyer, quantity in zip(BUYERS, QUANTITIES, strict=True):
        _fund(m, buyer, quantity * TOP_PRICE)
        escrow.join(m.deal_id, quantity, m.leader.address, signer=buyer)
    assert len(escrow.get_events("Joined", from_block=start_block)) == 3
    assert escrow.deal_totals(m.deal_id).total_quantity == 11

    advance_time(m.w3, 3601)
    assert escrow.deal_status(m.deal_id) == DealStatus.SUCCEEDED
    assert escrow.final_unit_price(m.deal_id) == TIER_PRICE

    event_hash, digest = b"\x0e" * 32, b"\x0d" * 32
    receipt = escrow.confirm_receipt(m.deal_id, m.batch_id, event_hash, digest, signer=m.leader)
    (confirmed,) = escrow.events_in(receipt, "ReceiptConfirmed")
    assert confirmed["args"]["quantity"] == 11
    anchor = registry.anchor_of(m.batch_id, event_hash)
    assert anchor.is_receipt and anchor.actor == m.leader.address and anchor.batch_id == m.batch_id
    assert escrow.leader_info(m.deal_id, m.leader.address).received_at > 0

    escrow.file_claim(m.deal_id, 1, CID, signer=BUYERS[0])
    assert escrow.claim(m.deal_id, BUYERS[0].address).status == ClaimStatus.FILED
    advance_time(m.w3, 86_400 * 2)  # past the delivery deadline and every window
    with pytest.raises(errors.ClaimsPending) as pending:
        escrow.settle(m.deal_id, signer=dev_account(2))
    assert pending.value.openClaims == 1
    # The supplier never answered: anyone (the keeper) upholds the claim by default.
    receipt = escrow.finalize_unanswered_claim(m.deal_id, BUYERS[0].address, signer=dev_account(2))
    (upheld,) = escrow.events_in(receipt, "ClaimUpheld")
    assert upheld["args"]["byDefault"] is True
    assert escrow.order(m.deal_id, BUYERS[0].address).upheld_quantity == 1

    escrow.settle(m.deal_id, signer=dev_account(2))
    assert escrow.deal_status(m.deal_id) == DealStatus.SETTLED
    paid_in = sum(q * TOP_PRICE for q in QUANTITIES)
    payees = [
        *(b.address for b in BUYERS),
        m.leader.address,
        m.supplier.address,
        dev_account(0).address,
    ]
    owed = {a: escrow.owed(m.deal_id, a) for a in payees}
    assert sum(owed.values()) == paid_in == token.balance_of(escrow.address)
    # buyer 0: rebate on 4 units + the upheld unit at the final price
    assert owed[BUYERS[0].address] == 4 * (TOP_PRICE - TIER_PRICE) + TIER_PRICE

    balances = {a: token.balance_of(a) for a in payees}
    escrow.push_payouts(m.deal_id, payees, signer=dev_account(2))
    assert token.balance_of(escrow.address) == 0
    for account in payees:
        assert token.balance_of(account) - balances[account] == owed[account]
    with pytest.raises(errors.DealAlreadySettled):
        escrow.settle(m.deal_id, signer=dev_account(2))


def test_recall_freezes_and_refunds(market: Market) -> None:
    m, escrow = market, market.clients.escrow
    buyer = BUYERS[1]
    _fund(m, buyer, 2 * TOP_PRICE)
    escrow.join(m.deal_id, 2, m.leader.address, signer=buyer)
    with pytest.raises(errors.NoBatchBlocked):
        escrow.freeze(m.deal_id, signer=dev_account(2))
    assert escrow.live_deals(m.batch_id) == [m.deal_id]
    assert m.clients.registry.escrows() == [escrow.address]  # deploy registered it
    receipt = m.clients.registry.recall_batch(m.batch_id, CID, signer=m.supplier)
    assert m.clients.registry.batch_status(m.batch_id) == BatchStatus.RECALLED
    # Frozen by the recall's own transaction: the registry notified the escrow.
    (frozen,) = escrow.events_in(receipt, "DealFrozen")
    assert frozen["args"]["dealId"] == m.deal_id
    assert escrow.deal_status(m.deal_id) == DealStatus.FROZEN
    assert escrow.live_deals(m.batch_id) == []
    with pytest.raises(errors.DealIsFrozen):
        escrow.join(m.deal_id, 1, m.leader.address, signer=BUYERS[2])
    with pytest.raises(errors.DealIsFrozen):
        escrow.freeze(m.deal_id, signer=dev_account(2))
    escrow.withdraw(m.deal_id, signer=buyer)
    assert m.clients.token.balance_of(buyer.address) == 2 * TOP_PRICE


def test_calldata_decodes_back_and_other_bytes_are_undecodable(market: Market) -> None:
    escrow = market.clients.escrow
    data = escrow.calldata("join", market.deal_id, 2, market.leader.address)
    name, inputs, args = escrow.decode_call(data)
    assert name == "join" and [i["name"] for i in inputs] == ["dealId", "quantity", "leader"]
    assert args == {"dealId": market.deal_id, "quantity": 2, "leader": market.leader.address}
    for garbage in (b"", b"\xde\xad\xbe\xef", data[:6]):
        with pytest.raises(errors.UndecodableCall):
            escrow.decode_call(garbage)
